package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	sdk "github.com/hermhq/herm/sdk/go"
)

// quickstart shows a newcomer the whole path: a server (embedded, or the
// one at HERM_URL), a deployment, its event stream, a first message and the
// run as it happens.
func quickstart(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	message := fs.String("message", "", "the first message to send (default: a greeting; with the demo model also a shell command, to show the sandbox)")
	model := fs.String("model", "", "model for the deployment (default: the server's default; the offline demo model when no provider key is set)")
	dataDir := fs.String("data-dir", "", "data directory of the embedded server (default: a temporary directory, removed afterwards)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return usageError("quickstart", fs)
		}
		return fmt.Errorf("%v\n%s", err, usageText("quickstart", fs))
	}

	base, key := strings.TrimRight(getenv("HERM_URL"), "/"), getenv("HERM_API_KEY")
	if base != "" {
		if key == "" {
			return errors.New("HERM_URL is set but HERM_API_KEY is not: the quickstart needs a key with deployments:write")
		}
		fmt.Fprintf(stdout, "Using the Herm server at %s\n", base)
		return quickstartAgainst(ctx, base, key, *message, *model, false, stdout)
	}

	// Embedded server on a free loopback port.
	dir := *dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "herm-quickstart-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	key = "herm_sk_quickstart_" + base64.RawURLEncoding.EncodeToString(b[:])
	env := func(k string) string {
		switch k {
		case "HERM_ADDR":
			return "127.0.0.1:0"
		case "HERM_DATA_DIR":
			return dir
		case "HERM_API_KEY":
			return key
		case "HERM_DATABASE_URL", "HERM_URL":
			return ""
		}
		return getenv(k)
	}
	cfg, err := loadConfig("quickstart", nil, env)
	if err != nil {
		return err
	}
	cfg.DemoWordDelay = 40 * time.Millisecond // so that streaming is visible
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	sctx, stop := context.WithCancel(ctx)
	defer stop()
	ready := make(chan *app, 1)
	served := make(chan error, 1)
	go func() { served <- serveWith(sctx, cfg, env, logger, io.Discard, func(a *app) { ready <- a }) }()
	select {
	case a := <-ready:
		base = a.URL()
	case err := <-served:
		return fmt.Errorf("start the embedded server: %w", err)
	}
	fmt.Fprintf(stdout, "Started an embedded Herm server at %s (data in %s)\n", base, dir)
	err = quickstartAgainst(ctx, base, key, *message, *model, os.Geteuid() != 0, stdout)
	stop()
	if serr := <-served; err == nil {
		err = serr
	}
	if err == nil {
		fmt.Fprintf(stdout, "\nTo keep a server running, start one with:\n\n    go run ./cmd/herm serve\n\n"+
			"It prints an admin API key at first start (also saved to ./herm-data/admin.key). Then:\n\n"+
			"    export HERM_URL=http://127.0.0.1:8640 HERM_API_KEY=<that key>\n"+
			"    curl -s -H \"Authorization: Bearer $HERM_API_KEY\" -H 'Content-Type: application/json' \\\n"+
			"      -d '{\"customer_id\":\"cus_1\",\"name\":\"My agent\",\"system_prompt\":\"You are helpful.\"}' $HERM_URL/v1/deployments\n"+
			"    curl -N -H \"Authorization: Bearer $HERM_API_KEY\" $HERM_URL/v1/deployments/<deployment_id>/events\n"+
			"    curl -s -H \"Authorization: Bearer $HERM_API_KEY\" -H 'Content-Type: application/json' \\\n"+
			"      -d '{\"content\":\"Hello\"}' $HERM_URL/v1/deployments/<deployment_id>/messages\n\n"+
			"Or with the CLI (go run ./cmd/herm help lists every command):\n\n"+
			"    go run ./cmd/herm deployments create --customer cus_1 --name \"My agent\" --system-prompt \"You are helpful.\"\n"+
			"    go run ./cmd/herm send <deployment_id> \"Hello\"\n\n"+
			"or in a browser at $HERM_URL/console/ (sign in with the key).\n\n"+
			"Set ANTHROPIC_API_KEY or OPENAI_API_KEY before starting the server to use a real model.\n")
	}
	return err
}

// quickstartAgainst runs the quickstart against the server at base;
// notRoot says that it is the embedded server and it does not run as root.
func quickstartAgainst(ctx context.Context, base, key, message, model string, notRoot bool, out io.Writer) error {
	c := sdk.NewClient(base, key)
	models, err := c.Models.List(ctx)
	if err != nil {
		return err
	}
	demo := false
	for _, m := range models {
		if (model == "" && m.Default) || m.ID == model {
			note := ""
			demo = m.Demo
			if m.Demo {
				note = " — the offline demo model; set ANTHROPIC_API_KEY or OPENAI_API_KEY for a real one"
			}
			fmt.Fprintf(out, "Model: %s%s\n", m.ID, note)
		}
	}

	sandboxStep := message == "" && demo
	if message == "" {
		message = "Hello! What can you do?"
	}
	start := time.Now()
	fmt.Fprintf(out, "\n$ POST /v1/deployments\n")
	dep, err := c.Deployments.Create(ctx, sdk.DeploymentCreateParams{
		CustomerID:   "cus_quickstart",
		Name:         "Quickstart agent",
		SystemPrompt: "You are a friendly, concise assistant.",
		Model:        model,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  deployment %s is %s\n", dep.DeploymentID, dep.Status)
	for dep.Status == "provisioning" {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if dep, err = c.Deployments.Get(ctx, dep.DeploymentID); err != nil {
			return err
		}
	}
	if dep.Status != "ready" {
		msg := ""
		if dep.Error != nil {
			msg = ": " + dep.Error.Message
		}
		return fmt.Errorf("deployment ended %s%s", dep.Status, msg)
	}
	fmt.Fprintf(out, "  ready in %d ms (default thread %s)\n", time.Since(start).Milliseconds(), dep.ThreadID)
	if sandboxStep {
		// The demo model runs a "run:" line with the shell tool, which the
		// deployment has only where the server runs code.
		why, err := noCodeExecution(ctx, c, dep.DeploymentID, notRoot)
		if err != nil {
			return err
		}
		if why == "" {
			message += "\nrun: echo \"hello from $(hostname)\" > hello.txt && cat hello.txt && id"
		} else {
			fmt.Fprintf(out, "\nSandbox step skipped: %s\n", why)
		}
	}

	// Open the stream before sending, so that nothing is missed.
	stream, err := c.Events.Stream(ctx, dep.DeploymentID, sdk.EventStreamParams{})
	if err != nil {
		return fmt.Errorf("open the event stream: %w", err)
	}
	defer stream.Close()
	fmt.Fprintf(out, "\n$ GET /v1/deployments/%s/events   (stream open)\n", dep.DeploymentID)

	fmt.Fprintf(out, "$ POST /v1/deployments/%s/messages  {\"content\": %q}\n", dep.DeploymentID, message)
	sent, err := c.Messages.Send(ctx, dep.DeploymentID, sdk.MessageSendParams{Content: message})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  run %s started\n\n", sent.RunID)
	return printRun(stream, sent.RunID, out)
}

// noCodeExecution says why a deployment cannot run commands ("" when it
// can): its tools lack the shell.
func noCodeExecution(ctx context.Context, c *sdk.Client, depID string, notRoot bool) (string, error) {
	tools, err := c.Tools.List(ctx, depID)
	if err != nil {
		return "", err
	}
	for _, t := range tools.Data {
		if t.Name == "shell" && t.Enabled {
			return "", nil
		}
	}
	if notRoot {
		return "the server is not running as root, which the local sandbox needs, so the agent cannot run commands. " +
			"Run the quickstart as root (sudo) to see it run one in a sandbox, or with HERM_SANDBOX=process to run commands unisolated (development only).", nil
	}
	why := "this server gives its deployments no code execution, so the agent cannot run commands"
	if ready, err := c.Ready(ctx); err == nil {
		if reason, ok := strings.CutPrefix(ready.Checks["sandbox"], "degraded: "); ok {
			why += " (" + reason + ")"
		}
	}
	return why + ".", nil
}

// printRun prints the run's events from an event stream until it ends.
func printRun(events *sdk.Stream[sdk.Event], runID string, out io.Writer) error {
	midLine := false
	newline := func() {
		if midLine {
			fmt.Fprintln(out)
			midLine = false
		}
	}
	for events.Next() {
		e := events.Current()
		if e.RunID != runID {
			continue
		}
		var ev map[string]any
		if err := e.Decode(&ev); err != nil {
			return fmt.Errorf("bad event data: %w", err)
		}
		switch e.Type {
		case "token":
			if !midLine {
				fmt.Fprint(out, "  agent: ")
			}
			fmt.Fprint(out, ev["delta"])
			midLine = true
		case "turn_abandoned":
			// The text streamed so far for this turn is void: the model's
			// answer is being redone (or the run ends).
			newline()
			fmt.Fprintln(out, "  [turn_abandoned] the answer above was cut off; it is not part of the conversation")
		case "tool_call":
			newline()
			fmt.Fprintf(out, "  [tool_call] %v %s\n", ev["tool"], humanJSON(ev["arguments"]))
		case "tool_result":
			newline()
			res := fmt.Sprint(ev["result"])
			if len(res) > 300 {
				res = res[:300] + "…"
			}
			fmt.Fprintf(out, "  [tool_result] %v: %s\n", ev["tool"], res)
		case "run_status":
			newline()
			fmt.Fprintf(out, "  [run_status] %v\n", ev["status"])
			switch ev["status"] {
			case "completed", "cancelled":
				return nil
			case "error":
				return fmt.Errorf("the run failed: %s", runError(ev["error"]))
			}
		case "usage":
			newline()
			fmt.Fprintf(out, "  [usage] %v input tokens, %v output tokens\n", ev["input_tokens"], ev["output_tokens"])
		}
	}
	if err := events.Err(); err != nil {
		return err
	}
	return errors.New("the event stream ended before the run did")
}

// runError is a failed run's error as a person reads it: "code: message".
func runError(v any) string {
	e, _ := v.(map[string]any)
	code, _ := e["code"].(string)
	msg, _ := e["message"].(string)
	switch {
	case code != "" && msg != "":
		return code + ": " + msg
	case code+msg != "":
		return code + msg
	default:
		return "no error was given"
	}
}

// humanJSON is v as JSON for a person to read: "a > b && c", not
// "a \u003e b \u0026\u0026 c".
func humanJSON(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}
