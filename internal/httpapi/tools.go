package httpapi

import (
	"context"
	"net/http"
	"slices"
	"time"

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

// catalogWait bounds how long the Tools API waits for MCP servers: past
// it, a server is listed as connecting with the tools it had before.
const catalogWait = 2 * time.Second

// MCPServerStatus is what the server knows of an MCP server when it lists
// the deployment's tools.
type MCPServerStatus struct {
	Name    string  `json:"name"`
	Status  string  `json:"status" enum:"connected,unreachable,connecting" doc:"connected: its tools are listed; unreachable: the last attempt failed (message says why) and its tools are not listed; connecting: it has not answered within the listing's short wait (tools it listed before are shown; try again shortly)."`
	Message *string `json:"message" doc:"Why the server is unreachable."`
}

// ToolList is a deployment's tools with the state of its MCP servers.
type ToolList struct {
	Data       []ToolInfo        `json:"data"`
	NextCursor *string           `json:"next_cursor" doc:"Always null: the list is whole."`
	MCPServers []MCPServerStatus `json:"mcp_servers" doc:"Each of the deployment's MCP servers and whether its tools could be listed."`
}

// deploymentTools lists the tools a deployment has, enabled or not, as the
// catalog answers (the same answer that decides a run's tools), with the
// state of each MCP server.
func (s *Server) deploymentTools(ctx context.Context, d *herm.Deployment) ([]ToolInfo, []MCPServerStatus) {
	entries, states := s.catalog().List(ctx, d, catalogWait)
	out := make([]ToolInfo, 0, len(entries))
	for _, e := range entries {
		out = append(out, toolInfo(e))
	}
	servers := make([]MCPServerStatus, 0, len(states))
	for _, st := range states {
		servers = append(servers, MCPServerStatus{Name: st.Name, Status: st.State, Message: nullable(st.Message)})
	}
	return out, servers
}

// catalog is the server's tool catalog (without one: no built-in tools but
// ask_human and subagents, no MCP tools).
func (s *Server) catalog() *tools.Catalog {
	if s.tools == nil {
		return tools.NewCatalog(nil, tools.CatalogOptions{})
	}
	return s.tools
}

func toolInfo(e tools.Entry) ToolInfo {
	return ToolInfo{Name: e.Name, Origin: e.Origin, Description: e.Description, Enabled: e.Enabled, Permission: e.Permission}
}

func (s *Server) listTools(w http.ResponseWriter, r *http.Request) error {
	d, err := s.deployment(r)
	if err != nil {
		return err
	}
	list, servers := s.deploymentTools(r.Context(), d)
	writeJSON(w, http.StatusOK, ToolList{Data: list, MCPServers: servers})
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
	list, _ := s.deploymentTools(r.Context(), d)
	for _, t := range list {
		found = found || t.Name == name
	}
	if !found {
		if what, ok := s.catalog().UnavailableTool(name); ok {
			// A built-in tool of the contract this server lacks: turning it
			// off is accepted (it is off), anything else says why not.
			if in.Enabled == nil || *in.Enabled || in.Permission != nil {
				return herm.Errorf(herm.EInvalid, "%s is not available on this server yet; it can only be disabled", what)
			}
			writeJSON(w, http.StatusOK, ToolInfo{Name: name, Origin: tools.OriginBuiltin, Description: what + " (not available on this server)", Enabled: false, Permission: herm.PermissionAlwaysAllow})
			return nil
		}
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
	list, _ = s.deploymentTools(r.Context(), d)
	for _, t := range list {
		if t.Name == name {
			writeJSON(w, http.StatusOK, t)
			return nil
		}
	}
	return herm.Errorf(herm.ENotFound, "tool %q", name)
}

// MCPServerInput is an MCP server entry.
type MCPServerInput struct {
	Name       *string           `json:"name" doc:"^[a-z0-9][a-z0-9_-]{0,31}$, without \"__\" and not ending in \"_\"; its tools are offered as {name}__{tool}."`
	URL        *string           `json:"url" doc:"https, or http to a private address only when the operator allows private networks."`
	Tools      []string          `json:"tools" doc:"Allowlist of the server's own tool names (empty: all)."`
	Headers    map[string]string `json:"headers" doc:"Request headers; values may use ${ENV_NAME} placeholders filled from the deployment's secrets on the host."`
	Permission *string           `json:"permission" enum:"always_allow,always_ask" doc:"Default permission of its tools."`
}

// MCPServerList is a deployment's MCP servers.
type MCPServerList struct {
	Data []herm.MCPServer `json:"data"`
}

func (in MCPServerInput) server(name string) (herm.MCPServer, error) {
	s := herm.MCPServer{Name: name, Tools: in.Tools, Headers: in.Headers}
	if in.Name != nil {
		if name != "" && *in.Name != name {
			return s, herm.Errorf(herm.EInvalid, "name: the path says %q and the body %q", name, *in.Name)
		}
		s.Name = *in.Name
	}
	if s.Name == "" {
		return s, herm.Errorf(herm.EInvalid, "name is required")
	}
	if in.URL == nil {
		return s, herm.Errorf(herm.EInvalid, "url is required")
	}
	s.URL = *in.URL
	if in.Permission != nil {
		s.Permission = *in.Permission
	}
	return s, nil
}

// setMCPServers stores a deployment's new server list (validated like a
// PATCH of mcp_servers: a new configuration version).
func (s *Server) setMCPServers(r *http.Request, version int, list []herm.MCPServer) (*herm.Deployment, error) {
	return s.deps.Update(r.Context(), r.PathValue("deployment_id"), &herm.DeploymentInput{MCPServers: &list, IfConfigVersion: version})
}

func (s *Server) listMCPServers(w http.ResponseWriter, r *http.Request) error {
	d, err := s.deployment(r)
	if err != nil {
		return err
	}
	list := d.MCPServers
	if list == nil {
		list = []herm.MCPServer{}
	}
	writeJSON(w, http.StatusOK, MCPServerList{Data: list})
	return nil
}

func (s *Server) addMCPServer(w http.ResponseWriter, r *http.Request) error {
	var in MCPServerInput
	if err := decode(r, &in); err != nil {
		return err
	}
	srv, err := in.server("")
	if err != nil {
		return err
	}
	d, err := s.deployment(r)
	if err != nil {
		return err
	}
	for _, m := range d.MCPServers {
		if m.Name == srv.Name {
			return herm.Errorf(herm.EConflict, "the deployment already has an MCP server named %q (PUT replaces it)", srv.Name)
		}
	}
	if _, err := s.setMCPServers(r, d.ConfigVersion, append(slices.Clone(d.MCPServers), srv)); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, srv)
	return nil
}

func (s *Server) putMCPServer(w http.ResponseWriter, r *http.Request) error {
	var in MCPServerInput
	if err := decode(r, &in); err != nil {
		return err
	}
	name := r.PathValue("name")
	srv, err := in.server(name)
	if err != nil {
		return err
	}
	d, err := s.deployment(r)
	if err != nil {
		return err
	}
	list := slices.Clone(d.MCPServers)
	i := slices.IndexFunc(list, func(m herm.MCPServer) bool { return m.Name == name })
	if i < 0 {
		return herm.Errorf(herm.ENotFound, "the deployment has no MCP server named %q", name)
	}
	list[i] = srv
	if _, err := s.setMCPServers(r, d.ConfigVersion, list); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, srv)
	return nil
}

func (s *Server) deleteMCPServer(w http.ResponseWriter, r *http.Request) error {
	d, err := s.deployment(r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	list := slices.DeleteFunc(slices.Clone(d.MCPServers), func(m herm.MCPServer) bool { return m.Name == name })
	if len(list) == len(d.MCPServers) {
		return herm.Errorf(herm.ENotFound, "the deployment has no MCP server named %q", name)
	}
	if _, err := s.setMCPServers(r, d.ConfigVersion, list); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
