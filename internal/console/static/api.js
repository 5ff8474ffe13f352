// api.js talks to the server's HTTP API (same origin) with the API key
// the user signed in with, and reads its event streams over fetch (an
// EventSource cannot send the Authorization header).

const keyName = "herm.console.apiKey";

// ApiError is a non-2xx answer: the contract's error envelope.
export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

export function savedKey() {
  return sessionStorage.getItem(keyName);
}
export function saveKey(k) {
  sessionStorage.setItem(keyName, k);
}
export function forgetKey() {
  sessionStorage.removeItem(keyName);
}

async function failure(res) {
  let code = "http_" + res.status, message = res.statusText || "request failed", rid = res.headers.get("X-Request-Id");
  try {
    const b = await res.json();
    if (b && b.error) {
      code = b.error.code || code;
      message = b.error.message || message;
      rid = b.error.request_id || rid;
    }
  } catch {
    // not the envelope: keep the status line
  }
  return new ApiError(res.status, code, message, rid);
}

// Client calls the API with one key.
export class Client {
  constructor(key) {
    this.key = key;
  }

  headers(extra) {
    return { Authorization: "Bearer " + this.key, ...extra };
  }

  // req sends one request and returns the decoded JSON (null for 204).
  async req(method, path, body, opts = {}) {
    const headers = this.headers({ Accept: "application/json", ...(opts.headers || {}) });
    const init = { method, headers, signal: opts.signal };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    if (!res.ok) throw await failure(res);
    if (res.status === 204) return null;
    return res.json();
  }

  get(path, opts) { return this.req("GET", path, undefined, opts); }
  post(path, body, opts) { return this.req("POST", path, body ?? {}, opts); }
  patch(path, body) { return this.req("PATCH", path, body); }
  del(path) { return this.req("DELETE", path); }

  // bytes fetches a file's content as an ArrayBuffer.
  async bytes(path) {
    const res = await fetch(path, { headers: this.headers({}) });
    if (!res.ok) throw await failure(res);
    return { type: res.headers.get("Content-Type") || "", body: await res.arrayBuffer() };
  }
}

// qs builds a query string from the defined values of params.
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") u.set(k, v);
  const s = u.toString();
  return s ? "?" + s : "";
}

// SSEParser turns the bytes of a text/event-stream into events, as the
// HTML standard's parsing rules say: lines end in CRLF, LF or CR; a blank
// line dispatches; "id", "event", "data" and "retry" fields; comments
// (": ping") ignored.
export class SSEParser {
  constructor(onEvent, onRetry) {
    this.onEvent = onEvent;
    this.onRetry = onRetry;
    this.buf = "";
    this.reset();
    this.lastId = "";
  }
  reset() {
    this.type = "";
    this.data = [];
    this.sawData = false;
  }
  push(text) {
    this.buf += text;
    for (;;) {
      const m = /\r\n|\n|\r/.exec(this.buf);
      if (!m) break;
      // A lone CR at the end may be the first half of CRLF: wait.
      if (m[0] === "\r" && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      this.line(line);
    }
  }
  line(line) {
    if (line === "") {
      if (this.sawData) this.onEvent({ id: this.lastId, type: this.type || "message", data: this.data.join("\n") });
      this.reset();
      return;
    }
    if (line.startsWith(":")) return;
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? "" : line.slice(i + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "id":
        if (!value.includes("\0")) this.lastId = value;
        break;
      case "event":
        this.type = value;
        break;
      case "data":
        this.data.push(value);
        this.sawData = true;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.onRetry(Number(value));
        break;
    }
  }
}

// stream follows a deployment's event stream until signal aborts:
// onEvent(payload) for each event, onState("live" | "reconnecting" |
// "error", detail) as the connection changes. After a dropped connection
// it reconnects with Last-Event-ID = the last id it passed on, so nothing
// is lost or repeated (the server replays exactly what follows it).
export async function stream(client, path, { lastEventId, signal, onEvent, onState }) {
  let last = lastEventId || "";
  let retry = 2000;
  while (!signal.aborted) {
    try {
      const headers = client.headers({ Accept: "text/event-stream" });
      if (last) headers["Last-Event-ID"] = last;
      const res = await fetch(path, { headers, signal, cache: "no-store" });
      if (!res.ok) {
        const err = await failure(res);
        onState("error", err);
        if (res.status === 401 || res.status === 403 || res.status === 404 || res.status === 410) return;
        throw err;
      }
      onState("live");
      const parser = new SSEParser((ev) => {
        let payload;
        try {
          payload = JSON.parse(ev.data);
        } catch {
          return;
        }
        if (ev.id) last = ev.id;
        onEvent(payload, ev.id);
      }, (ms) => { retry = ms; });
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(dec.decode(value, { stream: true }));
      }
    } catch (e) {
      if (signal.aborted) return;
      onState("reconnecting", e);
    }
    if (signal.aborted) return;
    onState("reconnecting");
    await new Promise((r) => setTimeout(r, retry));
  }
}
