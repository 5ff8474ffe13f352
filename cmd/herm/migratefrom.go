package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/hermhq/herm/internal/store/postgres"
	"github.com/hermhq/herm/internal/store/sqlite"
)

// fromFlag takes migrate's --from flag out of its arguments (the other
// flags are loadConfig's, all of which take a value) and returns it with
// the rest.
func fromFlag(args []string) (from string, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			return from, append(rest, args[i:]...), nil
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case name == "from" && hasValue:
			from = value
		case name == "from":
			if i+1 == len(args) {
				return "", nil, errors.New("flag needs an argument: -from sqlite://path")
			}
			from = args[i+1]
			i++
		case hasValue || name == "h" || name == "help":
			rest = append(rest, a)
		default:
			rest = append(rest, a)
			if i+1 < len(args) {
				rest = append(rest, args[i+1])
				i++
			}
		}
	}
	return from, rest, nil
}

// migrateFlags is migrate's own flag, for its usage text.
func migrateFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.String("from", "", "sqlite://path: copy that SQLite database (a stopped single server's) into the empty PostgreSQL database of --database-url, migrating both first")
	return fs
}

// withFromUsage adds --from to the usage text in loadConfig's errors.
func withFromUsage(err error) error {
	var b strings.Builder
	fs := migrateFlags()
	fs.SetOutput(&b)
	fs.PrintDefaults()
	var h errHelp
	switch {
	case errors.As(err, &h):
		return errHelp{h.text + b.String()}
	case strings.Contains(err.Error(), "usage: herm migrate"):
		return errors.New(err.Error() + b.String())
	}
	return err
}

// migrateFrom is `herm migrate --from sqlite://path`: the upgrade of a
// single server to a cluster. It locks the SQLite data dir (refused while
// a server uses it), migrates both databases to this program's schema,
// copies every row into the PostgreSQL schema of the settings, which must
// be empty and which no server may use meanwhile (the schema's lock, taken
// exclusively as by migrate), in one transaction, and prints what it
// copied.
func migrateFrom(ctx context.Context, cfg *config, from string, getenv func(string) string, stdout io.Writer) error {
	path, ok := strings.CutPrefix(from, "sqlite://")
	if !ok || path == "" {
		return fmt.Errorf("--from must be sqlite://path, the SQLite database to copy (got %q)", from)
	}
	if !cfg.isPostgres() {
		return errors.New("herm migrate --from copies into PostgreSQL: set HERM_DATABASE_URL (or --database-url) to postgres://…")
	}
	if fi, err := os.Stat(path); err != nil {
		return fmt.Errorf("--from: %w", err)
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("--from: %s is not a file", path)
	}
	// The data dir of the server that used it: the file's directory
	// (sqlite://<data-dir>/herm.db) and the data dir of the settings,
	// which the nodes will share.
	dirs := []string{filepath.Dir(path)}
	if fi, err := os.Stat(cfg.DataDir); err == nil && fi.IsDir() && !sameDir(cfg.DataDir, dirs[0]) {
		dirs = append(dirs, cfg.DataDir)
	}
	for _, dir := range dirs {
		release, err := sqlite.LockDir(dir)
		if err != nil {
			return fmt.Errorf("cannot copy %s: %w", path, err)
		}
		defer release()
	}

	dst, err := openDatabase(ctx, cfg, slog.New(slog.DiscardHandler), false)
	if err != nil {
		return err
	}
	defer dst.Close()
	pg, ok := dst.Store.(*postgres.Store)
	if !ok {
		return fmt.Errorf("the destination is not PostgreSQL (%T)", dst.Store)
	}
	src, err := sqlite.Open(ctx, path, &sqlite.Options{SkipMigrate: true})
	if err != nil {
		return err
	}
	defer src.Close()
	was, err := src.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if err := src.Migrate(ctx); err != nil {
		return err
	}
	var rep *postgres.CopyReport
	err = src.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		rep, err = pg.CopyFrom(ctx, tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("copy %s into PostgreSQL: %w (nothing was copied)", path, err)
	}

	if was != rep.Version {
		fmt.Fprintf(stdout, "migrated %s from schema version %d to %d\n", path, was, rep.Version)
	}
	var total int64
	for _, t := range rep.Tables {
		total += t.Rows
	}
	fmt.Fprintf(stdout, "copied %s into PostgreSQL (schema version %d) in %.1fs, in one transaction: %d rows\n",
		path, rep.Version, rep.Elapsed.Seconds(), total)
	for _, t := range rep.Tables {
		fmt.Fprintf(stdout, "  %-20s %9d\n", t.Name, t.Rows)
	}
	fmt.Fprintln(stdout, "row counts match the source's; no node owns a deployment yet (a node adopts each when it has work)")
	if getenv("HERM_MASTER_KEY") == "" && !sameDir(cfg.DataDir, dirs[0]) {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "master.key")); errors.Is(err, os.ErrNotExist) {
			if _, err := os.Stat(filepath.Join(dirs[0], "master.key")); err == nil {
				fmt.Fprintf(stdout, "secrets are sealed with %s: copy it into the data dir %s (or set HERM_MASTER_KEY on every node)\n",
					filepath.Join(dirs[0], "master.key"), cfg.DataDir)
			}
		}
	}
	return nil
}

// sameDir reports whether a and b name one directory.
func sameDir(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA != nil || errB != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return os.SameFile(fa, fb)
}
