package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

const deploymentColumns = `id, customer_id, name, runtime, model, system_prompt, status,
	sandbox, mcp_servers, skills, secrets, features, tools, metadata,
	thread_id, config_version, error, created_at, updated_at, budget_usd, owner, custom_tools, model_settings, agent_id, user_key, timezone`

// config is the configuration of a deployment as recorded per version.
type config struct {
	Name         string                       `json:"name"`
	Model        string                       `json:"model"`
	SystemPrompt string                       `json:"system_prompt"`
	Sandbox      herm.Sandbox                 `json:"sandbox"`
	MCPServers   []herm.MCPServer             `json:"mcp_servers"`
	Skills       []herm.Skill                 `json:"skills"`
	Secrets      map[string]string            `json:"secrets"`
	Features     herm.Features                `json:"features"`
	Tools        map[string]herm.ToolSettings `json:"tools"`
	Metadata     map[string]string            `json:"metadata"`
	CustomTools  []herm.CustomTool            `json:"custom_tools,omitempty"`
	BudgetUSD    *float64                     `json:"budget_usd,omitempty"`
	// ModelSettings is absent from versions older than the settings.
	ModelSettings herm.ModelSettings `json:"model_settings"`
	Timezone      string             `json:"timezone,omitempty"`
}

func configOf(d *herm.Deployment) config {
	return config{
		Name: d.Name, Model: d.Model, SystemPrompt: d.SystemPrompt, Sandbox: d.Sandbox,
		MCPServers: d.MCPServers, Skills: d.Skills, Secrets: d.Secrets, Features: d.Features,
		Tools: d.Tools, Metadata: d.Metadata, BudgetUSD: d.BudgetUSD, CustomTools: d.CustomTools, ModelSettings: d.ModelSettings,
		Timezone: d.Timezone,
	}
}

func (c config) apply(d *herm.Deployment) {
	d.Name, d.Model, d.SystemPrompt, d.Sandbox = c.Name, c.Model, c.SystemPrompt, c.Sandbox
	d.MCPServers, d.Skills, d.Secrets, d.Features = c.MCPServers, c.Skills, c.Secrets, c.Features
	d.Tools, d.Metadata, d.BudgetUSD, d.CustomTools, d.ModelSettings = c.Tools, c.Metadata, c.BudgetUSD, c.CustomTools, c.ModelSettings
	d.Timezone = c.Timezone
}

// configJSON holds the JSON columns of a deployment's configuration, in
// column order.
type configJSON struct {
	sandbox, mcpServers, skills, secrets, features, tools, metadata, customTools, modelSettings string
}

func encodeConfig(d *herm.Deployment) (configJSON, error) {
	var c configJSON
	for _, f := range []struct {
		dst *string
		v   any
	}{
		{&c.sandbox, d.Sandbox}, {&c.mcpServers, d.MCPServers}, {&c.skills, d.Skills},
		{&c.secrets, d.Secrets}, {&c.features, d.Features}, {&c.tools, d.Tools}, {&c.metadata, d.Metadata},
		{&c.customTools, customTools(d.CustomTools)}, {&c.modelSettings, d.ModelSettings},
	} {
		s, err := toJSON(f.v)
		if err != nil {
			return c, err
		}
		*f.dst = s
	}
	return c, nil
}

func scanDeployment(sc scanner, extra ...any) (*herm.Deployment, error) {
	var d herm.Deployment
	var c configJSON
	var errInfo sql.NullString
	var created, updated int64
	var budget sql.NullFloat64
	var owner, agentID, userKey sql.NullString
	dest := []any{&d.ID, &d.CustomerID, &d.Name, &d.Runtime, &d.Model, &d.SystemPrompt, &d.Status,
		&c.sandbox, &c.mcpServers, &c.skills, &c.secrets, &c.features, &c.tools, &c.metadata,
		&d.ThreadID, &d.ConfigVersion, &errInfo, &created, &updated, &budget, &owner, &c.customTools, &c.modelSettings, &agentID, &userKey, &d.Timezone}
	if err := sc.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		s string
		v any
	}{
		{c.sandbox, &d.Sandbox}, {c.mcpServers, &d.MCPServers}, {c.skills, &d.Skills},
		{c.secrets, &d.Secrets}, {c.features, &d.Features}, {c.tools, &d.Tools}, {c.metadata, &d.Metadata},
		{c.customTools, &d.CustomTools}, {c.modelSettings, &d.ModelSettings},
	} {
		if err := fromJSON(f.s, f.v); err != nil {
			return nil, err
		}
	}
	if len(d.CustomTools) == 0 {
		d.CustomTools = nil // stored as []
	}
	var err error
	if d.Error, err = fromErrorInfoJSON(errInfo); err != nil {
		return nil, err
	}
	d.CreatedAt, d.UpdatedAt, d.Owner = fromMicros(created), fromMicros(updated), owner.String
	d.AgentID, d.UserKey = agentID.String, userKey.String
	if budget.Valid {
		b := budget.Float64
		d.BudgetUSD = &b
	}
	return &d, nil
}

// insertVersion records d's configuration as version d.ConfigVersion.
func (q *querier) insertVersion(ctx context.Context, d *herm.Deployment) error {
	cfg, err := toJSON(configOf(d))
	if err != nil {
		return err
	}
	_, err = q.w().ExecContext(ctx, `INSERT INTO deployment_versions (deployment_id, version, config, created_at)
		VALUES (?, ?, ?, ?)`, d.ID, d.ConfigVersion, cfg, micros(d.UpdatedAt))
	return q.dbErr("record deployment version", err, msgs{
		notFound: "deployment not found",
		conflict: "this configuration version of the deployment already exists",
	})
}

// CreateDeployment stores d (as config version 1, which is recorded) with
// its default thread t. d.ConfigVersion and d.ThreadID are set (to 1 and
// t.ID), and t.DeploymentID and t.IsDefault (to d.ID and true).
func (q *querier) CreateDeployment(ctx context.Context, d *herm.Deployment, t *herm.Thread) error {
	_, err := q.createDeployment(ctx, d, t, "")
	return err
}

// insertDeployment inserts a deployment row; onConflict ends the INSERT.
const insertDeployment = `INSERT INTO deployments (` + deploymentColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// createDeployment is CreateDeployment with onConflict after the INSERT of
// the deployment row; it reports whether the row was inserted (an ON
// CONFLICT … DO NOTHING may leave it out, and then nothing is written).
func (q *querier) createDeployment(ctx context.Context, d *herm.Deployment, t *herm.Thread, onConflict string) (bool, error) {
	if onConflict == "" || d.ConfigVersion < 1 {
		d.ConfigVersion = 1
	}
	d.ThreadID = t.ID
	t.DeploymentID, t.IsDefault = d.ID, true
	c, err := encodeConfig(d)
	if err != nil {
		return false, err
	}
	errInfo, err := errorInfoJSON(d.Error)
	if err != nil {
		return false, err
	}
	inserted := false
	err = q.atomic(ctx, func(q *querier) error {
		res, err := q.w().ExecContext(ctx, insertDeployment+onConflict,
			d.ID, d.CustomerID, d.Name, d.Runtime, d.Model, d.SystemPrompt, d.Status,
			c.sandbox, c.mcpServers, c.skills, c.secrets, c.features, c.tools, c.metadata,
			d.ThreadID, d.ConfigVersion, errInfo, micros(d.CreatedAt), micros(d.UpdatedAt), d.BudgetUSD, nullString(d.Owner), c.customTools, c.modelSettings,
			nullString(d.AgentID), nullString(d.UserKey), d.Timezone)
		if err != nil {
			return q.dbErr("create deployment", err, msgs{
				notFound: "agent not found",
				conflict: "a deployment with this ID (or of this agent and user) already exists",
			})
		}
		n, err := q.count("create deployment", res, nil)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		inserted = true
		if err := q.CreateThread(ctx, t); err != nil {
			return err
		}
		return q.insertVersion(ctx, d)
	})
	return inserted && err == nil, err
}

// EnsureAgentDeployment stores d, the hidden deployment of d.AgentID and
// d.UserKey, with its default thread t, unless that agent and user have
// one: one INSERT … ON CONFLICT DO NOTHING on the unique index of the
// pair, so that of two racing callers one inserts and the other, which
// waits for it where writers run concurrently, finds its row.
func (q *querier) EnsureAgentDeployment(ctx context.Context, d *herm.Deployment, t *herm.Thread) (*herm.Deployment, bool, error) {
	if d.AgentID == "" || d.UserKey == "" {
		return nil, false, herm.Errorf(herm.EInvalid, "a hidden deployment needs an agent and a user key")
	}
	var out *herm.Deployment
	created := false
	err := q.atomic(ctx, func(q *querier) error {
		var err error
		created, err = q.createDeployment(ctx, d, t, ` ON CONFLICT (agent_id, user_key) WHERE agent_id IS NOT NULL DO NOTHING`)
		if err != nil {
			return err
		}
		out, err = q.deploymentForAgentUser(ctx, q.w(), d.AgentID, d.UserKey)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return out, created, nil
}

// PutDeploymentVersion records d's configuration as version
// d.ConfigVersion of the deployment unless that version is recorded
// (INSERT … ON CONFLICT DO NOTHING), and makes it the current one when it
// is newer than the current (one UPDATE guarded by that): a hidden
// deployment's versions are its agent's, recorded as its sessions use
// them, and its current configuration is the newest of those.
func (q *querier) PutDeploymentVersion(ctx context.Context, d *herm.Deployment) error {
	c, err := encodeConfig(d)
	if err != nil {
		return err
	}
	cfg, err := toJSON(configOf(d))
	if err != nil {
		return err
	}
	return q.atomic(ctx, func(q *querier) error {
		_, err := q.w().ExecContext(ctx, `INSERT INTO deployment_versions (deployment_id, version, config, created_at)
			VALUES (?, ?, ?, ?) ON CONFLICT (deployment_id, version) DO NOTHING`, d.ID, d.ConfigVersion, cfg, micros(d.UpdatedAt))
		if err != nil {
			return q.dbErr("record deployment version", err, msgs{notFound: "deployment not found"})
		}
		_, err = q.w().ExecContext(ctx, `UPDATE deployments SET
				name = ?, model = ?, system_prompt = ?, sandbox = ?, mcp_servers = ?, skills = ?,
				secrets = ?, features = ?, tools = ?, metadata = ?, updated_at = ?, config_version = ?,
				custom_tools = ?, model_settings = ?, timezone = ?
			WHERE id = ? AND config_version < ? AND status <> ?`,
			d.Name, d.Model, d.SystemPrompt, c.sandbox, c.mcpServers, c.skills,
			c.secrets, c.features, c.tools, c.metadata, micros(d.UpdatedAt), d.ConfigVersion,
			c.customTools, c.modelSettings, d.Timezone, d.ID, d.ConfigVersion, herm.DeploymentDeleting)
		return q.dbErr("update deployment", err, msgs{})
	})
}

// DeploymentForAgentUser returns the hidden deployment of an agent and a
// user key (ENotFound).
func (q *querier) DeploymentForAgentUser(ctx context.Context, agentID, userKey string) (*herm.Deployment, error) {
	return q.deploymentForAgentUser(ctx, q.r(), agentID, userKey)
}

func (q *querier) deploymentForAgentUser(ctx context.Context, db conn, agentID, userKey string) (*herm.Deployment, error) {
	d, err := scanDeployment(db.QueryRowContext(ctx, `SELECT `+deploymentColumns+` FROM deployments
		WHERE agent_id = ? AND user_key = ?`, agentID, userKey))
	if err != nil {
		return nil, q.dbErr("deployment of agent and user", err, msgs{notFound: "deployment not found"})
	}
	return d, nil
}

// GetDeployment returns a deployment.
func (q *querier) GetDeployment(ctx context.Context, id string) (*herm.Deployment, error) {
	d, err := scanDeployment(q.r().QueryRowContext(ctx, `SELECT `+deploymentColumns+` FROM deployments WHERE id = ?`, id))
	if err != nil {
		return nil, q.dbErr("get deployment", err, msgs{notFound: "deployment not found"})
	}
	return d, nil
}

// ListDeployments lists deployments newest first, those of agents left
// out.
func (q *querier) ListDeployments(ctx context.Context, f herm.DeploymentFilter) ([]*herm.Deployment, error) {
	query := `SELECT ` + deploymentColumns + ` FROM deployments WHERE agent_id IS NULL`
	var args []any
	if f.CustomerID != "" {
		query += ` AND customer_id = ?`
		args = append(args, f.CustomerID)
	}
	if f.Status != "" {
		query += ` AND status = ?`
		args = append(args, f.Status)
	}
	query, args = newestFirst(query, args, f.Cursor, f.Limit)
	return list(ctx, q, q.r(), "list deployments", query, func(sc scanner) (*herm.Deployment, error) { return scanDeployment(sc) }, args...)
}

// UpdateDeploymentConfig stores d's configuration as version
// d.ConfigVersion, with one UPDATE guarded by the version before it and a
// status other than deleting (a concurrent update or deletion that
// committed first makes it match nothing), then records the version.
func (q *querier) UpdateDeploymentConfig(ctx context.Context, d *herm.Deployment) error {
	c, err := encodeConfig(d)
	if err != nil {
		return err
	}
	return q.atomic(ctx, func(q *querier) error {
		res, err := q.w().ExecContext(ctx, `UPDATE deployments SET
				name = ?, model = ?, system_prompt = ?, sandbox = ?, mcp_servers = ?, skills = ?,
				secrets = ?, features = ?, tools = ?, metadata = ?, updated_at = ?, config_version = ?, budget_usd = ?,
				custom_tools = ?, model_settings = ?, timezone = ?
			WHERE id = ? AND config_version = ? AND status <> ?`,
			d.Name, d.Model, d.SystemPrompt, c.sandbox, c.mcpServers, c.skills,
			c.secrets, c.features, c.tools, c.metadata, micros(d.UpdatedAt), d.ConfigVersion, d.BudgetUSD,
			c.customTools, c.modelSettings, d.Timezone, d.ID, d.ConfigVersion-1, herm.DeploymentDeleting)
		n, err := q.count("update deployment", res, err)
		if err != nil {
			return err
		}
		if n == 0 {
			var cur int
			var status herm.DeploymentStatus
			err := q.w().QueryRowContext(ctx, `SELECT config_version, status FROM deployments WHERE id = ?`, d.ID).Scan(&cur, &status)
			if err != nil {
				return q.dbErr("update deployment", err, msgs{notFound: "deployment not found"})
			}
			if status == herm.DeploymentDeleting {
				return conflict("the deployment is being deleted")
			}
			return conflict("the deployment was changed concurrently (it is at configuration version %d, not %d)", cur, d.ConfigVersion-1)
		}
		return q.insertVersion(ctx, d)
	})
}

// SetDeploymentStatus sets a deployment's status and error.
func (q *querier) SetDeploymentStatus(ctx context.Context, id string, s herm.DeploymentStatus, e *herm.ErrorInfo, at time.Time) error {
	errInfo, err := errorInfoJSON(e)
	if err != nil {
		return err
	}
	res, err := q.w().ExecContext(ctx, `UPDATE deployments SET status = ?, error = ?, updated_at = ? WHERE id = ?`,
		s, errInfo, micros(at), id)
	return q.changed("set deployment status", res, err, notFound("deployment"))
}

// SetDeploymentStatusFrom sets a deployment's status and error if it is
// in status from: one UPDATE guarded by it.
func (q *querier) SetDeploymentStatusFrom(ctx context.Context, id string, from, to herm.DeploymentStatus, e *herm.ErrorInfo, at time.Time) error {
	errInfo, err := errorInfoJSON(e)
	if err != nil {
		return err
	}
	res, err := q.w().ExecContext(ctx, `UPDATE deployments SET status = ?, error = ?, updated_at = ? WHERE id = ? AND status = ?`,
		to, errInfo, micros(at), id, from)
	if n, err := q.count("set deployment status", res, err); err != nil || n == 1 {
		return err
	}
	var cur herm.DeploymentStatus
	if err := q.w().QueryRowContext(ctx, `SELECT status FROM deployments WHERE id = ?`, id).Scan(&cur); err != nil {
		return q.dbErr("set deployment status", err, msgs{notFound: "deployment not found"})
	}
	return conflict("the deployment is %s, not %s", cur, from)
}

// DeploymentVersion returns the deployment as configured at a version: the
// configuration fields, ConfigVersion and UpdatedAt (when that version was
// stored) are the version's, every other field is current.
func (q *querier) DeploymentVersion(ctx context.Context, id string, version int) (*herm.Deployment, error) {
	var cfgJSON string
	var at int64
	d, err := scanDeployment(q.r().QueryRowContext(ctx, `SELECT `+qualify("d", deploymentColumns)+`, v.config, v.created_at
		FROM deployments d JOIN deployment_versions v ON v.deployment_id = d.id
		WHERE d.id = ? AND v.version = ?`, id, version), &cfgJSON, &at)
	if err != nil {
		return nil, q.dbErr("get deployment version", err, msgs{notFound: "deployment version not found"})
	}
	var c config
	if err := fromJSON(cfgJSON, &c); err != nil {
		return nil, err
	}
	c.apply(d)
	d.ConfigVersion, d.UpdatedAt = version, fromMicros(at)
	return d, nil
}

// DeleteDeployment removes a deployment and everything that belongs to it:
// its events explicitly, the rest through ON DELETE CASCADE. The deployment
// row goes first: where writers run concurrently, its delete waits for the
// appends that hold it, so that the events delete, a later statement, sees
// their events, and an append that comes later finds no deployment.
func (q *querier) DeleteDeployment(ctx context.Context, id string) error {
	return q.atomic(ctx, func(q *querier) error {
		res, err := q.w().ExecContext(ctx, `DELETE FROM deployments WHERE id = ?`, id)
		if err := q.changed("delete deployment", res, err, notFound("deployment")); err != nil {
			return err
		}
		_, err = q.w().ExecContext(ctx, `DELETE FROM events WHERE deployment_id = ?`, id)
		return q.dbErr("delete deployment", err, msgs{})
	})
}

// ListDeploymentIDsByStatus returns the IDs of the deployments in a status
// that owner owns (any owner when "").
func (q *querier) ListDeploymentIDsByStatus(ctx context.Context, s herm.DeploymentStatus, owner string) ([]string, error) {
	query, args := `SELECT id FROM deployments WHERE status = ?`, []any{s}
	if owner != "" {
		query, args = query+` AND owner = ?`, append(args, owner)
	}
	return list(ctx, q, q.r(), "list deployments", query+` ORDER BY id`, scanString, args...)
}

// customTools is a deployment's custom tools as stored: never null.
func customTools(l []herm.CustomTool) []herm.CustomTool {
	if l == nil {
		return []herm.CustomTool{}
	}
	return l
}
