package builtin

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/sandbox/process"
	"github.com/hermhq/herm/internal/tools"
)

// env is a deployment with a real (process driver) sandbox and the
// built-in tools.
type env struct {
	sb    sandbox.Sandbox
	dep   *herm.Deployment
	tools map[string]tools.Tool
}

func newEnv(t testing.TB, opts Options) *env {
	t.Helper()
	ctx := context.Background()
	d := process.New(t.TempDir())
	sb, err := d.Ensure(ctx, sandbox.Spec{DeploymentID: "dep_test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	e := &env{
		sb: sb,
		dep: &herm.Deployment{ID: "dep_test", Sandbox: herm.Sandbox{
			Enabled: true, Type: process.Name,
			Network: herm.Network{Egress: herm.EgressOpen, AllowedHosts: []string{}},
		}},
	}
	e.tools = toolMap(New(e.get, opts))
	return e
}

func (e *env) get(_ context.Context, d *herm.Deployment) (sandbox.Sandbox, error) {
	if d != e.dep {
		return nil, herm.Errorf(herm.ENotFound, "unexpected deployment")
	}
	return e.sb, nil
}

func toolMap(ts []tools.Tool) map[string]tools.Tool {
	m := make(map[string]tools.Tool)
	for _, t := range ts {
		m[t.Spec().Name] = t
	}
	return m
}

// call calls a tool with args (a string is sent as raw JSON) and fails the
// test on a Go error.
func (e *env) call(t testing.TB, name string, args any) tools.Result {
	t.Helper()
	r, err := e.callErr(context.Background(), name, args)
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", name, err)
	}
	return r
}

func (e *env) callErr(ctx context.Context, name string, args any) (tools.Result, error) {
	var raw json.RawMessage
	switch a := args.(type) {
	case string:
		raw = json.RawMessage(a)
	default:
		b, err := json.Marshal(a)
		if err != nil {
			panic(err)
		}
		raw = b
	}
	return e.tools[name].Call(ctx, tools.Call{ID: "call_1", Deployment: e.dep, ThreadID: "thr_1", RunID: "run_1"}, raw)
}

// ok asserts a successful result and returns its content.
func ok(t testing.TB, r tools.Result) string {
	t.Helper()
	if r.IsError {
		t.Fatalf("unexpected error result: %s", r.Content)
	}
	return r.Content
}

// failed asserts an error result containing want.
func failed(t testing.TB, r tools.Result, want string) {
	t.Helper()
	if !r.IsError {
		t.Fatalf("want an error result containing %q, got success: %s", want, r.Content)
	}
	if !strings.Contains(r.Content, want) {
		t.Fatalf("error result %q does not contain %q", r.Content, want)
	}
}

// writeFile writes a file into the workspace on the host.
func (e *env) writeFile(t testing.TB, p, content string) {
	t.Helper()
	hp := filepath.Join(e.sb.Workspace().Dir(), filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (e *env) readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.sb.Workspace().Dir(), filepath.FromSlash(p)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestToolSet(t *testing.T) {
	t.Parallel()
	ts := New(func(context.Context, *herm.Deployment) (sandbox.Sandbox, error) { return nil, nil }, Options{})
	var names []string
	for _, tl := range ts {
		spec := tl.Spec()
		names = append(names, spec.Name)
		if tl.Origin() != tools.OriginBuiltin {
			t.Errorf("%s: origin %q", spec.Name, tl.Origin())
		}
		if len(spec.Description) < 40 {
			t.Errorf("%s: description too short: %q", spec.Name, spec.Description)
		}
		bt, isBuiltin := tl.(Tool)
		if !isBuiltin {
			t.Fatalf("%s does not implement Tool", spec.Name)
		}
		if _, isRunner := tl.(tools.CodeRunner); !isRunner {
			t.Errorf("%s does not implement tools.CodeRunner", spec.Name)
		}
		if got, want := bt.RunsCode(), spec.Name == "shell" || spec.Name == "process"; got != want {
			t.Errorf("%s: RunsCode = %v, want %v", spec.Name, got, want)
		}

		var schema struct {
			Type       string                     `json:"type"`
			Properties map[string]json.RawMessage `json:"properties"`
			Required   []string                   `json:"required"`
		}
		if err := json.Unmarshal(spec.InputSchema, &schema); err != nil {
			t.Fatalf("%s: schema: %v", spec.Name, err)
		}
		if schema.Type != "object" || len(schema.Properties) == 0 {
			t.Errorf("%s: schema is not an object with properties", spec.Name)
		}
		for _, r := range schema.Required {
			if _, ok := schema.Properties[r]; !ok {
				t.Errorf("%s: required %q is not a property", spec.Name, r)
			}
		}
		for p, raw := range schema.Properties {
			var prop struct {
				Type        string `json:"type"`
				Description string `json:"description"`
			}
			if err := json.Unmarshal(raw, &prop); err != nil || prop.Type == "" || prop.Description == "" {
				t.Errorf("%s.%s: property needs a type and a description: %s", spec.Name, p, raw)
			}
		}
	}
	want := []string{"shell", "process", "read_file", "write_file", "edit_file", "list_files", "search_files", "web_fetch", "todo", "skill_view", "skill_manage"}
	if !slices.Equal(names, want) {
		t.Errorf("tools = %v, want %v", names, want)
	}
}

func TestSpecInputFields(t *testing.T) {
	t.Parallel()
	// The input fields of the spec's "Built-in tool inputs" table.
	want := map[string][]string{
		"shell":        {"command", "timeout_s", "background"},
		"process":      {"action", "id", "tail_lines", "offset", "input", "eof", "signal"},
		"read_file":    {"path", "offset", "limit"},
		"write_file":   {"path", "content"},
		"edit_file":    {"path", "old_string", "new_string", "replace_all"},
		"list_files":   {"path", "pattern"},
		"search_files": {"pattern", "path", "glob"},
		"web_fetch":    {"url"},
		"todo":         {"items"},
		"skill_view":   {"name", "path"},
		"skill_manage": {"action", "name", "content"},
	}
	for _, tl := range New(nil, Options{}) {
		var schema struct {
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(tl.Spec().InputSchema, &schema); err != nil {
			t.Fatal(err)
		}
		for _, f := range want[tl.Spec().Name] {
			if _, ok := schema.Properties[f]; !ok {
				t.Errorf("%s: no input field %q", tl.Spec().Name, f)
			}
		}
	}
}

func TestBadArguments(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{AllowPrivateNetworks: true})
	bad := []string{`[1,2]`, `"text"`, `{`, `42`, `{"path": 3, "command": true, "url": 1, "items": "x", "pattern": [], "name": 1, "action": 2}`}
	for name := range e.tools {
		for _, args := range bad {
			r := e.call(t, name, args)
			if !r.IsError || !strings.Contains(r.Content, "invalid arguments for "+name) {
				t.Errorf("%s(%s) = %+v, want an invalid arguments error", name, args, r)
			}
		}
		// Missing required fields: an error result, never a panic.
		for _, args := range []string{`{}`, `null`, ``} {
			r := e.call(t, name, args)
			if name != "todo" && name != "list_files" && !r.IsError {
				t.Errorf("%s(%s) succeeded: %s", name, args, r.Content)
			}
		}
	}
	r := e.call(t, "read_file", `{"path": 3}`)
	failed(t, r, `field "path" must be a string, not number`)
}

func TestWorkspacePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want, err string
	}{
		{"a/b.txt", "a/b.txt", ""},
		{"./a", "a", ""},
		{"", ".", ""},
		{".", ".", ""},
		{"/workspace", ".", ""},
		{"/workspace/", ".", ""},
		{"/workspace/a/b.txt", "a/b.txt", ""},
		{"/workspace//a/./b", "a/b", ""},
		{"a/../b", "b", ""},
		{"/workspace/../etc/passwd", "", "absolute paths must be under /workspace"},
		{"/workspacex/a", "", "absolute paths must be under /workspace"},
		{"/etc/passwd", "", "absolute paths must be under /workspace"},
		{"../x", "", "leaves the workspace"},
		{"a/../../x", "", "leaves the workspace"},
	}
	for _, tt := range tests {
		got, err := workspacePath(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(herm.ErrorMessage(err), tt.err) {
				t.Errorf("workspacePath(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("workspacePath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSandboxError(t *testing.T) {
	t.Parallel()
	boom := herm.Errorf(herm.EUnavailable, "no sandbox")
	ts := toolMap(New(func(context.Context, *herm.Deployment) (sandbox.Sandbox, error) { return nil, boom }, Options{}))
	for _, name := range []string{"shell", "read_file", "write_file", "edit_file", "list_files", "search_files", "todo"} {
		args := `{"command":"true","path":"a","content":"x","old_string":"a","new_string":"b","pattern":"x"}`
		_, err := ts[name].Call(context.Background(), tools.Call{ID: "c"}, json.RawMessage(args))
		if err == nil || !strings.Contains(err.Error(), "no sandbox") {
			t.Errorf("%s: err = %v, want the sandbox error", name, err)
		}
	}
}
