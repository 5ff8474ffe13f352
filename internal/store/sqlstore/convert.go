package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// Times are stored as unix microseconds UTC.

// micros returns t as stored.
func micros(t time.Time) int64 { return t.UnixMicro() }

// microsPtr returns t as stored, NULL for nil.
func microsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros returns a stored time.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// fromNullMicros returns a stored optional time.
func fromNullMicros(us sql.NullInt64) *time.Time {
	if !us.Valid {
		return nil
	}
	t := fromMicros(us.Int64)
	return &t
}

// leaseMicros stores a lease expiry; the zero time is 0 (long expired).
func leaseMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromLeaseMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return fromMicros(us)
}

// toJSON encodes v for a JSON column.
func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("sqlstore: encode %T: %w", v, err)
	}
	return string(b), nil
}

// fromJSON decodes a JSON column into v.
func fromJSON(s string, v any) error {
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("sqlstore: decode %T: %w", v, err)
	}
	return nil
}

// errorInfoJSON stores an optional ErrorInfo (NULL for nil).
func errorInfoJSON(e *herm.ErrorInfo) (any, error) {
	if e == nil {
		return nil, nil
	}
	return toJSON(e)
}

func fromErrorInfoJSON(s sql.NullString) (*herm.ErrorInfo, error) {
	if !s.Valid {
		return nil, nil
	}
	var e *herm.ErrorInfo
	if err := fromJSON(s.String, &e); err != nil {
		return nil, err
	}
	return e, nil
}

// rawJSON stores a json.RawMessage as TEXT (NULL for nil).
func rawJSON(m json.RawMessage) any {
	if m == nil {
		return nil
	}
	return string(m)
}

// fromRawJSON returns stored raw JSON (nil for NULL).
func fromRawJSON(b []byte) json.RawMessage {
	if b == nil {
		return nil
	}
	return json.RawMessage(b)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// msgs are the customer-safe messages of translated driver errors.
type msgs struct {
	notFound string // no rows, or a missing parent row (foreign key)
	conflict string // a uniqueness violation
}

// dbErr translates a driver error at the store's boundary: no rows and
// foreign key failures become ENotFound, uniqueness violations EConflict;
// context errors pass through and anything else is wrapped as internal.
func (s *Store) dbErr(op string, err error, m msgs) error {
	if err == nil {
		return nil
	}
	var he *herm.Error
	switch {
	case errors.As(err, &he):
		return err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, sql.ErrNoRows) && m.notFound != "":
		return &herm.Error{Code: herm.ENotFound, Message: m.notFound, Err: err}
	}
	switch s.d.Violation(err) {
	case Unique:
		if m.conflict != "" {
			return &herm.Error{Code: herm.EConflict, Message: m.conflict, Err: err}
		}
	case ForeignKey:
		if m.notFound != "" {
			return &herm.Error{Code: herm.ENotFound, Message: m.notFound, Err: err}
		}
	}
	return fmt.Errorf("%s: %s: %w", s.d.Name, op, err)
}

// dbErr is q.s.dbErr.
func (q *querier) dbErr(op string, err error, m msgs) error { return q.s.dbErr(op, err, m) }

// notFound returns an ENotFound error with a customer-safe message.
func notFound(what string) error {
	return &herm.Error{Code: herm.ENotFound, Message: what + " not found"}
}

// conflict returns an EConflict error with a customer-safe message.
func conflict(format string, args ...any) error {
	return herm.Errorf(herm.EConflict, format, args...)
}

// count returns the number of rows a statement changed, or its error.
func (q *querier) count(op string, res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, q.dbErr(op, err, msgs{})
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("%s: %s: rows affected: %w", q.s.d.Name, op, err)
	}
	return n, nil
}

// changed checks that a statement changed a row, and returns missing when it
// changed none.
func (q *querier) changed(op string, res sql.Result, err error, missing error) error {
	n, err := q.count(op, res, err)
	if err == nil && n == 0 {
		return missing
	}
	return err
}

// pageLimit is the number of items a list returns.
func pageLimit(limit, def int) int {
	if limit <= 0 {
		return def
	}
	return limit
}

// newestFirst ends query, whose WHERE it extends, for a page of its rows by
// descending id after cursor (none when "").
func newestFirst(query string, args []any, cursor string, limit int) (string, []any) {
	if cursor != "" {
		query += ` AND id < ?`
		args = append(args, cursor)
	}
	return query + ` ORDER BY id DESC LIMIT ?`, append(args, pageLimit(limit, defaultLimit))
}

// noLimit returns a LIMIT value: a negative limit is no limit (which
// SQLite reads it as, and PostgreSQL refuses).
func noLimit(n int) int64 {
	if n < 0 {
		return math.MaxInt64
	}
	return int64(n)
}

// qualify prefixes each column of a comma-separated list with alias.
func qualify(alias, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// Default page sizes.
const (
	defaultLimit       = 20
	defaultEventsLimit = 100
)

// list runs query on db and returns its rows, each read by scan.
func list[T any](ctx context.Context, q *querier, db conn, op, query string, scan func(scanner) (T, error), args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, q.dbErr(op, err, msgs{})
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, q.dbErr(op, err, msgs{})
		}
		out = append(out, v)
	}
	return out, q.dbErr(op, rows.Err(), msgs{})
}
