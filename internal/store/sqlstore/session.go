package sqlstore

import (
	"context"
	"database/sql"
	"maps"
	"slices"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

const sessionColumns = `id, agent_id, agent_version, user_id, title, metadata, archived_at, deployment_id, thread_id, created_at, updated_at`

func scanSession(sc scanner) (*herm.Session, error) {
	var s herm.Session
	var user sql.NullString
	var meta string
	var archived sql.NullInt64
	var created, updated int64
	if err := sc.Scan(&s.ID, &s.AgentID, &s.AgentVersion, &user, &s.Title, &meta, &archived,
		&s.DeploymentID, &s.ThreadID, &created, &updated); err != nil {
		return nil, err
	}
	if err := fromJSON(meta, &s.Metadata); err != nil {
		return nil, err
	}
	s.UserID, s.ArchivedAt = user.String, fromNullMicros(archived)
	s.CreatedAt, s.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &s, nil
}

// CreateSession stores s: one INSERT … SELECT guarded by its agent being
// active (its numbers cast, so that PostgreSQL types them).
func (q *querier) CreateSession(ctx context.Context, s *herm.Session) error {
	meta, err := toJSON(s.Metadata)
	if err != nil {
		return err
	}
	res, err := q.w().ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`)
		SELECT ?, ?, CAST(? AS BIGINT), ?, ?, ?, CAST(? AS BIGINT), ?, ?, CAST(? AS BIGINT), CAST(? AS BIGINT)
		WHERE EXISTS (SELECT 1 FROM agents WHERE id = ? AND status = ?)`,
		s.ID, s.AgentID, s.AgentVersion, nullString(s.UserID), s.Title, meta, microsPtr(s.ArchivedAt),
		s.DeploymentID, s.ThreadID, micros(s.CreatedAt), micros(s.UpdatedAt), s.AgentID, herm.AgentActive)
	if err != nil {
		return q.dbErr("create session", err, msgs{
			notFound: "agent version, deployment or thread not found",
			conflict: "a session with this ID (or of this thread) already exists",
		})
	}
	if n, err := q.count("create session", res, nil); err != nil || n == 1 {
		return err
	}
	if _, err := q.GetAgent(ctx, s.AgentID); err != nil {
		return err
	}
	return conflict("the agent is archived: it takes no new sessions")
}

// GetSession returns a session (ENotFound).
func (q *querier) GetSession(ctx context.Context, id string) (*herm.Session, error) {
	s, err := scanSession(q.r().QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id))
	if err != nil {
		return nil, q.dbErr("get session", err, msgs{notFound: "session not found"})
	}
	return s, nil
}

// ListSessions lists sessions newest first.
func (q *querier) ListSessions(ctx context.Context, f herm.SessionFilter) ([]*herm.Session, error) {
	query := `SELECT ` + sessionColumns + ` FROM sessions WHERE 1 = 1`
	var args []any
	if f.AgentID != "" {
		query, args = query+` AND agent_id = ?`, append(args, f.AgentID)
	}
	if f.UserID != "" {
		query, args = query+` AND user_id = ?`, append(args, f.UserID)
	}
	switch {
	case f.Archived == nil:
	case *f.Archived:
		query += ` AND archived_at IS NOT NULL`
	default:
		query += ` AND archived_at IS NULL`
	}
	for _, k := range slices.Sorted(maps.Keys(f.Metadata)) {
		query, args = query+` AND `+q.s.d.JSONEntry("metadata"), append(args, k, f.Metadata[k])
	}
	switch f.Status {
	case "":
	case "running", "idle":
		not := ""
		if f.Status == "idle" {
			not = "NOT "
		}
		query, args = query+` AND `+not+`EXISTS (SELECT 1 FROM runs r WHERE r.thread_id = sessions.thread_id AND r.status IN (?, ?))`,
			append(args, herm.RunQueued, herm.RunRunning)
	default:
		return nil, herm.Errorf(herm.EInvalid, "session status must be idle or running")
	}
	query, args = newestFirst(query, args, f.Cursor, f.Limit)
	return list(ctx, q, q.r(), "list sessions", query, scanSession, args...)
}

// UpdateSession stores s's title, metadata and updated_at (ENotFound).
func (q *querier) UpdateSession(ctx context.Context, s *herm.Session) error {
	meta, err := toJSON(s.Metadata)
	if err != nil {
		return err
	}
	res, err := q.w().ExecContext(ctx, `UPDATE sessions SET title = ?, metadata = ?, updated_at = ? WHERE id = ?`,
		s.Title, meta, micros(s.UpdatedAt), s.ID)
	return q.changed("update session", res, err, notFound("session"))
}

// ArchiveSession archives a session that is not: one UPDATE guarded by it.
func (q *querier) ArchiveSession(ctx context.Context, id string, at time.Time) error {
	res, err := q.w().ExecContext(ctx, `UPDATE sessions SET archived_at = ?, updated_at = ? WHERE id = ? AND archived_at IS NULL`,
		micros(at), micros(at), id)
	if n, err := q.count("archive session", res, err); err != nil || n == 1 {
		return err
	}
	if _, err := q.GetSession(ctx, id); err != nil {
		return err
	}
	return conflict("the session is already archived")
}

// DeleteSession deletes the session's thread as DeleteThread does (the
// thread first, then its runs); the session row goes with it (ON DELETE
// CASCADE).
func (q *querier) DeleteSession(ctx context.Context, id string) error {
	return q.atomic(ctx, func(q *querier) error {
		var dep, thr string
		err := q.w().QueryRowContext(ctx, `SELECT deployment_id, thread_id FROM sessions WHERE id = ?`, id).Scan(&dep, &thr)
		if err != nil {
			return q.dbErr("delete session", err, msgs{notFound: "session not found"})
		}
		if err := q.DeleteThread(ctx, dep, thr); err != nil {
			if herm.ErrorCode(err) == herm.ENotFound {
				return notFound("session") // deleted meanwhile
			}
			return err
		}
		return nil
	})
}
