package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/url"
	"strconv"
	"time"
)

// Deployment is a customer's agent: its configuration and status. Settings
// without a field here (sandbox, MCP servers, skills, tools, features) are
// kept as JSON in Raw.
type Deployment struct {
	DeploymentID  string            `json:"deployment_id"`
	CustomerID    string            `json:"customer_id"`
	Name          string            `json:"name"`
	Runtime       string            `json:"runtime"`
	Model         string            `json:"model"`
	Status        string            `json:"status"` // provisioning, ready, error, deleting
	SystemPrompt  string            `json:"system_prompt"`
	Secrets       map[string]string `json:"secrets"`
	Metadata      map[string]string `json:"metadata"`
	BudgetUSD     *float64          `json:"budget_usd"`
	ThreadID      string            `json:"thread_id"` // the default thread
	ConfigVersion int               `json:"config_version"`
	Error         *ErrorInfo        `json:"error"` // why provisioning failed
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`

	// Raw is the whole object as the server sent it.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON keeps the whole object in Raw.
func (d *Deployment) UnmarshalJSON(b []byte) error {
	type plain Deployment
	if err := json.Unmarshal(b, (*plain)(d)); err != nil {
		return err
	}
	d.Raw = append(d.Raw[:0], b...)
	return nil
}

// ErrorInfo is why a deployment or a run failed.
type ErrorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// DeploymentCreateParams is a deployment to create. Extra holds settings
// without a field here (e.g. "sandbox", "mcp_servers", "features"), sent
// as they are.
type DeploymentCreateParams struct {
	CustomerID   string            `json:"customer_id"`
	Name         string            `json:"name"`
	SystemPrompt string            `json:"system_prompt,omitempty"`
	Model        string            `json:"model,omitempty"`
	Secrets      map[string]string `json:"secrets,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	BudgetUSD    *float64          `json:"budget_usd,omitempty"`
	Extra        map[string]any    `json:"-"`
}

func (p DeploymentCreateParams) body() map[string]any {
	out := map[string]any{}
	for k, v := range p.Extra {
		out[k] = v
	}
	b, _ := json.Marshal(p) // Extra is not marshalled
	var fields map[string]any
	_ = json.Unmarshal(b, &fields)
	for k, v := range fields {
		out[k] = v
	}
	return out
}

// DeploymentListParams filters and pages a deployment list.
type DeploymentListParams struct {
	CustomerID string // only this customer's
	Status     string // only those with this status
	Limit      int    // page size (0: the server's default)
	Cursor     string // a page's NextCursor
}

// DeploymentService is the Deployments API.
type DeploymentService struct{ c *Client }

// Create creates a deployment; it returns at once with status
// provisioning (poll Get, or watch the deployment_status event).
func (s *DeploymentService) Create(ctx context.Context, p DeploymentCreateParams) (*Deployment, error) {
	var d Deployment
	if err := s.c.Do(ctx, "POST", "/v1/deployments", p.body(), &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Get reads a deployment.
func (s *DeploymentService) Get(ctx context.Context, id string) (*Deployment, error) {
	var d Deployment
	if err := s.c.Do(ctx, "GET", "/v1/deployments/"+url.PathEscape(id), nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// List reads one page of deployments, newest first.
func (s *DeploymentService) List(ctx context.Context, p DeploymentListParams) (*List[Deployment], error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("customer_id", p.CustomerID)
	set("status", p.Status)
	set("cursor", p.Cursor)
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	path := "/v1/deployments"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var l List[Deployment]
	if err := s.c.Do(ctx, "GET", path, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// All lists every deployment that p selects, following the pages' cursors
// from p.Cursor on. It stops at the first error, which it yields.
func (s *DeploymentService) All(ctx context.Context, p DeploymentListParams) iter.Seq2[*Deployment, error] {
	return func(yield func(*Deployment, error) bool) {
		for {
			l, err := s.List(ctx, p)
			if err != nil {
				yield(nil, err)
				return
			}
			for i := range l.Data {
				if !yield(&l.Data[i], nil) {
					return
				}
			}
			if l.NextCursor == "" {
				return
			}
			p.Cursor = l.NextCursor
		}
	}
}

// Delete starts deleting a deployment (it answers 202: the deployment is
// deleting, then gone).
func (s *DeploymentService) Delete(ctx context.Context, id string) error {
	return s.c.Do(ctx, "DELETE", "/v1/deployments/"+url.PathEscape(id), nil, nil)
}
