package builtin

import (
	"errors"
	"path"
	"strings"
)

// maxGlobAlternatives bounds the patterns {a,b} expansion may produce.
const maxGlobAlternatives = 64

// glob is a compiled glob pattern: slash-separated segments matched with
// path.Match, where a "**" segment matches any number of segments
// (none included) and {a,b} stands for either alternative.
type glob struct {
	alts    [][]string // the segments of each alternative
	dirOnly bool       // the pattern ends in "/": it matches directories only
}

// compileGlob checks and compiles a pattern.
func compileGlob(pattern string) (*glob, error) {
	pattern = strings.TrimSpace(pattern)
	for strings.HasPrefix(pattern, "./") {
		pattern = pattern[2:]
	}
	dirOnly := strings.HasSuffix(pattern, "/")
	pattern = strings.TrimRight(pattern, "/")
	if pattern == "" {
		return nil, errors.New("empty pattern")
	}
	if strings.HasPrefix(pattern, "/") {
		return nil, errors.New("the pattern must be relative to path")
	}
	alts, err := expandBraces(pattern)
	if err != nil {
		return nil, err
	}
	g := &glob{dirOnly: dirOnly}
	for _, a := range alts {
		var segs []string
		for s := range strings.SplitSeq(a, "/") {
			if s == "" || s == "." {
				continue
			}
			if _, err := path.Match(s, ""); err != nil {
				return nil, errors.New("malformed pattern " + pattern)
			}
			if s == "**" && len(segs) > 0 && segs[len(segs)-1] == "**" {
				continue
			}
			segs = append(segs, s)
		}
		if len(segs) > 0 {
			g.alts = append(g.alts, segs)
		}
	}
	if len(g.alts) == 0 {
		return nil, errors.New("empty pattern")
	}
	return g, nil
}

// hasSlash reports whether the pattern names more than one segment.
func (g *glob) hasSlash() bool {
	for _, a := range g.alts {
		if len(a) > 1 || a[0] == "**" {
			return true
		}
	}
	return false
}

// match reports whether the slash-separated path name, a directory or
// not, matches.
func (g *glob) match(name string, dir bool) bool {
	if g.dirOnly && !dir {
		return false
	}
	segs := strings.Split(name, "/")
	for _, a := range g.alts {
		if matchSegments(a, segs) {
			return true
		}
	}
	return false
}

// mayMatchBelow reports whether some path inside directory dir could match.
func (g *glob) mayMatchBelow(dir string) bool {
	segs := strings.Split(dir, "/")
	for _, a := range g.alts {
		if matchPrefix(a, segs) {
			return true
		}
	}
	return false
}

func matchSegments(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			if len(rest) == 0 {
				return true
			}
			for i := range len(name) + 1 {
				if matchSegments(rest, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// matchPrefix reports whether some extension of name (a directory) by one
// or more segments could match pat.
func matchPrefix(pat, name []string) bool {
	for len(name) > 0 {
		if len(pat) == 0 {
			return false
		}
		if pat[0] == "**" {
			return true
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(pat) > 0
}

// expandBraces expands {a,b} alternatives (nested ones too).
func expandBraces(p string) ([]string, error) {
	open := -1
	depth := 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '{':
			if depth == 0 {
				open = i
			}
			depth++
		case '}':
			if depth == 0 {
				return nil, errors.New("unbalanced } in pattern " + p)
			}
			depth--
			if depth > 0 {
				continue
			}
			var parts []string
			start, d := open+1, 0
			for j := open + 1; j < i; j++ {
				switch p[j] {
				case '\\':
					j++
				case '{':
					d++
				case '}':
					d--
				case ',':
					if d == 0 {
						parts = append(parts, p[start:j])
						start = j + 1
					}
				}
			}
			parts = append(parts, p[start:i])
			rest, err := expandBraces(p[i+1:])
			if err != nil {
				return nil, err
			}
			var out []string
			for _, part := range parts {
				heads, err := expandBraces(p[:open] + part)
				if err != nil {
					return nil, err
				}
				for _, h := range heads {
					for _, r := range rest {
						out = append(out, h+r)
						if len(out) > maxGlobAlternatives {
							return nil, errors.New("too many {} alternatives in pattern")
						}
					}
				}
			}
			return out, nil
		}
	}
	if depth > 0 {
		return nil, errors.New("unbalanced { in pattern " + p)
	}
	return []string{p}, nil
}
