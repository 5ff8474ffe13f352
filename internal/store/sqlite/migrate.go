package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

	"github.com/hermhq/herm/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate applies the embedded migrations that the database lacks, in
// order, each in its own transaction, and prepares the statements of the
// store's hot path. It fails when the database has a version this binary
// does not know (it was migrated by a newer one).
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := sqlstore.Migrations(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if _, err := s.wdb.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	cur, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if latest := ms[len(ms)-1].Version; cur > latest {
		return fmt.Errorf("sqlite: database schema version %d is newer than this program's (%d)", cur, latest)
	}
	for _, m := range ms {
		if m.Version <= cur {
			continue
		}
		err := s.Tx(ctx, func(tx *sql.Tx) error {
			// Another process may have applied it since cur was read.
			var done int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&done); err != nil || done > 0 {
				return err
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
				m.Version, s.opts.Now().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
	}
	return s.Prepare(ctx)
}

// SchemaVersion returns the version of the last applied migration (0 for
// an empty database).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var exists int
	err := s.wdb.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&exists)
	if err != nil {
		return 0, fmt.Errorf("sqlite: schema version: %w", err)
	}
	if exists == 0 {
		return 0, nil
	}
	var v int
	if err := s.wdb.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("sqlite: schema version: %w", err)
	}
	return v, nil
}
