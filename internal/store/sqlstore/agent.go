package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

const agentColumns = `id, name, status, current_version, metadata, created_at, updated_at, archived_at`

func scanAgent(sc scanner) (*herm.Agent, error) {
	var a herm.Agent
	var meta string
	var created, updated int64
	var archived sql.NullInt64
	if err := sc.Scan(&a.ID, &a.Name, &a.Status, &a.CurrentVersion, &meta, &created, &updated, &archived); err != nil {
		return nil, err
	}
	if err := fromJSON(meta, &a.Metadata); err != nil {
		return nil, err
	}
	a.CreatedAt, a.UpdatedAt, a.ArchivedAt = fromMicros(created), fromMicros(updated), fromNullMicros(archived)
	return &a, nil
}

// insertAgentVersion records version a.CurrentVersion of an agent.
func (q *querier) insertAgentVersion(ctx context.Context, a *herm.Agent, def json.RawMessage) error {
	if !json.Valid(def) {
		return herm.Errorf(herm.EInvalid, "an agent definition must be JSON")
	}
	_, err := q.w().ExecContext(ctx, `INSERT INTO agent_versions (agent_id, version, definition, created_at) VALUES (?, ?, ?, ?)`,
		a.ID, a.CurrentVersion, string(def), micros(a.UpdatedAt))
	return q.dbErr("record agent version", err, msgs{notFound: "agent not found", conflict: "this version of the agent already exists"})
}

// CreateAgent stores a (status active, CurrentVersion 1, both set) with
// def as its version 1 (EConflict when the ID is taken).
func (q *querier) CreateAgent(ctx context.Context, a *herm.Agent, def json.RawMessage) error {
	a.Status, a.CurrentVersion, a.ArchivedAt = herm.AgentActive, 1, nil
	meta, err := toJSON(a.Metadata)
	if err != nil {
		return err
	}
	return q.atomic(ctx, func(q *querier) error {
		_, err := q.w().ExecContext(ctx, `INSERT INTO agents (`+agentColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
			a.ID, a.Name, a.Status, a.CurrentVersion, meta, micros(a.CreatedAt), micros(a.UpdatedAt))
		if err != nil {
			return q.dbErr("create agent", err, msgs{conflict: "an agent with this ID already exists"})
		}
		return q.insertAgentVersion(ctx, a, def)
	})
}

// GetAgent returns an agent (ENotFound).
func (q *querier) GetAgent(ctx context.Context, id string) (*herm.Agent, error) {
	a, err := scanAgent(q.r().QueryRowContext(ctx, `SELECT `+agentColumns+` FROM agents WHERE id = ?`, id))
	if err != nil {
		return nil, q.dbErr("get agent", err, msgs{notFound: "agent not found"})
	}
	return a, nil
}

// ListAgents lists agents newest first.
func (q *querier) ListAgents(ctx context.Context, f herm.AgentFilter) ([]*herm.Agent, error) {
	query := `SELECT ` + agentColumns + ` FROM agents WHERE 1 = 1`
	var args []any
	if f.Archived != nil {
		status := herm.AgentActive
		if *f.Archived {
			status = herm.AgentArchived
		}
		query, args = query+` AND status = ?`, append(args, status)
	}
	query, args = newestFirst(query, args, f.Cursor, f.Limit)
	return list(ctx, q, q.r(), "list agents", query, scanAgent, args...)
}

// UpdateAgent stores a's name, metadata and updated_at and def as version
// a.CurrentVersion, with one UPDATE guarded by the version before it and
// the agent being active, then records the version.
func (q *querier) UpdateAgent(ctx context.Context, a *herm.Agent, def json.RawMessage) error {
	meta, err := toJSON(a.Metadata)
	if err != nil {
		return err
	}
	return q.atomic(ctx, func(q *querier) error {
		res, err := q.w().ExecContext(ctx, `UPDATE agents SET name = ?, metadata = ?, updated_at = ?, current_version = ?
			WHERE id = ? AND current_version = ? AND status = ?`,
			a.Name, meta, micros(a.UpdatedAt), a.CurrentVersion, a.ID, a.CurrentVersion-1, herm.AgentActive)
		n, err := q.count("update agent", res, err)
		if err != nil {
			return err
		}
		if n == 0 {
			var cur int
			var status herm.AgentStatus
			err := q.w().QueryRowContext(ctx, `SELECT current_version, status FROM agents WHERE id = ?`, a.ID).Scan(&cur, &status)
			if err != nil {
				return q.dbErr("update agent", err, msgs{notFound: "agent not found"})
			}
			if status != herm.AgentActive {
				return conflict("the agent is archived")
			}
			return conflict("the agent was changed concurrently (it is at version %d, not %d)", cur, a.CurrentVersion-1)
		}
		return q.insertAgentVersion(ctx, a, def)
	})
}

// ArchiveAgent archives an active agent: one UPDATE guarded by its status.
func (q *querier) ArchiveAgent(ctx context.Context, id string, at time.Time) error {
	res, err := q.w().ExecContext(ctx, `UPDATE agents SET status = ?, archived_at = ?, updated_at = ? WHERE id = ? AND status = ?`,
		herm.AgentArchived, micros(at), micros(at), id, herm.AgentActive)
	if n, err := q.count("archive agent", res, err); err != nil || n == 1 {
		return err
	}
	if _, err := q.GetAgent(ctx, id); err != nil {
		return err
	}
	return conflict("the agent is already archived")
}

const agentVersionColumns = `agent_id, version, definition, created_at`

func scanAgentVersion(sc scanner) (*herm.AgentVersion, error) {
	var v herm.AgentVersion
	var def string
	var created int64
	if err := sc.Scan(&v.AgentID, &v.Version, &def, &created); err != nil {
		return nil, err
	}
	v.Definition, v.CreatedAt = json.RawMessage(def), fromMicros(created)
	return &v, nil
}

// GetAgentVersion returns a version of an agent (ENotFound).
func (q *querier) GetAgentVersion(ctx context.Context, agentID string, version int) (*herm.AgentVersion, error) {
	v, err := scanAgentVersion(q.r().QueryRowContext(ctx, `SELECT `+agentVersionColumns+` FROM agent_versions
		WHERE agent_id = ? AND version = ?`, agentID, version))
	if err != nil {
		return nil, q.dbErr("get agent version", err, msgs{notFound: "agent version not found"})
	}
	return v, nil
}

// ListAgentVersions lists an agent's versions newest first, those below
// before (0: from the newest), at most limit.
func (q *querier) ListAgentVersions(ctx context.Context, agentID string, before, limit int) ([]*herm.AgentVersion, error) {
	query, args := `SELECT `+agentVersionColumns+` FROM agent_versions WHERE agent_id = ?`, []any{agentID}
	if before > 0 {
		query, args = query+` AND version < ?`, append(args, before)
	}
	query, args = query+` ORDER BY version DESC LIMIT ?`, append(args, pageLimit(limit, defaultLimit))
	return list(ctx, q, q.r(), "list agent versions", query, scanAgentVersion, args...)
}
