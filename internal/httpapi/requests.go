package httpapi

import "github.com/hermhq/herm/internal/herm"

// What each request body requires, as the handlers enforce it: a body
// without one of these properties is a 400 validation_error naming it
// (TestRequiredFields in cmd/herm sends each operation's body with each
// of them left out, and with only them). The OpenAPI document's required
// lists come from here (openapi.RequiredProperties), not from the Go
// types, whose fields are pointers so that absent can be told from empty.

// CreateDeploymentRequest documents the body of a deployment's creation
// (decoded as herm.DeploymentInput).
type CreateDeploymentRequest herm.DeploymentInput

// OpenAPIRequired lists what a create needs. A key limited to one customer
// is the exception: its customer is the default customer_id.
func (CreateDeploymentRequest) OpenAPIRequired() []string {
	return []string{"customer_id", "name", "system_prompt"}
}

// UpdateDeploymentRequest documents the body of a deployment's update
// (decoded as herm.DeploymentInput): fields not sent stay.
type UpdateDeploymentRequest herm.DeploymentInput

// OpenAPIRequired: nothing.
func (UpdateDeploymentRequest) OpenAPIRequired() []string { return nil }

// CreateAutomationRequest documents the body of an automation's creation
// (decoded as AutomationRequest).
type CreateAutomationRequest AutomationRequest

// OpenAPIRequired lists what a create needs.
func (CreateAutomationRequest) OpenAPIRequired() []string {
	return []string{"name", "schedule", "instructions"}
}

// UpdateAutomationRequest documents the body of an automation's update
// (decoded as AutomationRequest): fields not sent stay.
type UpdateAutomationRequest AutomationRequest

// OpenAPIRequired: nothing.
func (UpdateAutomationRequest) OpenAPIRequired() []string { return nil }

// AddMCPServerRequest documents the body of an MCP server's addition
// (decoded as MCPServerInput).
type AddMCPServerRequest MCPServerInput

// OpenAPIRequired lists what an addition needs.
func (AddMCPServerRequest) OpenAPIRequired() []string { return []string{"name", "url"} }

// OpenAPIRequired: the replacement's url (its name is the path's).
func (MCPServerInput) OpenAPIRequired() []string { return []string{"url"} }

// SkillRequest documents the body of a configured skill's addition or
// replacement (decoded as herm.SkillInput).
type SkillRequest herm.SkillInput

// OpenAPIRequired lists what a skill needs (content for an inline skill,
// url for a url skill, path for a file skill).
func (SkillRequest) OpenAPIRequired() []string { return []string{"name", "source"} }

// OpenAPIRequired: nothing (the default is an empty title).
func (CreateThreadRequest) OpenAPIRequired() []string { return nil }

// OpenAPIRequired: the title.
func (UpdateThreadRequest) OpenAPIRequired() []string { return []string{"title"} }

// OpenAPIRequired: the content.
func (SendMessageRequest) OpenAPIRequired() []string { return []string{"content"} }

// OpenAPIRequired: the name and at least one scope.
func (CreateAPIKeyRequest) OpenAPIRequired() []string { return []string{"name", "scopes"} }

// OpenAPIRequired: the name and the value.
func (CreateSecretRequest) OpenAPIRequired() []string { return []string{"name", "value"} }

// OpenAPIRequired: the new value.
func (RotateSecretRequest) OpenAPIRequired() []string { return []string{"value"} }

// OpenAPIRequired: the URL and at least one event type.
func (CreateWebhookRequest) OpenAPIRequired() []string { return []string{"url", "events"} }

// OpenAPIRequired: the content.
func (MemoryRequest) OpenAPIRequired() []string { return []string{"content"} }

// OpenAPIRequired: the decision (message too with answer, which a schema
// of the body alone does not say).
func (ResolveSteeringRequest) OpenAPIRequired() []string { return []string{"decision"} }

// OpenAPIRequired: the content (the path may be the query's).
func (WriteFileRequest) OpenAPIRequired() []string { return []string{"content"} }

// OpenAPIRequired: the path, when the body is sent.
func (DeleteFileRequest) OpenAPIRequired() []string { return []string{"path"} }

// OpenAPIRequired: nothing (an empty body changes nothing).
func (UpdateToolRequest) OpenAPIRequired() []string { return nil }

// OpenAPIRequired: nothing.
func (DeleteDeploymentRequest) OpenAPIRequired() []string { return nil }

// CreateAgentRequest documents the body of an agent's creation (decoded
// as herm.AgentInput).
type CreateAgentRequest herm.AgentInput

// OpenAPIRequired lists what a create needs.
func (CreateAgentRequest) OpenAPIRequired() []string { return []string{"name", "model"} }

// UpdateAgentRequest documents the body of an agent's update (decoded as
// herm.AgentInput): fields not sent stay.
type UpdateAgentRequest herm.AgentInput

// OpenAPIRequired: nothing.
func (UpdateAgentRequest) OpenAPIRequired() []string { return nil }

// OpenAPIRequired: nothing (an empty body makes a session without user).
func (CreateSessionRequest) OpenAPIRequired() []string { return nil }

// OpenAPIRequired: nothing.
func (UpdateSessionRequest) OpenAPIRequired() []string { return nil }
