package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hermhq/herm/internal/httpapi"
	"github.com/hermhq/herm/internal/llm"
)

// config is every server setting: defaults, then the config file, then the
// environment, then flags.
type config struct {
	Addr         string `yaml:"addr"`
	DataDir      string `yaml:"data_dir"`
	DatabaseURL  string `yaml:"database_url"`
	Sandbox      string `yaml:"sandbox"`
	DefaultModel string `yaml:"default_model"`
	// MemoryModel is the model the memory observer asks after each run
	// ("": each deployment's own).
	MemoryModel string `yaml:"memory_model"`
	// MemoryObserver turns the memory observer off for the whole server
	// (nil: on; deployments turn it off with features.memory).
	MemoryObserver *bool `yaml:"memory_observer"`
	// Dreaming turns dreaming off for the whole server (nil: on;
	// deployments turn it on with features.dreaming). DreamAfter is how
	// long a deployment must be idle before it dreams, DreamEvery the least
	// time between two of its dreams.
	Dreaming   *bool         `yaml:"dreaming"`
	DreamAfter time.Duration `yaml:"dream_after"`
	DreamEvery time.Duration `yaml:"dream_every"`
	LogFormat  string        `yaml:"log_format"`
	LogLevel   string        `yaml:"log_level"`
	PublicURL  string        `yaml:"public_url"`
	// CORSOrigins are the browser origins allowed to call the API.
	CORSOrigins    []string      `yaml:"cors_origins"`
	EventRetention time.Duration `yaml:"event_retention"`
	// AutomationPoll is how often the scheduler looks for due automations.
	AutomationPoll time.Duration `yaml:"automation_poll"`
	// WebhookRetries are the waits before each retry of a webhook delivery.
	WebhookRetries  []time.Duration `yaml:"webhook_retry_delays"`
	RateLimit       float64         `yaml:"rate_limit"`
	RateBurst       int             `yaml:"rate_burst"`
	MaxBodyBytes    int64           `yaml:"max_body_bytes"`
	MaxSteps        int             `yaml:"max_steps"`
	MetricsPublic   *bool           `yaml:"metrics_public"`
	AllowPrivateNet bool            `yaml:"allow_private_networks"`
	HostAddresses   []string        `yaml:"host_addresses"`
	Providers       []provider      `yaml:"providers"`
	// Prices add to or override the default model prices (USD per million
	// tokens), by model name or prefix.
	Prices map[string]llm.Price `yaml:"prices"`
	// ContextWindows add to or override models' context sizes (tokens);
	// CompactAt is the share of the window past which context is compacted.
	ContextWindows map[string]int `yaml:"context_windows"`
	CompactAt      float64        `yaml:"compact_at"`
	// SteeringTimeout is how long a steering request waits for a human.
	SteeringTimeout time.Duration `yaml:"steering_timeout"`
	// SandboxIdle stops a local sandbox with no command for this long.
	SandboxIdle time.Duration `yaml:"sandbox_idle_timeout"`
	// SandboxRootFS is a root file system directory for local sandboxes
	// ("" = the host's /usr, read-only).
	SandboxRootFS string `yaml:"sandbox_rootfs"`
	// PreviewLimit is the most bytes of a tool result the model sees.
	PreviewLimit int `yaml:"tool_preview_limit"`
	// Docker enables the docker sandbox driver (and gvisor, with a runsc
	// runtime registered in the engine).
	DockerImage   string `yaml:"docker_image"`
	DockerHost    string `yaml:"docker_host"`
	DockerHostUsr bool   `yaml:"docker_host_usr"`
	GVisorRuntime string `yaml:"gvisor_runtime"`
	// SnapshotRetention is how long workspace snapshots are kept.
	SnapshotRetention time.Duration `yaml:"snapshot_retention"`
	// NodeID names this server among the nodes of a cluster (stable
	// across restarts: a node that restarts lets go of its own leases);
	// default the host name.
	NodeID string `yaml:"node_id"`
	// NodeLease is how long a node's deployments and runs stay its own
	// without a heartbeat: a dead node's work resumes elsewhere after it.
	NodeLease time.Duration `yaml:"node_lease"`
	// MaxFileBytes limits one file written through the files API.
	MaxFileBytes int64 `yaml:"max_file_bytes"`
	// Web search backends: web_search exists when one is configured.
	// The API keys come from the environment, or name a vault secret
	// (sec_…; the only form the config file takes).
	SearXNGURL string `yaml:"searxng_url"`
	BraveURL   string `yaml:"brave_url"`
	BraveKey   string `yaml:"brave_api_key"`
	TavilyURL  string `yaml:"tavily_url"`
	TavilyKey  string `yaml:"tavily_api_key"`
	// WebSearch orders the backends (default: searxng, brave, tavily,
	// those configured); WebSearchTimeout bounds each one's search.
	WebSearch        []string      `yaml:"web_search"`
	WebSearchTimeout time.Duration `yaml:"web_search_timeout"`

	// HTTP bounds how long a client may hold the server up (not settings;
	// tests shorten them).
	HTTP httpTimeouts `yaml:"-"`

	// From the environment only (secrets do not belong in files or flags).
	APIKey        string `yaml:"-"`
	AnthropicKey  string `yaml:"-"`
	AnthropicURL  string `yaml:"-"`
	OpenAIKey     string `yaml:"-"`
	OpenAIURL     string `yaml:"-"`
	OpenRouterKey string `yaml:"-"`
	DemoWordDelay time.Duration
	configFile    string
}

// httpTimeouts bound the time a client may take: to send its request's
// headers, between two reads of its body, for one write of a response, and
// idle between requests on a keep-alive connection.
type httpTimeouts struct {
	ReadHeader, Body, Write, Idle time.Duration
}

// provider is an extra OpenAI-compatible provider from the config file.
type provider struct {
	Name         string   `yaml:"name"`
	BaseURL      string   `yaml:"base_url"`
	APIKeyEnv    string   `yaml:"api_key_env"`
	DefaultModel string   `yaml:"default_model"`
	Models       []string `yaml:"models"`
	Vision       bool     `yaml:"vision"`
}

func defaultConfig() config {
	return config{
		Addr:              "127.0.0.1:8640",
		DataDir:           "./herm-data",
		EventRetention:    30 * 24 * time.Hour,
		RateLimit:         50,
		MaxBodyBytes:      1 << 20,
		MaxSteps:          100,
		SandboxIdle:       10 * time.Minute,
		PreviewLimit:      16 << 10,
		MaxFileBytes:      50 << 20,
		SnapshotRetention: 30 * 24 * time.Hour,
		SteeringTimeout:   24 * time.Hour,
		DreamAfter:        time.Hour,
		DreamEvery:        24 * time.Hour,
		NodeLease:         30 * time.Second,
		// A body may be slow (50 MiB on a slow link) but must keep coming.
		HTTP: httpTimeouts{ReadHeader: 10 * time.Second, Body: 30 * time.Second, Write: time.Minute, Idle: 2 * time.Minute},
	}
}

// loadConfig reads settings for serve (and quickstart's embedded server).
func loadConfig(name string, args []string, getenv func(string) string) (*config, error) {
	c := defaultConfig()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	// Each command takes the flags it uses: migrate only those saying
	// where the database is.
	serving := name != "migrate"
	str := func(flagName, usage string, server bool) *string {
		if server && !serving {
			return new(string)
		}
		return fs.String(flagName, "", usage)
	}
	addr := str("addr", "listen address (HERM_ADDR; default 127.0.0.1:8640; :0 picks a free port)", true)
	dataDir := str("data-dir", "data directory (HERM_DATA_DIR; default ./herm-data)", false)
	dbURL := str("database-url", "sqlite://path, or postgres://... for a cluster (HERM_DATABASE_URL; default sqlite://<data-dir>/herm.db)", false)
	sandbox := str("sandbox", "default sandbox driver: local, process (unisolated, for development) or none (HERM_SANDBOX; default local where it works, else none)", true)
	model := str("default-model", "model for deployments that name none (HERM_DEFAULT_MODEL)", true)
	memoryModel := str("memory-model", "model of the memory observer, which reads each run and keeps memories (HERM_MEMORY_MODEL; default the deployment's)", true)
	logFormat := str("log-format", "text or json (HERM_LOG_FORMAT; default text on a terminal, json otherwise)", true)
	logLevel := str("log-level", "debug, info, warn or error (HERM_LOG_LEVEL; default info)", true)
	publicURL := str("public-url", "base URL clients use, for links (HERM_PUBLIC_URL)", true)
	corsOrigins := str("cors-origins", "comma-separated browser origins allowed to call the API, such as https://app.example.com (HERM_CORS_ORIGINS; default none)", true)
	cfgFile := str("config", "YAML config file (HERM_CONFIG)", false)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, usageError(name, fs)
		}
		return nil, fmt.Errorf("%v\n%s", err, usageText(name, fs))
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q\n%s", fs.Arg(0), usageText(name, fs))
	}
	c.configFile = first(*cfgFile, getenv("HERM_CONFIG"))
	if c.configFile != "" {
		b, err := os.ReadFile(c.configFile)
		if err != nil {
			return nil, fmt.Errorf("read config file: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && err.Error() != "EOF" {
			return nil, fmt.Errorf("config file %s: %w", c.configFile, err)
		}
	}
	// Keys do not belong in files: the file may only name vault secrets.
	for _, k := range []struct{ key, env, val string }{{"brave_api_key", "HERM_BRAVE_API_KEY", c.BraveKey}, {"tavily_api_key", "HERM_TAVILY_API_KEY", c.TavilyKey}} {
		if k.val != "" && !reSecretID.MatchString(k.val) {
			return nil, fmt.Errorf("config file: %s must be the ID of a vault secret holding the key (sec_…); put the key itself in %s", k.key, k.env)
		}
	}
	set := func(dst *string, flagVal, env string) {
		if v := first(flagVal, getenv(env)); v != "" {
			*dst = v
		}
	}
	set(&c.Addr, *addr, "HERM_ADDR")
	set(&c.DataDir, *dataDir, "HERM_DATA_DIR")
	set(&c.DatabaseURL, *dbURL, "HERM_DATABASE_URL")
	set(&c.Sandbox, *sandbox, "HERM_SANDBOX")
	set(&c.DefaultModel, *model, "HERM_DEFAULT_MODEL")
	set(&c.MemoryModel, *memoryModel, "HERM_MEMORY_MODEL")
	set(&c.LogFormat, *logFormat, "HERM_LOG_FORMAT")
	set(&c.LogLevel, *logLevel, "HERM_LOG_LEVEL")
	set(&c.PublicURL, *publicURL, "HERM_PUBLIC_URL")
	if v := first(*corsOrigins, getenv("HERM_CORS_ORIGINS")); v != "" {
		c.CORSOrigins = strings.Split(v, ",")
	}
	for i, o := range c.CORSOrigins {
		norm, err := httpapi.CheckOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("HERM_CORS_ORIGINS (cors_origins): %w", err)
		}
		c.CORSOrigins[i] = norm
	}
	if v := getenv("HERM_EVENT_RETENTION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("HERM_EVENT_RETENTION must be a positive duration such as 720h")
		}
		c.EventRetention = d
	}
	if v := getenv("HERM_AUTOMATION_POLL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("HERM_AUTOMATION_POLL must be a positive duration such as 5s")
		}
		c.AutomationPoll = d
	}
	if v := getenv("HERM_WEBHOOK_RETRY_DELAYS"); v != "" {
		c.WebhookRetries = nil
		for _, part := range strings.Split(v, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(part))
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("HERM_WEBHOOK_RETRY_DELAYS must be positive durations separated by commas, such as 5s,5m,30m")
			}
			c.WebhookRetries = append(c.WebhookRetries, d)
		}
	}
	if v := getenv("HERM_RATE_LIMIT"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("HERM_RATE_LIMIT must be a number (requests per second per key; negative disables)")
		}
		c.RateLimit = f
	}
	if v := getenv("HERM_DEMO_WORD_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("HERM_DEMO_WORD_DELAY must be a duration such as 40ms")
		}
		c.DemoWordDelay = d
	}
	if v := getenv("HERM_MEMORY_OBSERVER"); v != "" {
		b := v == "1" || v == "true"
		c.MemoryObserver = &b
	}
	if v := getenv("HERM_DREAMING"); v != "" {
		b := v == "1" || v == "true"
		c.Dreaming = &b
	}
	for _, e := range []struct {
		env string
		dst *time.Duration
	}{{"HERM_DREAM_AFTER", &c.DreamAfter}, {"HERM_DREAM_EVERY", &c.DreamEvery}} {
		if v := getenv(e.env); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("%s must be a positive duration such as 1h", e.env)
			}
			*e.dst = d
		}
	}
	if v := getenv("HERM_METRICS_PUBLIC"); v != "" {
		b := v == "1" || v == "true"
		c.MetricsPublic = &b
	}
	if getenv("HERM_ALLOW_PRIVATE_NETWORKS") == "1" {
		c.AllowPrivateNet = true
	}
	if v := getenv("HERM_HOST_ADDRESSES"); v != "" {
		c.HostAddresses = strings.Split(v, ",")
	}
	c.APIKey = getenv("HERM_API_KEY")
	c.AnthropicKey, c.AnthropicURL = getenv("ANTHROPIC_API_KEY"), getenv("ANTHROPIC_BASE_URL")
	c.OpenAIKey, c.OpenAIURL = getenv("OPENAI_API_KEY"), getenv("OPENAI_BASE_URL")
	c.OpenRouterKey = getenv("OPENROUTER_API_KEY")

	if c.DatabaseURL == "" {
		c.DatabaseURL = "sqlite://" + filepath.Join(c.DataDir, "herm.db")
	}
	set(&c.SandboxRootFS, "", "HERM_SANDBOX_ROOTFS")
	set(&c.DockerImage, "", "HERM_DOCKER_IMAGE")
	set(&c.DockerHost, "", "HERM_DOCKER_HOST")
	set(&c.GVisorRuntime, "", "HERM_GVISOR_RUNTIME")
	if getenv("HERM_DOCKER_HOST_USR") == "1" {
		c.DockerHostUsr = true
	}
	if v := getenv("HERM_STEERING_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("HERM_STEERING_TIMEOUT must be a positive duration such as 24h")
		}
		c.SteeringTimeout = d
	}
	set(&c.NodeID, "", "HERM_NODE_ID")
	if c.NodeID == "" {
		c.NodeID, _ = os.Hostname()
	}
	if c.NodeID == "" || len(c.NodeID) > 128 || strings.ContainsFunc(c.NodeID, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, fmt.Errorf("HERM_NODE_ID (node_id) must be 1 to 128 printable characters without spaces (got %q)", c.NodeID)
	}
	if v := getenv("HERM_NODE_LEASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			return nil, fmt.Errorf("HERM_NODE_LEASE must be a duration of at least 1s, such as 30s")
		}
		c.NodeLease = d
	}
	if c.NodeLease < time.Second {
		return nil, fmt.Errorf("node_lease must be at least 1s")
	}
	if c.CompactAt < 0 || c.CompactAt > 1 {
		return nil, fmt.Errorf("compact_at must be between 0 and 1")
	}
	if v := getenv("HERM_SNAPSHOT_RETENTION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("HERM_SNAPSHOT_RETENTION must be a positive duration such as 720h")
		}
		c.SnapshotRetention = d
	}
	if v := getenv("HERM_MAX_FILE_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("HERM_MAX_FILE_BYTES must be a positive number of bytes")
		}
		c.MaxFileBytes = n
	}
	if v := getenv("HERM_SANDBOX_IDLE_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d == 0 {
			return nil, fmt.Errorf("HERM_SANDBOX_IDLE_TIMEOUT must be a duration such as 10m (negative: never stop)")
		}
		c.SandboxIdle = d
	}
	if err := c.loadWebSearch(getenv); err != nil {
		return nil, err
	}
	switch c.Sandbox {
	case "", "local", "process", "none":
	case "docker", "gvisor":
		if c.DockerImage == "" {
			return nil, fmt.Errorf("--sandbox %s needs an image: set HERM_DOCKER_IMAGE (docker_image)", c.Sandbox)
		}
		if c.Sandbox == "gvisor" && c.GVisorRuntime == "" {
			return nil, fmt.Errorf("--sandbox gvisor needs the engine's runsc runtime: set HERM_GVISOR_RUNTIME (gvisor_runtime), e.g. runsc")
		}
	default:
		return nil, fmt.Errorf("sandbox driver %q is not available (available: local, docker, gvisor, process, none)", c.Sandbox)
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		return nil, fmt.Errorf("--log-format must be text or json")
	}
	if c.EventRetention <= 0 {
		return nil, fmt.Errorf("event_retention must be positive")
	}
	return &c, nil
}

// llmConfig turns the settings into the provider registry's config.
func (c *config) llmConfig(getenv func(string) string) (llm.Config, error) {
	lc := llm.Config{
		AnthropicAPIKey: c.AnthropicKey, AnthropicBaseURL: c.AnthropicURL,
		OpenAIAPIKey: c.OpenAIKey, OpenAIBaseURL: c.OpenAIURL,
		OpenRouterAPIKey: c.OpenRouterKey, DemoWordDelay: c.DemoWordDelay,
	}
	for i, p := range c.Providers {
		if p.Name == "" || p.BaseURL == "" {
			return lc, fmt.Errorf("config file: providers[%d] needs name and base_url", i)
		}
		cp := llm.CompatProvider{Name: p.Name, BaseURL: p.BaseURL, DefaultModel: p.DefaultModel, Models: p.Models, Vision: p.Vision}
		if p.APIKeyEnv != "" {
			cp.APIKey = getenv(p.APIKeyEnv)
		}
		lc.Compat = append(lc.Compat, cp)
	}
	return lc, nil
}

// isPostgres reports a postgres:// (or postgresql://) database URL.
func (c *config) isPostgres() bool {
	return strings.HasPrefix(c.DatabaseURL, "postgres://") || strings.HasPrefix(c.DatabaseURL, "postgresql://")
}

// sqlitePath returns the file of a sqlite:// database URL.
func (c *config) sqlitePath() (string, error) {
	p, ok := strings.CutPrefix(c.DatabaseURL, "sqlite://")
	if !ok {
		return "", fmt.Errorf("database URL must be sqlite://path or postgres://... (got %q)", c.DatabaseURL)
	}
	if p == "" {
		return "", fmt.Errorf("database URL sqlite:// needs a path")
	}
	return p, nil
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func usageText(name string, fs *flag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: herm %s [flags]\n", name)
	fs.SetOutput(&b)
	fs.PrintDefaults()
	return b.String()
}

func usageError(name string, fs *flag.FlagSet) error {
	return errHelp{usageText(name, fs)}
}

// errHelp carries usage text that run prints to stdout with success.
type errHelp struct{ text string }

func (e errHelp) Error() string { return e.text }
