// Package skills reads SKILL.md files (YAML front matter with a name and a
// description, then Markdown), from the three sources a configured skill
// may have (inline, url, a file in the workspace) and from the skills the
// agent learned (.herm/skills/<name>/SKILL.md in the workspace).
package skills

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/sandbox"
)

// Limits of the agentskills.io format and of this server.
const (
	MaxName        = 64
	MaxDescription = 1024
	MaxBytes       = 256 << 10
	LearnedDir     = ".herm/skills"
	MaxLearned     = 100
)

// Origins.
const (
	OriginConfigured = "configured"
	OriginLearned    = "learned"
)

// LearnedIDPrefix starts the skill_id of a learned skill (its name follows).
const LearnedIDPrefix = "skl_learned_"

// ValidName reports whether name is a valid skill name.
func ValidName(name string) bool { return len(name) <= MaxName && reName.MatchString(name) }

var reName = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// Meta is a skill's front matter.
type Meta struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
}

// Parse reads a SKILL.md, returning its front matter and its body. Errors
// are invalid_skill and say what is wrong.
func Parse(content string) (Meta, string, error) {
	var m Meta
	bad := func(format string, args ...any) (Meta, string, error) {
		return m, "", herm.Errorf(herm.EInvalidSkill, format, args...)
	}
	if len(content) > MaxBytes {
		return bad("SKILL.md is larger than %d bytes", MaxBytes)
	}
	text := strings.TrimPrefix(strings.ReplaceAll(content, "\r\n", "\n"), "\ufeff")
	if !strings.HasPrefix(text, "---\n") {
		return bad("SKILL.md must start with YAML front matter between --- lines")
	}
	front, body, ok := strings.Cut(text[4:], "\n---")
	if !ok {
		return bad("the front matter is not closed by a --- line")
	}
	body = strings.TrimPrefix(strings.TrimPrefix(body, "\n"), "-")
	dec := yaml.NewDecoder(bytes.NewReader([]byte(front)))
	if err := dec.Decode(&m); err != nil {
		return bad("the front matter is not valid YAML: %v", err)
	}
	switch {
	case m.Name == "":
		return bad("the front matter has no name")
	case len(m.Name) > MaxName || !reName.MatchString(m.Name):
		return bad("name %q must be at most %d lowercase letters, digits and hyphens", m.Name, MaxName)
	case strings.TrimSpace(m.Description) == "":
		return bad("the front matter has no description")
	case len(m.Description) > MaxDescription:
		return bad("the description is longer than %d characters", MaxDescription)
	}
	return m, strings.TrimSpace(body), nil
}

// Skill is a skill as the agent sees it.
type Skill struct {
	ID          string // configured skills
	Name        string
	Description string
	Source      string // file, inline, url, or "learned"
	Origin      string // configured or learned
	Content     string // the whole SKILL.md
	Dir         string // its folder in the workspace ("" for inline and url skills)
	Err         error  // a configured skill that cannot be read now
	CreatedAt   time.Time
}

// FileDir returns a file skill's folder and SKILL.md path in the
// workspace (path may name SKILL.md or its folder).
func FileDir(p string) (dir, file string) {
	p = strings.TrimSuffix(path.Clean(p), "/")
	if path.Base(p) == "SKILL.md" {
		return path.Dir(p), p
	}
	return p, path.Join(p, "SKILL.md")
}

// Load returns a deployment's skills: the configured ones (inline and url
// from their stored content, file ones read from the workspace), then the
// learned ones whose names no configured skill has.
func Load(ctx context.Context, d *herm.Deployment, ws *sandbox.Workspace) []Skill {
	var out []Skill
	names := map[string]bool{}
	for _, s := range d.Skills {
		sk := Skill{ID: s.SkillID, Name: s.Name, Source: s.Source, Origin: OriginConfigured, Content: s.Content, CreatedAt: s.CreatedAt}
		if s.Source == herm.SkillFile {
			dir, file := FileDir(s.Path)
			sk.Dir = dir
			if ws == nil {
				sk.Err = fmt.Errorf("no workspace")
			} else if b, err := ws.ReadFile(file, MaxBytes); err != nil {
				sk.Err = fmt.Errorf("%s: %s", file, herm.ErrorMessage(err))
			} else {
				sk.Content = string(b)
			}
		}
		if sk.Err == nil {
			if m, _, err := Parse(sk.Content); err != nil {
				sk.Err = err
			} else {
				sk.Description = m.Description
			}
		}
		names[s.Name] = true
		out = append(out, sk)
	}
	if ws == nil {
		return out
	}
	entries, err := fs.ReadDir(ws.FS(), LearnedDir)
	if err != nil {
		return out
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	n := 0
	for _, e := range entries {
		if n >= MaxLearned {
			break
		}
		if !e.IsDir() || names[e.Name()] {
			continue // a learned skill never overrides a configured one
		}
		dir := path.Join(LearnedDir, e.Name())
		b, err := ws.ReadFile(path.Join(dir, "SKILL.md"), MaxBytes)
		if err != nil {
			continue
		}
		m, _, err := Parse(string(b))
		if err != nil || m.Name != e.Name() {
			continue
		}
		n++
		var created time.Time
		if e, err := ws.Stat(path.Join(dir, "SKILL.md")); err == nil {
			created = e.ModifiedAt
		}
		out = append(out, Skill{ID: LearnedIDPrefix + m.Name, Name: m.Name, Description: m.Description, Source: herm.SkillFile, Origin: OriginLearned, Content: string(b), Dir: dir, CreatedAt: created})
	}
	return out
}

// Catalog is the text the agent's system prompt gets: each usable skill's
// name and description.
func Catalog(list []Skill) string {
	var b strings.Builder
	for _, s := range list {
		if s.Err != nil {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\n\nSkills you can load with skill_view (by name) when one fits the task:\n")
		}
		fmt.Fprintf(&b, "- %s: %s\n", s.Name, strings.ReplaceAll(s.Description, "\n", " "))
	}
	return b.String()
}
