package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `herm: a self-hostable runtime that gives each of your customers a dedicated AI agent.

usage: herm <command> [flags]

commands:
  serve        run the API server, run engine and sandbox manager
  quickstart   start an embedded server (or use HERM_URL), create a deployment,
               send a first message and print the run as it happens
  migrate      apply database migrations and exit; with --from sqlite://path,
               copy a single server's SQLite database into PostgreSQL
  version      print the version
` + cliUsage + `
Run "herm <command> -h" for a command's flags; docs/cli.md describes the
client commands with examples.
`

// run is the whole program; main only supplies the process's context,
// arguments, environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], getenv, stdout, stderr, nil)
	case "quickstart":
		err = quickstart(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		err = migrate(ctx, args[1:], getenv, stdout)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "herm %s\n", buildVersion())
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		if _, ok := cliCommand(args[0]); ok {
			err = runCLI(ctx, args, getenv, os.Stdin, stdout, stderr)
			break
		}
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
	var h errHelp
	if errors.As(err, &h) {
		fmt.Fprint(stdout, h.text)
		return nil
	}
	return err
}

func buildVersion() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + info.GoVersion
	}
	return v
}

// newLogger makes the structured logger: text on a terminal, JSON otherwise.
func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if level != "" {
		if err := lv.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("log level must be debug, info, warn or error")
		}
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: durationMS}
	if logFormat(format, w) == "text" {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}

// logFormat is the log format asked for, or by default text on a terminal
// and JSON otherwise.
func logFormat(format string, w io.Writer) string {
	if format != "" {
		return format
	}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		return "text"
	}
	return "json"
}

// durationMS logs durations as <name>_ms, a number of milliseconds (slog
// would write nanoseconds in JSON and "1.5ms" in text).
func durationMS(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindDuration {
		return a
	}
	key := a.Key
	if !strings.HasSuffix(key, "_ms") {
		key += "_ms"
	}
	return slog.Float64(key, float64(a.Value.Duration().Microseconds())/1000)
}

// console is what someone starting the server must see whatever the log
// level: the address it listens on, a generated admin key, why it could not
// start. In JSON log mode these are JSON records like the log's, so that
// stderr holds only JSON lines; in text mode, plain text.
type console struct {
	w    io.Writer
	json *slog.Logger // nil in text mode
}

func newConsole(format string, w io.Writer) *console {
	c := &console{w: w}
	if logFormat(format, w) == "json" {
		c.json = slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{ReplaceAttr: durationMS}))
	}
	return c
}

// say prints text in text mode, and in JSON mode logs msg with attrs.
func (c *console) say(text, msg string, attrs ...any) {
	if c.json != nil {
		c.json.Info(msg, attrs...)
		return
	}
	fmt.Fprint(c.w, text)
}

// reportedError is an error the server already wrote out as a log record;
// main prints nothing more.
type reportedError struct{ error }

func (e reportedError) Unwrap() error { return e.error }

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// serve runs the server until ctx ends. ready, when set, receives the app
// once it listens (for quickstart and tests).
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready func(*app)) error {
	// A failure to start is a log record in JSON mode (the format from the
	// environment when the settings themselves are wrong).
	format := getenv("HERM_LOG_FORMAT")
	report := func(err error) error {
		if con := newConsole(format, stderr); err != nil && con.json != nil && !errors.As(err, new(errHelp)) {
			con.json.Error("herm: " + err.Error())
			return reportedError{err}
		}
		return err
	}
	cfg, err := loadConfig("serve", args, getenv)
	if err != nil {
		return report(err)
	}
	format = cfg.LogFormat
	logger, err := newLogger(cfg.LogFormat, cfg.LogLevel, stderr)
	if err != nil {
		return report(err)
	}
	return report(serveWith(ctx, cfg, getenv, logger, stderr, ready))
}

func serveWith(ctx context.Context, cfg *config, getenv func(string) string, logger *slog.Logger, stderr io.Writer, ready func(*app)) error {
	release, err := openDataDir(cfg)
	if err != nil {
		return err
	}
	defer release() // after the store is closed
	a, err := newApp(ctx, cfg, getenv, logger)
	if err != nil {
		return err
	}
	con := newConsole(cfg.LogFormat, stderr)
	if _, err := a.bootstrapKeys(ctx, con); err != nil {
		a.shutdown(ctx)
		return fmt.Errorf("API keys: %w", err)
	}
	if err := a.start(ctx); err != nil {
		a.shutdown(ctx)
		return err
	}
	con.say("listening on "+a.URL()+"\n", "listening on "+a.URL(), "url", a.URL())
	logger.Info("herm serving", "url", a.URL(), "data_dir", cfg.DataDir, "default_model", a.deps.Rules().DefaultModel, "version", version)
	if ready != nil {
		ready(a)
	}
	select {
	case <-ctx.Done():
	case <-a.runner.Evicted():
		logger.Error("another process registered with this node's id; stopping", "node_id", cfg.NodeID)
		return errors.Join(fmt.Errorf("another process registered as node %q (give each server its own HERM_NODE_ID)", cfg.NodeID), a.shutdown(ctx))
	}
	logger.Info("shutting down")
	return a.shutdown(ctx)
}

// migrate applies the database migrations and exits; with --from, it
// copies a SQLite database into PostgreSQL (migrateFrom).
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	from, args, err := fromFlag(args)
	if err != nil {
		return err
	}
	cfg, err := loadConfig("migrate", args, getenv)
	if err != nil {
		return withFromUsage(err)
	}
	if from != "" {
		return migrateFrom(ctx, cfg, from, getenv, stdout)
	}
	release, err := openDataDir(cfg)
	if err != nil {
		return err
	}
	defer release()
	st, err := openDatabase(ctx, cfg, slog.New(slog.DiscardHandler), false)
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := st.version(ctx)
	if err != nil {
		return err
	}
	where := strings.TrimPrefix(cfg.DatabaseURL, "sqlite://")
	if cfg.isPostgres() {
		where = "PostgreSQL" // the URL may hold a password
	}
	fmt.Fprintf(stdout, "database %s is at schema version %d\n", where, v)
	return nil
}
