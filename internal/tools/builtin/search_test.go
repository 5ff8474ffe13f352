package builtin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSearchFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	for p, content := range map[string]string{
		"a.go":              "package a\n\nfunc Foo() {}\n",
		"src/b.go":          "func Bar() {}\r\n// calls Foo here\r\n",
		"src/c.txt":         "Foo text",
		"src/deep/d.ts":     "const foo = 1\n",
		"node_modules/m.go": "Foo",
		".git/config":       "Foo",
		"bin.dat":           "Foo\x00\x01",
		"long.txt":          "Foo" + strings.Repeat("x", 1000) + "\n",
	} {
		e.writeFile(t, p, content)
	}
	outside := filepath.Join(t.TempDir(), "o.txt")
	if err := os.WriteFile(outside, []byte("Foo outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(e.sb.Workspace().Dir(), "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(outside), filepath.Join(e.sb.Workspace().Dir(), "linkdir")); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		args map[string]any
		want string
	}{
		{"all", map[string]any{"pattern": "Foo"},
			"a.go:3: func Foo() {}\n" +
				"long.txt:1: Foo" + strings.Repeat("x", 497) + "… [1003 bytes]\n" +
				"src/b.go:2: // calls Foo here\n" +
				"src/c.txt:1: Foo text"},
		{"anchored", map[string]any{"pattern": "^func"}, "a.go:3: func Foo() {}\nsrc/b.go:1: func Bar() {}"},
		{"end anchor", map[string]any{"pattern": "here$"}, "src/b.go:2: // calls Foo here"},
		{"case-insensitive", map[string]any{"pattern": "(?i)const FOO"}, "src/deep/d.ts:1: const foo = 1"},
		{"glob by name", map[string]any{"pattern": "Foo", "glob": "*.go"}, "a.go:3: func Foo() {}\nsrc/b.go:2: // calls Foo here"},
		{"glob by path", map[string]any{"pattern": "Foo|foo", "glob": "src/**/*.{ts,txt}"}, "src/c.txt:1: Foo text\nsrc/deep/d.ts:1: const foo = 1"},
		{"path", map[string]any{"pattern": "Foo", "path": "/workspace/src"}, "src/b.go:2: // calls Foo here\nsrc/c.txt:1: Foo text"},
		{"path and glob", map[string]any{"pattern": ".", "path": "src", "glob": "deep/*"}, "src/deep/d.ts:1: const foo = 1"},
		{"one file", map[string]any{"pattern": "Foo", "path": "src/c.txt"}, "src/c.txt:1: Foo text"},
		{"no match", map[string]any{"pattern": "Nothing"}, `no matches for "Nothing" in . (5 files searched)`},
		{"limit", map[string]any{"pattern": "Foo", "max_results": 2},
			"a.go:3: func Foo() {}\nlong.txt:1: Foo" + strings.Repeat("x", 497) + "… [1003 bytes]\n" +
				"[results limited to 2 matches; narrow the pattern, path or glob, or raise max_results]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ok(t, e.call(t, "search_files", tt.args))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	failed(t, e.call(t, "search_files", map[string]any{"pattern": "(unclosed"}), "invalid regular expression: error parsing regexp: missing closing ): `(unclosed`")
	failed(t, e.call(t, "search_files", map[string]any{}), "pattern is required")
	failed(t, e.call(t, "search_files", map[string]any{"pattern": "x", "max_results": 5000}), "max_results must be between 1 and 2000")
	failed(t, e.call(t, "search_files", map[string]any{"pattern": "x", "glob": "[x"}), "glob: malformed pattern")
	failed(t, e.call(t, "search_files", map[string]any{"pattern": "x", "path": "missing"}), `path "missing": not found`)
	failed(t, e.call(t, "search_files", map[string]any{"pattern": "x", "path": "../"}), "leaves the workspace")
	failed(t, e.call(t, "search_files", map[string]any{"pattern": "x", "path": "/etc"}), "absolute paths must be under /workspace")
	failed(t, e.call(t, "search_files", map[string]any{"pattern": "x", "path": "linkdir"}), "leads out of the workspace")
}

func TestSearchFilesSkipsLargeFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.writeFile(t, "small.txt", "needle\n")
	e.writeFile(t, "huge.txt", "needle\n"+strings.Repeat("x", maxSearchFileBytes))
	got := ok(t, e.call(t, "search_files", map[string]any{"pattern": "needle"}))
	if got != "small.txt:1: needle" {
		t.Errorf("got %q", got)
	}
}
