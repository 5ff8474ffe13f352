package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

	"github.com/hermhq/herm/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// sqlMigrateLock serialises Migrate across processes, per schema.
const sqlMigrateLock = `SELECT pg_advisory_xact_lock(hashtext('herm.migrate.' || current_schema()))`

// Migrate applies the embedded migrations that the database lacks, in
// order, in one transaction (PostgreSQL's DDL is transactional) that holds
// an advisory lock, so that processes starting together migrate once. It
// fails when the database has a version this binary does not know (it was
// migrated by a newer one).
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := sqlstore.Migrations(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return s.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, sqlMigrateLock); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    BIGINT PRIMARY KEY,
			applied_at BIGINT NOT NULL
		)`); err != nil {
			return fmt.Errorf("postgres: create schema_migrations: %w", err)
		}
		var cur int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
			return fmt.Errorf("postgres: schema version: %w", err)
		}
		if latest := ms[len(ms)-1].Version; cur > latest {
			return fmt.Errorf("postgres: database schema version %d is newer than this program's (%d)", cur, latest)
		}
		for _, m := range ms {
			if m.Version <= cur {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("postgres: migration %s: %w", m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
				m.Version, s.opts.Now().UnixMicro()); err != nil {
				return fmt.Errorf("postgres: migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
}

// SchemaVersion returns the version of the last applied migration (0 for
// an empty database).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var exists bool
	err := s.db.QueryRowContext(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists)
	if err != nil {
		return 0, fmt.Errorf("postgres: schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("postgres: schema version: %w", err)
	}
	return v, nil
}
