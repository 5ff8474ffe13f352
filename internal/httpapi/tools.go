package httpapi

import (
	"context"
	"net/http"
	"sort"

	"github.com/hermhq/herm/internal/agent"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/tools"
)

// ToolInfo is one tool a deployment's agent has.
type ToolInfo struct {
	Name        string `json:"name" doc:"The model-facing name."`
	Origin      string `json:"origin" doc:"builtin, or the MCP server's name."`
	Description string `json:"description"`
	Enabled     bool   `json:"enabled"`
	Permission  string `json:"permission" enum:"always_allow,always_ask" doc:"always_ask pauses the run for a human's approval before each call (with features.steering on)."`
}

// UpdateToolRequest is the body of a tool's settings change.
type UpdateToolRequest struct {
	Enabled    *bool   `json:"enabled"`
	Permission *string `json:"permission" enum:"always_allow,always_ask"`
}

// deploymentTools lists the tools a deployment has (whether enabled or
// not): the built-in ones it can use, ask_human when steering is on, and
// its MCP servers' tools (those of servers that answer).
func (s *Server) deploymentTools(ctx context.Context, d *herm.Deployment) []ToolInfo {
	var out []ToolInfo
	add := func(name, origin, desc, def string) {
		st := d.Tools[name]
		info := ToolInfo{Name: name, Origin: origin, Description: desc, Enabled: st.Enabled == nil || *st.Enabled, Permission: st.Permission}
		if info.Permission == "" {
			info.Permission = def
		}
		if info.Permission == "" {
			info.Permission = herm.PermissionAlwaysAllow
		}
		out = append(out, info)
	}
	if s.extra != nil && len(d.MCPServers) > 0 {
		extra, _ := s.extra(ctx, d)
		for _, t := range extra {
			def := ""
			if p, ok := t.(interface{ Permission() string }); ok {
				def = p.Permission()
			}
			spec := t.Spec()
			add(spec.Name, t.Origin(), spec.Description, def)
		}
	}
	if s.tools != nil {
		exec := s.tools.CanExec(d)
		for _, t := range s.tools.All() {
			if cr, ok := t.(tools.CodeRunner); ok && cr.RunsCode() && !exec {
				continue // no code execution for this deployment
			}
			spec := t.Spec()
			add(spec.Name, t.Origin(), spec.Description, "")
		}
	}
	if d.Features.Steering {
		add(agent.AskHuman, tools.OriginBuiltin, "Ask the human a question and wait for the answer.", "")
	}
	add(agent.Subagents, tools.OriginBuiltin, "Hand independent tasks to subagents that work alone with the same tools and return a summary.", "")
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *Server) listTools(w http.ResponseWriter, r *http.Request) error {
	d, err := s.deployment(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, List[ToolInfo]{Data: s.deploymentTools(r.Context(), d)})
	return nil
}

func (s *Server) updateTool(w http.ResponseWriter, r *http.Request) error {
	var in UpdateToolRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	d, err := s.deployment(r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	found := false
	for _, t := range s.deploymentTools(r.Context(), d) {
		found = found || t.Name == name
	}
	if !found {
		return herm.Errorf(herm.ENotFound, "deployment %s has no tool named %q", d.ID, name)
	}
	st := d.Tools[name]
	if in.Enabled != nil {
		st.Enabled = in.Enabled
	}
	if in.Permission != nil {
		st.Permission = *in.Permission
	}
	d, err = s.deps.Update(r.Context(), d.ID, &herm.DeploymentInput{Tools: map[string]*herm.ToolSettings{name: &st}})
	if err != nil {
		return err
	}
	for _, t := range s.deploymentTools(r.Context(), d) {
		if t.Name == name {
			writeJSON(w, http.StatusOK, t)
			return nil
		}
	}
	return herm.Errorf(herm.ENotFound, "tool %q", name)
}
