/** One page of a list: the API's `{data, next_cursor}` (plus any other fields the server sends). */
export interface Page<T> {
  data: T[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  next_cursor: string | null;
  [key: string]: unknown;
}

type Fetcher<P> = (cursor: string | undefined) => Promise<P>;

/**
 * What every list method returns: a promise of the first page
 * (`await herm.runs.list(dep)` → `{data, next_cursor}`) that is also an async
 * iterable of the items of every page (`for await (const run of herm.runs.list(dep))`),
 * fetching the next page when the previous one is used up.
 */
export class PagePromise<T, P extends Page<T> = Page<T>> implements PromiseLike<P>, AsyncIterable<T> {
  #fetch: Fetcher<P>;
  #first: Promise<P> | undefined;
  #start: string | undefined;

  constructor(fetchPage: Fetcher<P>, startCursor?: string) {
    this.#fetch = fetchPage;
    this.#start = startCursor;
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
      const next = page.next_cursor;
      if (next === null || next === undefined || next === "") return;
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
