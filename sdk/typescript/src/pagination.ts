/** One page of a list: the API's `{data, next_cursor}` (plus any other fields the server sends). */
export interface Page<T> {
  data: T[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  next_cursor: string | null;
  [key: string]: unknown;
}

/** One page of a list of the newer API generation (agents, sessions, session events): `{data, nextCursor}`. */
export interface CamelPage<T> {
  data: T[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: string | null;
  [key: string]: unknown;
}

/** What a page has in common: its items. */
export interface AnyPage<T> {
  data: T[];
}

type Fetcher<P> = (cursor: string | undefined) => Promise<P>;

/** The field of a page that holds the next page's cursor. */
export type CursorField = "next_cursor" | "nextCursor";

/**
 * What every list method returns: a promise of the first page
 * (`await herm.runs.list(dep)` → `{data, next_cursor}`; the lists of agents,
 * sessions and session events: `{data, nextCursor}`) that is also an async
 * iterable of the items of every page (`for await (const run of herm.runs.list(dep))`),
 * fetching the next page when the previous one is used up.
 */
export class PagePromise<T, P extends AnyPage<T> = Page<T>> implements PromiseLike<P>, AsyncIterable<T> {
  #fetch: Fetcher<P>;
  #first: Promise<P> | undefined;
  #start: string | undefined;
  #cursorField: CursorField;

  constructor(fetchPage: Fetcher<P>, startCursor?: string, cursorField: CursorField = "next_cursor") {
    this.#fetch = fetchPage;
    this.#start = startCursor;
    this.#cursorField = cursorField;
  }

  #firstPage(): Promise<P> {
    this.#first ??= this.#fetch(this.#start);
    return this.#first;
  }

  then<R1 = P, R2 = never>(onfulfilled?: ((value: P) => R1 | PromiseLike<R1>) | null, onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null): Promise<R1 | R2> {
    return this.#firstPage().then(onfulfilled, onrejected);
  }

  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<P | R> {
    return this.#firstPage().catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<P> {
    return this.#firstPage().finally(onfinally);
  }

  /** Iterates the pages themselves, from this one to the last. */
  async *pages(): AsyncGenerator<P, void, undefined> {
    let page = await this.#firstPage();
    const seen = new Set<string>();
    for (;;) {
      yield page;
      const next = (page as unknown as Record<string, unknown>)[this.#cursorField];
      if (next === null || next === undefined || next === "") return;
      if (typeof next !== "string") throw new Error(`herm: the server returned a ${this.#cursorField} that is not a string: ${JSON.stringify(next)}`);
      if (seen.has(next)) throw new Error(`herm: the server returned the cursor ${next} twice; stopping to avoid an endless loop`);
      seen.add(next);
      page = await this.#fetch(next);
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for await (const page of this.pages()) {
      for (const item of page.data ?? []) yield item;
    }
  }

  get [Symbol.toStringTag](): string {
    return "PagePromise";
  }
}
