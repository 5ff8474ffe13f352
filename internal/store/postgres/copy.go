package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/hermhq/herm/internal/store/sqlstore"
)

// CopyReport says what CopyFrom copied.
type CopyReport struct {
	// Version is the schema version of both databases.
	Version int
	// Tables are the tables copied, in the order they were (parents before
	// the tables whose foreign keys point at them), with their rows.
	Tables []TableCount
	// Elapsed is how long the copy took, commit included.
	Elapsed time.Duration
}

// TableCount is the number of rows of a table.
type TableCount struct {
	Name string
	Rows int64
}

// copied reports whether CopyFrom copies a table: not the destination's
// own record of its migrations, nor the nodes of the source's server,
// which is gone (its deployments are left without an owner: a node adopts
// each when it has work).
func copied(table string) bool {
	return table != "schema_migrations" && table != "nodes"
}

// CopyFrom copies every row of src, a database with the same schema at the
// same version (a SQLite one that store/sqlite migrated; a transaction, so
// that the rows are those of one moment), into s, which must hold no data
// (rows in a table other than nodes and schema_migrations are refused). It
// is one transaction: the destination gets everything or nothing.
//
// The tables and their columns are the destination's, taken in foreign-key
// order; each source table must have the same columns (by name, in any
// order). Rows go over COPY, streamed from the source. Then the source's
// server is treated as gone: no nodes are copied, deployments get no owner
// (deployments.owner NULL: adopted by a node when they have work) and the
// leases of running runs end now (they resume on the node that adopts
// their deployment). Every sequence of the schema is set past the values
// copied, and each table's row count is checked against the source's.
func (s *Store) CopyFrom(ctx context.Context, src sqlstore.DBTX) (*CopyReport, error) {
	start := time.Now()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: copy: %w", err)
	}
	defer conn.Close()
	var rep *CopyReport
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		tx, err := c.Conn().Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // after Commit, a no-op
		if rep, err = s.copyTx(ctx, tx, src); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: copy: %w", err)
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// destTable is a table of the destination: its columns in order, their
// types, and the tables its foreign keys reference.
type destTable struct {
	name    string
	columns []string
	types   []string
	parents []string
}

func (s *Store) copyTx(ctx context.Context, tx pgx.Tx, src sqlstore.DBTX) (*CopyReport, error) {
	// A migration of the destination waits for the copy, and the other way
	// round.
	if _, err := tx.Exec(ctx, sqlMigrateLock); err != nil {
		return nil, fmt.Errorf("lock the schema: %w", err)
	}
	rep := &CopyReport{}
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&rep.Version); err != nil {
		return nil, fmt.Errorf("destination schema version: %w", err)
	}
	var srcVersion int
	if err := src.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&srcVersion); err != nil {
		return nil, fmt.Errorf("source schema version: %w", err)
	}
	if srcVersion != rep.Version {
		return nil, fmt.Errorf("the source database is at schema version %d and the destination at %d: migrate both to this program's version first", srcVersion, rep.Version)
	}
	tables, err := destTables(ctx, tx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = pgx.Identifier{t.name}.Sanitize()
	}
	// Nothing else writes these tables until the copy commits.
	if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(names, ", ")+` IN EXCLUSIVE MODE`); err != nil {
		return nil, fmt.Errorf("lock the tables: %w", err)
	}
	var full []string
	for i, t := range tables {
		var held bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+names[i]+`)`).Scan(&held); err != nil {
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
		if held {
			full = append(full, t.name)
		}
	}
	if len(full) > 0 {
		return nil, fmt.Errorf("the destination already holds data (rows in %s): copy into an empty database (a new schema, or one that only herm migrate has seen)", strings.Join(full, ", "))
	}
	for i, t := range tables {
		n, err := copyTable(ctx, tx, src, t, names[i])
		if err != nil {
			return nil, err
		}
		rep.Tables = append(rep.Tables, TableCount{Name: t.name, Rows: n})
	}

	// The source's server is gone: its deployments have no owner and its
	// runs' leases end now.
	if _, err := tx.Exec(ctx, `UPDATE deployments SET owner = NULL WHERE owner IS NOT NULL`); err != nil {
		return nil, fmt.Errorf("clear owners: %w", err)
	}
	now := s.opts.Now().UnixMicro()
	if _, err := tx.Exec(ctx, `UPDATE runs SET lease_expires_at = $1 WHERE status = 'running' AND lease_expires_at > $1`, now); err != nil {
		return nil, fmt.Errorf("end leases: %w", err)
	}
	if err := setSequences(ctx, tx); err != nil {
		return nil, err
	}

	// What the destination holds now is what was read.
	for i, t := range rep.Tables {
		var n int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM `+pgx.Identifier{t.Name}.Sanitize()).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", t.Name, err)
		}
		var want int64
		if err := src.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+names[i]).Scan(&want); err != nil {
			return nil, fmt.Errorf("count %s in the source: %w", t.Name, err)
		}
		if n != want || n != t.Rows {
			return nil, fmt.Errorf("%s: the source has %d rows, %d were copied and the destination has %d", t.Name, want, t.Rows, n)
		}
	}
	return rep, nil
}

// destTables returns the destination's tables that are copied, with their
// columns, parents before children.
func destTables(ctx context.Context, tx pgx.Tx) ([]destTable, error) {
	rows, err := tx.Query(ctx, `SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
		FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
			AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
		ORDER BY c.relname, a.attnum`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	byName := map[string]*destTable{}
	var order []string
	for rows.Next() {
		var table, col, typ string
		if err := rows.Scan(&table, &col, &typ); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list tables: %w", err)
		}
		if !copied(table) {
			continue
		}
		t := byName[table]
		if t == nil {
			t = &destTable{name: table}
			byName[table] = t
			order = append(order, table)
		}
		t.columns = append(t.columns, col)
		t.types = append(t.types, typ)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	if len(order) == 0 {
		return nil, errors.New("the destination has no tables: migrate it first")
	}
	rows, err = tx.Query(ctx, `SELECT c.relname, p.relname
		FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
		WHERE k.contype = 'f' AND c.relnamespace = current_schema()::regnamespace`)
	if err != nil {
		return nil, fmt.Errorf("list foreign keys: %w", err)
	}
	for rows.Next() {
		var child, parent string
		if err := rows.Scan(&child, &parent); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list foreign keys: %w", err)
		}
		if t := byName[child]; t != nil && parent != child {
			t.parents = append(t.parents, parent)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list foreign keys: %w", err)
	}
	// Parents first; otherwise by name.
	var out []destTable
	done := map[string]bool{}
	for len(out) < len(order) {
		i := slices.IndexFunc(order, func(name string) bool {
			return !done[name] && !slices.ContainsFunc(byName[name].parents, func(p string) bool { return !done[p] && byName[p] != nil })
		})
		if i < 0 {
			return nil, errors.New("the destination's foreign keys form a cycle")
		}
		done[order[i]] = true
		out = append(out, *byName[order[i]])
	}
	return out, nil
}

// copyTable copies the rows of one table, which the source must have with
// the same columns, and returns how many it copied.
func copyTable(ctx context.Context, tx pgx.Tx, src sqlstore.DBTX, t destTable, quoted string) (int64, error) {
	probe, err := src.QueryContext(ctx, `SELECT * FROM `+quoted+` LIMIT 0`)
	if err != nil {
		return 0, fmt.Errorf("the source has no table %s (%v): the schemas differ", t.name, err)
	}
	have, err := probe.Columns()
	probe.Close()
	if err != nil {
		return 0, fmt.Errorf("source table %s: %w", t.name, err)
	}
	if missing, extra := diff(t.columns, have), diff(have, t.columns); len(missing)+len(extra) > 0 {
		return 0, fmt.Errorf("table %s differs between the databases (only in the destination: %s; only in the source: %s): the schemas differ",
			t.name, orNone(missing), orNone(extra))
	}
	cols := make([]string, len(t.columns))
	for i, c := range t.columns {
		cols[i] = pgx.Identifier{c}.Sanitize()
	}
	rows, err := src.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+quoted)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", t.name, err)
	}
	defer rows.Close()
	rs := newRowSource(rows, t.types)
	n, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns, rs)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Where != "" {
			return 0, fmt.Errorf("copy %s: %w (%s)", t.name, err, pe.Where)
		}
		return 0, fmt.Errorf("copy %s: %w", t.name, err)
	}
	return n, nil
}

// setSequences sets every sequence that belongs to a column of the schema
// (runs.seq's, webhook_deliveries.id's identity) past the column's values.
func setSequences(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT s.oid::regclass::text, t.relname, a.attname
		FROM pg_class s
		JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
			AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
		JOIN pg_class t ON t.oid = d.refobjid
		JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
		WHERE s.relkind = 'S' AND s.relnamespace = current_schema()::regnamespace
		ORDER BY 1`)
	if err != nil {
		return fmt.Errorf("list sequences: %w", err)
	}
	type seq struct{ name, table, column string }
	var seqs []seq
	for rows.Next() {
		var q seq
		if err := rows.Scan(&q.name, &q.table, &q.column); err != nil {
			rows.Close()
			return fmt.Errorf("list sequences: %w", err)
		}
		seqs = append(seqs, q)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list sequences: %w", err)
	}
	for _, q := range seqs {
		if _, err := tx.Exec(ctx, `SELECT setval($1::regclass, COALESCE((SELECT MAX(`+pgx.Identifier{q.column}.Sanitize()+`) FROM `+
			pgx.Identifier{q.table}.Sanitize()+`), 0) + 1, false)`, q.name); err != nil {
			return fmt.Errorf("set sequence %s: %w", q.name, err)
		}
	}
	return nil
}

// rowSource streams a source query's rows to COPY, converting what the
// source's driver returns to what the destination's column types take.
type rowSource struct {
	rows  *sql.Rows
	types []string
	vals  []any
	ptrs  []any
	err   error
}

func newRowSource(rows *sql.Rows, types []string) *rowSource {
	r := &rowSource{rows: rows, types: types, vals: make([]any, len(types)), ptrs: make([]any, len(types))}
	for i := range r.vals {
		r.ptrs[i] = &r.vals[i]
	}
	return r
}

func (r *rowSource) Next() bool {
	if r.err != nil || !r.rows.Next() {
		return false
	}
	if r.err = r.rows.Scan(r.ptrs...); r.err != nil {
		return false
	}
	for i, v := range r.vals {
		if r.vals[i], r.err = convert(v, r.types[i]); r.err != nil {
			return false
		}
	}
	return true
}

func (r *rowSource) Values() ([]any, error) { return r.vals, nil }

func (r *rowSource) Err() error {
	if r.err != nil {
		return r.err
	}
	return r.rows.Err()
}

// convert makes a value the source's driver returned fit a column of the
// destination's type: SQLite keeps what a STRICT table declares, so this
// only bridges the drivers' representations.
func convert(v any, typ string) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		if typ != "bytea" {
			return string(x), nil
		}
	case string:
		if typ == "bytea" {
			return []byte(x), nil
		}
	case int64:
		if typ == "double precision" {
			return float64(x), nil
		}
	case float64:
		if typ == "bigint" {
			if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
				return nil, fmt.Errorf("%v does not fit a bigint column", x)
			}
			return int64(x), nil
		}
	}
	return v, nil
}

// diff returns the names of a that are not in b.
func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
