package builtin

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/skills"
	"github.com/hermhq/herm/internal/tools"
)

// Skill tool names.
const (
	SkillView   = "skill_view"
	SkillManage = "skill_manage"
)

// maxSkillFiles caps the listing of a skill's folder in skill_view.
const maxSkillFiles = 200

type skillViewArgs struct {
	Name string `json:"name" jsonschema:"The skill's name, as listed in the system prompt."`
	Path string `json:"path,omitempty" jsonschema:"A file inside the skill's folder to read instead of its SKILL.md (relative to the folder)."`
}

func newSkillView(get getFunc, maxRead int64) *tool[skillViewArgs] {
	return newTool(SkillView, "Load a skill: its whole SKILL.md (instructions) and the files in its folder, or one of those files with path.", false,
		func(ctx context.Context, c tools.Call, a skillViewArgs) (tools.Result, error) {
			ws, err := workspace(ctx, get, c)
			if err != nil {
				return tools.Result{}, err
			}
			list := skills.Load(ctx, c.Deployment, ws)
			s, ok := findSkill(list, a.Name)
			if !ok {
				return errResult("there is no skill named %q (skills: %s)", a.Name, skillNames(list)), nil
			}
			if s.Err != nil {
				return errResult("skill %q cannot be read: %s", s.Name, herm.ErrorMessage(s.Err)), nil
			}
			if a.Path == "" {
				var b strings.Builder
				b.WriteString(s.Content)
				if files := skillFiles(ws, s.Dir); len(files) > 0 {
					fmt.Fprintf(&b, "\n\n[files in this skill's folder (/workspace/%s), readable with skill_view and path: %s]", s.Dir, strings.Join(files, ", "))
				}
				return tools.Result{Content: b.String()}, nil
			}
			if s.Dir == "" {
				return errResult("skill %q is a single SKILL.md (source %s): it has no folder to read %q from", s.Name, s.Source, a.Path), nil
			}
			rel, err := sandbox.Clean(strings.TrimPrefix(a.Path, "./"))
			if err != nil || rel == "." {
				return errResult("path %q must name a file inside the skill's folder", a.Path), nil
			}
			b, err := ws.ReadFile(path.Join(s.Dir, rel), maxRead)
			if err != nil {
				return fileErr(err)
			}
			return tools.Result{Content: string(b)}, nil
		})
}

func findSkill(list []skills.Skill, name string) (skills.Skill, bool) {
	for _, s := range list {
		if s.Name == name {
			return s, true
		}
	}
	return skills.Skill{}, false
}

func skillNames(list []skills.Skill) string {
	if len(list) == 0 {
		return "none"
	}
	names := make([]string, len(list))
	for i, s := range list {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

// skillFiles lists the files of a skill's folder other than SKILL.md.
func skillFiles(ws *sandbox.Workspace, dir string) []string {
	if dir == "" {
		return nil
	}
	var out []string
	_ = fs.WalkDir(ws.FS(), dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || len(out) >= maxSkillFiles {
			return fs.SkipDir
		}
		if e.Type().IsRegular() && p != path.Join(dir, "SKILL.md") {
			out = append(out, strings.TrimPrefix(p, dir+"/"))
		}
		return nil
	})
	return out
}

type skillManageArgs struct {
	Action  string `json:"action" enum:"create,update,delete" jsonschema:"create a new skill, update (replace) one you wrote, or delete it."`
	Name    string `json:"name" jsonschema:"The skill's name: lowercase letters, digits and hyphens, at most 64."`
	Content string `json:"content,omitempty" jsonschema:"For create and update: the whole SKILL.md, YAML front matter between --- lines with name (the same as above) and description (at most 1024 characters, saying when to use the skill), then the instructions in Markdown."`
}

func newSkillManage(get getFunc) *tool[skillManageArgs] {
	return newTool(SkillManage, "Save what you learned as a reusable skill (a SKILL.md in /workspace/"+skills.LearnedDir+"/<name>/), improve one you wrote, or delete it. Configured skills cannot be changed.", false,
		func(ctx context.Context, c tools.Call, a skillManageArgs) (tools.Result, error) {
			ws, err := workspace(ctx, get, c)
			if err != nil {
				return tools.Result{}, err
			}
			if len(a.Name) > skills.MaxName || !skills.ValidName(a.Name) {
				return errResult("name %q must be 1 to %d lowercase letters, digits and hyphens", a.Name, skills.MaxName), nil
			}
			for _, s := range c.Deployment.Skills {
				if s.Name == a.Name {
					return errResult("%q is a configured skill of this deployment; it cannot be changed with skill_manage (choose another name for your own)", a.Name), nil
				}
			}
			dir := path.Join(skills.LearnedDir, a.Name)
			file := path.Join(dir, "SKILL.md")
			_, statErr := ws.Stat(file)
			exists := statErr == nil
			switch a.Action {
			case "create", "update":
				if a.Action == "create" && exists {
					return errResult("a learned skill named %q exists; use action update to change it", a.Name), nil
				}
				if a.Action == "update" && !exists {
					return errResult("there is no learned skill named %q; use action create", a.Name), nil
				}
				if a.Action == "create" && learnedCount(skills.Load(ctx, c.Deployment, ws)) >= skills.MaxLearned {
					return errResult("there are already %d learned skills; update or delete one first", skills.MaxLearned), nil
				}
				meta, _, err := skills.Parse(a.Content)
				if err != nil {
					return errResult("the skill is not saved: %s", herm.ErrorMessage(err)), nil
				}
				if meta.Name != a.Name {
					return errResult("the skill is not saved: its front matter names it %q, not %q", meta.Name, a.Name), nil
				}
				if err := ws.MkdirAll(dir); err != nil {
					return fileErr(err)
				}
				if _, err := ws.WriteFile(file, strings.NewReader(a.Content)); err != nil {
					return fileErr(err)
				}
				verb := "created"
				if a.Action == "update" {
					verb = "updated"
				}
				return tools.Result{Content: fmt.Sprintf("skill %q %s (/workspace/%s); it is listed from the next run on", a.Name, verb, file)}, nil
			case "delete":
				if !exists {
					return errResult("there is no learned skill named %q", a.Name), nil
				}
				if err := ws.Remove(dir); err != nil {
					return fileErr(err)
				}
				return tools.Result{Content: fmt.Sprintf("skill %q deleted", a.Name)}, nil
			default:
				return errResult("action must be create, update or delete (got %q)", a.Action), nil
			}
		})
}

func learnedCount(list []skills.Skill) int {
	n := 0
	for _, s := range list {
		if s.Origin == skills.OriginLearned {
			n++
		}
	}
	return n
}
