// Package builtin holds the tools every deployment's model can call without
// an MCP server: shell and process (its background commands), the file
// tools (read_file, write_file, edit_file, list_files, search_files),
// web_fetch, todo, the skill tools, memory and automations. They run
// against the deployment's sandbox and its workspace.
//
// Failures the model can react to (bad arguments, a command that exits
// non-zero, a missing file, a refused URL) come back as results with IsError;
// only infrastructure failures are Go errors.
package builtin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/memory"
	"github.com/hermhq/herm/internal/netguard"
	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/tools"
)

// Defaults of Options.
const (
	DefaultMaxFetchBytes = 5 << 20
	DefaultMaxReadBytes  = 10 << 20
	DefaultFetchTimeout  = 30 * time.Second
)

// Options configure the built-in tools. The zero value means defaults.
type Options struct {
	// HTTPClient makes web_fetch's requests (default: a client with a 30 s
	// timeout). Its Transport must be nil or an *http.Transport: web_fetch
	// uses a copy that connects through the Guard's dialer and uses no
	// proxy. Its CheckRedirect is replaced.
	HTTPClient *http.Client
	// AllowPrivateNetworks lets web_fetch reach private and loopback
	// addresses and the server's own host (HERM_ALLOW_PRIVATE_NETWORKS);
	// used when Guard is nil.
	AllowPrivateNetworks bool
	// Guard decides which addresses web_fetch and the Downloader may
	// connect to (default: one made with AllowPrivateNetworks).
	Guard *netguard.Guard
	// MaxFetchBytes caps the bytes web_fetch reads of a response
	// (default 5 MiB).
	MaxFetchBytes int64
	// MaxReadBytes caps the size of a file read_file and edit_file read
	// (default 10 MiB).
	MaxReadBytes int64
	// Memory keeps the memory tool's memories (nil: no memory tool).
	Memory *memory.Store
	// Now is the clock of the start times of background processes
	// (default time.Now).
	Now func() time.Time
}

// getFunc returns a deployment's sandbox, preparing it if need be.
type getFunc = func(ctx context.Context, d *herm.Deployment) (sandbox.Sandbox, error)

// New returns every built-in tool, each a Tool. get returns the sandbox of
// the deployment a call is made for (preparing it if need be); its errors
// are infrastructure failures.
func New(get func(ctx context.Context, d *herm.Deployment) (sandbox.Sandbox, error), opts Options) []tools.Tool {
	if opts.MaxFetchBytes <= 0 {
		opts.MaxFetchBytes = DefaultMaxFetchBytes
	}
	if opts.MaxReadBytes <= 0 {
		opts.MaxReadBytes = DefaultMaxReadBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	out := []tools.Tool{
		newShell(get, opts.Now),
		newProcess(get),
		newReadFile(get, opts.MaxReadBytes),
		newWriteFile(get),
		newEditFile(get, opts.MaxReadBytes),
		newListFiles(get),
		newSearchFiles(get),
		newWebFetch(opts),
		newTodo(get),
		newSkillView(get, opts.MaxReadBytes),
		newSkillManage(get),
	}
	if opts.Memory != nil {
		out = append(out, newMemory(get, opts.Memory))
	}

	return out
}

// Tool is a built-in tool: a tools.Tool that also says whether it runs code
// in the sandbox (the catalog offers such tools only to deployments that may
// run code).
type Tool interface {
	tools.Tool
	// RunsCode reports whether the tool runs commands in the sandbox.
	RunsCode() bool
}

// tool implements Tool for arguments of type A.
type tool[A any] struct {
	spec     llm.ToolSpec
	runsCode bool
	call     func(ctx context.Context, c tools.Call, args A) (tools.Result, error)
}

// newTool returns a tool whose input schema is derived from its arguments'
// type A (see tools.Schema for the struct tags it reads).
func newTool[A any](name, description string, runsCode bool, call func(context.Context, tools.Call, A) (tools.Result, error)) *tool[A] {
	return &tool[A]{
		spec:     llm.ToolSpec{Name: name, Description: description, InputSchema: tools.Schema[A]()},
		runsCode: runsCode,
		call:     call,
	}
}

func (t *tool[A]) Spec() llm.ToolSpec { return t.spec }
func (t *tool[A]) Origin() string     { return tools.OriginBuiltin }
func (t *tool[A]) RunsCode() bool     { return t.runsCode }

func (t *tool[A]) Call(ctx context.Context, c tools.Call, raw json.RawMessage) (tools.Result, error) {
	var args A
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		raw = []byte("{}")
	}
	if err := json.Unmarshal(raw, &args); err != nil {
		return errResult("invalid arguments for %s: %s", t.spec.Name, jsonErrMessage(err)), nil
	}
	return t.call(ctx, c, args)
}

// jsonErrMessage describes a decoding error without Go type names.
func jsonErrMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("field %q must be %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "not valid JSON: " + se.Error()
	}
	if errors.As(err, &te) {
		return "the arguments must be a JSON object, not " + te.Value
	}
	return err.Error()
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "int", "int64", "int32":
		return "an integer"
	case "float64", "float32":
		return "a number"
	}
	return "of another type"
}

// errResult is a failure the model can react to.
func errResult(format string, args ...any) tools.Result {
	return tools.Result{Content: fmt.Sprintf(format, args...), IsError: true}
}

// fileErr turns a workspace error into a result the model can react to,
// or returns it when it is an infrastructure failure.
func fileErr(err error) (tools.Result, error) {
	switch {
	case herm.ErrorCode(err) != herm.EInternal:
		return errResult("%s", herm.ErrorMessage(err)), nil
	case errors.Is(err, fs.ErrPermission):
		return errResult("permission denied"), nil
	case errors.Is(err, syscall.ELOOP):
		return errResult("too many levels of symbolic links"), nil
	}
	return tools.Result{}, err
}

// workspacePath turns a model-supplied path into a workspace path: relative
// paths are taken as they are, "/workspace/..." is accepted, and any other
// absolute path is refused. ".." that leaves the workspace is refused.
func workspacePath(p string) (string, error) {
	if path.IsAbs(p) {
		c := path.Clean(p)
		switch {
		case c == "/workspace":
			return ".", nil
		case strings.HasPrefix(c, "/workspace/"):
			p = strings.TrimPrefix(c, "/workspace/")
		default:
			return "", herm.Errorf(herm.EInvalid, "path %q: absolute paths must be under /workspace (or use a path relative to /workspace)", p)
		}
	}
	return sandbox.Clean(p)
}

// workspace returns the workspace of the call's deployment.
func workspace(ctx context.Context, get getFunc, c tools.Call) (*sandbox.Workspace, error) {
	sb, err := get(ctx, c.Deployment)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return sb.Workspace().For(c.ThreadID, c.RunID), nil
}

// resolve checks a path argument and returns the deployment's workspace
// path, or a result saying what is wrong with it.
func resolve(p string) (string, *tools.Result) {
	c, err := workspacePath(p)
	if err != nil {
		r := errResult("%s", herm.ErrorMessage(err))
		return "", &r
	}
	return c, nil
}

// isBinary reports whether b looks like binary data: a NUL byte in its first
// 8 KiB.
func isBinary(b []byte) bool {
	return bytes.IndexByte(b[:min(len(b), 8<<10)], 0) >= 0
}

// skipDir reports directories whose contents recursive listings and
// searches leave out.
func skipDir(name string) bool { return name == ".git" || name == "node_modules" }

// plural returns "1 thing" or "n things".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// netTimeout reports a network timeout (for clearer messages).
func netTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
