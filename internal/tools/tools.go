// Package tools holds the tools an agent can call: the Tool interface, the
// Registry of the server's built-in tools, and the Catalog that decides which
// tools a deployment gets (the built-in ones in tools/builtin).
package tools

import (
	"context"
	"encoding/json"
	"sort"
	"sync"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
)

// OriginBuiltin is the origin of built-in tools; MCP tools carry their
// server's name.
const OriginBuiltin = "builtin"

// Call is the context of one tool call.
type Call struct {
	ID         string
	Deployment *herm.Deployment // the configuration the run started with
	ThreadID   string
	RunID      string
}

// Result is what a tool returns to the model. Failures the model can react
// to (bad arguments, a command that exits non-zero) are results with IsError,
// not Go errors.
type Result struct {
	Content    string
	IsError    bool
	Truncated  bool
	OutputPath string // workspace path of the full output when Truncated
	// Files are binary parts of the result (an MCP tool's images, audio,
	// blobs): the agent saves them in the workspace and tells the model
	// where.
	Files []File
	// SavedImages are the image Files once the agent saved them (set by
	// the agent, not by tools).
	SavedImages []herm.SavedAttachment
	// WorkspaceImages are images already in the workspace that the result
	// shows the model (read_file of an image), by path: the agent adds
	// them to SavedImages when the model takes images, and says so.
	WorkspaceImages []herm.SavedAttachment
}

// File is a binary part of a tool result.
type File struct {
	Name      string // a file name, unique within the result
	MediaType string
	Data      []byte
}

// Tool is something the model can call.
type Tool interface {
	// Spec is the model-facing name, description and input schema.
	Spec() llm.ToolSpec
	// Origin is OriginBuiltin or an MCP server name.
	Origin() string
	// Call runs the tool. It must return promptly when ctx is cancelled.
	// A returned error is an infrastructure failure; it is reported to the
	// model as an error result.
	Call(ctx context.Context, c Call, args json.RawMessage) (Result, error)
}

// CodeRunner is implemented by tools that run code in the sandbox (shell):
// they are offered only to deployments that may execute code.
type CodeRunner interface {
	RunsCode() bool
}

// Registry is the set of built-in tools a server has (the Catalog decides
// which of them a deployment gets). It is safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	tools map[string]Tool
}

// Gated is a tool only some deployments have (by a feature flag).
type Gated interface {
	AvailableFor(d *herm.Deployment) bool
}

// NewRegistry returns a registry holding ts.
func NewRegistry(ts ...Tool) *Registry {
	r := &Registry{tools: make(map[string]Tool)}
	for _, t := range ts {
		r.Add(t)
	}
	return r
}

// Add registers t under its spec's name, replacing any tool of that name.
func (r *Registry) Add(t Tool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tools[t.Spec().Name] = t
}

// Lookup returns the tool with the given model-facing name.
func (r *Registry) Lookup(name string) (Tool, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.tools[name]
	return t, ok
}

// All returns every registered tool, sorted by name.
func (r *Registry) All() []Tool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Tool, 0, len(r.tools))
	for _, t := range r.tools {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec().Name < out[j].Spec().Name })
	return out
}
