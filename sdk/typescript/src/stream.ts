import { HermConnectionError, HermError } from "./error.js";
import { describe, errText, sleep, type Transport } from "./core.js";
import type { Event as EventSchema, SessionEvent as SessionEventSchema, SessionPayload } from "./generated/openapi.js";

/**
 * An event as the server sends it: the common fields of every event
 * (event_id, sequence, type, deployment_id, thread_id, run_id, created_at)
 * and the type's own fields (delta, status, tool, …).
 */
export type HermEvent = EventSchema & { [field: string]: unknown };

/** Options of every event stream. */
export interface StreamOptions {
  /** Stops the stream (the iteration ends without an error). */
  signal?: AbortSignal;
  /** Consecutive failed reconnection attempts before the iteration throws (default 30). */
  maxReconnects?: number;
  /** Milliseconds between reconnection attempts (default: the server's `retry:`, 2000). */
  reconnectDelay?: number;
  /** Called before each reconnection. */
  onReconnect?: (info: { attempt: number; lastEventId: string | null; error: unknown }) => void;
}

export interface EventStreamOptions extends StreamOptions {
  /** Start after this event id (`evt_…`): every retained event after it is replayed first. Without it the stream starts live. */
  after?: string;
  /** The same as `after` (the SSE name). */
  lastEventId?: string;
  /** Only this thread's events. */
  thread_id?: string;
  /** Only this run's events. */
  run_id?: string;
  /** Only these event types (an array, or a comma-separated string). */
  types?: string[] | string;
}

/** Statuses after which reconnecting may work. */
const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

/** What tells the streams apart: where they connect, and how ids and events name a position. */
interface StreamShape<E> {
  /** The stream's URL (the same for every connection; the position goes in Last-Event-ID). */
  url: string;
  /** The position an SSE id names (null: not one of the stream's ids). */
  seqOf(id: string): number | null;
  /** The position of an event (null: it has none). */
  eventSeq(ev: E): number | null;
  /** The id of an event (for Last-Event-ID), when its frame had none. */
  eventId(ev: E): string | null;
}

/**
 * An SSE stream that reconnects by itself (with Last-Event-ID) when the
 * connection drops or the server restarts, and never yields an event twice.
 */
abstract class ResumableStream<E extends object> implements AsyncIterable<E> {
  /** The id of the last event yielded (or given as `after`): where a reconnection resumes. */
  lastEventId: string | null;
  /**
   * Resolves when the first connection is open: the server then sends every
   * later event. Rejects when the first attempt fails (iterating retries it).
   */
  readonly connected: Promise<void>;
  /** Connections opened after the first. */
  reconnects = 0;

  #transport: Transport;
  #shape: StreamShape<E>;
  #opts: StreamOptions;
  #lastSeq: number | null = null;
  #ac: AbortController | null = null;
  #closed = false;
  #iterating = false;
  #initial: Promise<Response> | undefined;
  #serverRetry: number | null = null;
  #resolveConnected!: () => void;
  #rejectConnected!: (e: unknown) => void;
  #onUserAbort = () => this.close();

  protected constructor(transport: Transport, shape: StreamShape<E>, opts: StreamOptions, after: string | null) {
    this.#transport = transport;
    this.#shape = shape;
    this.#opts = opts;
    this.lastEventId = after;
    this.#lastSeq = after !== null ? shape.seqOf(after) : null;
    this.connected = new Promise<void>((resolve, reject) => {
      this.#resolveConnected = resolve;
      this.#rejectConnected = reject;
    });
    this.connected.catch(() => {}); // reported by the iteration too
    if (opts.signal?.aborted) {
      this.#closed = true;
    } else {
      opts.signal?.addEventListener("abort", this.#onUserAbort, { once: true });
      this.#initial = this.#open();
      this.#initial.then(() => this.#resolveConnected(), (err) => this.#rejectConnected(err)); // the iteration handles the error too
    }
  }

  /** The sequence of the last event yielded (or given as `after`); null when none yet. */
  get lastSequence(): number | null {
    return this.#lastSeq;
  }

  /** Ends the stream: the iteration finishes without an error. */
  close(): void {
    this.#closed = true;
    this.#ac?.abort();
    this.#opts.signal?.removeEventListener("abort", this.#onUserAbort);
    this.#rejectConnected(new HermConnectionError("herm: the event stream was closed", undefined, "closed"));
  }

  async #open(): Promise<Response> {
    const ac = new AbortController();
    this.#ac = ac;
    const url = this.#shape.url;
    const headers = this.#transport.headers({ Accept: "text/event-stream", "Cache-Control": "no-store" });
    if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
    let res: Response;
    try {
      res = await this.#transport.config.fetch(url, { method: "GET", headers, signal: ac.signal });
    } catch (err) {
      throw new HermConnectionError(`herm: GET ${url} failed: ${errText(err)}`, err);
    }
    if (!res.ok) throw await HermError.fromResponse(res);
    if (!res.body) throw new HermError({ status: res.status, code: "invalid_response", message: "herm: the event stream's response has no body", requestId: res.headers.get("x-request-id") });
    return res;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<E, void, undefined> {
    if (this.#iterating) throw new Error("herm: an event stream can be iterated only once; call stream() again for another");
    this.#iterating = true;
    const max = this.#opts.maxReconnects ?? 30;
    const shape = this.#shape;
    let failures = 0;
    let lastError: unknown = null;
    try {
      for (let first = true; !this.#closed; first = false) {
        if (!first) {
          if (failures > max) {
            throw lastError instanceof HermError
              ? lastError
              : new HermConnectionError(`herm: the event stream could not reconnect after ${max} attempts: ${errText(lastError)}`, lastError);
          }
          this.#opts.onReconnect?.({ attempt: failures, lastEventId: this.lastEventId, error: lastError });
          try {
            await sleep(this.#opts.reconnectDelay ?? this.#serverRetry ?? 2000, this.#ac?.signal);
          } catch {
            return; // closed while waiting
          }
          if (this.#closed) return;
        }
        let res: Response;
        try {
          const p = this.#initial ?? this.#open();
          this.#initial = undefined;
          res = await p;
        } catch (err) {
          if (this.#closed) return;
          if (err instanceof HermError && err.status !== 0 && !RETRY_STATUSES.has(err.status)) {
            this.#rejectConnected(err);
            throw err; // 401, 403, 404, 410 cursor_expired …: reconnecting will not help
          }
          failures++;
          lastError = err;
          continue;
        }
        if (!first) this.reconnects++;
        this.#resolveConnected();
        failures = 0;
        try {
          for await (const frame of readFrames(res.body!, (ms) => (this.#serverRetry = ms))) {
            if (frame.id !== null) {
              const seq = shape.seqOf(frame.id);
              if (seq !== null && this.#lastSeq !== null && seq <= this.#lastSeq) continue; // seen already
              if (frame.data === "") {
                // An id without data moves the cursor (the SSE rule) without an event.
                this.lastEventId = frame.id;
                if (seq !== null) this.#lastSeq = seq;
                continue;
              }
            }
            if (frame.data === "") continue;
            let ev: E;
            try {
              ev = JSON.parse(frame.data) as E;
            } catch (err) {
              throw new HermError({ status: res.status, code: "invalid_response", message: `herm: an event's data is not JSON: ${frame.data.slice(0, 200)}`, cause: err });
            }
            if (typeof ev !== "object" || ev === null) continue;
            const rec = ev as Record<string, unknown>;
            if (rec.type === undefined && frame.event) rec.type = frame.event;
            const seq = shape.eventSeq(ev) ?? (frame.id !== null ? shape.seqOf(frame.id) : null);
            if (seq !== null && this.#lastSeq !== null && seq <= this.#lastSeq) continue;
            if (seq !== null) this.#lastSeq = seq;
            const id = frame.id ?? shape.eventId(ev);
            if (id !== null) this.lastEventId = id;
            yield ev;
            if (this.#closed) return;
          }
          lastError = new HermConnectionError("herm: the server ended the event stream");
        } catch (err) {
          if (this.#closed) return;
          if (err instanceof HermError && err.code === "invalid_response") throw err;
          lastError = err;
        }
        failures++; // the next attempt is a reconnection; failures resets once it connects
      }
    } finally {
      this.#closed = true;
      this.#ac?.abort();
      this.#opts.signal?.removeEventListener("abort", this.#onUserAbort);
    }
  }
}

/**
 * A deployment's event stream: an async iterable of events that reconnects by
 * itself (with Last-Event-ID) when the connection drops or the server
 * restarts, and never yields an event twice.
 *
 * The connection opens when the stream is created, so a message sent after
 * `await stream.connected` is seen whole; iterate it once, with `for await`.
 * Leaving the loop (break, return, throw) or `close()` ends the connection.
 */
export class EventStream extends ResumableStream<HermEvent> {
  constructor(transport: Transport, deploymentId: string, opts: EventStreamOptions = {}) {
    const after = opts.after ?? opts.lastEventId;
    if (after !== undefined && (typeof after !== "string" || after === "")) throw new TypeError("herm: events.stream: after must be an event id such as evt_42");
    const url = transport.url("/v1/deployments/{deployment_id}/events", { deployment_id: deploymentId }, {
      thread_id: opts.thread_id,
      run_id: opts.run_id,
      types: Array.isArray(opts.types) ? opts.types.join(",") : opts.types,
    });
    super(
      transport,
      {
        url,
        seqOf: evtSeq,
        eventSeq: (ev) => (typeof ev.sequence === "number" ? ev.sequence : null),
        eventId: (ev) => (typeof ev.event_id === "string" ? ev.event_id : null),
      },
      opts,
      after ?? null,
    );
  }
}

type SessionEventOf<P> = P extends SessionPayload ? Omit<SessionEventSchema, "type" | "payload"> & { type: P["type"]; payload: P } : never;

/**
 * An event of a session (agents and sessions API): the envelope (id,
 * sequence, sessionId, createdAt, …) with its payload. `type` is the
 * payload's type, so checking `event.type` narrows `event.payload`:
 * `if (e.type === "session.status_idle") e.payload.stop_reason.type`.
 */
export type HermSessionEvent = SessionEventOf<SessionPayload>;

export interface SessionEventStreamOptions extends StreamOptions {
  /**
   * Start after this sequence: every retained event after it is replayed
   * first (0: the session's whole history). Without it the stream starts live.
   */
  after?: number | string;
  /** The same as `after` (the SSE name). */
  lastEventId?: number | string;
}

/**
 * A session's event stream: an async iterable of session events that
 * reconnects by itself (Last-Event-ID: the last sequence it yielded) when the
 * connection drops or the server restarts, so each event arrives exactly once,
 * in sequence order.
 *
 * The connection opens when the stream is created, so a message sent after
 * `await stream.connected` is seen whole; iterate it once, with `for await`.
 * Leaving the loop (break, return, throw) or `close()` ends the connection.
 */
export class SessionEventStream extends ResumableStream<HermSessionEvent> {
  constructor(transport: Transport, sessionId: string, opts: SessionEventStreamOptions = {}) {
    const raw = opts.after ?? opts.lastEventId;
    let after: string | null = null;
    if (raw !== undefined && raw !== null) {
      const ok = typeof raw === "number" ? Number.isSafeInteger(raw) && raw >= 0 : typeof raw === "string" && /^\d+$/.test(raw);
      if (!ok) throw new TypeError(`herm: sessions.events.stream: after must be a sequence number ≥ 0 (got ${describe(raw)})`);
      after = String(Number(raw));
    }
    const url = transport.url("/v1/sessions/{session_id}/events/stream", { session_id: sessionId }, undefined);
    super(
      transport,
      {
        url,
        seqOf: (id) => (/^\d+$/.test(id) ? Number(id) : null),
        eventSeq: (ev) => (typeof ev.sequence === "number" ? ev.sequence : null),
        eventId: (ev) => (typeof ev.sequence === "number" ? String(ev.sequence) : null),
      },
      opts,
      after,
    );
  }
}

interface Frame {
  id: string | null;
  event: string;
  data: string;
}

/** Parses an SSE body into frames (https://html.spec.whatwg.org/multipage/server-sent-events.html). */
async function* readFrames(body: ReadableStream<Uint8Array>, onRetry: (ms: number) => void): AsyncGenerator<Frame, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let id: string | null = null;
  let event = "";
  let data: string[] = [];
  let sawField = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return; // an unfinished frame is dropped, as the SSE rules say
      buf += decoder.decode(value, { stream: true });
      for (;;) {
        const m = /\r\n|\r|\n/.exec(buf);
        if (!m) break;
        // A lone \r at the end may be the first half of \r\n: wait for more.
        if (m[0] === "\r" && m.index === buf.length - 1) break;
        const line = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        if (line === "") {
          if (sawField) yield { id, event, data: data.join("\n") };
          id = null;
          event = "";
          data = [];
          sawField = false;
          continue;
        }
        if (line.startsWith(":")) continue; // comment (ping)
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? "" : line.slice(colon + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        switch (field) {
          case "id":
            if (!val.includes("\0")) {
              id = val;
              sawField = true;
            }
            break;
          case "event":
            event = val;
            sawField = true;
            break;
          case "data":
            data.push(val);
            sawField = true;
            break;
          case "retry":
            if (/^\d+$/.test(val)) onRetry(Number(val));
            break;
        }
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function evtSeq(id: string): number | null {
  const m = /^evt_(\d+)$/.exec(id);
  return m ? Number(m[1]) : null;
}
