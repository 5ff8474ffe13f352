package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveOnce runs herm serve through run on a fresh data dir with env, makes
// one request and stops; it returns what the server wrote on stderr.
func serveOnce(t *testing.T, env map[string]string) (stderr string, dir string) {
	t.Helper()
	dir = t.TempDir()
	vars := map[string]string{"HERM_ADDR": "127.0.0.1:0", "HERM_DATA_DIR": dir}
	for k, v := range env {
		vars[k] = v
	}
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, func(k string) string { return vars[k] }, &out, &out) }()
	url := ""
	for deadline := time.Now().Add(20 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, line := range strings.Split(out.String(), "\n") {
			if u, ok := listeningURL(line); ok {
				url = u
			}
		}
	}
	if url == "" {
		cancel()
		t.Fatalf("no listening line:\n%s", out.String())
	}
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return out.String(), dir
}

// In JSON log mode the server writes only JSON lines, whatever the level:
// the listening address, the generated admin key, the access log (with
// durations in milliseconds, as numbers).
func TestJSONLogsOnly(t *testing.T) {
	t.Parallel()
	out, dir := serveOnce(t, map[string]string{"HERM_LOG_FORMAT": "json", "HERM_LOG_LEVEL": "info"})
	key, err := os.ReadFile(filepath.Join(dir, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	var listening, banner, request bool
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("not a JSON line: %q", line)
			continue
		}
		msg, _ := rec["msg"].(string)
		switch {
		case strings.HasPrefix(msg, "listening on http://"):
			listening = rec["url"] == strings.TrimPrefix(msg, "listening on ")
		case rec["api_key"] != nil:
			banner = rec["api_key"] == strings.TrimSpace(string(key)) && strings.Contains(msg, "only this once")
		case msg == "request":
			_, isNumber := rec["duration_ms"].(float64)
			request = isNumber && rec["duration"] == nil
			if !request {
				t.Errorf("access log line: %s", line)
			}
		}
	}
	if !listening || !banner || !request {
		t.Fatalf("listening %v, admin key %v, request %v in:\n%s", listening, banner, request, out)
	}

	// At level warn the announcements are still there.
	out, _ = serveOnce(t, map[string]string{"HERM_LOG_FORMAT": "json", "HERM_LOG_LEVEL": "warn", "HERM_API_KEY": testKey})
	if !strings.Contains(out, `"msg":"listening on http://`) {
		t.Fatalf("no listening record at level warn:\n%s", out)
	}

	// A failure to start is a JSON record too, and main prints nothing more.
	var errOut syncBuffer
	env := map[string]string{"HERM_DATA_DIR": filepath.Join(t.TempDir(), "x"), "HERM_DATABASE_URL": "mysql://db", "HERM_LOG_FORMAT": "json"}
	err = run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, &errOut, &errOut)
	var rep reportedError
	if err == nil || !errors.As(err, &rep) {
		t.Fatalf("failed start: %v", err)
	}
	var rec map[string]any
	if json.Unmarshal([]byte(strings.TrimSpace(errOut.String())), &rec) != nil || rec["level"] != "ERROR" || !strings.Contains(rec["msg"].(string), "postgres") {
		t.Fatalf("failed start logged as %q", errOut.String())
	}
	// So are wrong settings.
	errOut = syncBuffer{}
	err = run(context.Background(), []string{"serve", "--sandbox", "vm"}, func(k string) string { return env[k] }, &errOut, &errOut)
	if err == nil || !errors.As(err, &rep) || !strings.Contains(errOut.String(), `"level":"ERROR"`) || strings.Count(strings.TrimSpace(errOut.String()), "\n") != 0 {
		t.Fatalf("bad settings: %v logged as %q", err, errOut.String())
	}
}

// In text mode the listening line is plain, for people and the tools that
// read it.
func TestTextLogs(t *testing.T) {
	t.Parallel()
	out, _ := serveOnce(t, map[string]string{"HERM_LOG_FORMAT": "text", "HERM_LOG_LEVEL": "info", "HERM_API_KEY": testKey})
	found := false
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "listening on http://127.0.0.1:") {
			found = true
		}
		if strings.Contains(line, "msg=request") && !strings.Contains(line, "duration_ms=") {
			t.Errorf("access log line: %s", line)
		}
	}
	if !found {
		t.Fatalf("no listening line:\n%s", out)
	}
}

// Each command's -h lists the flags it takes, and only those.
func TestCommandFlags(t *testing.T) {
	t.Parallel()
	help := func(cmd string) string {
		var out, errb strings.Builder
		if err := run(context.Background(), []string{cmd, "-h"}, func(string) string { return "" }, &out, &errb); err != nil {
			t.Fatalf("%s -h: %v", cmd, err)
		}
		return out.String()
	}
	cases := map[string]struct{ has, lacks []string }{
		"serve":      {has: []string{"-addr", "-data-dir", "-database-url", "-sandbox", "-default-model", "-log-format", "-log-level", "-public-url", "-config"}},
		"migrate":    {has: []string{"-data-dir", "-database-url", "-config"}, lacks: []string{"-addr", "-sandbox", "-default-model", "-log-format", "-log-level", "-public-url"}},
		"quickstart": {has: []string{"-message", "-model", "-data-dir"}, lacks: []string{"-addr", "-sandbox", "-database-url", "-public-url"}},
	}
	for cmd, c := range cases {
		h := help(cmd)
		for _, f := range c.has {
			if !strings.Contains(h, "  "+f+" ") {
				t.Errorf("herm %s -h lacks %s:\n%s", cmd, f, h)
			}
		}
		for _, f := range c.lacks {
			if strings.Contains(h, "  "+f+" ") {
				t.Errorf("herm %s -h lists %s:\n%s", cmd, f, h)
			}
		}
	}
	// A flag of another command is refused.
	var out, errb strings.Builder
	if err := run(context.Background(), []string{"migrate", "--addr", ":1"}, func(string) string { return "" }, &out, &errb); err == nil || !strings.Contains(err.Error(), "-addr") {
		t.Fatalf("migrate --addr: %v", err)
	}
}

// listeningURL finds the server's address in a line of its stderr: the
// text line "listening on URL", or the JSON record saying so.
func listeningURL(line string) (string, bool) {
	if u, ok := strings.CutPrefix(line, "listening on "); ok {
		return u, true
	}
	var rec struct {
		Msg string `json:"msg"`
		URL string `json:"url"`
	}
	if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec.Msg, "listening on ") && rec.URL != "" {
		return rec.URL, true
	}
	return "", false
}
