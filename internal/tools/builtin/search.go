package builtin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/hermhq/herm/internal/tools"
)

const (
	defaultSearchResults = 200
	maxSearchResults     = 2000
	// maxSearchFileBytes: larger files are not searched.
	maxSearchFileBytes = 10 << 20
	// maxMatchLineBytes is how much of a matching line is shown.
	maxMatchLineBytes = 500
)

type searchFilesArgs struct {
	Pattern    string `json:"pattern" jsonschema:"A regular expression (Go RE2 syntax) searched for in each line. Use (?i) for a case-insensitive search."`
	Path       string `json:"path,omitempty" jsonschema:"The directory (or file) to search, relative to /workspace. Default \".\" (the workspace)."`
	Glob       string `json:"glob,omitempty" jsonschema:"Only search files matching this glob: a pattern without / matches file names at any depth (\"*.go\"); one with / matches paths relative to path (\"src/**/*.ts\"). {a,b} alternatives are supported."`
	MaxResults int    `json:"max_results,omitempty" minimum:"1" maximum:"2000" jsonschema:"The most matching lines to return. Default 200."`
}

func newSearchFiles(get getFunc) Tool {
	return newTool("search_files",
		"Search the text files of the workspace for lines matching a regular expression. Returns path:line: text for each match. "+
			"Binary files, files over 10 MiB, .git and node_modules are skipped.",
		false,
		func(ctx context.Context, c tools.Call, a searchFilesArgs) (tools.Result, error) {
			if a.Pattern == "" {
				return errResult("pattern is required"), nil
			}
			re, err := regexp.Compile(a.Pattern)
			if err != nil {
				return errResult("invalid regular expression: %v", err), nil
			}
			limit := a.MaxResults
			switch {
			case limit == 0:
				limit = defaultSearchResults
			case limit < 0 || limit > maxSearchResults:
				return errResult("max_results must be between 1 and %d", maxSearchResults), nil
			}
			var g *glob
			if a.Glob != "" {
				if g, err = compileGlob(a.Glob); err != nil {
					return errResult("glob: %v", err), nil
				}
			}
			p, bad := resolve(a.Path)
			if bad != nil {
				return *bad, nil
			}
			ws, err := workspace(ctx, get, c)
			if err != nil {
				return tools.Result{}, err
			}
			if _, err := ws.Stat(p); err != nil {
				return fileErr(err)
			}
			s := &searcher{fsys: ws.FS(), re: re, limit: limit}
			err = fs.WalkDir(s.fsys, p, func(name string, d fs.DirEntry, err error) error {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if err != nil {
					if name == p {
						return err
					}
					return nil // unreadable or removed meanwhile
				}
				if d.IsDir() {
					if name != p && skipDir(d.Name()) {
						return fs.SkipDir
					}
					return nil
				}
				if !d.Type().IsRegular() {
					return nil // symlinks are not followed; devices and pipes not read
				}
				if g != nil && name != p {
					rel := name
					if p != "." {
						rel = strings.TrimPrefix(name, p+"/")
					}
					if !g.hasSlash() {
						rel = path.Base(name)
					}
					if !g.match(rel, false) {
						return nil
					}
				}
				return s.file(name)
			})
			if ctx.Err() != nil {
				return tools.Result{}, ctx.Err()
			}
			if err != nil && !errors.Is(err, fs.SkipAll) {
				return fileErr(err)
			}
			if len(s.out) == 0 {
				return tools.Result{Content: fmt.Sprintf("no matches for %q in %s (%s searched)", a.Pattern, p, plural(s.files, "file", "files"))}, nil
			}
			out := strings.Join(s.out, "\n")
			if s.limited {
				out += fmt.Sprintf("\n[results limited to %d matches; narrow the pattern, path or glob, or raise max_results]", limit)
			}
			return tools.Result{Content: out}, nil
		})
}

type searcher struct {
	fsys    fs.FS
	re      *regexp.Regexp
	limit   int
	out     []string
	files   int
	limited bool
}

// file searches one file; it returns fs.SkipAll when the limit is reached.
func (s *searcher) file(name string) error {
	f, err := s.fsys.Open(name)
	if err != nil {
		return nil // removed meanwhile, or unreadable
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxSearchFileBytes {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSearchFileBytes+1))
	if err != nil || len(data) > maxSearchFileBytes || isBinary(data) {
		return nil
	}
	s.files++
	for n := 1; len(data) > 0; n++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if !s.re.Match(line) {
			continue
		}
		if len(s.out) == s.limit {
			s.limited = true
			return fs.SkipAll
		}
		s.out = append(s.out, fmt.Sprintf("%s:%d: %s", name, n, trimLine(line)))
	}
	return nil
}

// trimLine cuts a line to maxMatchLineBytes on a rune boundary.
func trimLine(b []byte) string {
	if len(b) <= maxMatchLineBytes {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	cut := maxMatchLineBytes
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return strings.ToValidUTF8(string(b[:cut]), "\uFFFD") + fmt.Sprintf("… [%d bytes]", len(b))
}
