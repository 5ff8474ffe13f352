package builtin

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hermhq/herm/internal/herm"
)

func TestReadFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{MaxReadBytes: 64 << 10})
	e.writeFile(t, "five.txt", "l1\nl2\nl3\nl4\nl5\n")
	e.writeFile(t, "crlf.txt", "a\r\nb")
	e.writeFile(t, "empty.txt", "")
	var long strings.Builder
	for i := 1; i <= 2500; i++ {
		fmt.Fprintf(&long, "line %d\n", i)
	}
	e.writeFile(t, "long.txt", long.String())
	e.writeFile(t, "wide.txt", strings.Repeat("é", 1500)+"\n")

	tests := []struct {
		name string
		args map[string]any
		want string
	}{
		{"whole", map[string]any{"path": "five.txt"}, "     1\tl1\n     2\tl2\n     3\tl3\n     4\tl4\n     5\tl5"},
		{"range", map[string]any{"path": "five.txt", "offset": 2, "limit": 2}, "     2\tl2\n     3\tl3\n[lines 2-3 of 5; use offset to read more]"},
		{"to the end", map[string]any{"path": "five.txt", "offset": 4}, "     4\tl4\n     5\tl5\n[lines 4-5 of 5]"},
		{"past the end", map[string]any{"path": "five.txt", "offset": 9}, "offset 9 is past the end of five.txt, which has 5 lines"},
		{"workspace prefix", map[string]any{"path": "/workspace/five.txt", "limit": 1}, "     1\tl1\n[lines 1-1 of 5; use offset to read more]"},
		{"crlf and no final newline", map[string]any{"path": "crlf.txt"}, "     1\ta\n     2\tb"},
		{"empty", map[string]any{"path": "empty.txt"}, "(empty.txt is empty)"},
		{"wide line", map[string]any{"path": "wide.txt"}, "     1\t" + strings.Repeat("é", 1000) + "… [line cut: 3000 bytes]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ok(t, e.call(t, "read_file", tt.args))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	got := ok(t, e.call(t, "read_file", map[string]any{"path": "long.txt"}))
	lines := strings.Split(got, "\n")
	if len(lines) != 2001 || lines[0] != "     1\tline 1" || lines[1999] != "  2000\tline 2000" || lines[2000] != "[lines 1-2000 of 2500; use offset to read more]" {
		t.Errorf("long.txt: %d lines, first %q, last %q", len(lines), lines[0], lines[len(lines)-1])
	}
	got = ok(t, e.call(t, "read_file", map[string]any{"path": "long.txt", "offset": 2500}))
	if got != "  2500\tline 2500\n[lines 2500-2500 of 2500]" {
		t.Errorf("last line: %q", got)
	}
}

func TestReadFileRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{MaxReadBytes: 1000})
	e.writeFile(t, "bin.dat", "abc\x00def")
	e.writeFile(t, "big.txt", strings.Repeat("x", 2000))
	e.writeFile(t, "dir/f.txt", "f")
	outside := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(outside, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	ws := e.sb.Workspace().Dir()
	if err := os.Symlink(outside, filepath.Join(ws, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(outside), filepath.Join(ws, "escapedir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("dir/f.txt", filepath.Join(ws, "inside")); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		path, want string
	}{
		{"bin.dat", "bin.dat is a binary file (7 bytes); read_file shows text files and images"},
		{"dir", "dir is a directory; use list_files to see what it holds"},
		{"/workspace", ". is a directory"},
		{"missing.txt", `path "missing.txt": not found`},
		{"../etc/passwd", "leaves the workspace"},
		{"dir/../../x", "leaves the workspace"},
		{"/etc/passwd", `path "/etc/passwd": absolute paths must be under /workspace`},
		{"/workspace/../etc/passwd", "absolute paths must be under /workspace"},
		{"escape", `path "escape": leads out of the workspace`},
		{"escapedir/secret.txt", `path "escapedir/secret.txt": leads out of the workspace`},
		{"big.txt", `path "big.txt": 2000 bytes, more than the 1000 bytes that can be read at once; use shell`},
		{"dir/f.txt/x", "not a directory"},
	}
	for _, tt := range tests {
		r := e.call(t, "read_file", map[string]any{"path": tt.path})
		if !r.IsError || !strings.Contains(r.Content, tt.want) {
			t.Errorf("read_file(%q) = %+v, want an error containing %q", tt.path, r, tt.want)
		}
		if strings.Contains(r.Content, "secret") && !strings.Contains(r.Content, "secret.txt") {
			t.Errorf("read_file(%q) leaked the file: %q", tt.path, r.Content)
		}
	}
	if got := ok(t, e.call(t, "read_file", map[string]any{"path": "inside"})); got != "     1\tf" {
		t.Errorf("symlink inside the workspace: %q", got)
	}
	failed(t, e.call(t, "read_file", map[string]any{"path": "five.txt", "offset": -1}), "offset and limit must be positive")
	failed(t, e.call(t, "read_file", map[string]any{}), "path is required")
}

func TestWriteFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	r := e.call(t, "write_file", map[string]any{"path": "a/b/c.txt", "content": "hello"})
	if got := ok(t, r); got != "wrote 5 bytes to a/b/c.txt" {
		t.Errorf("content = %q", got)
	}
	if got := e.readFile(t, "a/b/c.txt"); got != "hello" {
		t.Errorf("file = %q", got)
	}
	r = e.call(t, "write_file", map[string]any{"path": "/workspace/a/b/c.txt", "content": "é"})
	if got := ok(t, r); got != "wrote 2 bytes to a/b/c.txt" {
		t.Errorf("content = %q", got)
	}
	if got := ok(t, e.call(t, "write_file", map[string]any{"path": "empty", "content": ""})); got != "wrote 0 bytes to empty" {
		t.Errorf("empty: %q", got)
	}

	failed(t, e.call(t, "write_file", map[string]any{"path": "x.txt"}), "content is required")
	failed(t, e.call(t, "write_file", map[string]any{"path": "a/b", "content": "x"}), `path "a/b": is a directory`)
	failed(t, e.call(t, "write_file", map[string]any{"path": ".", "content": "x"}), "names the workspace itself")
	failed(t, e.call(t, "write_file", map[string]any{"path": "../x", "content": "x"}), "leaves the workspace")
	failed(t, e.call(t, "write_file", map[string]any{"path": "/tmp/x", "content": "x"}), "absolute paths must be under /workspace")

	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(e.sb.Workspace().Dir(), "out")); err != nil {
		t.Fatal(err)
	}
	failed(t, e.call(t, "write_file", map[string]any{"path": "out/x.txt", "content": "x"}), "leads out of the workspace")
	if _, err := os.Stat(filepath.Join(outside, "x.txt")); !os.IsNotExist(err) {
		t.Errorf("a file was written outside the workspace: %v", err)
	}

	e.sb.Workspace().SetQuota(1000)
	failed(t, e.call(t, "write_file", map[string]any{"path": "big.txt", "content": strings.Repeat("x", 2000)}), "workspace disk quota exceeded")
	if _, err := os.Stat(filepath.Join(e.sb.Workspace().Dir(), "big.txt")); !os.IsNotExist(err) {
		t.Errorf("big.txt exists: %v", err)
	}
}

func TestEditFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.writeFile(t, "f.txt", "alpha beta\ngamma beta\nbeta\n")

	r := e.call(t, "edit_file", map[string]any{"path": "f.txt", "old_string": "alpha", "new_string": "ALPHA"})
	if got := ok(t, r); got != "replaced 1 occurrence in f.txt" {
		t.Errorf("content = %q", got)
	}
	if got := e.readFile(t, "f.txt"); got != "ALPHA beta\ngamma beta\nbeta\n" {
		t.Errorf("file = %q", got)
	}

	r = e.call(t, "edit_file", map[string]any{"path": "f.txt", "old_string": "beta", "new_string": "B"})
	failed(t, r, "old_string occurs 3 times in f.txt; add surrounding context to make it unique or set replace_all")
	if got := e.readFile(t, "f.txt"); got != "ALPHA beta\ngamma beta\nbeta\n" {
		t.Errorf("file changed by a refused edit: %q", got)
	}

	r = e.call(t, "edit_file", map[string]any{"path": "f.txt", "old_string": "gamma beta\n", "new_string": ""})
	if got := ok(t, r); got != "replaced 1 occurrence in f.txt" {
		t.Errorf("content = %q", got)
	}

	r = e.call(t, "edit_file", map[string]any{"path": "/workspace/f.txt", "old_string": "beta", "new_string": "B", "replace_all": true})
	if got := ok(t, r); got != "replaced 2 occurrences in f.txt" {
		t.Errorf("content = %q", got)
	}
	if got := e.readFile(t, "f.txt"); got != "ALPHA B\nB\n" {
		t.Errorf("file = %q", got)
	}

	failed(t, e.call(t, "edit_file", map[string]any{"path": "f.txt", "old_string": "zeta", "new_string": "x"}), "old_string was not found in f.txt")
	failed(t, e.call(t, "edit_file", map[string]any{"path": "f.txt", "old_string": "B", "new_string": "B"}), "old_string and new_string are the same")
	failed(t, e.call(t, "edit_file", map[string]any{"path": "f.txt", "old_string": "", "new_string": "x"}), "old_string must not be empty")
	failed(t, e.call(t, "edit_file", map[string]any{"path": "nope.txt", "old_string": "a", "new_string": "b"}), `path "nope.txt": not found`)
	failed(t, e.call(t, "edit_file", map[string]any{"path": "../f.txt", "old_string": "a", "new_string": "b"}), "leaves the workspace")

	// A CRLF file edited with the lines read_file showed.
	e.writeFile(t, "win.txt", "one\r\ntwo\r\nthree\r\n")
	r = e.call(t, "edit_file", map[string]any{"path": "win.txt", "old_string": "one\ntwo", "new_string": "1\n2"})
	if got := ok(t, r); got != "replaced 1 occurrence in win.txt" {
		t.Errorf("content = %q", got)
	}
	if got := e.readFile(t, "win.txt"); got != "1\r\n2\r\nthree\r\n" {
		t.Errorf("win.txt = %q", got)
	}
}

func TestListFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	for p, content := range map[string]string{
		"a.go":               "package a",
		"b.txt":              "b",
		".hidden":            "",
		"src/b.go":           "",
		"src/d.txt":          "",
		"src/deep/c.go":      "",
		"src/deep/e.ts":      "",
		"node_modules/x.go":  "",
		".git/objects/y.go":  "",
		"src/.git/HEAD.go":   "",
		"docs/readme.md":     "",
		"docs/sub/readme.md": "",
	} {
		e.writeFile(t, p, content)
	}
	if err := os.MkdirAll(filepath.Join(e.sb.Workspace().Dir(), "emptydir"), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		args map[string]any
		want string
	}{
		{"root", map[string]any{}, ".git/\n.hidden (0 bytes)\na.go (9 bytes)\nb.txt (1 byte)\ndocs/\nemptydir/\nnode_modules/\nsrc/"},
		{"subdir", map[string]any{"path": "/workspace/src"}, ".git/\nb.go (0 bytes)\nd.txt (0 bytes)\ndeep/"},
		{"empty", map[string]any{"path": "emptydir"}, "(emptydir is empty)"},
		{"glob recursive", map[string]any{"pattern": "**/*.go"}, "a.go\nsrc/b.go\nsrc/deep/c.go"},
		{"glob top level", map[string]any{"pattern": "*.go"}, "a.go"},
		{"glob in path", map[string]any{"path": "src", "pattern": "*.go"}, "src/b.go"},
		{"glob in path recursive", map[string]any{"path": "src", "pattern": "**/*.{go,ts}"}, "src/b.go\nsrc/deep/c.go\nsrc/deep/e.ts"},
		{"glob dir prefix", map[string]any{"pattern": "src/**"}, "src/\nsrc/.git/\nsrc/b.go\nsrc/d.txt\nsrc/deep/\nsrc/deep/c.go\nsrc/deep/e.ts"},
		{"glob middle", map[string]any{"pattern": "docs/**/readme.md"}, "docs/readme.md\ndocs/sub/readme.md"},
		{"glob dirs", map[string]any{"pattern": "*/"}, ".git/\ndocs/\nemptydir/\nnode_modules/\nsrc/"},
		{"glob no match", map[string]any{"pattern": "**/*.rs"}, `no paths under . match "**/*.rs"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ok(t, e.call(t, "list_files", tt.args))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	failed(t, e.call(t, "list_files", map[string]any{"pattern": "[a"}), "pattern: malformed pattern [a")
	failed(t, e.call(t, "list_files", map[string]any{"pattern": "{a,b"}), "unbalanced {")
	failed(t, e.call(t, "list_files", map[string]any{"path": "a.go"}), "not a directory")
	failed(t, e.call(t, "list_files", map[string]any{"path": "a.go", "pattern": "*"}), "a.go is not a directory")
	failed(t, e.call(t, "list_files", map[string]any{"path": "missing"}), `path "missing": not found`)
	failed(t, e.call(t, "list_files", map[string]any{"path": ".."}), "leaves the workspace")
}

func TestListFilesLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	dir := filepath.Join(e.sb.Workspace().Dir(), "many")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 1005 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d.txt", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := ok(t, e.call(t, "list_files", map[string]any{"path": "many"}))
	lines := strings.Split(got, "\n")
	if len(lines) != 1001 || lines[999] != "f0999.txt (0 bytes)" || lines[1000] != "[listing stopped at 1000 of 1005 entries]" {
		t.Errorf("%d lines, ending %q", len(lines), lines[len(lines)-1])
	}
	got = ok(t, e.call(t, "list_files", map[string]any{"pattern": "**/*.txt"}))
	lines = strings.Split(got, "\n")
	if len(lines) != 1001 || lines[999] != "many/f0999.txt" || lines[1000] != "[listing stopped at 1000 entries; narrow the path or pattern]" {
		t.Errorf("%d lines, ending %q", len(lines), lines[len(lines)-1])
	}
}

func TestGlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, name string
		match         bool
	}{
		{"*.go", "a.go", true},
		{"*.go", "src/a.go", false},
		{"**/*.go", "a.go", true},
		{"**/*.go", "src/deep/a.go", true},
		{"**/*.go", "src/deep/a.goo", false},
		{"src/**", "src/a", true},
		{"src/**", "src", true},
		{"src/**", "srcx/a", false},
		{"src/**/test/*.py", "src/test/a.py", true},
		{"src/**/test/*.py", "src/x/y/test/a.py", true},
		{"src/**/test/*.py", "src/x/y/test/z/a.py", false},
		{"**", "anything/at/all", true},
		{"a/**/**/b", "a/b", true},
		{"./a/?.txt", "a/1.txt", true},
		{"a/?.txt", "a/12.txt", false},
		{"*.{ts,tsx}", "x.tsx", true},
		{"*.{ts,tsx}", "x.js", false},
		{"{src,lib}/**/*.{c,h}", "lib/x/y.h", true},
		{"{src,lib}/**/*.{c,h}", "bin/y.h", false},
		{"[a-c]*", "beta", true},
		{"[a-c]*", "delta", false},
		{"src/", "src", false}, // directories only
	}
	for _, tt := range tests {
		g, err := compileGlob(tt.pattern)
		if err != nil {
			t.Fatalf("compileGlob(%q): %v", tt.pattern, err)
		}
		if got := g.match(tt.name, false); got != tt.match {
			t.Errorf("%q matches %q = %v, want %v", tt.pattern, tt.name, got, tt.match)
		}
	}
	if g, _ := compileGlob("src/"); !g.match("src", true) {
		t.Errorf("src/ does not match the directory src")
	}
	prefixes := []struct {
		pattern, dir string
		may          bool
	}{
		{"*.go", "src", false},
		{"src/*.go", "src", true},
		{"src/*.go", "src/deep", false},
		{"src/**/x", "src/a/b/c", true},
		{"**/x", "a", true},
		{"lib/*.go", "src", false},
	}
	for _, tt := range prefixes {
		g, _ := compileGlob(tt.pattern)
		if got := g.mayMatchBelow(tt.dir); got != tt.may {
			t.Errorf("%q mayMatchBelow(%q) = %v, want %v", tt.pattern, tt.dir, got, tt.may)
		}
	}
	for _, bad := range []string{"", "/abs/*.go", "[", "{a", "a}", strings.Repeat("{a,b,c}", 5)} {
		if _, err := compileGlob(bad); err == nil {
			t.Errorf("compileGlob(%q) succeeded", bad)
		}
	}
}

func TestNumberLinesBounds(t *testing.T) {
	t.Parallel()
	if got := numberLines("f", "a\nb\n", 2, int(^uint(0)>>1)); got != "     2\tb\n[lines 2-2 of 2]" {
		t.Errorf("huge limit: %q", got)
	}
	many := strings.Repeat("\n", 1<<20)
	got := numberLines("f", many, 1, 1<<21)
	if len(got) > maxReadOutput+100 {
		t.Errorf("output is %d bytes", len(got))
	}
	if !strings.HasSuffix(got, " of 1048576; use offset to read more]") {
		t.Errorf("output ends %q", got[len(got)-80:])
	}
}

// read_file of an image names it for the model (the agent shows it to
// models that take images); a binary file that is not an image stays an
// error.
func TestReadFileImage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{MaxReadBytes: 64 << 10})
	png := "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
	e.writeFile(t, "shots/a.png", png)
	r := e.call(t, "read_file", map[string]any{"path": "/workspace/shots/a.png"})
	want := []herm.SavedAttachment{{Type: herm.AttachImage, Path: "shots/a.png", MediaType: "image/png", Size: int64(len(png))}}
	if r.IsError || r.Content != fmt.Sprintf("shots/a.png is an image (image/png, %d bytes).", len(png)) || !cmp.Equal(r.WorkspaceImages, want) {
		t.Fatalf("read_file of a PNG: %+v", r)
	}
}
