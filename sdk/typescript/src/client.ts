import { HermError } from "./error.js";
import { Transport, describe, requireObject, requireString, type RequestOptions, type CallSpec, type Method } from "./core.js";
import { PagePromise, type AnyPage, type CamelPage, type CursorField, type Page } from "./pagination.js";
import { EventStream, SessionEventStream, type EventStreamOptions, type HermEvent, type HermSessionEvent, type SessionEventStreamOptions } from "./stream.js";
import type * as S from "./generated/openapi.js";

/** A request body: the API's request schema, as generated from api/openapi.yaml. */
export type Body<T> = T;

export interface ListParams {
  /** Page size, 1–100 (default 20). */
  limit?: number;
  /** next_cursor of the previous page. */
  cursor?: string;
}

export interface ClientOptions {
  /** API key (default: HERM_API_KEY, then PRISM_API_KEY). */
  apiKey?: string;
  /** Server URL (default: HERM_BASE_URL, then HERM_URL, then http://127.0.0.1:8640). */
  baseURL?: string;
  /** Milliseconds before one attempt of a request is abandoned (default 60000; 0 = none). Not applied to event streams. */
  timeout?: number;
  /** Retries of a transient failure (connection error, 408, 429, 5xx) per request (default 2). */
  maxRetries?: number;
  /** A fetch implementation (default: the global fetch). */
  fetch?: typeof fetch;
  /** Headers sent with every request. */
  defaultHeaders?: Record<string, string>;
}

export const DEFAULT_BASE_URL = "http://127.0.0.1:8640";

function env(name: string): string | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const v = p?.env?.[name];
  return v === undefined || v === "" ? undefined : v;
}

abstract class Resource {
  constructor(protected readonly t: Transport) {}

  protected call<T, M extends Method>(spec: CallSpec<M>): Promise<T> {
    return this.t.call<T, M>(spec);
  }

  protected paged<T, P extends AnyPage<T> = Page<T>>(path: CallSpec<"GET">["path"], params: Record<string, string>, query: Record<string, unknown> | undefined, options: RequestOptions | undefined, cursorParam = "cursor", cursorField: CursorField = "next_cursor"): PagePromise<T, P> {
    if (query !== undefined) requireObject("list parameters", query);
    const { [cursorParam]: start, ...rest } = (query ?? {}) as Record<string, unknown>;
    if (start !== undefined && start !== null && typeof start !== "string") throw new TypeError(`herm: ${cursorParam} must be a string`);
    return new PagePromise<T, P>(
      (cursor) => this.t.call<P, "GET">({ method: "GET", path, params, query: { ...rest, [cursorParam]: cursor }, options }),
      (start as string | null | undefined) ?? undefined,
      cursorField,
    );
  }

  /** A list of the newer API generation (agents, sessions): `{data, nextCursor}` pages. */
  protected camelPaged<T>(path: CallSpec<"GET">["path"], params: Record<string, string>, query: Record<string, unknown> | undefined, options: RequestOptions | undefined): PagePromise<T, CamelPage<T>> {
    return this.paged<T, CamelPage<T>>(path, params, query, options, "cursor", "nextCursor");
  }
}

function dep(id: unknown): string {
  return requireString("deploymentId", id);
}

export class Messages extends Resource {
  /** Sends a user message: starts a run (or steers the thread's active one). The output arrives on the event stream. */
  send(deploymentId: string, body: Body<S.SendMessageRequest>, options?: RequestOptions): Promise<S.SendMessageResponse> {
    requireObject("message", body);
    requireString("content", body.content);
    return this.call({ method: "POST", path: "/v1/deployments/{deployment_id}/messages", params: { deployment_id: dep(deploymentId) }, body, options });
  }
}

export interface EventListParams {
  /** Events after this id (default: from the oldest retained event). */
  after?: string;
  /** Page size, 1–1000 (default 100). */
  limit?: number;
  thread_id?: string;
  run_id?: string;
  types?: string[] | string;
}

export class Events extends Resource {
  /**
   * The deployment's event stream: an async iterable of events (`{type, ...}`)
   * that reconnects by itself with Last-Event-ID and never yields an event twice.
   */
  stream(deploymentId: string, opts: EventStreamOptions = {}): EventStream {
    requireObject("stream options", opts);
    return new EventStream(this.t, dep(deploymentId), opts);
  }

  /**
   * Mints a stream token (10 minutes, this deployment's stream only) for a
   * browser's EventSource, which cannot send headers: open
   * `${baseURL}/v1/deployments/${id}/events?access_token=${token}`.
   */
  createToken(deploymentId: string, options?: RequestOptions): Promise<S.StreamToken> {
    return this.call({ method: "POST", path: "/v1/deployments/{deployment_id}/events/tokens", params: { deployment_id: dep(deploymentId) }, options });
  }

  /** The event log as pages, oldest first (`after` is the cursor); iterate it with `for await` to read it all. */
  list(deploymentId: string, params: EventListParams = {}, options?: RequestOptions): PagePromise<HermEvent> {
    const q = { ...requireObject("params", params) } as Record<string, unknown>;
    if (Array.isArray(q.types)) q.types = q.types.join(",");
    const opts: RequestOptions = { ...options, headers: { ...(options?.headers ?? {}), Accept: "application/json" } };
    return this.paged<HermEvent>("/v1/deployments/{deployment_id}/events", { deployment_id: dep(deploymentId) }, q, opts, "after");
  }
}

export interface DeploymentListParams extends ListParams {
  customer_id?: string;
  status?: S.Deployment["status"];
}

export class Deployments extends Resource {
  readonly messages: Messages;
  readonly events: Events;

  constructor(t: Transport) {
    super(t);
    this.messages = new Messages(t);
    this.events = new Events(t);
  }

  /** Creates a deployment (returns at once with status provisioning; poll get() until ready). */
  create(body: Body<S.CreateDeploymentRequest>, options?: RequestOptions): Promise<S.Deployment> {
    requireObject("deployment", body);
    return this.call({ method: "POST", path: "/v1/deployments", body, options });
  }

  get(deploymentId: string, options?: RequestOptions): Promise<S.Deployment> {
    return this.call({ method: "GET", path: "/v1/deployments/{deployment_id}", params: { deployment_id: dep(deploymentId) }, options });
  }

  list(params?: DeploymentListParams, options?: RequestOptions): PagePromise<S.Deployment> {
    return this.paged<S.Deployment>("/v1/deployments", {}, params as Record<string, unknown> | undefined, options);
  }

  update(deploymentId: string, patch: Body<S.UpdateDeploymentRequest>, options?: RequestOptions): Promise<S.Deployment> {
    requireObject("patch", patch);
    return this.call({ method: "PATCH", path: "/v1/deployments/{deployment_id}", params: { deployment_id: dep(deploymentId) }, body: patch, options });
  }

  /** Deletes a deployment; with retain_filesystem a snapshot of its workspace is kept. */
  delete(deploymentId: string, params: { retain_filesystem?: boolean } = {}, options?: RequestOptions): Promise<S.DeleteDeploymentResponse> {
    requireObject("params", params);
    return this.call({ method: "DELETE", path: "/v1/deployments/{deployment_id}", params: { deployment_id: dep(deploymentId) }, query: { retain_filesystem: params.retain_filesystem }, options });
  }

  /**
   * Polls get() until the deployment is ready (default: every 250 ms, for at most 60 s).
   * Throws a HermError when it ends in status error, or on timeout (code `timeout`).
   */
  async waitUntilReady(deploymentId: string, opts: { timeout?: number; interval?: number; signal?: AbortSignal } = {}): Promise<S.Deployment> {
    const deadline = Date.now() + (opts.timeout ?? 60_000);
    for (;;) {
      const d = await this.get(deploymentId, { signal: opts.signal });
      if (d.status === "ready") return d;
      if (d.status === "error" || d.status === "deleting") {
        throw new HermError({ status: 0, code: d.error?.code ?? "deployment_not_ready", message: `herm: deployment ${deploymentId} is ${d.status}${d.error ? `: ${d.error.message}` : ""}` });
      }
      if (Date.now() > deadline) throw new HermError({ status: 0, code: "timeout", message: `herm: deployment ${deploymentId} is still ${d.status} after ${opts.timeout ?? 60_000} ms` });
      await new Promise((r) => setTimeout(r, opts.interval ?? 250));
    }
  }
}

export class Threads extends Resource {
  create(deploymentId: string, body: Body<S.CreateThreadRequest> = {}, options?: RequestOptions): Promise<S.Thread> {
    requireObject("thread", body);
    return this.call({ method: "POST", path: "/v1/deployments/{deployment_id}/threads", params: { deployment_id: dep(deploymentId) }, body, options });
  }
  list(deploymentId: string, params?: ListParams, options?: RequestOptions): PagePromise<S.Thread> {
    return this.paged<S.Thread>("/v1/deployments/{deployment_id}/threads", { deployment_id: dep(deploymentId) }, params as Record<string, unknown> | undefined, options);
  }
  /** A thread with its messages. */
  get(deploymentId: string, threadId: string, options?: RequestOptions): Promise<S.ThreadWithMessages> {
    return this.call({ method: "GET", path: "/v1/deployments/{deployment_id}/threads/{thread_id}", params: { deployment_id: dep(deploymentId), thread_id: requireString("threadId", threadId) }, options });
  }
  update(deploymentId: string, threadId: string, body: Body<S.UpdateThreadRequest>, options?: RequestOptions): Promise<S.Thread> {
    requireObject("thread", body);
    return this.call({ method: "PATCH", path: "/v1/deployments/{deployment_id}/threads/{thread_id}", params: { deployment_id: dep(deploymentId), thread_id: requireString("threadId", threadId) }, body, options });
  }
  delete(deploymentId: string, threadId: string, options?: RequestOptions): Promise<void> {
    return this.call({ method: "DELETE", path: "/v1/deployments/{deployment_id}/threads/{thread_id}", params: { deployment_id: dep(deploymentId), thread_id: requireString("threadId", threadId) }, options });
  }
}

export interface RunListParams extends ListParams {
  thread_id?: string;
  status?: S.Run["status"];
  automation_id?: string;
}

export class Runs extends Resource {
  list(deploymentId: string, params?: RunListParams, options?: RequestOptions): PagePromise<S.Run> {
    return this.paged<S.Run>("/v1/deployments/{deployment_id}/runs", { deployment_id: dep(deploymentId) }, params as Record<string, unknown> | undefined, options);
  }
  get(deploymentId: string, runId: string, options?: RequestOptions): Promise<S.Run> {
    return this.call({ method: "GET", path: "/v1/deployments/{deployment_id}/runs/{run_id}", params: { deployment_id: dep(deploymentId), run_id: requireString("runId", runId) }, options });
  }
  /** Cancels a run (409 conflict when it already ended). */
  cancel(deploymentId: string, runId: string, options?: RequestOptions): Promise<S.Run> {
    return this.call({ method: "POST", path: "/v1/deployments/{deployment_id}/runs/{run_id}/cancel", params: { deployment_id: dep(deploymentId), run_id: requireString("runId", runId) }, options });
  }
  /**
   * Answers every pending custom tool call of a run that stopped with
   * stop_reason requires_action (its required_action.tool_calls), all in one
   * request: {tool_outputs: [{tool_call_id, output}]}. Returns the run, which
   * then resumes. 400 when a pending call is left out or an id is not
   * pending or repeated; 409 when the run is not waiting for tool outputs.
   */
  submitToolOutputs(deploymentId: string, runId: string, body: Body<S.SubmitToolOutputsRequest>, options?: RequestOptions): Promise<S.Run> {
    requireObject("tool outputs", body);
    if (!Array.isArray(body.tool_outputs)) throw new TypeError("herm: tool_outputs must be an array");
    return this.call({ method: "POST", path: "/v1/deployments/{deployment_id}/runs/{run_id}/tool_outputs", params: { deployment_id: dep(deploymentId), run_id: requireString("runId", runId) }, body, options });
  }
}

/** A file's content, as read from the workspace. */
export class FileContent {
  constructor(
    private readonly buf: Uint8Array,
    /** The Content-Type the server guessed. */
    readonly contentType: string | null,
  ) {}
  /** The bytes. */
  bytes(): Uint8Array {
    return this.buf;
  }
  /** The content as UTF-8 text. */
  text(): string {
    return new TextDecoder().decode(this.buf);
  }
  get size(): number {
    return this.buf.byteLength;
  }
}

export type FileData = string | Uint8Array | ArrayBuffer | Blob;

export class Files extends Resource {
  /** Lists a directory of the workspace (default: its root). */
  list(deploymentId: string, params: { path?: string } = {}, options?: RequestOptions): Promise<S.FileList> {
    requireObject("params", params);
    return this.call({ method: "GET", path: "/v1/deployments/{deployment_id}/files", params: { deployment_id: dep(deploymentId) }, query: { path: params.path }, options });
  }
  /** Reads a file: `(await herm.files.read(dep, {path})).text()`; range e.g. "bytes=0-1023". */
  async read(deploymentId: string, params: { path: string; range?: string }, options?: RequestOptions): Promise<FileContent> {
    requireObject("params", params);
    const res = await this.t.send({
      method: "GET",
      path: "/v1/deployments/{deployment_id}/files/content",
      params: { deployment_id: dep(deploymentId) },
      query: { path: requireString("path", params.path) },
      headers: { Accept: "*/*", ...(params.range ? { Range: params.range } : {}) },
      options,
    });
    return new FileContent(new Uint8Array(await res.arrayBuffer()), res.headers.get("content-type"));
  }
  /** Writes a file (string as UTF-8, or bytes), replacing it and creating its parent directories. */
  write(deploymentId: string, params: { path: string; content: FileData }, options?: RequestOptions): Promise<S.FileInfo> {
    requireObject("params", params);
    const c = params.content;
    let raw: BodyInit;
    if (typeof c === "string") raw = new TextEncoder().encode(c);
    else if (c instanceof Uint8Array || c instanceof ArrayBuffer) raw = c as BodyInit;
    else if (typeof Blob !== "undefined" && c instanceof Blob) raw = c;
    else throw new TypeError("herm: files.write: content must be a string, Uint8Array, ArrayBuffer or Blob");
    return this.call({
      method: "PUT",
      path: "/v1/deployments/{deployment_id}/files",
      params: { deployment_id: dep(deploymentId) },
      query: { path: requireString("path", params.path) },
      rawBody: raw,
      contentType: "application/octet-stream",
      options,
    });
  }
  /** Deletes a file, or a directory with everything in it. */
  delete(deploymentId: string, params: { path: string }, options?: RequestOptions): Promise<void> {
    requireObject("params", params);
    return this.call({ method: "DELETE", path: "/v1/deployments/{deployment_id}/files", params: { deployment_id: dep(deploymentId) }, query: { path: requireString("path", params.path) }, options });
  }
}

export class Memories extends Resource {
  list(deploymentId: string, params?: ListParams & { q?: string }, options?: RequestOptions): PagePromise<S.Memory> {
    return this.paged<S.Memory>("/v1/deployments/{deployment_id}/memories", { deployment_id: dep(deploymentId) }, params as Record<string, unknown> | undefined, options);
  }
  get(deploymentId: string, memoryId: string, options?: RequestOptions): Promise<S.Memory> {
    return this.call({ method: "GET", path: "/v1/deployments/{deployment_id}/memories/{memory_id}", params: { deployment_id: dep(deploymentId), memory_id: requireString("memoryId", memoryId) }, options });
  }
  create(deploymentId: string, body: { content: string }, options?: RequestOptions): Promise<S.Memory> {
    requireObject("memory", body);
    return this.call({ method: "POST", path: "/v1/deployments/{deployment_id}/memories", params: { deployment_id: dep(deploymentId) }, body, options });
  }
  update(deploymentId: string, memoryId: string, body: { content: string }, options?: RequestOptions): Promise<S.Memory> {
    requireObject("memory", body);
    return this.call({ method: "PATCH", path: "/v1/deployments/{deployment_id}/memories/{memory_id}", params: { deployment_id: dep(deploymentId), memory_id: requireString("memoryId", memoryId) }, body, options });
  }
  delete(deploymentId: string, memoryId: string, options?: RequestOptions): Promise<void> {
    return this.call({ method: "DELETE", path: "/v1/deployments/{deployment_id}/memories/{memory_id}", params: { deployment_id: dep(deploymentId), memory_id: requireString("memoryId", memoryId) }, options });
  }
}

/**
 * A deployment's dreams: the consolidations of its memories made while it
 * idles (features.dreaming), each with its changes; with
 * features.dreaming_review they wait for apply() or discard().
 */
export class Dreams extends Resource {
  list(deploymentId: string, params?: ListParams, options?: RequestOptions): PagePromise<S.Dream> {
    return this.paged<S.Dream>("/v1/deployments/{deployment_id}/dreams", { deployment_id: dep(deploymentId) }, params as Record<string, unknown> | undefined, options);
  }
  get(deploymentId: string, dreamId: string, options?: RequestOptions): Promise<S.Dream> {
    return this.call({ method: "GET", path: "/v1/deployments/{deployment_id}/dreams/{dream_id}", params: { deployment_id: dep(deploymentId), dream_id: requireString("dreamId", dreamId) }, options });
  }
  /** Applies a proposed dream (409 when one of its memories changed since, or it is not proposed). */
  apply(deploymentId: string, dreamId: string, options?: RequestOptions): Promise<S.Dream> {
    return this.call({ method: "POST", path: "/v1/deployments/{deployment_id}/dreams/{dream_id}/apply", params: { deployment_id: dep(deploymentId), dream_id: requireString("dreamId", dreamId) }, options });
  }
  /** Discards a proposed dream: its memories stay as they are. */
  discard(deploymentId: string, dreamId: string, options?: RequestOptions): Promise<S.Dream> {
    return this.call({ method: "POST", path: "/v1/deployments/{deployment_id}/dreams/{dream_id}/discard", params: { deployment_id: dep(deploymentId), dream_id: requireString("dreamId", dreamId) }, options });
  }
}

export class Skills extends Resource {
  /** Adds a configured skill ({name, source: "inline" | "url" | "file", content | url | path}). */
  add(deploymentId: string, body: Body<S.SkillInput>, options?: RequestOptions): Promise<S.SkillDetail> {
    requireObject("skill", body);
    return this.call({ method: "POST", path: "/v1/deployments/{deployment_id}/skills", params: { deployment_id: dep(deploymentId) }, body, options });
  }
  /** The same as add(). */
  create(deploymentId: string, body: Body<S.SkillInput>, options?: RequestOptions): Promise<S.SkillDetail> {
    return this.add(deploymentId, body, options);
  }
  list(deploymentId: string, params?: ListParams, options?: RequestOptions): PagePromise<S.SkillInfo> {
    return this.paged<S.SkillInfo>("/v1/deployments/{deployment_id}/skills", { deployment_id: dep(deploymentId) }, params as Record<string, unknown> | undefined, options);
  }
  get(deploymentId: string, skillId: string, options?: RequestOptions): Promise<S.SkillDetail> {
    return this.call({ method: "GET", path: "/v1/deployments/{deployment_id}/skills/{skill_id}", params: { deployment_id: dep(deploymentId), skill_id: requireString("skillId", skillId) }, options });
  }
  /** Replaces a configured skill (a url skill is fetched again). */
  update(deploymentId: string, skillId: string, body: Body<S.SkillInput>, options?: RequestOptions): Promise<S.SkillDetail> {
    requireObject("skill", body);
    return this.call({ method: "PUT", path: "/v1/deployments/{deployment_id}/skills/{skill_id}", params: { deployment_id: dep(deploymentId), skill_id: requireString("skillId", skillId) }, body, options });
  }
  delete(deploymentId: string, skillId: string, options?: RequestOptions): Promise<void> {
    return this.call({ method: "DELETE", path: "/v1/deployments/{deployment_id}/skills/{skill_id}", params: { deployment_id: dep(deploymentId), skill_id: requireString("skillId", skillId) }, options });
  }
  /** The same as delete(). */
  remove(deploymentId: string, skillId: string, options?: RequestOptions): Promise<void> {
    return this.delete(deploymentId, skillId, options);
  }
}

export class MCPServers extends Resource {
  list(deploymentId: string, options?: RequestOptions): Promise<S.MCPServerList> {
    return this.call({ method: "GET", path: "/v1/deployments/{deployment_id}/mcp_servers", params: { deployment_id: dep(deploymentId) }, options });
  }
  add(deploymentId: string, body: Body<S.MCPServerInput>, options?: RequestOptions): Promise<S.MCPServer> {
    requireObject("MCP server", body);
    return this.call({ method: "POST", path: "/v1/deployments/{deployment_id}/mcp_servers", params: { deployment_id: dep(deploymentId) }, body, options });
  }
  update(deploymentId: string, name: string, body: Body<S.MCPServerInput>, options?: RequestOptions): Promise<S.MCPServer> {
    requireObject("MCP server", body);
    return this.call({ method: "PUT", path: "/v1/deployments/{deployment_id}/mcp_servers/{name}", params: { deployment_id: dep(deploymentId), name: requireString("name", name) }, body, options });
  }
  delete(deploymentId: string, name: string, options?: RequestOptions): Promise<void> {
    return this.call({ method: "DELETE", path: "/v1/deployments/{deployment_id}/mcp_servers/{name}", params: { deployment_id: dep(deploymentId), name: requireString("name", name) }, options });
  }
}

export class Tools extends Resource {
  /** MCP servers of a deployment (their tools appear as {server}__{tool}). */
  readonly mcpServers: MCPServers;
  constructor(t: Transport) {
    super(t);
    this.mcpServers = new MCPServers(t);
  }
  /** The deployment's tools and their settings (`{data, next_cursor: null, mcp_servers}`). */
  list(deploymentId: string, options?: RequestOptions): PagePromise<S.ToolInfo, S.ToolList & Page<S.ToolInfo>> {
    return this.paged<S.ToolInfo, S.ToolList & Page<S.ToolInfo>>("/v1/deployments/{deployment_id}/tools", { deployment_id: dep(deploymentId) }, undefined, options);
  }
  /** Enables or disables a tool, or sets its permission (always_ask pauses for approval). */
  update(deploymentId: string, toolName: string, body: Body<S.UpdateToolRequest>, options?: RequestOptions): Promise<S.ToolInfo> {
    requireObject("tool settings", body);
    return this.call({ method: "PATCH", path: "/v1/deployments/{deployment_id}/tools/{name}", params: { deployment_id: dep(deploymentId), name: requireString("toolName", toolName) }, body, options });
  }
}

export class Automations extends Resource {
  create(deploymentId: string, body: Body<S.CreateAutomationRequest>, options?: RequestOptions): Promise<S.Automation> {
    requireObject("automation", body);
    return this.call({ method: "POST", path: "/v1/deployments/{deployment_id}/automations", params: { deployment_id: dep(deploymentId) }, body, options });
  }
  list(deploymentId: string, params?: ListParams, options?: RequestOptions): PagePromise<S.Automation> {
    return this.paged<S.Automation>("/v1/deployments/{deployment_id}/automations", { deployment_id: dep(deploymentId) }, params as Record<string, unknown> | undefined, options);
  }
  /** An automation with its recent runs. */
  get(deploymentId: string, automationId: string, options?: RequestOptions): Promise<S.Automation> {
    return this.call({ method: "GET", path: "/v1/deployments/{deployment_id}/automations/{automation_id}", params: { deployment_id: dep(deploymentId), automation_id: requireString("automationId", automationId) }, options });
  }
  update(deploymentId: string, automationId: string, patch: Body<S.UpdateAutomationRequest>, options?: RequestOptions): Promise<S.Automation> {
    requireObject("patch", patch);
    return this.call({ method: "PATCH", path: "/v1/deployments/{deployment_id}/automations/{automation_id}", params: { deployment_id: dep(deploymentId), automation_id: requireString("automationId", automationId) }, body: patch, options });
  }
  delete(deploymentId: string, automationId: string, options?: RequestOptions): Promise<void> {
    return this.call({ method: "DELETE", path: "/v1/deployments/{deployment_id}/automations/{automation_id}", params: { deployment_id: dep(deploymentId), automation_id: requireString("automationId", automationId) }, options });
  }
  /** Fires an automation now; returns the run's id. */
  trigger(deploymentId: string, automationId: string, options?: RequestOptions): Promise<S.TriggerResponse> {
    return this.call({ method: "POST", path: "/v1/deployments/{deployment_id}/automations/{automation_id}/trigger", params: { deployment_id: dep(deploymentId), automation_id: requireString("automationId", automationId) }, options });
  }
}

export class Steering extends Resource {
  /** Answers a steering request: {decision: "approve" | "deny" | "answer", message?}. */
  respond(deploymentId: string, steeringRequestId: string, body: Body<S.ResolveSteeringRequest>, options?: RequestOptions): Promise<S.SteeringRequest> {
    requireObject("response", body);
    requireString("decision", body.decision);
    return this.call({ method: "POST", path: "/v1/deployments/{deployment_id}/steering_requests/{steering_request_id}", params: { deployment_id: dep(deploymentId), steering_request_id: requireString("steeringRequestId", steeringRequestId) }, body, options });
  }
  list(deploymentId: string, params?: ListParams & { status?: "pending" | "resolved"; run_id?: string }, options?: RequestOptions): PagePromise<S.SteeringRequest> {
    return this.paged<S.SteeringRequest>("/v1/deployments/{deployment_id}/steering_requests", { deployment_id: dep(deploymentId) }, params as Record<string, unknown> | undefined, options);
  }
  get(deploymentId: string, steeringRequestId: string, options?: RequestOptions): Promise<S.SteeringRequest> {
    return this.call({ method: "GET", path: "/v1/deployments/{deployment_id}/steering_requests/{steering_request_id}", params: { deployment_id: dep(deploymentId), steering_request_id: requireString("steeringRequestId", steeringRequestId) }, options });
  }
}

export class Secrets extends Resource {
  /** Stores a secret in the vault (admin key); its value is never returned. */
  create(body: Body<S.CreateSecretRequest>, options?: RequestOptions): Promise<S.Secret> {
    requireObject("secret", body);
    return this.call({ method: "POST", path: "/v1/secrets", body, options });
  }
  list(params?: ListParams, options?: RequestOptions): PagePromise<S.Secret> {
    return this.paged<S.Secret>("/v1/secrets", {}, params as Record<string, unknown> | undefined, options);
  }
  get(secretId: string, options?: RequestOptions): Promise<S.Secret> {
    return this.call({ method: "GET", path: "/v1/secrets/{secret_id}", params: { secret_id: requireString("secretId", secretId) }, options });
  }
  /** Rotates a secret's value. */
  update(secretId: string, body: { value: string }, options?: RequestOptions): Promise<S.Secret> {
    requireObject("secret", body);
    return this.call({ method: "PUT", path: "/v1/secrets/{secret_id}", params: { secret_id: requireString("secretId", secretId) }, body, options });
  }
  /** The same as update(). */
  rotate(secretId: string, body: { value: string }, options?: RequestOptions): Promise<S.Secret> {
    return this.update(secretId, body, options);
  }
  delete(secretId: string, options?: RequestOptions): Promise<void> {
    return this.call({ method: "DELETE", path: "/v1/secrets/{secret_id}", params: { secret_id: requireString("secretId", secretId) }, options });
  }
}

export class APIKeys extends Resource {
  /** Creates an API key; the key itself is in this response only. */
  create(body: Body<S.CreateAPIKeyRequest>, options?: RequestOptions): Promise<S.APIKey> {
    requireObject("API key", body);
    return this.call({ method: "POST", path: "/v1/api_keys", body, options });
  }
  list(params?: ListParams, options?: RequestOptions): PagePromise<S.APIKey> {
    return this.paged<S.APIKey>("/v1/api_keys", {}, params as Record<string, unknown> | undefined, options);
  }
  delete(keyId: string, options?: RequestOptions): Promise<void> {
    return this.call({ method: "DELETE", path: "/v1/api_keys/{key_id}", params: { key_id: requireString("keyId", keyId) }, options });
  }
}

export class Webhooks extends Resource {
  /** Adds an outbound webhook; the signing secret is in this response only. */
  create(body: Body<S.CreateWebhookRequest>, options?: RequestOptions): Promise<S.Webhook> {
    requireObject("webhook", body);
    return this.call({ method: "POST", path: "/v1/webhooks", body, options });
  }
  list(params?: ListParams, options?: RequestOptions): PagePromise<S.Webhook> {
    return this.paged<S.Webhook>("/v1/webhooks", {}, params as Record<string, unknown> | undefined, options);
  }
  get(webhookId: string, options?: RequestOptions): Promise<S.Webhook> {
    return this.call({ method: "GET", path: "/v1/webhooks/{webhook_id}", params: { webhook_id: requireString("webhookId", webhookId) }, options });
  }
  delete(webhookId: string, options?: RequestOptions): Promise<void> {
    return this.call({ method: "DELETE", path: "/v1/webhooks/{webhook_id}", params: { webhook_id: requireString("webhookId", webhookId) }, options });
  }
  deliveries(webhookId: string, params?: ListParams, options?: RequestOptions): PagePromise<S.Delivery> {
    return this.paged<S.Delivery>("/v1/webhooks/{webhook_id}/deliveries", { webhook_id: requireString("webhookId", webhookId) }, params as Record<string, unknown> | undefined, options);
  }
}

export class Models extends Resource {
  /** The models this server can run. */
  list(options?: RequestOptions): PagePromise<S.Model> {
    return this.paged<S.Model>("/v1/models", {}, undefined, options);
  }
}

// ---------------------------------------------------------------------------
// The newer API generation: agents, sessions and session events (camelCase
// fields; lists are {data, nextCursor}).

export interface AgentListParams {
  /** Page size, 1–100 (default 20). */
  limit?: number;
  /** nextCursor of the previous page. */
  cursor?: string;
  /** Only agents in this status (default: both). */
  status?: S.Agent["status"];
}

export interface AgentVersionListParams {
  /** Page size, 1–100 (default 20). */
  limit?: number;
  /** nextCursor of the previous page (a version number: the versions before it). */
  cursor?: string | number;
}

function agentId(id: unknown): string {
  return requireString("agentId", id);
}

function sessionId(id: unknown): string {
  return requireString("sessionId", id);
}

/** An optional cursor that may be given as a number (a version or a sequence): the string the API takes. */
function numericCursor(name: string, v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v) || v < 0) throw new TypeError(`herm: ${name} must be an integer ≥ 0 (got ${v})`);
    return String(v);
  }
  if (typeof v !== "string") throw new TypeError(`herm: ${name} must be a string or a number (got ${typeof v})`);
  return v === "" ? undefined : v;
}

export class AgentVersions extends Resource {
  /** An agent's versions, newest first; iterate it with `for await` to read them all. */
  list(agentId_: string, params: AgentVersionListParams = {}, options?: RequestOptions): PagePromise<S.Agent, CamelPage<S.Agent>> {
    const q = { ...requireObject("params", params) };
    q.cursor = numericCursor("cursor", q.cursor);
    return this.camelPaged<S.Agent>("/v1/agents/{agent_id}/versions", { agent_id: agentId(agentId_) }, q, options);
  }

  /** One version of an agent: its definition then (status and metadata are the agent's now). */
  get(agentId_: string, version: number, options?: RequestOptions): Promise<S.Agent> {
    if (typeof version === "string" && /^\d+$/.test(version)) version = Number(version);
    if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 1) throw new TypeError(`herm: version must be an integer ≥ 1 (got ${describe(version)})`);
    return this.call({ method: "GET", path: "/v1/agents/{agent_id}/versions/{version}", params: { agent_id: agentId(agentId_), version: String(version) }, options });
  }
}

export class Agents extends Resource {
  /** An agent's versions: every accepted update makes one. */
  readonly versions: AgentVersions;

  constructor(t: Transport) {
    super(t);
    this.versions = new AgentVersions(t);
  }

  /** Creates an agent (version 1): a reusable definition (name, model, instructions, tools, …) that sessions run. */
  create(body: Body<S.CreateAgentRequest>, options?: RequestOptions): Promise<S.Agent> {
    requireObject("agent", body);
    return this.call({ method: "POST", path: "/v1/agents", body, options });
  }

  /** An agent with its current version. */
  get(agentId_: string, options?: RequestOptions): Promise<S.Agent> {
    return this.call({ method: "GET", path: "/v1/agents/{agent_id}", params: { agent_id: agentId(agentId_) }, options });
  }

  /** Agents with their current versions, newest first: `{data, nextCursor}`, async-iterable across pages. */
  list(params?: AgentListParams, options?: RequestOptions): PagePromise<S.Agent, CamelPage<S.Agent>> {
    return this.camelPaged<S.Agent>("/v1/agents", {}, params as Record<string, unknown> | undefined, options);
  }

  /**
   * Updates an agent: a new version (new sessions get it; existing ones keep
   * theirs). Fields not sent stay; lists replace; secrets, features and
   * metadata merge per key (null removes). 409 for an archived agent.
   */
  update(agentId_: string, patch: Body<S.UpdateAgentRequest>, options?: RequestOptions): Promise<S.Agent> {
    requireObject("patch", patch);
    return this.call({ method: "PATCH", path: "/v1/agents/{agent_id}", params: { agent_id: agentId(agentId_) }, body: patch, options });
  }

  /** Archives an agent: its sessions keep working; it takes no new sessions and no updates. */
  archive(agentId_: string, options?: RequestOptions): Promise<S.Agent> {
    return this.call({ method: "POST", path: "/v1/agents/{agent_id}/archive", params: { agent_id: agentId(agentId_) }, options });
  }
}

type UE = S.UserEventInput;

/**
 * A user event sent to a session (POST /v1/sessions/{session_id}/events),
 * with the fields its type needs:
 * - `user.message` starts a turn (`content`: text blocks; `output_schema`: a JSON Schema for a typed answer);
 * - `user.steer` adds `message` to the running turn;
 * - `user.interrupt` ends the active turn;
 * - `user.tool_confirmation` allows or denies (`result`) a tool use waiting for it (`tool_use_id`: an id of the `event_ids` of `session.status_idle`'s `requires_action`);
 * - `user.custom_tool_result` answers an `agent.custom_tool_use` (`custom_tool_use_id`).
 */
export type UserEvent =
  | ({ type: "user.message" } & Required<Pick<UE, "content">> & Pick<UE, "output_schema">)
  | ({ type: "user.steer" } & Required<Pick<UE, "message">>)
  | ({ type: "user.interrupt" } & Pick<UE, "message">)
  | ({ type: "user.tool_confirmation" } & Required<Pick<UE, "tool_use_id" | "result">> & Pick<UE, "deny_message">)
  | ({ type: "user.custom_tool_result" } & Required<Pick<UE, "custom_tool_use_id" | "content">>);

export interface SessionListParams {
  /** Page size, 1–100 (default 20). */
  limit?: number;
  /** nextCursor of the previous page. */
  cursor?: string;
  /** Only this agent's sessions. */
  agentId?: string;
  /** Only this end user's sessions. */
  userId?: string;
  /** Only sessions in this status. */
  status?: S.Session["status"];
  /** false (default): active sessions; true: archived ones; "any": both. */
  archived?: boolean | "any";
}

export interface SessionEventListParams {
  /** nextCursor of the previous page, or a sequence: the events after it (default: from the first). */
  cursor?: string | number;
  /** The same as cursor. */
  after?: string | number;
  /** Page size, 1–1000 (default 100). */
  limit?: number;
}

export class SessionEvents extends Resource {
  /**
   * Sends user events (carried out in order; at most one user.message):
   * `send(id, [{type: "user.tool_confirmation", tool_use_id, result: "allow"}])`.
   * Takes an array of events, one event, or the body `{events}`. Returns the session (202).
   */
  send(sessionId_: string, events: UserEvent | UserEvent[] | { events: UserEvent[] }, options?: RequestOptions): Promise<S.Session> {
    let list: unknown;
    if (Array.isArray(events)) list = events;
    else if (typeof events === "object" && events !== null && "events" in events) list = (events as { events: unknown }).events;
    else list = [requireObject("event", events)];
    if (!Array.isArray(list)) throw new TypeError("herm: events must be an array of user events");
    list.forEach((e, i) => requireString(`events[${i}].type`, requireObject(`events[${i}]`, e).type));
    const body: S.SendSessionEventsRequest = { events: list as UE[] };
    return this.call({ method: "POST", path: "/v1/sessions/{session_id}/events", params: { session_id: sessionId(sessionId_) }, body, options });
  }

  /**
   * Mint a stream token (10 minutes) that opens this session's stream in a
   * browser's EventSource, which cannot send headers: open its `url`
   * (`${baseURL}/v1/sessions/${id}/events/stream?access_token=${token}`).
   */
  createToken(sessionId_: string, options?: RequestOptions): Promise<S.SessionStreamToken> {
    return this.call({ method: "POST", path: "/v1/sessions/{session_id}/events/tokens", params: { session_id: sessionId(sessionId_) }, options });
  }

  /** A session's events as pages, oldest first (`{data, nextCursor}`; the cursor is a sequence); iterate it with `for await` to read them all. */
  list(sessionId_: string, params: SessionEventListParams = {}, options?: RequestOptions): PagePromise<HermSessionEvent, CamelPage<HermSessionEvent>> {
    const { after, ...q } = { ...requireObject("params", params) } as Record<string, unknown>;
    q.cursor = numericCursor("cursor", q.cursor) ?? numericCursor("after", after);
    return this.camelPaged<HermSessionEvent>("/v1/sessions/{session_id}/events", { session_id: sessionId(sessionId_) }, q, options);
  }

  /**
   * The session's event stream: an async iterable of events that reconnects
   * by itself and resumes after the last sequence it yielded, so each event
   * arrives exactly once. `after`: replay the events after that sequence
   * first (0: all of them); without it the stream starts live.
   */
  stream(sessionId_: string, opts: SessionEventStreamOptions = {}): SessionEventStream {
    requireObject("stream options", opts);
    return new SessionEventStream(this.t, sessionId(sessionId_), opts);
  }
}

export class Sessions extends Resource {
  /** The session's events: send, list, stream. */
  readonly events: SessionEvents;

  constructor(t: Transport) {
    super(t);
    this.events = new SessionEvents(t);
  }

  /**
   * Creates a session of an agent, pinned to its current version. Sessions of
   * one agentId + userId share memory and learned skills; without userId the
   * session's memory is its own.
   */
  create(agentId_: string, body: Body<S.CreateSessionRequest> = {}, options?: RequestOptions): Promise<S.Session> {
    requireObject("session", body);
    return this.call({ method: "POST", path: "/v1/agents/{agent_id}/sessions", params: { agent_id: agentId(agentId_) }, body, options });
  }

  /** A session with its message history. */
  get(sessionId_: string, options?: RequestOptions): Promise<S.SessionWithMessages> {
    return this.call({ method: "GET", path: "/v1/sessions/{session_id}", params: { session_id: sessionId(sessionId_) }, options });
  }

  /** Sessions, newest first: `{data, nextCursor}`, async-iterable across pages. */
  list(params?: SessionListParams, options?: RequestOptions): PagePromise<S.Session, CamelPage<S.Session>> {
    return this.camelPaged<S.Session>("/v1/sessions", {}, params as Record<string, unknown> | undefined, options);
  }

  /** Updates a session's title or metadata (merged per key; null removes). */
  update(sessionId_: string, patch: Body<S.UpdateSessionRequest>, options?: RequestOptions): Promise<S.Session> {
    requireObject("patch", patch);
    return this.call({ method: "PATCH", path: "/v1/sessions/{session_id}", params: { session_id: sessionId(sessionId_) }, body: patch, options });
  }

  /** Archives a session: hidden from the default listings; it keeps working. */
  archive(sessionId_: string, options?: RequestOptions): Promise<S.Session> {
    return this.call({ method: "POST", path: "/v1/sessions/{session_id}/archive", params: { session_id: sessionId(sessionId_) }, options });
  }

  /** Deletes a session and its history (the memory of its agentId + userId stays). */
  delete(sessionId_: string, options?: RequestOptions): Promise<void> {
    return this.call({ method: "DELETE", path: "/v1/sessions/{session_id}", params: { session_id: sessionId(sessionId_) }, options });
  }

  /** Sends a user.message with this text: the same as `events.send(id, [{type: "user.message", content: [{type: "text", text}]}])`. */
  send(sessionId_: string, text: string, options?: RequestOptions): Promise<S.Session> {
    requireString("text", text);
    return this.events.send(sessionId_, [{ type: "user.message", content: [{ type: "text", text }] }], options);
  }
}

/**
 * The Herm client: `new Herm()` reads HERM_API_KEY (or PRISM_API_KEY) and
 * HERM_BASE_URL (or HERM_URL; default http://127.0.0.1:8640).
 */
export class Herm {
  readonly apiKey: string;
  readonly baseURL: string;
  readonly deployments: Deployments;
  readonly threads: Threads;
  readonly runs: Runs;
  readonly files: Files;
  readonly memories: Memories;
  readonly dreams: Dreams;
  readonly skills: Skills;
  readonly tools: Tools;
  readonly mcpServers: MCPServers;
  readonly automations: Automations;
  readonly steering: Steering;
  readonly secrets: Secrets;
  readonly apiKeys: APIKeys;
  readonly webhooks: Webhooks;
  readonly models: Models;
  /** Agents: reusable, versioned definitions (the newer API generation). */
  readonly agents: Agents;
  /** Sessions: conversations with an agent, per end user, and their events. */
  readonly sessions: Sessions;

  constructor(opts: ClientOptions = {}) {
    if (typeof opts !== "object" || opts === null) throw new TypeError("herm: new Herm(options): options must be an object");
    const apiKey = opts.apiKey ?? env("HERM_API_KEY") ?? env("PRISM_API_KEY");
    if (typeof apiKey !== "string" || apiKey === "") {
      throw new HermError({ status: 0, code: "missing_api_key", message: "herm: no API key: pass new Herm({ apiKey }) or set HERM_API_KEY (or PRISM_API_KEY)" });
    }
    const baseURL = opts.baseURL ?? env("HERM_BASE_URL") ?? env("HERM_URL") ?? DEFAULT_BASE_URL;
    let u: URL;
    try {
      u = new URL(baseURL);
    } catch {
      throw new TypeError(`herm: baseURL ${JSON.stringify(baseURL)} is not a URL (e.g. http://127.0.0.1:8640)`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new TypeError(`herm: baseURL ${JSON.stringify(baseURL)} must be http or https`);
    const f = opts.fetch ?? (globalThis as { fetch?: typeof fetch }).fetch;
    if (typeof f !== "function") throw new TypeError("herm: no fetch: use Node 18 or later, or pass new Herm({ fetch })");
    for (const [name, v] of [["timeout", opts.timeout], ["maxRetries", opts.maxRetries]] as const) {
      if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v) || v < 0)) throw new TypeError(`herm: ${name} must be a number ≥ 0`);
    }
    this.apiKey = apiKey;
    // Keep a path prefix (a server behind a proxy at /herm), without the trailing slash.
    this.baseURL = u.toString().replace(/\/+$/, "");
    const t = new Transport({
      apiKey,
      baseURL: this.baseURL,
      timeout: opts.timeout ?? 60_000,
      maxRetries: opts.maxRetries ?? 2,
      fetch: f.bind(globalThis) as typeof fetch,
      defaultHeaders: opts.defaultHeaders ?? {},
    });
    this.deployments = new Deployments(t);
    this.threads = new Threads(t);
    this.runs = new Runs(t);
    this.files = new Files(t);
    this.memories = new Memories(t);
    this.dreams = new Dreams(t);
    this.skills = new Skills(t);
    this.tools = new Tools(t);
    this.mcpServers = this.tools.mcpServers;
    this.automations = new Automations(t);
    this.steering = new Steering(t);
    this.secrets = new Secrets(t);
    this.apiKeys = new APIKeys(t);
    this.webhooks = new Webhooks(t);
    this.models = new Models(t);
    this.agents = new Agents(t);
    this.sessions = new Sessions(t);
  }
}
