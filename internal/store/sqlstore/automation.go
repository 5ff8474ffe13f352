package sqlstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// automationColumns are what scanAutomation reads: the automation as JSON
// and its version.
const automationColumns = `data, version`

func scanAutomation(sc scanner) (*herm.Automation, error) {
	var data string
	var version int64
	if err := sc.Scan(&data, &version); err != nil {
		return nil, err
	}
	var a herm.Automation
	if err := json.Unmarshal([]byte(data), &a); err != nil {
		return nil, err
	}
	a.Version = version
	return &a, nil
}

func automationRow(a *herm.Automation) (data string, enabled, watching int, due any, err error) {
	b, err := json.Marshal(a)
	if err != nil {
		return "", 0, 0, nil, err
	}
	if a.Enabled {
		enabled = 1
	}
	if a.Watching() {
		watching = 1
	}
	if d := a.DueAt(); d != nil {
		due = micros(*d)
	}
	return string(b), enabled, watching, due, nil
}

// CreateAutomation stores a.
func (q *querier) CreateAutomation(ctx context.Context, a *herm.Automation) error {
	data, enabled, watching, due, err := automationRow(a)
	if err != nil {
		return err
	}
	_, err = q.w().ExecContext(ctx, `INSERT INTO automations (id, deployment_id, data, enabled, due_at, watching, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, a.ID, a.DeploymentID, data, enabled, due, watching, micros(a.CreatedAt))
	return q.dbErr("create automation", err, msgs{conflict: "an automation with this ID already exists", notFound: "deployment not found"})
}

// GetAutomation returns one of a deployment's automations.
func (q *querier) GetAutomation(ctx context.Context, deploymentID, id string) (*herm.Automation, error) {
	a, err := scanAutomation(q.r().QueryRowContext(ctx, `SELECT `+automationColumns+` FROM automations WHERE id = ? AND deployment_id = ?`, id, deploymentID))
	return a, q.dbErr("get automation", err, msgs{notFound: "automation not found"})
}

// ListAutomations lists a deployment's automations newest first.
func (q *querier) ListAutomations(ctx context.Context, deploymentID string, p herm.Page) ([]*herm.Automation, error) {
	query, args := newestFirst(`SELECT `+automationColumns+` FROM automations WHERE deployment_id = ?`, []any{deploymentID}, p.Cursor, p.Limit)
	return q.automations(ctx, "list automations", query, args...)
}

func (q *querier) automations(ctx context.Context, op, query string, args ...any) ([]*herm.Automation, error) {
	return list(ctx, q, q.r(), op, query, scanAutomation, args...)
}

// UpdateAutomation replaces a stored automation if it is still at
// a.Version, and sets a.Version to the next.
func (q *querier) UpdateAutomation(ctx context.Context, a *herm.Automation) error {
	data, enabled, watching, due, err := automationRow(a)
	if err != nil {
		return err
	}
	res, err := q.w().ExecContext(ctx, `UPDATE automations SET data = ?, enabled = ?, due_at = ?, watching = ?, version = version + 1
		WHERE id = ? AND deployment_id = ? AND version = ?`,
		data, enabled, due, watching, a.ID, a.DeploymentID, a.Version)
	n, err := q.count("update automation", res, err)
	if err != nil {
		return err
	}
	if n == 0 {
		if _, err := q.GetAutomation(ctx, a.DeploymentID, a.ID); err != nil {
			return err
		}
		return conflict("automation %s was changed meanwhile", a.ID)
	}
	a.Version++
	return nil
}

// DeleteAutomation removes one of a deployment's automations.
func (q *querier) DeleteAutomation(ctx context.Context, deploymentID, id string) error {
	res, err := q.w().ExecContext(ctx, `DELETE FROM automations WHERE id = ? AND deployment_id = ?`, id, deploymentID)
	return q.changed("delete automation", res, err, notFound("automation"))
}

// AutomationsToCheck returns the enabled automations due at now and those
// whose last run has not ended, at most limit.
func (q *querier) AutomationsToCheck(ctx context.Context, now time.Time, limit int) ([]*herm.Automation, error) {
	return q.automations(ctx, "automations to check", `
		SELECT `+automationColumns+` FROM automations WHERE enabled = 1 AND due_at <= ?
		UNION
		SELECT `+automationColumns+` FROM automations WHERE watching = 1
		LIMIT ?`, micros(now), noLimit(limit))
}
