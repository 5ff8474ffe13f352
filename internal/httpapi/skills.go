package httpapi

import (
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/skills"
)

// SkillInfo is a skill a deployment's agent can load: a configured one or
// one the agent learned.
type SkillInfo struct {
	SkillID     string     `json:"skill_id" doc:"skl_… for configured skills; skl_learned_<name> for learned ones."`
	Name        string     `json:"name"`
	Source      string     `json:"source" enum:"file,inline,url" doc:"A learned skill is a file in the workspace."`
	Description string     `json:"description" doc:"From the SKILL.md front matter (empty when it cannot be read now; see error)."`
	Origin      string     `json:"origin" enum:"configured,learned"`
	Path        string     `json:"path,omitempty" doc:"A file skill's SKILL.md (or folder) in the workspace; a learned skill's folder."`
	URL         string     `json:"url,omitempty" doc:"A url skill's address."`
	Error       string     `json:"error,omitempty" doc:"Why a configured file skill cannot be read now (the agent does not see it until that is fixed)."`
	CreatedAt   *time.Time `json:"created_at" doc:"When the skill was added (a learned one: when its SKILL.md was last written); null when not recorded."`
}

// SkillDetail is a skill with its SKILL.md.
type SkillDetail struct {
	SkillInfo
	Content string `json:"content" doc:"The whole SKILL.md."`
}

func skillInfo(s skills.Skill, d *herm.Deployment) SkillInfo {
	info := SkillInfo{SkillID: s.ID, Name: s.Name, Source: s.Source, Description: s.Description, Origin: s.Origin}
	for _, c := range d.Skills {
		if c.SkillID == s.ID {
			info.Path, info.URL = c.Path, c.URL
		}
	}
	if s.Origin == skills.OriginLearned {
		info.Path = s.Dir
	}
	if s.Err != nil {
		info.Error = herm.ErrorMessage(s.Err)
	}
	if !s.CreatedAt.IsZero() {
		t := s.CreatedAt
		info.CreatedAt = &t
	}
	return info
}

// skillsOf loads a deployment's skills (learned ones and file skills only
// when its workspace is ready).
func (s *Server) skillsOf(r *http.Request) (*herm.Deployment, *sandbox.Workspace, []skills.Skill, error) {
	d, err := s.deployment(r)
	if err != nil {
		return nil, nil, nil, err
	}
	var ws *sandbox.Workspace
	if d.Status == herm.DeploymentReady && s.boxes != nil {
		if sb, err := s.boxes.Get(r.Context(), d); err == nil {
			ws = sb.Workspace()
		} else {
			// Listed without the workspace: file skills say why they
			// cannot be read, learned ones are missing.
			s.logger.Warn("skills: no workspace", "deployment_id", d.ID, "err", err)
		}
	}
	return d, ws, skills.Load(r.Context(), d, ws), nil
}

func (s *Server) listSkills(w http.ResponseWriter, r *http.Request) error {
	d, _, list, err := s.skillsOf(r)
	if err != nil {
		return err
	}
	out := make([]SkillInfo, 0, len(list))
	for _, sk := range list {
		out = append(out, skillInfo(sk, d))
	}
	writeJSON(w, http.StatusOK, List[SkillInfo]{Data: out})
	return nil
}

func (s *Server) getSkill(w http.ResponseWriter, r *http.Request) error {
	d, _, list, err := s.skillsOf(r)
	if err != nil {
		return err
	}
	id := r.PathValue("skill_id")
	for _, sk := range list {
		if sk.ID == id {
			writeJSON(w, http.StatusOK, SkillDetail{SkillInfo: skillInfo(sk, d), Content: sk.Content})
			return nil
		}
	}
	return herm.Errorf(herm.ENotFound, "the deployment has no skill %s", id)
}

// keptSkills is the deployment's configured skills as update input that
// leaves them as they are.
func keptSkills(d *herm.Deployment) []herm.SkillInput {
	out := make([]herm.SkillInput, 0, len(d.Skills)+1)
	for _, c := range d.Skills {
		out = append(out, herm.SkillInput{Name: c.Name, Source: c.Source, Path: c.Path, Content: c.Content, URL: c.URL, SkillID: c.SkillID, Keep: true})
	}
	return out
}

// setSkills stores a deployment's new skill list (validated like a PATCH
// of skills: a new configuration version) and returns the one with id.
func (s *Server) setSkills(r *http.Request, version int, list []herm.SkillInput, name string) (*herm.Deployment, herm.Skill, error) {
	d, err := s.deps.Update(r.Context(), r.PathValue("deployment_id"), &herm.DeploymentInput{Skills: &list, IfConfigVersion: version})
	if err != nil {
		return nil, herm.Skill{}, err
	}
	for _, sk := range d.Skills {
		if sk.Name == name {
			return d, sk, nil
		}
	}
	return nil, herm.Skill{}, herm.Errorf(herm.EInternal, "skill %q was not stored", name)
}

// configuredDetail describes a configured skill just stored.
func (s *Server) configuredDetail(r *http.Request, d *herm.Deployment, sk herm.Skill) SkillDetail {
	var ws *sandbox.Workspace
	if sk.Source == herm.SkillFile && d.Status == herm.DeploymentReady && s.boxes != nil {
		if sb, err := s.boxes.Get(r.Context(), d); err == nil {
			ws = sb.Workspace()
		}
	}
	one := *d
	one.Skills = []herm.Skill{sk}
	loaded := skills.Load(r.Context(), &one, ws)[0]
	return SkillDetail{SkillInfo: skillInfo(loaded, d), Content: loaded.Content}
}

func (s *Server) addSkill(w http.ResponseWriter, r *http.Request) error {
	var in herm.SkillInput
	if err := decode(r, &in); err != nil {
		return err
	}
	d, err := s.deployment(r)
	if err != nil {
		return err
	}
	for _, c := range d.Skills {
		if c.Name == in.Name {
			return herm.Errorf(herm.EConflict, "the deployment already has a skill named %q (%s; PUT replaces it)", in.Name, c.SkillID)
		}
	}
	if len(d.Skills) >= herm.MaxSkills {
		return herm.Errorf(herm.EInvalid, "the deployment has %d skills, the most it can have", herm.MaxSkills)
	}
	d, sk, err := s.setSkills(r, d.ConfigVersion, append(keptSkills(d), herm.SkillInput{Name: in.Name, Source: in.Source, Path: in.Path, Content: in.Content, URL: in.URL}), in.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.configuredDetail(r, d, sk))
	return nil
}

func (s *Server) putSkill(w http.ResponseWriter, r *http.Request) error {
	var in herm.SkillInput
	if err := decode(r, &in); err != nil {
		return err
	}
	d, err := s.deployment(r)
	if err != nil {
		return err
	}
	id := r.PathValue("skill_id")
	if strings.HasPrefix(id, skills.LearnedIDPrefix) {
		return herm.Errorf(herm.EConflict, "skill %s was learned by the agent and is changed by it; DELETE it, or POST a configured skill of the same name (a configured skill takes precedence)", id)
	}
	list := keptSkills(d)
	i := -1
	for j, c := range list {
		if c.SkillID == id {
			i = j
		} else if c.Name == in.Name {
			return herm.Errorf(herm.EConflict, "the deployment already has another skill named %q (%s)", in.Name, c.SkillID)
		}
	}
	if i < 0 {
		return herm.Errorf(herm.ENotFound, "the deployment has no configured skill %s", id)
	}
	list[i] = herm.SkillInput{Name: in.Name, Source: in.Source, Path: in.Path, Content: in.Content, URL: in.URL, SkillID: id}
	d, sk, err := s.setSkills(r, d.ConfigVersion, list, in.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.configuredDetail(r, d, sk))
	return nil
}

func (s *Server) deleteSkill(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("skill_id")
	if name, ok := strings.CutPrefix(id, skills.LearnedIDPrefix); ok {
		_, ws, list, err := s.skillsOf(r)
		if err != nil {
			return err
		}
		found := false
		for _, sk := range list {
			found = found || sk.ID == id
		}
		if !found || ws == nil {
			return herm.Errorf(herm.ENotFound, "the deployment has no skill %s", id)
		}
		if err := ws.Remove(path.Join(skills.LearnedDir, name)); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	d, err := s.deployment(r)
	if err != nil {
		return err
	}
	list := keptSkills(d)
	n := len(list)
	for j, c := range list {
		if c.SkillID == id {
			list = append(list[:j], list[j+1:]...)
			break
		}
	}
	if len(list) == n {
		return herm.Errorf(herm.ENotFound, "the deployment has no skill %s", id)
	}
	if _, err := s.deps.Update(r.Context(), d.ID, &herm.DeploymentInput{Skills: &list, IfConfigVersion: d.ConfigVersion}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
