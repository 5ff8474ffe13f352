import { Herm } from "./client.js";

export { Herm, DEFAULT_BASE_URL, FileContent } from "./client.js";
export type {
  ClientOptions,
  Body,
  ListParams,
  DeploymentListParams,
  RunListParams,
  EventListParams,
  FileData,
  AgentListParams,
  AgentVersionListParams,
  SessionListParams,
  SessionEventListParams,
  UserEvent,
} from "./client.js";
export { HermError, HermConnectionError } from "./error.js";
export { PagePromise } from "./pagination.js";
export type { Page, CamelPage } from "./pagination.js";
export { EventStream, SessionEventStream } from "./stream.js";
export type { EventStreamOptions, SessionEventStreamOptions, StreamOptions, HermEvent, HermSessionEvent } from "./stream.js";
export type { RequestOptions } from "./core.js";
export { VERSION } from "./core.js";
export type * from "./generated/openapi.js";

export default Herm;
