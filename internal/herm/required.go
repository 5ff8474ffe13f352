package herm

// What each part of a request body requires, as the validation enforces
// it: a body whose object lacks one of these properties is refused with an
// EInvalid error naming it. The API description's request schemas take
// their required lists from these methods (openapi.RequiredProperties);
// its response schemas, where the same types are sent back, say instead
// which properties are always present. cmd/herm's TestRequiredFields
// checks both lists against a server.

// OpenAPIRequired: nothing (the sandbox's settings not sent keep their
// defaults, or their values on update).
func (SandboxInput) OpenAPIRequired() []string { return nil }

// OpenAPIRequired: nothing (zero or absent is the server's default).
func (Resources) OpenAPIRequired() []string { return nil }

// OpenAPIRequired: nothing (egress defaults to proxy, allowed_hosts to
// none).
func (Network) OpenAPIRequired() []string { return nil }

// OpenAPIRequired: the name and the url.
func (MCPServer) OpenAPIRequired() []string { return []string{"name", "url"} }

// OpenAPIRequired: the name and the source (content, url or path as the
// source needs, which a schema of the object alone does not say).
func (SkillInput) OpenAPIRequired() []string { return []string{"name", "source"} }

// OpenAPIRequired: nothing (a setting not sent stays).
func (ToolSettings) OpenAPIRequired() []string { return nil }

// OpenAPIRequired: the type and the url.
func (Attachment) OpenAPIRequired() []string { return []string{"type", "url"} }

// OpenAPIRequired: nothing (a setting not sent is the provider's default,
// or stays on update).
func (ModelSettingsInput) OpenAPIRequired() []string { return nil }

// OpenAPIRequired: nothing (either of effort and budget_tokens, or both).
func (Reasoning) OpenAPIRequired() []string { return nil }
