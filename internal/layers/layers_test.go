package layers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The picture of docs/architecture.md is the rule: each row of its box is
// a layer, the highest first. A row starts with its packages, separated by
// " · " and named as in the module without "internal/" (tools,
// sandbox/local, cmd/herm, client); two spaces or more end them, and the
// rest of the row is description. A row whose text starts with spaces
// continues the one above it. A listed package takes its subpackages along
// unless they are listed themselves (tools covers tools/builtin; sandbox
// does not cover sandbox/local), and within one listed package imports are
// free. Test files' imports are not checked.

// TestImportsPointDown fails when a package of the module imports one of
// its own layer or of a layer above it, or is in no layer.
func TestImportsPointDown(t *testing.T) {
	root := moduleRoot(t)
	f, err := os.Open(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := picture(f)
	if err != nil {
		t.Fatal(err)
	}
	pkgs, module := listPackages(t, root)
	layers := resolve(rows, module, pkgs)
	for _, p := range check(layers, module, pkgs) {
		t.Error(p)
	}
}

// moduleRoot is the directory of the module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		t.Fatal("not in a module")
	}
	return filepath.Dir(mod)
}

// listPackages returns the module's packages (by import path) with their
// imports of the module's packages, from go list -deps, and the module path.
func listPackages(t *testing.T, root string) (map[string][]string, string) {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Dir,Imports,Module,Standard,Error", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	type pkg struct {
		ImportPath string
		Dir        string
		Imports    []string
		Standard   bool
		Module     *struct {
			Path string
			Main bool
		}
		Error *struct{ Err string }
	}
	var list []pkg
	module := ""
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if p.Error != nil {
			t.Fatalf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		if p.Module != nil && p.Module.Main {
			module = p.Module.Path
		}
		list = append(list, p)
	}
	if module == "" {
		t.Fatal("go list named no package of the main module")
	}
	pkgs := map[string][]string{}
	for _, p := range list {
		if p.Standard || p.Module == nil || p.Module.Path != module {
			continue
		}
		var own []string
		for _, imp := range p.Imports {
			if imp == module || strings.HasPrefix(imp, module+"/") {
				own = append(own, imp)
			}
		}
		pkgs[p.ImportPath] = own
		track(t, p.Dir)
	}
	return pkgs, module
}

// track reads the Go files of dir in this process: go test caches a
// passing result until a file the test itself opened changes, and it does
// not see what go list read.
func track(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".go") {
			if _, err := os.ReadFile(filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// picture reads the layers from the first box of a Markdown file, highest
// first: each layer is the names its rows start with.
func picture(r io.Reader) ([][]string, error) {
	var rows [][]string
	inBox, seen := false, false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "┌"):
			inBox, seen = true, true
			rows = append(rows, nil)
		case !inBox:
		case strings.HasPrefix(line, "└"):
			inBox = false
		case strings.HasPrefix(line, "├"):
			rows = append(rows, nil)
		case strings.HasPrefix(line, "│"):
			text := strings.TrimPrefix(strings.TrimSuffix(line, "│"), "│")
			text = strings.TrimPrefix(text, " ")
			if text == "" || text[0] == ' ' {
				continue // description
			}
			names, _, _ := strings.Cut(text, "  ")
			for n := range strings.SplitSeq(names, "·") {
				rows[len(rows)-1] = append(rows[len(rows)-1], strings.TrimSpace(n))
			}
		}
		if seen && !inBox {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !seen || inBox {
		return nil, fmt.Errorf("no closed box (┌ … └) in the file")
	}
	rows = slices.DeleteFunc(rows, func(r []string) bool { return len(r) == 0 })
	slices.Reverse(rows) // lowest first
	return rows, nil
}

// layer is a package named in the picture: its import path and its layer
// (0 the lowest).
type layer struct {
	path  string
	level int
}

// resolve turns the picture's names into import paths: module/internal/name
// when the module has such a package (or packages under it), else
// module/name. A name that is neither is kept under the first form (check
// reports it).
func resolve(rows [][]string, module string, pkgs map[string][]string) map[string]layer {
	has := func(path string) bool {
		for p := range pkgs {
			if p == path || strings.HasPrefix(p, path+"/") {
				return true
			}
		}
		return false
	}
	out := map[string]layer{}
	for level, names := range rows {
		for _, n := range names {
			path := module + "/internal/" + n
			if !has(path) && has(module+"/"+n) {
				path = module + "/" + n
			}
			out[n] = layer{path: path, level: level}
		}
	}
	return out
}

// check returns what breaks the layers, one sentence each, sorted.
func check(layers map[string]layer, module string, pkgs map[string][]string) []string {
	self := module + "/internal/layers"
	// owner is the picture's name a package goes with: the longest listed
	// path that is the package or a parent of it.
	owner := func(pkg string) (name string, ok bool) {
		for n, l := range layers {
			if (pkg == l.path || strings.HasPrefix(pkg, l.path+"/")) && (!ok || len(l.path) > len(layers[name].path)) {
				name, ok = n, true
			}
		}
		return name, ok
	}
	short := func(p string) string { return strings.TrimPrefix(p, module+"/") }
	var probs []string
	for n := range layers {
		found := false
		for p := range pkgs {
			if o, _ := owner(p); o == n {
				found = true
			}
		}
		if !found {
			probs = append(probs, fmt.Sprintf("docs/architecture.md names %s, which is no package of the module (or whose packages all go with a longer name)", n))
		}
	}
	for p, imports := range pkgs {
		if p == self {
			continue
		}
		from, ok := owner(p)
		if !ok {
			probs = append(probs, fmt.Sprintf("%s is in no layer: place it in the picture of docs/architecture.md", short(p)))
			continue
		}
		for _, imp := range imports {
			to, ok := owner(imp)
			if !ok || to == from {
				continue // reported as a package; free within one listed package
			}
			switch lf, lt := layers[from].level, layers[to].level; {
			case lt == lf:
				probs = append(probs, fmt.Sprintf("%s imports %s, of its own layer (%s and %s are side by side)", short(p), short(imp), from, to))
			case lt > lf:
				probs = append(probs, fmt.Sprintf("%s imports %s, %d layer(s) above it (%s is above %s)", short(p), short(imp), lt-lf, to, from))
			}
		}
	}
	slices.Sort(probs)
	return probs
}

// TestCheck runs the rules on a made-up module.
func TestCheck(t *testing.T) {
	t.Parallel()
	const pic = "```\n" +
		" ┌──────▼──────┐\n" +
		" │ cmd/x        wiring   │\n" +
		" ├─────────────┤\n" +
		" │ a · b        two       │\n" +
		" │              side by side │\n" +
		" │ gone         described │\n" +
		" ├─────────────┤\n" +
		" │ base · base/own        │\n" +
		" └─────────────┘\n" +
		"```\n"
	rows, err := picture(strings.NewReader("# title\n\ntext\n\n" + pic + "\nmore text │ not a row\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]string{{"base", "base/own"}, {"a", "b", "gone"}, {"cmd/x"}}; !slices.EqualFunc(rows, want, slices.Equal) {
		t.Fatalf("rows %q, want %q", rows, want)
	}
	const m = "example.com/m"
	pkgs := map[string][]string{
		m + "/cmd/x":                  {m + "/internal/a", m + "/internal/base/sub"},
		m + "/internal/a":             {m + "/internal/b", m + "/internal/a/inner"},
		m + "/internal/a/inner":       {m + "/internal/a"},             // within a: free
		m + "/internal/b":             {m + "/internal/base/own/deep"}, // down: fine
		m + "/internal/base":          {},
		m + "/internal/base/sub":      {m + "/internal/base"},
		m + "/internal/base/own":      {m + "/internal/a"},
		m + "/internal/base/own/deep": {},
		m + "/internal/stray":         {},
		m + "/internal/layers":        {m + "/cmd/x"}, // the test's own package is not checked
	}
	want := []string{
		"docs/architecture.md names gone, which is no package of the module (or whose packages all go with a longer name)",
		"internal/a imports internal/b, of its own layer (a and b are side by side)",
		"internal/base/own imports internal/a, 1 layer(s) above it (a is above base/own)",
		"internal/stray is in no layer: place it in the picture of docs/architecture.md",
	}
	if got := check(resolve(rows, m, pkgs), m, pkgs); !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
