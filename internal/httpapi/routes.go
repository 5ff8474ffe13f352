package httpapi

import (
	"slices"

	"github.com/hermhq/herm/internal/herm"
)

// route is one endpoint: how it is served and how it is documented.
type route struct {
	method, path string
	scope        string // "" = no API key
	handle       handlerFunc
	summary      string
	tag          string
	query        []param
	headers      []param
	request      any
	status       int
	response     any
	contentType  string // of the success response; default application/json
	errors       []int
	fileBody     bool // the body is a file: MaxFileBytes applies, not MaxBodyBytes
	optionalBody bool // request may be left out
}

// param is a documented query parameter or header.
type param struct {
	name, typ, doc string
	enum           []string
}

// with returns base and more, in a new slice (appending to a shared list
// could overwrite another route's).
func with(base []int, more ...int) []int { return append(slices.Clone(base), more...) }

func pPath(doc string) param {
	return param{"path", "string", doc + " Relative to the workspace.", nil}
}

func (s *Server) routes() []route {
	dep := "/v1/deployments/{deployment_id}"
	pLimit := param{"limit", "integer", "Page size, 1–100 (default 20).", nil}
	pCursor := param{"cursor", "string", "next_cursor of the previous page.", nil}
	idemKey := param{"Idempotency-Key", "string", "1–255 characters. A retry with the same key and body within 24 h returns the first response unchanged; the same key with another body is 409.", nil}
	std := []int{400, 401, 403, 404, 429}
	write := with(std, 409)
	runStatuses := []string{"queued", "running", "waiting_on_human", "completed", "error", "cancelled"}
	return []route{
		{method: "GET", path: "/healthz", handle: s.healthz, summary: "Liveness: 200 while the process serves.", tag: "operations", status: 200, response: Health{}},
		{method: "GET", path: "/readyz", handle: s.readyz, summary: "Readiness: 200 when the store (and sandbox driver) are usable, else 503.", tag: "operations", status: 200, response: Health{}, errors: []int{503}},
		{method: "GET", path: "/openapi.yaml", handle: s.serveOpenAPI, summary: "This API description (OpenAPI 3.1, YAML): the same document as api/openapi.yaml of the server's version. Public, like /healthz: it describes the API and holds nothing of anyone's.", tag: "operations", status: 200, contentType: "application/yaml"},
		{method: "GET", path: "/metrics", handle: s.serveMetrics, summary: "Prometheus metrics (an admin key is required unless the server serves them publicly, as it does on loopback).", tag: "operations", status: 200, contentType: "text/plain", errors: []int{401, 403}},

		{method: "GET", path: "/v1/models", scope: herm.ScopeRead, handle: s.listModels, summary: "List the models this server can run (the offline demo model is marked demo).", tag: "models", status: 200, response: List[Model]{}, errors: []int{401, 403, 429}},

		{method: "POST", path: "/v1/deployments", scope: herm.ScopeWrite, handle: s.createDeployment, summary: "Create a deployment: one dedicated agent for one customer. Returns at once with status provisioning.", tag: "deployments", request: CreateDeploymentRequest{}, status: 201, response: Deployment{}, headers: []param{idemKey}, errors: []int{400, 401, 403, 409, 413, 422, 429}},
		{method: "GET", path: "/v1/deployments", scope: herm.ScopeRead, handle: s.listDeployments, summary: "List deployments, newest first.", tag: "deployments", status: 200, response: List[Deployment]{}, errors: []int{400, 401, 403, 429},
			query: []param{pLimit, pCursor, {"customer_id", "string", "Only this customer's deployments.", nil}, {"status", "string", "Only deployments in this status.", []string{"provisioning", "ready", "error", "deleting"}}}},
		{method: "GET", path: dep, scope: herm.ScopeRead, handle: s.getDeployment, summary: "Get a deployment (poll until status is ready).", tag: "deployments", status: 200, response: Deployment{}, errors: std},
		{method: "PATCH", path: dep, scope: herm.ScopeWrite, handle: s.updateDeployment, summary: "Update a deployment. Fields not sent stay; name, model and system_prompt replace; mcp_servers and skills replace the whole list; secrets, features, tools and metadata merge per key (null removes). customer_id, runtime and sandbox.type are immutable. Every update increments config_version and applies from the next run.", tag: "deployments", request: UpdateDeploymentRequest{}, status: 200, response: Deployment{}, errors: with(write, 413, 422)},
		{method: "DELETE", path: dep, scope: herm.ScopeWrite, handle: s.deleteDeployment, summary: "Delete a deployment: cancels its runs, destroys its sandbox and workspace, then removes it. With retain_filesystem=true a compressed snapshot of the workspace is kept (30 days by default); its snapshot_id can start a new deployment of the same customer (restore_snapshot_id).", tag: "deployments", status: 202, response: DeleteDeploymentResponse{}, request: DeleteDeploymentRequest{}, optionalBody: true, errors: std,
			query: []param{{"retain_filesystem", "boolean", "Keep a snapshot of the workspace (its id is in the response; it is ready once the deployment is gone).", nil}}},

		{method: "POST", path: dep + "/messages", scope: herm.ScopeWrite, handle: s.sendMessage, summary: "Send a user message: starts a run, or steers, queues behind, interrupts or is rejected by the thread's active run (mode). The output arrives on the event stream.", tag: "messages", request: SendMessageRequest{}, status: 202, response: SendMessageResponse{}, headers: []param{idemKey}, errors: with(write, 402, 413)},

		{method: "GET", path: dep + "/runs", scope: herm.ScopeRead, handle: s.listRuns, summary: "List runs, newest first.", tag: "runs", status: 200, response: List[Run]{}, errors: std,
			query: []param{pLimit, pCursor, {"thread_id", "string", "Only this thread's runs.", nil}, {"status", "string", "Only runs in this status.", runStatuses}, {"automation_id", "string", "Only runs of this automation.", nil}}},
		{method: "GET", path: dep + "/runs/{run_id}", scope: herm.ScopeRead, handle: s.getRun, summary: "Get a run.", tag: "runs", status: 200, response: Run{}, errors: std},
		{method: "POST", path: dep + "/runs/{run_id}/tool_outputs", scope: herm.ScopeWrite, handle: s.submitToolOutputs, summary: "Answer a run's custom tool calls: when the model calls one of the deployment's custom_tools (several in one turn are listed together), the run waits (status waiting_on_human, stop_reason requires_action) with the calls in required_action. Post every pending call's output in one request; the run then resumes and the model gets the outputs as the calls' results. Events: each custom call is a tool_call event with origin custom and requires_action true, then run_status waiting_on_human with stop_reason requires_action and the required_action; once the outputs arrive the run resumes (run_status running) and each call's tool_result follows. A call whose arguments do not fit its input_schema never reaches the client: the model gets a tool error. In a turn that mixes them, the other calls (approvals of always_ask tools included) go first, the custom calls last. 400 naming the missing, unknown or repeated tool_call_ids; 409 when the run is not waiting for tool outputs. Cancelling a waiting run ends it cancelled (its calls get cancelled results); a pending call unanswered within the steering timeout (24 h by default) gets an error result and the run goes on. A message sent in steer mode to a run waiting for tool outputs is 409 (use queue or interrupt).", tag: "runs", request: SubmitToolOutputsRequest{}, status: 200, response: Run{}, headers: []param{idemKey}, errors: with(write, 413)},
		{method: "POST", path: dep + "/runs/{run_id}/cancel", scope: herm.ScopeWrite, handle: s.cancelRun, summary: "Cancel a run: a queued run ends at once, a running one promptly (its model call is aborted); it ends cancelled. 409 when it already ended.", tag: "runs", status: 202, response: Run{}, headers: []param{idemKey}, errors: write},

		{method: "POST", path: dep + "/threads", scope: herm.ScopeWrite, handle: s.createThread, summary: "Create a thread (a conversation with its own history; the workspace is shared).", tag: "threads", request: CreateThreadRequest{}, optionalBody: true, status: 201, response: Thread{}, headers: []param{idemKey}, errors: write},
		{method: "GET", path: dep + "/threads", scope: herm.ScopeRead, handle: s.listThreads, summary: "List threads, newest first.", tag: "threads", status: 200, response: List[Thread]{}, query: []param{pLimit, pCursor}, errors: std},
		{method: "GET", path: dep + "/threads/{thread_id}", scope: herm.ScopeRead, handle: s.getThread, summary: "Get a thread with its messages, oldest first. A message appears once its run has taken it in.", tag: "threads", status: 200, response: ThreadWithMessages{}, errors: std},
		{method: "PATCH", path: dep + "/threads/{thread_id}", scope: herm.ScopeWrite, handle: s.updateThread, summary: "Rename a thread.", tag: "threads", request: UpdateThreadRequest{}, status: 200, response: Thread{}, errors: write},
		{method: "DELETE", path: dep + "/threads/{thread_id}", scope: herm.ScopeWrite, handle: s.deleteThread, summary: "Delete a thread and its history; its active run is cancelled. The default thread cannot be deleted (409).", tag: "threads", status: 204, errors: with(write, 503)},

		{method: "GET", path: dep + "/events", scope: herm.ScopeRead, handle: s.events, summary: "The deployment's event stream (SSE), or with Accept: application/json a page of the event log, oldest first. With Last-Event-ID or after, every retained event after it is replayed first; an id older than the retained log is 410 cursor_expired.", tag: "events", status: 200, response: Event{}, contentType: "text/event-stream",
			headers: []param{{"Last-Event-ID", "string", "Replay the events after this id, then continue live.", nil}},
			query:   []param{{"thread_id", "string", "Only this thread's events.", nil}, {"run_id", "string", "Only this run's events.", nil}, {"types", "string", "Comma-separated event types.", nil}, {"after", "string", "Same as Last-Event-ID (the header wins).", nil}, {"limit", "integer", "JSON page size, 1–1000 (default 100).", nil}, {accessTokenParam, "string", "A stream token (POST .../events/tokens) instead of the Authorization header, for a browser's EventSource: accepted here only, for this deployment only, until it expires or its key is revoked; never logged.", nil}},
			errors:  []int{400, 401, 403, 404, 410, 429}},
		{method: "POST", path: dep + "/events/tokens", scope: herm.ScopeRead, handle: s.createStreamToken, summary: "Mint a stream token: for 10 minutes it opens this deployment's event stream as GET .../events?access_token=<token>, for a browser's EventSource, which cannot send the Authorization header. It is accepted by no other endpoint and for no other deployment, and stops working when the key that minted it is revoked; the key's scope and customer limit apply on each use. A stream already open is not cut when the token expires.", tag: "events", status: 201, response: StreamToken{}, headers: []param{idemKey}, errors: with(std, 503)},

		{method: "GET", path: dep + "/tools", scope: herm.ScopeRead, handle: s.listTools, summary: "List the deployment's tools with their settings (built-in tools, and ask_human when steering is on; code-running tools only where the deployment may run code; MCP servers' tools as far as the servers answer within about 2 s — mcp_servers says which did).", tag: "tools", status: 200, response: ToolList{}, errors: std},
		{method: "PATCH", path: dep + "/tools/{name}", scope: herm.ScopeWrite, handle: s.updateTool, summary: "Enable or disable a tool, or set its permission (always_ask pauses for approval). A new configuration version, like a PATCH of the deployment's tools.", tag: "tools", request: UpdateToolRequest{}, status: 200, response: ToolInfo{}, errors: with(std, 409)},

		{method: "GET", path: dep + "/mcp_servers", scope: herm.ScopeRead, handle: s.listMCPServers, summary: "List the deployment's MCP servers.", tag: "tools", status: 200, response: MCPServerList{}, errors: std},
		{method: "POST", path: dep + "/mcp_servers", scope: herm.ScopeWrite, handle: s.addMCPServer, summary: "Add an MCP server (a new configuration version; from the next run). 409 when the name is taken.", tag: "tools", request: AddMCPServerRequest{}, status: 201, response: herm.MCPServer{}, headers: []param{idemKey}, errors: with(write, 422)},
		{method: "PUT", path: dep + "/mcp_servers/{name}", scope: herm.ScopeWrite, handle: s.putMCPServer, summary: "Replace an MCP server's entry.", tag: "tools", request: MCPServerInput{}, status: 200, response: herm.MCPServer{}, errors: with(write, 422)},
		{method: "DELETE", path: dep + "/mcp_servers/{name}", scope: herm.ScopeWrite, handle: s.deleteMCPServer, summary: "Remove an MCP server.", tag: "tools", status: 204, errors: write},
		{method: "GET", path: dep + "/automations", scope: herm.ScopeRead, handle: s.listAutomations, summary: "List the deployment's automations, newest first.", tag: "automations", status: 200, response: List[Automation]{}, query: []param{pLimit, pCursor}, errors: std},
		{method: "POST", path: dep + "/automations", scope: herm.ScopeWrite, handle: s.createAutomation, summary: "Add an automation: at each firing of schedule (cron or plain English, in timezone) its instructions go to its thread as a run triggered by the automation (with features.automations on and the deployment ready). Without thread_id it gets a thread of its own.", tag: "automations", request: CreateAutomationRequest{}, status: 201, response: Automation{}, headers: []param{idemKey}, errors: write},
		{method: "GET", path: dep + "/automations/{automation_id}", scope: herm.ScopeRead, handle: s.getAutomation, summary: "Get an automation with its recent runs.", tag: "automations", status: 200, response: Automation{}, errors: std},
		{method: "PATCH", path: dep + "/automations/{automation_id}", scope: herm.ScopeWrite, handle: s.updateAutomation, summary: "Change an automation (fields not sent stay); a new schedule, time zone or enabled takes effect from now.", tag: "automations", request: UpdateAutomationRequest{}, status: 200, response: Automation{}, errors: write},
		{method: "DELETE", path: dep + "/automations/{automation_id}", scope: herm.ScopeWrite, handle: s.deleteAutomation, summary: "Delete an automation (its thread and runs stay).", tag: "automations", status: 204, errors: write},
		{method: "POST", path: dep + "/automations/{automation_id}/trigger", scope: herm.ScopeWrite, handle: s.triggerAutomation, summary: "Fire an automation now, whatever its schedule; the run queues behind one of its thread that is still going.", tag: "automations", status: 202, response: TriggerResponse{}, headers: []param{idemKey}, errors: write},
		{method: "GET", path: dep + "/memories", scope: herm.ScopeRead, handle: s.listMemories, summary: "List what the deployment's agent remembers (files under .herm/memory/ in its workspace), newest first; q keeps memories holding every word of it.", tag: "memories", status: 200, response: List[Memory]{}, query: []param{{name: "q", typ: "string", doc: "Words the memory must contain (case-insensitive)."}, pLimit, pCursor}, errors: std},
		{method: "POST", path: dep + "/memories", scope: herm.ScopeWrite, handle: s.createMemory, summary: "Seed a memory (source api); the agent sees it from its next run. The same content again returns the existing memory with 200. The API works whether or not features.memory is on (the agent sees memories only when it is).", tag: "memories", request: MemoryRequest{}, status: 201, response: Memory{}, headers: []param{idemKey}, errors: write},
		{method: "GET", path: dep + "/memories/{memory_id}", scope: herm.ScopeRead, handle: s.getMemory, summary: "Get a memory.", tag: "memories", status: 200, response: Memory{}, errors: std},
		{method: "PATCH", path: dep + "/memories/{memory_id}", scope: herm.ScopeWrite, handle: s.updateMemory, summary: "Replace a memory's content.", tag: "memories", request: MemoryRequest{}, status: 200, response: Memory{}, errors: write},
		{method: "DELETE", path: dep + "/memories/{memory_id}", scope: herm.ScopeWrite, handle: s.deleteMemory, summary: "Delete a memory (a data-deletion request): its file is removed from the workspace.", tag: "memories", status: 204, errors: write},
		{method: "GET", path: dep + "/skills", scope: herm.ScopeRead, handle: s.listSkills, summary: "List the deployment's skills: the configured ones, then those the agent learned (.herm/skills/ in the workspace; a learned skill never overrides a configured one of the same name).", tag: "skills", status: 200, response: List[SkillInfo]{}, errors: std},
		{method: "POST", path: dep + "/skills", scope: herm.ScopeWrite, handle: s.addSkill, summary: "Add a configured skill (a new configuration version; from the next run). Its SKILL.md is checked now (a url skill is fetched); 422 invalid_skill says why it cannot be used. 409 when the name is taken.", tag: "skills", request: SkillRequest{}, status: 201, response: SkillDetail{}, headers: []param{idemKey}, errors: with(write, 422)},
		{method: "GET", path: dep + "/skills/{skill_id}", scope: herm.ScopeRead, handle: s.getSkill, summary: "Get a skill with its SKILL.md.", tag: "skills", status: 200, response: SkillDetail{}, errors: std},
		{method: "PUT", path: dep + "/skills/{skill_id}", scope: herm.ScopeWrite, handle: s.putSkill, summary: "Replace a configured skill (its skill_id stays); a url skill is fetched again. Learned skills cannot be replaced (409).", tag: "skills", request: SkillRequest{}, status: 200, response: SkillDetail{}, errors: with(write, 422)},
		{method: "DELETE", path: dep + "/skills/{skill_id}", scope: herm.ScopeWrite, handle: s.deleteSkill, summary: "Remove a configured skill, or delete a learned one from the workspace.", tag: "skills", status: 204, errors: write},

		{method: "GET", path: dep + "/steering_requests", scope: herm.ScopeRead, handle: s.listSteering, summary: "List steering requests (runs paused for a human: approvals of always_ask tools, questions from ask_human), newest first.", tag: "steering", status: 200, response: List[SteeringRequest]{}, errors: std,
			query: []param{pLimit, pCursor, {"status", "string", "Only requests in this status.", []string{"pending", "resolved"}}, {"run_id", "string", "Only this run's requests.", nil}}},
		{method: "GET", path: dep + "/steering_requests/{steering_request_id}", scope: herm.ScopeRead, handle: s.getSteering, summary: "Get a steering request.", tag: "steering", status: 200, response: SteeringRequest{}, errors: std},
		{method: "POST", path: dep + "/steering_requests/{steering_request_id}", scope: herm.ScopeWrite, handle: s.resolveSteering, summary: "Answer a steering request; the run continues from where it paused (after approve the tool runs once; after deny it never runs and the model is told why). A message sent to the waiting thread answers it too (decision answer). Answering twice is 409.", tag: "steering", request: ResolveSteeringRequest{}, status: 200, response: SteeringRequest{}, headers: []param{idemKey}, errors: write},

		{method: "GET", path: dep + "/files", scope: herm.ScopeRead, handle: s.listFiles, summary: "List a directory of the workspace (/workspace inside the sandbox), sorted by name. A path that is absolute, leaves the workspace through .., or goes through a symlink out of it is 400.", tag: "files", status: 200, response: FileList{}, errors: with(std, 409, 503),
			query: []param{pPath("The directory (default: the workspace root).")}},
		{method: "GET", path: dep + "/files/content", scope: herm.ScopeRead, handle: s.readFile, summary: "Read a file's bytes (Content-Type guessed from its name and content; Range requests supported).", tag: "files", status: 200, contentType: "application/octet-stream", errors: with(std, 409, 416, 503),
			query: []param{pPath("The file.")}, headers: []param{{"Range", "string", "Bytes to return, e.g. bytes=0-1023.", nil}}},
		{method: "PUT", path: dep + "/files", scope: herm.ScopeWrite, handle: s.writeFile, summary: "Write a file, replacing it atomically and creating its parent directories. The body is the file's raw bytes, or, sent as application/json, {path, content, encoding}. Files are owned by the sandbox's user. Larger than the server's file limit, or past the deployment's disk quota, is 413.", tag: "files", request: WriteFileRequest{}, status: 200, response: FileInfo{}, errors: with(std, 409, 413, 503), fileBody: true,
			query: []param{pPath("The file (or path in the JSON body).")}},
		{method: "DELETE", path: dep + "/files", scope: herm.ScopeWrite, handle: s.deleteFile, summary: "Delete a file, or a directory with everything in it.", tag: "files", status: 204, request: DeleteFileRequest{}, optionalBody: true, errors: with(std, 409, 503),
			query: []param{pPath("The file or directory.")}},

		{method: "POST", path: "/v1/secrets", scope: herm.ScopeAdmin, handle: s.createSecret, summary: "Store a secret in the vault (encrypted at rest). Deployments reference it in secrets (ENV_NAME → sec_...); its value never enters a sandbox, the model's context, the event log or logs, and no endpoint returns it.", tag: "secrets", request: CreateSecretRequest{}, status: 201, response: Secret{}, headers: []param{idemKey}, errors: write},
		{method: "GET", path: "/v1/secrets", scope: herm.ScopeAdmin, handle: s.listSecrets, summary: "List secrets (without values), newest first.", tag: "secrets", status: 200, response: List[Secret]{}, query: []param{pLimit, pCursor}, errors: std},
		{method: "GET", path: "/v1/secrets/{secret_id}", scope: herm.ScopeAdmin, handle: s.getSecret, summary: "Get a secret (without its value).", tag: "secrets", status: 200, response: Secret{}, errors: std},
		{method: "PUT", path: "/v1/secrets/{secret_id}", scope: herm.ScopeAdmin, handle: s.rotateSecret, summary: "Rotate a secret's value; it is used from the next request that needs it, with no restart.", tag: "secrets", request: RotateSecretRequest{}, status: 200, response: Secret{}, errors: std},
		{method: "POST", path: "/v1/webhooks", scope: herm.ScopeAdmin, handle: s.createWebhook, summary: "Add an outbound webhook: every event of the listed types (of one deployment, or of all) is POSTed to url as the event stream's JSON, signed by the Standard Webhooks scheme (webhook-id, webhook-timestamp, webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body under the secret's key>), and retried with backoff (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) until a 2xx answer. The signing secret is in this response only.", tag: "webhooks", request: CreateWebhookRequest{}, status: 201, response: Webhook{}, headers: []param{idemKey}, errors: write},
		{method: "GET", path: "/v1/webhooks", scope: herm.ScopeAdmin, handle: s.listWebhooks, summary: "List webhooks (without secrets), newest first.", tag: "webhooks", status: 200, response: List[Webhook]{}, query: []param{pLimit, pCursor}, errors: std},
		{method: "GET", path: "/v1/webhooks/{webhook_id}", scope: herm.ScopeAdmin, handle: s.getWebhook, summary: "Get a webhook (without its secret).", tag: "webhooks", status: 200, response: Webhook{}, errors: std},
		{method: "DELETE", path: "/v1/webhooks/{webhook_id}", scope: herm.ScopeAdmin, handle: s.deleteWebhook, summary: "Delete a webhook and its deliveries.", tag: "webhooks", status: 204, errors: std},
		{method: "GET", path: "/v1/webhooks/{webhook_id}/deliveries", scope: herm.ScopeAdmin, handle: s.listDeliveries, summary: "List a webhook's deliveries, newest first: status (pending, succeeded, failed), attempts, the endpoint's last answer.", tag: "webhooks", status: 200, response: List[Delivery]{}, query: []param{pLimit, pCursor}, errors: std},
		{method: "DELETE", path: "/v1/secrets/{secret_id}", scope: herm.ScopeAdmin, handle: s.deleteSecret, summary: "Delete a secret. Deployments that still reference it can no longer use it.", tag: "secrets", status: 204, errors: std},

		{method: "POST", path: "/v1/agents", scope: herm.ScopeWrite, handle: s.createAgent, summary: "Create an agent: a reusable, versioned definition (model, instructions, toolsets with permission policies, MCP servers, skills, custom tools, sandbox, secrets, model settings) not bound to a customer. It is version 1; starting it does no work (sessions do). Agents and sessions need a key not limited to a customer.", tag: "agents", request: CreateAgentRequest{}, status: 201, response: Agent{}, headers: []param{idemKey}, errors: with(write, 422)},
		{method: "GET", path: "/v1/agents", scope: herm.ScopeRead, handle: s.listAgents, summary: "List agents with their current versions, newest first.", tag: "agents", status: 200, response: CamelList[Agent]{}, errors: []int{400, 401, 403, 429},
			query: []param{pLimit, {"cursor", "string", "nextCursor of the previous page.", nil}, {"status", "string", "Only agents in this status.", []string{"active", "archived"}}}},
		{method: "GET", path: "/v1/agents/{agent_id}", scope: herm.ScopeRead, handle: s.getAgent, summary: "Get an agent with its current version.", tag: "agents", status: 200, response: Agent{}, errors: std},
		{method: "PATCH", path: "/v1/agents/{agent_id}", scope: herm.ScopeWrite, handle: s.updateAgent, summary: "Update an agent: every accepted update is a new version (the old ones stay readable); new sessions get it, existing sessions keep the version they were created with. Fields not sent stay; name, model, instructions, sandbox and modelSettings replace; tools, mcpServers and skills replace the whole list; secrets, features and metadata merge per key (null removes). 409 for an archived agent.", tag: "agents", request: UpdateAgentRequest{}, status: 200, response: Agent{}, errors: with(write, 422)},
		{method: "POST", path: "/v1/agents/{agent_id}/archive", scope: herm.ScopeWrite, handle: s.archiveAgent, summary: "Archive an agent: its sessions keep working; it takes no new sessions and no updates (409). Archiving twice is 409.", tag: "agents", status: 200, response: Agent{}, headers: []param{idemKey}, errors: write},
		{method: "GET", path: "/v1/agents/{agent_id}/versions", scope: herm.ScopeRead, handle: s.listAgentVersions, summary: "List an agent's versions, newest first.", tag: "agents", status: 200, response: CamelList[Agent]{}, errors: std,
			query: []param{pLimit, {"cursor", "string", "nextCursor of the previous page (a version number).", nil}}},
		{method: "GET", path: "/v1/agents/{agent_id}/versions/{version}", scope: herm.ScopeRead, handle: s.getAgentVersion, summary: "Get one version of an agent (its definition then; status and metadata are the agent's now).", tag: "agents", status: 200, response: Agent{}, errors: std},

		{method: "POST", path: "/v1/agents/{agent_id}/sessions", scope: herm.ScopeWrite, handle: s.createSession, summary: "Create a session: a conversation with the agent, pinned to its current version. Sessions of one agentId + userId share memory and learned skills (one workspace); other users' are unreachable. Without userId the session's memory is its own, deleted with it. 409 for an archived agent.", tag: "sessions", request: CreateSessionRequest{}, optionalBody: true, status: 201, response: Session{}, headers: []param{idemKey}, errors: with(write, 422)},
		{method: "GET", path: "/v1/sessions", scope: herm.ScopeRead, handle: s.listSessions, summary: "List sessions, newest first (archived ones only with archived=true or any).", tag: "sessions", status: 200, response: CamelList[Session]{}, errors: []int{400, 401, 403, 429},
			query: []param{pLimit, {"cursor", "string", "nextCursor of the previous page.", nil}, {"agentId", "string", "Only this agent's sessions.", nil}, {"userId", "string", "Only this user's sessions.", nil}, {"status", "string", "Only sessions in this status.", []string{"idle", "running"}}, {"archived", "string", "false (default): active sessions; true: archived ones; any: both.", []string{"false", "true", "any"}}, {"metadata[key]", "string", "Only sessions whose metadata maps key to this value (one parameter per key, ≤ 16).", nil}}},
		{method: "GET", path: "/v1/sessions/{session_id}", scope: herm.ScopeRead, handle: s.getSession, summary: "Get a session: its state, pinned agent version, userId, metadata and message history.", tag: "sessions", status: 200, response: SessionWithMessages{}, errors: std},
		{method: "PATCH", path: "/v1/sessions/{session_id}", scope: herm.ScopeWrite, handle: s.updateSession, summary: "Update a session's title or metadata (userId and the pinned version are immutable).", tag: "sessions", request: UpdateSessionRequest{}, status: 200, response: Session{}, errors: write},
		{method: "POST", path: "/v1/sessions/{session_id}/archive", scope: herm.ScopeWrite, handle: s.archiveSession, summary: "Archive a session: hidden from the active listings; it keeps working. Twice is 409.", tag: "sessions", status: 200, response: Session{}, headers: []param{idemKey}, errors: write},
		{method: "DELETE", path: "/v1/sessions/{session_id}", scope: herm.ScopeWrite, handle: s.deleteSession, summary: "Delete a session and its history (a running turn is interrupted first). The memory and learned skills of its agentId + userId stay; a session without userId takes its own with it.", tag: "sessions", status: 204, errors: with(write, 503)},
		{method: "POST", path: "/v1/sessions/{session_id}/events", scope: herm.ScopeWrite, handle: s.sendSessionEvents, summary: "Send user events: user.message (starts a turn; 409 while one runs or waits for the client), user.steer (adds text to the running turn), user.interrupt (ends the active turn: session.status_idle with stop_reason interrupted), user.tool_confirmation (allow or deny a tool use of an always_ask tool: the event_ids of session.status_idle's requires_action), user.custom_tool_result (answer an agent.custom_tool_use; the turn resumes once all are answered). The first user.message of a user's session may wait while the user's workspace is provisioned. Returns the session.", tag: "sessions", request: SendSessionEventsRequest{}, status: 202, response: Session{}, headers: []param{idemKey}, errors: with(write, 402, 413, 503)},
		{method: "GET", path: "/v1/sessions/{session_id}/events", scope: herm.ScopeRead, handle: s.listSessionEvents, summary: "List a session's events, oldest first: a page after cursor (a sequence). An event older than the retained log is 410 cursor_expired.", tag: "sessions", status: 200, response: SessionEventList{}, errors: []int{400, 401, 403, 404, 410, 429},
			query: []param{{"cursor", "string", "nextCursor of the previous page: list the events after this sequence.", nil}, {"after", "integer", "Same as cursor.", nil}, {"limit", "integer", "Page size, 1–1000 (default 100).", nil}}},
		{method: "GET", path: "/v1/sessions/{session_id}/events/stream", scope: herm.ScopeRead, handle: s.streamSessionEvents, summary: "The session's events as an SSE stream (event: the type; id: the sequence; data: the envelope). With Last-Event-ID (or after), every retained event after that sequence is replayed first, then the stream follows live: each event once, in sequence order.", tag: "sessions", status: 200, response: SessionEvent{}, contentType: "text/event-stream", errors: []int{400, 401, 403, 404, 410, 429},
			headers: []param{{"Last-Event-ID", "string", "Replay the events after this sequence, then continue live.", nil}},
			query:   []param{{"after", "integer", "Same as Last-Event-ID (the header wins).", nil}}},

		{method: "POST", path: "/v1/api_keys", scope: herm.ScopeAdmin, handle: s.createAPIKey, summary: "Create an API key; the key itself is in this response only.", tag: "api_keys", request: CreateAPIKeyRequest{}, status: 201, response: APIKey{}, headers: []param{idemKey}, errors: write},
		{method: "GET", path: "/v1/api_keys", scope: herm.ScopeAdmin, handle: s.listAPIKeys, summary: "List live API keys, newest first.", tag: "api_keys", status: 200, response: List[APIKey]{}, query: []param{pLimit, pCursor}, errors: std},
		{method: "DELETE", path: "/v1/api_keys/{key_id}", scope: herm.ScopeAdmin, handle: s.deleteAPIKey, summary: "Revoke an API key (a key cannot revoke itself).", tag: "api_keys", status: 204, errors: write},
	}
}
