/**
 * Every error of a request that reached the server, or could not reach it,
 * is a HermError. `status`, `code`, `message` and `requestId` come from the
 * API's error envelope `{"error": {"code", "message", "request_id"}}`.
 *
 * A request that never got an HTTP answer (connection refused, reset, DNS,
 * timeout) is a {@link HermConnectionError}: status 0, code
 * `connection_error` (or `timeout`).
 */
export class HermError extends Error {
  /** The HTTP status (0 when there was no HTTP answer). */
  readonly status: number;
  /** The API's error code, e.g. `not_found`, `validation_error`, `deployment_not_ready`. */
  readonly code: string;
  /** The server's request id (error body's request_id, or the X-Request-Id header); null when there was no answer. */
  readonly requestId: string | null;
  /** The response headers, when there was a response. */
  readonly headers: Headers | null;
  /** The parsed error body, when the server sent JSON. */
  readonly body: unknown;

  constructor(init: { status: number; code: string; message: string; requestId?: string | null; headers?: Headers | null; body?: unknown; cause?: unknown }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "HermError";
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId ?? null;
    this.headers = init.headers ?? null;
    this.body = init.body;
  }

  /** Builds the error for a non-2xx response (reads its body). */
  static async fromResponse(res: Response): Promise<HermError> {
    const headerId = res.headers.get("x-request-id");
    let text = "";
    try {
      text = await res.text();
    } catch {
      // the body could not be read: the status says enough
    }
    let body: unknown = undefined;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    const env = (body as { error?: { code?: unknown; message?: unknown; request_id?: unknown } } | undefined)?.error;
    if (env && typeof env === "object" && typeof env.code === "string") {
      return new HermError({
        status: res.status,
        code: env.code,
        message: typeof env.message === "string" ? env.message : `HTTP ${res.status}`,
        requestId: typeof env.request_id === "string" ? env.request_id : headerId,
        headers: res.headers,
        body,
      });
    }
    // Not the API's envelope (a proxy in between, or not a Herm server).
    const snippet = text.trim().slice(0, 200);
    return new HermError({
      status: res.status,
      code: fallbackCode(res.status),
      message: `HTTP ${res.status} ${res.statusText || ""}`.trim() + (snippet ? `: ${snippet}` : ""),
      requestId: headerId,
      headers: res.headers,
      body: body ?? (text || undefined),
    });
  }
}

/** A request that got no HTTP answer: the server could not be reached, or the request timed out. */
export class HermConnectionError extends HermError {
  constructor(message: string, cause?: unknown, code = "connection_error") {
    super({ status: 0, code, message, cause });
    this.name = "HermConnectionError";
  }
}

function fallbackCode(status: number): string {
  switch (status) {
    case 400:
    case 413:
    case 416:
      return "validation_error";
    case 401:
      return "unauthorized";
    case 402:
      return "insufficient_credits";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 409:
      return "conflict";
    case 410:
      return "cursor_expired";
    case 429:
      return "rate_limited";
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "server_error" : "http_error";
  }
}
