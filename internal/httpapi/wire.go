package httpapi

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// The wire types: every JSON body the API sends or accepts. The OpenAPI
// document is generated from them (see routes.go).

// List is a page of a list: newest first unless the endpoint says otherwise.
type List[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor" doc:"Pass as cursor to get the next page; null on the last page."`
}

// ErrorBody is the envelope of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes an error.
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// Deployment is the deployment object.
type Deployment struct {
	DeploymentID  string                       `json:"deployment_id"`
	CustomerID    string                       `json:"customer_id"`
	Name          string                       `json:"name"`
	Runtime       string                       `json:"runtime"`
	Model         string                       `json:"model"`
	Status        string                       `json:"status" enum:"provisioning,ready,error,deleting"`
	SystemPrompt  string                       `json:"system_prompt"`
	Sandbox       herm.Sandbox                 `json:"sandbox"`
	MCPServers    []herm.MCPServer             `json:"mcp_servers"`
	Skills        []SkillRef                   `json:"skills"`
	Secrets       map[string]string            `json:"secrets"`
	Features      herm.Features                `json:"features"`
	Tools         map[string]herm.ToolSettings `json:"tools"`
	CustomTools   []herm.CustomTool            `json:"custom_tools" doc:"The tools the client implements (see POST /v1/deployments/{deployment_id}/runs/{run_id}/tool_outputs)."`
	Metadata      map[string]string            `json:"metadata"`
	ModelSettings herm.ModelSettings           `json:"model_settings" doc:"Settings of the model calls; a setting absent is the provider's default."`
	Timezone      string                       `json:"timezone" doc:"The IANA time zone of the date and time the agent is told (\"\": UTC)."`
	BudgetUSD     *float64                     `json:"budget_usd" doc:"The spending cap in USD, or null."`
	ThreadID      string                       `json:"thread_id" doc:"The default thread."`
	ConfigVersion int                          `json:"config_version"`
	Filesystem    Filesystem                   `json:"filesystem"`
	Events        EventsRef                    `json:"events"`
	Error         *herm.ErrorInfo              `json:"error"`
	CreatedAt     time.Time                    `json:"created_at"`
	UpdatedAt     time.Time                    `json:"updated_at"`
}

// SkillRef is a configured skill as the deployment object lists it.
type SkillRef struct {
	SkillID string `json:"skill_id"`
	Name    string `json:"name"`
	Source  string `json:"source" enum:"file,inline,url"`
}

// Filesystem describes the workspace.
type Filesystem struct {
	WorkspacePath string `json:"workspace_path"`
	Persistent    bool   `json:"persistent"`
}

// EventsRef says where the deployment's event stream is.
type EventsRef struct {
	Transport string `json:"transport" enum:"sse"`
	URL       string `json:"url"`
}

// DeleteDeploymentResponse is the body of a 202 to a delete.
type DeleteDeploymentResponse struct {
	DeploymentID string  `json:"deployment_id"`
	Status       string  `json:"status" enum:"deleting"`
	SnapshotID   *string `json:"snapshot_id"`
}

func toDeployment(d *herm.Deployment, base string) Deployment {
	out := Deployment{
		DeploymentID: d.ID, CustomerID: d.CustomerID, Name: d.Name, Runtime: d.Runtime, Model: d.Model,
		Status: string(d.Status), SystemPrompt: d.SystemPrompt, Sandbox: d.Sandbox,
		MCPServers: d.MCPServers, Secrets: d.Secrets, Features: d.Features, Tools: d.Tools, Metadata: d.Metadata, CustomTools: d.CustomTools,
		ThreadID: d.ThreadID, ConfigVersion: d.ConfigVersion, BudgetUSD: d.BudgetUSD,
		ModelSettings: d.ModelSettings,
		Timezone:      d.Timezone,
		Filesystem:    Filesystem{WorkspacePath: "/workspace", Persistent: d.Sandbox.PersistentFilesystem},
		Events:        EventsRef{Transport: "sse", URL: strings.TrimRight(base, "/") + "/v1/deployments/" + d.ID + "/events"},
		Error:         d.Error, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
		Skills: make([]SkillRef, 0, len(d.Skills)),
	}
	for _, s := range d.Skills {
		out.Skills = append(out.Skills, SkillRef{SkillID: s.SkillID, Name: s.Name, Source: s.Source})
	}
	if out.MCPServers == nil {
		out.MCPServers = []herm.MCPServer{}
	}
	if out.Sandbox.Network.AllowedHosts == nil {
		out.Sandbox.Network.AllowedHosts = []string{}
	}
	if out.Secrets == nil {
		out.Secrets = map[string]string{}
	}
	if out.Tools == nil {
		out.Tools = map[string]herm.ToolSettings{}
	}
	if out.CustomTools == nil {
		out.CustomTools = []herm.CustomTool{}
	}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	return out
}

// CreateThreadRequest is the body of a thread create.
type CreateThreadRequest struct {
	Title *string `json:"title,omitempty" doc:"≤ 200 chars; default empty."`
}

// UpdateThreadRequest is the body of a thread update.
type UpdateThreadRequest struct {
	Title *string `json:"title" doc:"The new title (≤ 200 chars)."`
}

// Thread is the thread object.
type Thread struct {
	ThreadID       string    `json:"thread_id"`
	DeploymentID   string    `json:"deployment_id"`
	Title          string    `json:"title"`
	Status         string    `json:"status" enum:"idle,running,waiting_on_human"`
	MessageCount   int       `json:"message_count"`
	IsDefault      bool      `json:"is_default"`
	CreatedAt      time.Time `json:"created_at"`
	LastActivityAt time.Time `json:"last_activity_at"`
}

// ThreadWithMessages is a thread with its history.
type ThreadWithMessages struct {
	Thread
	Messages []Message `json:"messages"`
}

// Message is an entry of a thread's history.
type Message struct {
	MessageID   string            `json:"message_id"`
	Role        string            `json:"role" enum:"user,agent"`
	Content     string            `json:"content"`
	RunID       *string           `json:"run_id"`
	Attachments []herm.Attachment `json:"attachments,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
}

func toThread(t *herm.Thread) Thread {
	return Thread{
		ThreadID: t.ID, DeploymentID: t.DeploymentID, Title: t.Title, Status: string(t.Status),
		MessageCount: t.MessageCount, IsDefault: t.IsDefault, CreatedAt: t.CreatedAt, LastActivityAt: t.LastActivityAt,
	}
}

func toMessage(m *herm.Message) Message {
	return Message{MessageID: m.ID, Role: m.Role, Content: m.Content, RunID: nullable(m.RunID), Attachments: m.Attachments, CreatedAt: m.CreatedAt}
}

// SendMessageRequest is the body of a message send.
type SendMessageRequest struct {
	Content      *string           `json:"content" doc:"The user's text, 1–100,000 characters."`
	ThreadID     *string           `json:"thread_id,omitempty" doc:"Omitted: the default thread; \"new\": a new thread; else an existing thread."`
	Attachments  []herm.Attachment `json:"attachments,omitempty" doc:"At most 10: {type: image|video|audio|file, url: https URL or data URL}. Each is saved in the workspace under attachments/<run_id>/ and announced to the agent by path; images also go to the model as image input. An https URL is fetched under the deployment's egress policy when the run takes the message; one that cannot be fetched ends the run with an error naming it."`
	Mode         *string           `json:"mode,omitempty" enum:"steer,queue,interrupt,reject" doc:"When the thread has an active run: steer (default) folds the message into it; queue starts a new run after it; interrupt cancels the thread's active and queued runs and starts a new one; reject answers 409."`
	OutputSchema json.RawMessage   `json:"output_schema,omitempty" doc:"A JSON Schema (an object schema) that the run's final answer must be valid against: the run's output is then that JSON value. Supported subset: type (object, array, string, number, integer, boolean, null, or a list of them), properties, required, additionalProperties (false only), items, enum, const, anyOf, description, title, format (date-time, time, date, duration, email, hostname, uri, ipv4, ipv6, uuid), $schema (draft 2020-12 or draft-07); the root is type object; at most 32 KiB, nested at most 10 deep. Any other keyword is a 400 naming it. Providers with native structured output (OpenAI, Anthropic Claude 4 and later) get it natively, with every object closed and all its properties required; other models are instructed. An answer that is not valid gets one repair turn; a second invalid one ends the run in error with code output_invalid. Folded into an active run (mode steer) only when that run has the same output_schema (else 409)."`
}

// SendMessageResponse is the body of a 202 to a message send.
type SendMessageResponse struct {
	RunID        string `json:"run_id"`
	DeploymentID string `json:"deployment_id"`
	ThreadID     string `json:"thread_id"`
	MessageID    string `json:"message_id"`
	Status       string `json:"status" enum:"queued,running,waiting_on_human"`
	Steered      bool   `json:"steered"`
}

// Run is the run object.
type Run struct {
	RunID         string          `json:"run_id"`
	DeploymentID  string          `json:"deployment_id"`
	ThreadID      string          `json:"thread_id"`
	Status        string          `json:"status" enum:"queued,running,waiting_on_human,completed,error,cancelled"`
	Trigger       herm.Trigger    `json:"trigger"`
	ConfigVersion *int            `json:"config_version" doc:"The deployment configuration the run uses; null until it starts."`
	Model         *string         `json:"model" doc:"null until the run starts."`
	Usage         herm.Usage      `json:"usage"`
	Error         *herm.ErrorInfo `json:"error"`
	StopReason    *string         `json:"stop_reason" enum:"end_turn,max_steps,cancelled,error,requires_action"`
	// RequiredAction is set while the run waits for its custom tool calls'
	// outputs.
	RequiredAction *herm.RequiredAction `json:"required_action" doc:"While the run waits for the outputs of its custom tool calls: {type: submit_tool_outputs, tool_calls: [{id, name, arguments}]}, answered by POST .../runs/{run_id}/tool_outputs; null otherwise (a run waiting for a steering request has none)."`
	OutputSchema   json.RawMessage      `json:"output_schema" doc:"The run's output schema (from its message or automation); null for a free-text answer."`
	Output         json.RawMessage      `json:"output" doc:"The run's typed result: the final answer as JSON valid against output_schema, once the run completed; null otherwise (no output_schema, not completed). A run whose answer stayed invalid ends in error with code output_invalid."`
	CreatedAt      time.Time            `json:"created_at"`
	StartedAt      *time.Time           `json:"started_at"`
	CompletedAt    *time.Time           `json:"completed_at"`
}

// SubmitToolOutputsRequest is the body of POST .../runs/{run_id}/tool_outputs.
type SubmitToolOutputsRequest struct {
	ToolOutputs *[]ToolOutputInput `json:"tool_outputs" doc:"One output for each of the run's pending custom tool calls (its required_action.tool_calls), all in one request: a call left out, an id that is not pending, or one given twice is a 400 naming them."`
}

// OpenAPIRequired: the outputs.
func (SubmitToolOutputsRequest) OpenAPIRequired() []string { return []string{"tool_outputs"} }

// ToolOutputInput is one custom tool call's output.
type ToolOutputInput struct {
	ToolCallID *string `json:"tool_call_id" doc:"The id of a call in the run's required_action.tool_calls."`
	Output     *string `json:"output" doc:"What the tool returned, as the model will read it (a string, ≤ 100,000 characters; send structured data as its JSON text). Secret values of the deployment are redacted from it, and an output longer than the tool results' preview limit is saved in the workspace like any tool's."`
}

// OpenAPIRequired: the call's id and its output.
func (ToolOutputInput) OpenAPIRequired() []string { return []string{"tool_call_id", "output"} }

func toRun(r *herm.Run) Run {
	out := Run{
		RunID: r.ID, DeploymentID: r.DeploymentID, ThreadID: r.ThreadID, Status: string(r.Status),
		Trigger: r.Trigger, Model: nullable(r.Model), Usage: r.Usage, Error: r.Error,
		StopReason: stopReason(r), OutputSchema: r.OutputSchema, Output: r.Output,
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, CompletedAt: r.CompletedAt,
	}
	if r.ConfigVersion > 0 {
		v := r.ConfigVersion
		out.ConfigVersion = &v
	}
	return out
}

// CreateAPIKeyRequest is the body of an API key create.
type CreateAPIKeyRequest struct {
	Name   *string  `json:"name"`
	Scopes []string `json:"scopes" enum:"deployments:read,deployments:write,admin"`
	// CustomerID limits the key to one customer.
	CustomerID *string `json:"customer_id" doc:"Limit the key to this customer's deployments: it then reaches only /v1/deployments/** (another customer's deployment is 404, lists hold only this customer's) and GET /v1/models, creates deployments of this customer only (the default customer_id; another is 403), references only secrets of this customer, and may hold only deployments:read and deployments:write. A key to hand to a customer's frontend."`
}

// APIKey is an API key (its secret only in the create response).
type APIKey struct {
	KeyID      string     `json:"key_id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	CustomerID *string    `json:"customer_id" doc:"The customer the key is limited to; null for a key of every customer."`
	Prefix     string     `json:"prefix" doc:"The first characters of the key, to recognise it."`
	Key        string     `json:"key,omitempty" doc:"The key itself; only in the response to its creation."`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

func toAPIKey(k *herm.APIKey) APIKey {
	return APIKey{KeyID: k.ID, Name: k.Name, Scopes: k.Scopes, CustomerID: nullable(k.CustomerID), Prefix: k.Prefix, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsed}
}

// Model is an entry of GET /v1/models.
type Model struct {
	ID          string `json:"id" doc:"provider/model, as deployments name it."`
	Provider    string `json:"provider"`
	Description string `json:"description"`
	Demo        bool   `json:"demo" doc:"true for the offline demo model."`
	Default     bool   `json:"default" doc:"true for the server's default model."`
}

// Health is the body of /healthz and /readyz.
type Health struct {
	Status string            `json:"status" enum:"ok,degraded,unavailable" doc:"degraded: serving, with something switched off (see checks), e.g. no code execution."`
	Checks map[string]string `json:"checks,omitempty"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// stopReason is a run's stop_reason: why it ended, or requires_action
// while it waits on a human (as its run_status event says).
func stopReason(r *herm.Run) *string {
	if r.Status == herm.RunWaitingOnHuman {
		s := string(herm.StopRequiresAction)
		return &s
	}
	return nullable(r.StopReason)
}
