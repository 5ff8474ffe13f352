import { HermConnectionError, HermError } from "./error.js";
import type { Operations } from "./generated/openapi.js";

/** Options of one call, passed as the last argument of any method. */
export interface RequestOptions {
  /** Aborts the request (and its retries). */
  signal?: AbortSignal;
  /** Milliseconds before one attempt is abandoned (default: the client's timeout). */
  timeout?: number;
  /** Retries of a transient failure (default: the client's maxRetries). */
  maxRetries?: number;
  /** Idempotency-Key of a POST (default: a random key, the same for each retry). */
  idempotencyKey?: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
}

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** A path template of the API served with method M (checked against api/openapi.yaml's operations). */
export type PathFor<M extends Method> = { [P in keyof Operations]: M extends Operations[P] ? P : never }[keyof Operations];

export interface CallSpec<M extends Method> {
  method: M;
  path: PathFor<M>;
  params?: Record<string, string>;
  query?: Record<string, unknown>;
  body?: unknown;
  /** A raw body (files); sent as is with contentType. */
  rawBody?: BodyInit;
  contentType?: string;
  headers?: Record<string, string>;
  /** Return the Response itself (2xx), not its JSON. */
  raw?: boolean;
  options?: RequestOptions;
}

export interface TransportConfig {
  apiKey: string;
  baseURL: string;
  timeout: number;
  maxRetries: number;
  fetch: typeof fetch;
  defaultHeaders: Record<string, string>;
}

export const VERSION = "0.1.0";

/** Statuses worth another attempt: the server did not do the work, or may do it again safely. */
const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
/** For PATCH (not idempotent): only statuses that say the request was not processed. */
const RETRY_STATUSES_UNPROCESSED = new Set([429, 503]);

export class Transport {
  constructor(readonly config: TransportConfig) {}

  url(path: string, params: Record<string, string> | undefined, query: Record<string, unknown> | undefined): string {
    const filled = path.replace(/\{([a-z_]+)\}/g, (_, name: string) => {
      const v = params?.[name];
      if (typeof v !== "string" || v === "") throw new TypeError(`herm: ${name} must be a non-empty string (got ${describe(v)})`);
      return encodeURIComponent(v);
    });
    const u = new URL(this.config.baseURL.replace(/\/+$/, "") + filled);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) u.searchParams.set(k, v.map(String).join(","));
      else if (typeof v === "object") throw new TypeError(`herm: query parameter ${k} must be a string, number or boolean`);
      else u.searchParams.set(k, String(v));
    }
    return u.toString();
  }

  headers(extra?: Record<string, string>): Record<string, string> {
    return {
      Authorization: `Bearer ${this.config.apiKey}`,
      "User-Agent": `herm-typescript/${VERSION}`,
      ...this.config.defaultHeaders,
      ...(extra ?? {}),
    };
  }

  async call<T, M extends Method>(spec: CallSpec<M>): Promise<T> {
    const res = await this.send(spec);
    if (spec.raw) return res as unknown as T;
    if (res.status === 204) {
      await res.body?.cancel().catch(() => {});
      return undefined as T;
    }
    const text = await res.text();
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new HermError({
        status: res.status,
        code: "invalid_response",
        message: `herm: the server's ${res.status} answer to ${spec.method} ${spec.path} is not JSON: ${text.slice(0, 200)}`,
        requestId: res.headers.get("x-request-id"),
        headers: res.headers,
        cause: err,
      });
    }
  }

  /** Sends the request with retries; resolves to a 2xx Response, or throws a HermError. */
  async send<M extends Method>(spec: CallSpec<M>): Promise<Response> {
    const opts = spec.options ?? {};
    const url = this.url(spec.path, spec.params, spec.query);
    const headers = this.headers({ ...(spec.headers ?? {}), ...(opts.headers ?? {}) });
    let body: BodyInit | undefined;
    if (spec.rawBody !== undefined) {
      body = spec.rawBody;
      headers["Content-Type"] = spec.contentType ?? "application/octet-stream";
    } else if (spec.body !== undefined) {
      body = JSON.stringify(spec.body);
      headers["Content-Type"] = "application/json";
    }
    headers["Accept"] ??= "application/json";
    if (spec.method === "POST") {
      const key = opts.idempotencyKey ?? randomKey();
      if (key.length < 1 || key.length > 255) throw new TypeError("herm: idempotencyKey must be 1–255 characters");
      headers["Idempotency-Key"] = key;
    }
    const maxRetries = opts.maxRetries ?? this.config.maxRetries;
    const timeout = opts.timeout ?? this.config.timeout;
    const retryable = spec.method === "PATCH" ? RETRY_STATUSES_UNPROCESSED : RETRY_STATUSES;
    // A ReadableStream body cannot be sent twice.
    const canRetry = !(typeof ReadableStream !== "undefined" && body instanceof ReadableStream);
    for (let attempt = 0; ; attempt++) {
      const last = !canRetry || attempt >= maxRetries;
      let res: Response;
      const ac = new AbortController();
      const onAbort = () => ac.abort(opts.signal?.reason);
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      let timedOut = false;
      const timer = timeout > 0 ? setTimeout(() => ((timedOut = true), ac.abort()), timeout) : undefined;
      try {
        if (opts.signal?.aborted) throw opts.signal.reason ?? new Error("aborted");
        res = await this.config.fetch(url, { method: spec.method, headers, body, signal: ac.signal });
      } catch (err) {
        clearTimeout(timer);
        opts.signal?.removeEventListener("abort", onAbort);
        if (opts.signal?.aborted) throw err;
        const e = timedOut
          ? new HermConnectionError(`herm: ${spec.method} ${url} timed out after ${timeout} ms`, err, "timeout")
          : new HermConnectionError(`herm: ${spec.method} ${url} failed: ${errText(err)}`, err);
        // PATCH: the server may have applied it; only a refused connection is safe to retry.
        if (last || (spec.method === "PATCH" && !isConnectionRefused(err))) throw e;
        await sleep(backoff(attempt, null), opts.signal);
        continue;
      }
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      if (res.ok) return res;
      if (last || !retryable.has(res.status)) throw await HermError.fromResponse(res);
      const wait = backoff(attempt, res.headers.get("retry-after"));
      await res.body?.cancel().catch(() => {});
      await sleep(wait, opts.signal);
    }
  }
}

/** Exponential backoff with jitter (0.5 s, 1 s, 2 s … ≤ 8 s), or the server's Retry-After (≤ 60 s). */
export function backoff(attempt: number, retryAfter: string | null): number {
  if (retryAfter) {
    const secs = Number(retryAfter);
    if (Number.isFinite(secs) && secs >= 0) return Math.min(secs * 1000, 60_000);
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.min(Math.max(at - Date.now(), 0), 60_000);
  }
  const base = Math.min(500 * 2 ** attempt, 8000);
  return base * (0.75 + Math.random() * 0.5);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error("aborted"));
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason ?? new Error("aborted"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function randomKey(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
}

export function errText(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    if (cause instanceof Error && cause.message && cause.message !== err.message) return `${err.message} (${cause.message})`;
    return err.message;
  }
  return String(err);
}

function isConnectionRefused(err: unknown): boolean {
  const code = (err as { cause?: { code?: unknown } })?.cause?.code;
  return code === "ECONNREFUSED";
}

export function describe(v: unknown): string {
  if (v === undefined) return "undefined";
  if (v === null) return "null";
  if (typeof v === "string") return JSON.stringify(v);
  return typeof v;
}

export function requireString(name: string, v: unknown): string {
  if (typeof v !== "string" || v === "") throw new TypeError(`herm: ${name} must be a non-empty string (got ${describe(v)})`);
  return v;
}

export function requireObject(name: string, v: unknown): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new TypeError(`herm: ${name} must be an object (got ${Array.isArray(v) ? "array" : describe(v)})`);
  return v as Record<string, unknown>;
}
