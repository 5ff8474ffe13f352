package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "herm.yaml")
	err := os.WriteFile(file, []byte(`
addr: 127.0.0.1:9000
data_dir: /from/file
default_model: ollama/llama3.1
event_retention: 48h
rate_limit: 7
providers:
  - name: ollama
    base_url: http://127.0.0.1:11434/v1
    api_key_env: OLLAMA_KEY
    default_model: llama3.1
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HERM_CONFIG": file, "HERM_DATA_DIR": "/from/env", "OLLAMA_KEY": "secret", "HERM_EVENT_RETENTION": "24h"}
	c, err := loadConfig("serve", []string{"--data-dir", "/from/flag"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9000" || c.DataDir != "/from/flag" || c.DatabaseURL != "sqlite:///from/flag/herm.db" ||
		c.DefaultModel != "ollama/llama3.1" || c.EventRetention != 24*time.Hour || c.RateLimit != 7 || c.Sandbox != "" {
		t.Fatalf("config %+v", c)
	}
	lc, err := c.llmConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(lc.Compat) != 1 || lc.Compat[0].APIKey != "secret" || lc.Compat[0].BaseURL != "http://127.0.0.1:11434/v1" {
		t.Fatalf("providers %+v", lc.Compat)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("adress: x\n"), 0o600)
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--nope"}, nil, "flag provided but not defined"},
		{[]string{"extra"}, nil, "unexpected argument"},
		{nil, map[string]string{"HERM_CONFIG": bad}, "adress"},
		{nil, map[string]string{"HERM_CONFIG": filepath.Join(dir, "missing.yaml")}, "config file"},
		{nil, map[string]string{"HERM_EVENT_RETENTION": "soon"}, "HERM_EVENT_RETENTION"},
		{nil, map[string]string{"HERM_RATE_LIMIT": "fast"}, "HERM_RATE_LIMIT"},
		{[]string{"--log-format", "xml"}, nil, "log-format"},
		{[]string{"--sandbox", "kubernetes"}, nil, "available: local"},
		{[]string{"--sandbox", "docker"}, nil, "needs an image: set HERM_DOCKER_IMAGE"},
	}
	for _, c := range cases {
		_, err := loadConfig("serve", c.args, func(k string) string { return c.env[k] })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: error %v, want it to mention %q", c.args, c.env, err, c.want)
		}
	}
	c, _ := loadConfig("serve", nil, func(k string) string {
		if k == "HERM_DATABASE_URL" {
			return "postgres://x"
		}
		return ""
	})
	if _, err := c.sqlitePath(); err == nil || !strings.Contains(err.Error(), "postgres") {
		t.Errorf("postgres URL: %v", err)
	}
}

// The host's addresses that are on no interface, from the file or the
// environment, reach the network guard.
func TestHostAddressesSetting(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "herm.yaml")
	if err := os.WriteFile(file, []byte("host_addresses: [52.1.2.3, herm.example.com]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig("serve", nil, func(k string) string { return map[string]string{"HERM_CONFIG": file}[k] })
	if err != nil || strings.Join(c.HostAddresses, ",") != "52.1.2.3,herm.example.com" {
		t.Fatalf("from the file: %v %v", c.HostAddresses, err)
	}
	c, err = loadConfig("serve", nil, func(k string) string {
		return map[string]string{"HERM_CONFIG": file, "HERM_HOST_ADDRESSES": "52.9.9.9"}[k]
	})
	if err != nil || strings.Join(c.HostAddresses, ",") != "52.9.9.9" {
		t.Fatalf("from the environment: %v %v", c.HostAddresses, err)
	}
}

// HERM_CORS_ORIGINS: flag over environment over file, each a list of
// origins normalised as browsers send them; "*" and anything that is not
// an origin are refused.
func TestCORSOriginsSetting(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "herm.yaml")
	if err := os.WriteFile(file, []byte("cors_origins: [\"https://From.File.example\", \"http://localhost:5173/\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(args []string, env map[string]string) ([]string, error) {
		c, err := loadConfig("serve", args, func(k string) string { return env[k] })
		if err != nil {
			return nil, err
		}
		return c.CORSOrigins, nil
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"none", nil, nil, ""},
		{"file", nil, map[string]string{"HERM_CONFIG": file}, "https://from.file.example,http://localhost:5173"},
		{"env over file", nil, map[string]string{"HERM_CONFIG": file, "HERM_CORS_ORIGINS": "https://a.example, https://b.example:8443"}, "https://a.example,https://b.example:8443"},
		{"flag over env", []string{"--cors-origins", "https://c.example"}, map[string]string{"HERM_CORS_ORIGINS": "https://a.example"}, "https://c.example"},
	} {
		got, err := load(tc.args, tc.env)
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	for _, bad := range []string{"*", "https://a.example,*", "app.example.com", "https://a.example/path", "null"} {
		if _, err := load(nil, map[string]string{"HERM_CORS_ORIGINS": bad}); err == nil || !strings.Contains(err.Error(), "HERM_CORS_ORIGINS") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
