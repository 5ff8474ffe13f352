package builtin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/tools"
)

const (
	defaultReadLines = 2000
	// maxLineBytes is how much of one line read_file shows.
	maxLineBytes = 2000
	// maxReadOutput bounds read_file's output.
	maxReadOutput = 4 << 20
	// maxListEntries bounds list_files' output.
	maxListEntries = 1000
)

// ---- read_file

type readFileArgs struct {
	Path   string `json:"path" jsonschema:"The file to read, relative to /workspace (or an absolute path under /workspace)."`
	Offset int    `json:"offset,omitempty" minimum:"1" jsonschema:"The line number to start at (1-based). Default 1."`
	Limit  int    `json:"limit,omitempty" minimum:"1" jsonschema:"The number of lines to read. Default 2000."`
}

func newReadFile(get getFunc, maxBytes int64) Tool {
	return newTool("read_file",
		"Read a text file of the workspace, or look at an image (PNG, JPEG, GIF, WebP) when your model takes images. Lines come back numbered (number, tab, line); read long files in parts with offset and limit.",
		false,
		func(ctx context.Context, c tools.Call, a readFileArgs) (tools.Result, error) {
			if a.Path == "" {
				return errResult("path is required"), nil
			}
			if a.Offset < 0 || a.Limit < 0 {
				return errResult("offset and limit must be positive"), nil
			}
			p, bad := resolve(a.Path)
			if bad != nil {
				return *bad, nil
			}
			ws, err := workspace(ctx, get, c)
			if err != nil {
				return tools.Result{}, err
			}
			if e, err := ws.Stat(p); err != nil {
				return fileErr(err)
			} else if e.Dir {
				return errResult("%s is a directory; use list_files to see what it holds", p), nil
			}
			data, err := ws.ReadFile(p, maxBytes)
			if herm.IsCode(err, herm.ETooLarge) {
				return errResult("%s; use shell (for example sed -n '100,200p', head, tail or grep) to read parts of it", herm.ErrorMessage(err)), nil
			}
			if err != nil {
				return fileErr(err)
			}
			if mt := http.DetectContentType(data); herm.IsImageType(mt) {
				return tools.Result{
					Content:         fmt.Sprintf("%s is an image (%s, %d bytes).", p, mt, len(data)),
					WorkspaceImages: []herm.SavedAttachment{{Type: herm.AttachImage, Path: p, MediaType: mt, Size: int64(len(data))}},
				}, nil
			}
			if isBinary(data) {
				return errResult("%s is a binary file (%d bytes); read_file shows text files and images (PNG, JPEG, GIF, WebP) only", p, len(data)), nil
			}
			return tools.Result{Content: numberLines(p, string(data), a.Offset, a.Limit)}, nil
		})
}

// numberLines renders lines [offset, offset+limit) of text like cat -n.
func numberLines(p, text string, offset, limit int) string {
	if text == "" {
		return fmt.Sprintf("(%s is empty)", p)
	}
	if offset == 0 {
		offset = 1
	}
	if limit == 0 {
		limit = defaultReadLines
	}
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	total := len(lines)
	if offset > total {
		return fmt.Sprintf("offset %d is past the end of %s, which has %s", offset, p, plural(total, "line", "lines"))
	}
	end := total
	if limit < total-(offset-1) {
		end = offset - 1 + limit
	}
	var b strings.Builder
	for i := offset - 1; i < end; i++ {
		if b.Len() >= maxReadOutput {
			end = i // a file of many short lines: keep the output bounded
			break
		}
		line := strings.TrimSuffix(strings.TrimSuffix(lines[i], "\n"), "\r")
		if len(line) > maxLineBytes {
			cut := maxLineBytes
			for cut > 0 && !utf8.RuneStart(line[cut]) {
				cut--
			}
			line = fmt.Sprintf("%s… [line cut: %d bytes]", line[:cut], len(line))
		}
		fmt.Fprintf(&b, "%6d\t%s\n", i+1, line)
	}
	switch {
	case end < total:
		fmt.Fprintf(&b, "[lines %d-%d of %d; use offset to read more]", offset, end, total)
	case offset > 1:
		fmt.Fprintf(&b, "[lines %d-%d of %d]", offset, end, total)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// ---- write_file

type writeFileArgs struct {
	Path    string  `json:"path" jsonschema:"The file to write, relative to /workspace. Parent directories are created."`
	Content *string `json:"content" jsonschema:"The file's complete new content."`
}

func newWriteFile(get getFunc) Tool {
	return newTool("write_file",
		"Create or replace a file of the workspace with the given content, creating parent directories. To change part of a file, use edit_file.",
		false,
		func(ctx context.Context, c tools.Call, a writeFileArgs) (tools.Result, error) {
			if a.Path == "" {
				return errResult("path is required"), nil
			}
			if a.Content == nil {
				return errResult("content is required (use \"\" for an empty file)"), nil
			}
			p, bad := resolve(a.Path)
			if bad != nil {
				return *bad, nil
			}
			ws, err := workspace(ctx, get, c)
			if err != nil {
				return tools.Result{}, err
			}
			e, err := ws.WriteFile(p, strings.NewReader(*a.Content))
			if err != nil {
				return fileErr(err)
			}
			return tools.Result{Content: fmt.Sprintf("wrote %d bytes to %s", e.Size, e.Name)}, nil
		})
}

// ---- edit_file

type editFileArgs struct {
	Path       string `json:"path" jsonschema:"The file to edit, relative to /workspace."`
	OldString  string `json:"old_string" jsonschema:"The exact text to replace, including whitespace and indentation. It must occur exactly once unless replace_all is set; include surrounding lines to make it unique."`
	NewString  string `json:"new_string" jsonschema:"The text to put in its place (must differ from old_string)."`
	ReplaceAll bool   `json:"replace_all,omitempty" jsonschema:"Replace every occurrence of old_string. Default false."`
}

func newEditFile(get getFunc, maxBytes int64) Tool {
	return newTool("edit_file",
		"Replace exact text in a file of the workspace: old_string must occur exactly once (or set replace_all). Read the file first to copy the text exactly.",
		false,
		func(ctx context.Context, c tools.Call, a editFileArgs) (tools.Result, error) {
			switch {
			case a.Path == "":
				return errResult("path is required"), nil
			case a.OldString == "":
				return errResult("old_string must not be empty; use write_file to create a file"), nil
			case a.OldString == a.NewString:
				return errResult("old_string and new_string are the same; nothing to change"), nil
			}
			p, bad := resolve(a.Path)
			if bad != nil {
				return *bad, nil
			}
			ws, err := workspace(ctx, get, c)
			if err != nil {
				return tools.Result{}, err
			}
			data, err := ws.ReadFile(p, maxBytes)
			if err != nil {
				return fileErr(err)
			}
			text := string(data)
			oldS, newS := a.OldString, a.NewString
			n := strings.Count(text, oldS)
			if n == 0 && strings.Contains(text, "\r\n") && strings.Contains(oldS, "\n") && !strings.Contains(oldS, "\r\n") {
				// read_file shows CRLF files without the \r; match them
				// the way they were shown.
				crlf := strings.NewReplacer("\r\n", "\r\n", "\n", "\r\n")
				if m := strings.Count(text, crlf.Replace(oldS)); m > 0 {
					oldS, newS, n = crlf.Replace(oldS), crlf.Replace(newS), m
				}
			}
			switch {
			case n == 0:
				return errResult("old_string was not found in %s; read the file and copy the text exactly, including whitespace", p), nil
			case n > 1 && !a.ReplaceAll:
				return errResult("old_string occurs %d times in %s; add surrounding context to make it unique or set replace_all", n, p), nil
			}
			if _, err := ws.WriteFile(p, strings.NewReader(strings.ReplaceAll(text, oldS, newS))); err != nil {
				return fileErr(err)
			}
			return tools.Result{Content: fmt.Sprintf("replaced %s in %s", plural(n, "occurrence", "occurrences"), p)}, nil
		})
}

// ---- list_files

type listFilesArgs struct {
	Path    string `json:"path,omitempty" jsonschema:"The directory to list, relative to /workspace. Default \".\" (the workspace)."`
	Pattern string `json:"pattern,omitempty" jsonschema:"A glob matched against paths relative to path, searching subdirectories: * and ? match within one path segment, ** matches any number of segments, {a,b} either. For example \"*.md\" (in path itself), \"**/*.go\" (at any depth), \"src/**/*.{ts,tsx}\". .git and node_modules are not searched."`
}

func newListFiles(get getFunc) Tool {
	return newTool("list_files",
		"List a directory of the workspace (directories end in /, files show their size), or find files whose paths match a glob pattern such as **/*.py.",
		false,
		func(ctx context.Context, c tools.Call, a listFilesArgs) (tools.Result, error) {
			p, bad := resolve(a.Path)
			if bad != nil {
				return *bad, nil
			}
			ws, err := workspace(ctx, get, c)
			if err != nil {
				return tools.Result{}, err
			}
			if a.Pattern == "" {
				es, truncated, err := ws.List(p)
				if err != nil {
					return fileErr(err)
				}
				if len(es) == 0 {
					return tools.Result{Content: fmt.Sprintf("(%s is empty)", p)}, nil
				}
				total := strconv.Itoa(len(es))
				if truncated {
					total = "more than " + total
				}
				var b strings.Builder
				for i, e := range es {
					if i == maxListEntries {
						fmt.Fprintf(&b, "[listing stopped at %d of %s entries]\n", maxListEntries, total)
						break
					}
					if e.Dir {
						fmt.Fprintf(&b, "%s/\n", e.Name)
					} else {
						fmt.Fprintf(&b, "%s (%s)\n", e.Name, plural(int(e.Size), "byte", "bytes"))
					}
				}
				return tools.Result{Content: strings.TrimSuffix(b.String(), "\n")}, nil
			}
			g, err := compileGlob(a.Pattern)
			if err != nil {
				return errResult("pattern: %v", err), nil
			}
			if e, err := ws.Stat(p); err != nil {
				return fileErr(err)
			} else if !e.Dir {
				return errResult("%s is not a directory", p), nil
			}
			fsys := ws.FS()
			var out []string
			limited := false
			err = fs.WalkDir(fsys, p, func(name string, d fs.DirEntry, err error) error {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if name == p {
					return err
				}
				if err != nil {
					return nil // unreadable or removed meanwhile
				}
				rel := strings.TrimPrefix(name, p+"/")
				if p == "." {
					rel = name
				}
				dir := d.IsDir()
				if d.Type()&fs.ModeSymlink != 0 {
					fi, err := fs.Stat(fsys, name)
					if err != nil {
						return nil // dangling or leading out of the workspace
					}
					dir = fi.IsDir() // listed, not followed
				}
				if g.match(rel, dir) {
					if len(out) == maxListEntries {
						limited = true
						return fs.SkipAll
					}
					if dir {
						out = append(out, name+"/")
					} else {
						out = append(out, name)
					}
				}
				if d.IsDir() && (skipDir(d.Name()) || !g.mayMatchBelow(rel)) {
					return fs.SkipDir
				}
				return nil
			})
			if ctx.Err() != nil {
				return tools.Result{}, ctx.Err()
			}
			if err != nil && !errors.Is(err, fs.SkipAll) {
				return fileErr(err)
			}
			if len(out) == 0 {
				return tools.Result{Content: fmt.Sprintf("no paths under %s match %q", p, a.Pattern)}, nil
			}
			s := strings.Join(out, "\n")
			if limited {
				s += fmt.Sprintf("\n[listing stopped at %d entries; narrow the path or pattern]", maxListEntries)
			}
			return tools.Result{Content: s}, nil
		})
}
