package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	sdk "github.com/hermhq/herm/sdk/go"
)

// The client commands: the HTTP API from the terminal, through the Go SDK.

const cliUsage = `
client commands (a running server: HERM_URL, default http://127.0.0.1:8640, and HERM_API_KEY,
or --server URL and --api-key KEY; --json prints JSON for scripts):
  deployments  create | list | get | update | delete
  threads      create | list | get | rename | delete
  send         send a message and stream the run: herm send <deployment_id> "text"
  runs         list | get | cancel
  events       print a deployment's events: herm events <deployment_id> [--follow]
  files        ls | cat | put | rm
  memories     list | add | get | update | delete
  skills       list | get | add | replace | delete
  tools        list | set
  mcp          list | add | replace | remove   (a deployment's MCP servers)
  automations  list | get | create | update | delete | trigger
  steering     list | get | respond
  secrets      list | get | create | rotate | delete
  keys         list | create | delete
  webhooks     list | get | create | delete | deliveries
  models       list
  agents       create | list | get | update | archive | versions   (versioned agent definitions)
  sessions     create | list | get | update | archive | delete | send | events | confirm | interrupt
`

// cliCommand is a client command's usage; ok is false for a name that is
// none.
func cliCommand(name string) (usage string, ok bool) {
	usage, ok = map[string]string{
		"deployments": `usage:
  herm deployments create --customer ID --name NAME [--system-prompt TEXT] [--model M] [--metadata k=v]... [--file params.json]
  herm deployments list [--customer ID] [--status S] [--limit N] [--all]
  herm deployments get <deployment_id> [--wait]
  herm deployments update <deployment_id> [--name N] [--model M] [--system-prompt T] [--metadata k=v]... [--file patch.json]
  herm deployments delete <deployment_id> [--retain-filesystem]`,
		"threads": `usage:
  herm threads create <deployment_id> [--title T]
  herm threads list <deployment_id> [--limit N] [--all]
  herm threads get <deployment_id> <thread_id>
  herm threads rename <deployment_id> <thread_id> <title>
  herm threads delete <deployment_id> <thread_id>`,
		"send": `usage:
  herm send <deployment_id> "text" [--thread ID|new] [--mode steer|queue|interrupt|reject] [--no-wait]`,
		"runs": `usage:
  herm runs list <deployment_id> [--status S] [--thread ID] [--limit N] [--all]
  herm runs get <deployment_id> <run_id>
  herm runs cancel <deployment_id> <run_id>`,
		"events": `usage:
  herm events <deployment_id> [--follow] [--after evt_N] [--types a,b] [--run ID] [--thread ID]`,
		"files": `usage:
  herm files ls <deployment_id> [dir]
  herm files cat <deployment_id> <path>
  herm files put <deployment_id> <path> [local_file|-]   (default: stdin)
  herm files rm <deployment_id> <path>`,
		"memories": `usage:
  herm memories list <deployment_id> [--q WORDS] [--limit N] [--all]
  herm memories add <deployment_id> "content"
  herm memories get <deployment_id> <memory_id>
  herm memories update <deployment_id> <memory_id> "content"
  herm memories delete <deployment_id> <memory_id>`,
		"skills": `usage:
  herm skills list <deployment_id>
  herm skills get <deployment_id> <skill_id>
  herm skills add <deployment_id> --name N (--file SKILL.md | --url URL | --path WORKSPACE_PATH)
  herm skills replace <deployment_id> <skill_id> --name N (--file SKILL.md | --url URL | --path WORKSPACE_PATH)
  herm skills delete <deployment_id> <skill_id>`,
		"tools": `usage:
  herm tools list <deployment_id>
  herm tools set <deployment_id> <tool> [--enabled=true|false] [--permission always_allow|always_ask]`,
		"mcp": `usage:
  herm mcp list <deployment_id>
  herm mcp add <deployment_id> <name> <url> [--tool T]... [--header Name=value]... [--permission always_allow|always_ask]
  herm mcp replace <deployment_id> <name> <url> [--tool T]... [--header Name=value]... [--permission always_allow|always_ask]
  herm mcp remove <deployment_id> <name>`,
		"automations": `usage:
  herm automations list <deployment_id> [--limit N] [--all]
  herm automations get <deployment_id> <automation_id>
  herm automations create <deployment_id> --name N --schedule S --instructions T [--timezone TZ] [--thread ID]
  herm automations update <deployment_id> <automation_id> [--name N] [--schedule S] [--instructions T] [--enabled=true|false]
  herm automations delete <deployment_id> <automation_id>
  herm automations trigger <deployment_id> <automation_id>`,
		"steering": `usage:
  herm steering list <deployment_id> [--status pending|resolved] [--run ID]
  herm steering get <deployment_id> <steering_request_id>
  herm steering respond <deployment_id> <steering_request_id> approve|deny|answer [message]`,
		"secrets": `usage:
  herm secrets list [--limit N] [--all]
  herm secrets get <secret_id>
  herm secrets create --name N [--customer ID] [--allowed-host H]...   (the value is read from stdin)
  herm secrets rotate <secret_id>                                     (the new value is read from stdin)
  herm secrets delete <secret_id>`,
		"keys": `usage:
  herm keys list [--limit N] [--all]
  herm keys create --name N --scope S... [--customer ID]
  herm keys delete <key_id>`,
		"webhooks": `usage:
  herm webhooks list [--limit N] [--all]
  herm webhooks get <webhook_id>
  herm webhooks create --url URL --event TYPE... [--deployment ID]
  herm webhooks delete <webhook_id>
  herm webhooks deliveries <webhook_id> [--limit N] [--all]`,
		"models": `usage:
  herm models list`,
		"agents": `usage:
  herm agents create --name N --model M [--instructions T] [--metadata k=v]... [-f agent.json]
  herm agents list [--status active|archived] [--limit N] [--all]
  herm agents get <agent_id> [--version N]
  herm agents update <agent_id> [-f patch.json] [--name N] [--model M] [--instructions T] [--metadata k=v]...
  herm agents archive <agent_id>
  herm agents versions <agent_id> [--limit N] [--all]`,
		"sessions": `usage:
  herm sessions create --agent ID [--user ID] [--title T] [--metadata k=v]...
  herm sessions list [--agent ID] [--user ID] [--status idle|running] [--archived false|true|any] [--limit N] [--all]
  herm sessions get <session_id>
  herm sessions update <session_id> [--title T] [--metadata k=v]...
  herm sessions archive <session_id>
  herm sessions delete <session_id>
  herm sessions send <session_id> "text" [--no-wait]
  herm sessions events <session_id> [--follow] [--after N]
  herm sessions confirm <session_id> <tool_use_id> --allow|--deny [--message M]
  herm sessions tool-result <session_id> <custom_tool_use_id> <output|->
  herm sessions steer <session_id> "text"
  herm sessions interrupt <session_id>`,
	}[name]
	return usage, ok
}

// cli is one client command's settings and streams.
type cli struct {
	getenv      func(string) string
	in          io.Reader
	out, errOut io.Writer
	tty         bool // out is a terminal: a spinner, and prompts

	url, key string // the flags
	json     bool
	c        *sdk.Client
	base     string // the server's URL and key in use
	apiKey   string
}

// client is a client of the server with opts.
func (x *cli) client(opts ...sdk.Option) *sdk.Client {
	return sdk.NewClient(x.base, x.apiKey, append([]sdk.Option{sdk.WithUserAgent("herm-cli/" + version)}, opts...)...)
}

// usageErr is bad usage: a message and the command's usage.
type usageErr struct{ msg, usage string }

func (e usageErr) Error() string { return e.msg + "\n" + e.usage }

// runCLI runs a client command (args[0] is its name).
func runCLI(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	x := &cli{getenv: getenv, in: stdin, out: stdout, errOut: stderr}
	if f, ok := stdout.(*os.File); ok && isTerminal(f) {
		x.tty = true
	}
	name, rest := args[0], args[1:]
	usage, _ := cliCommand(name)
	if name == "send" || name == "events" {
		return x.dispatch(ctx, name, append([]string{name}, rest...))
	}
	if len(rest) == 0 || rest[0] == "-h" || rest[0] == "--help" || rest[0] == "help" {
		if len(rest) == 0 {
			return usageErr{name + ": missing subcommand", usage}
		}
		return errHelp{usage + "\n"}
	}
	return x.dispatch(ctx, name, rest)
}

// flags is a flag set with the common flags.
func (x *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&x.url, "server", "", "server URL (default: HERM_URL, else "+sdk.DefaultURL+")")
	fs.StringVar(&x.key, "api-key", "", "API key (default: HERM_API_KEY)")
	fs.BoolVar(&x.json, "json", false, "print JSON")
	return fs
}

// parse parses flags and positional arguments in any order, checks the
// number of positional arguments and makes the client.
func (x *cli) parse(fs *flag.FlagSet, usage string, args []string, minArgs, maxArgs int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp{usage + "\n"}
			}
			return nil, usageErr{fs.Name() + ": " + err.Error(), usage}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(pos) < minArgs:
		return nil, usageErr{fmt.Sprintf("%s: missing arguments", fs.Name()), usage}
	case maxArgs >= 0 && len(pos) > maxArgs:
		return nil, usageErr{fmt.Sprintf("%s: too many arguments (%s)", fs.Name(), strings.Join(pos[maxArgs:], " ")), usage}
	}
	base := x.url
	if base == "" {
		base = x.getenv("HERM_URL")
	}
	if base == "" {
		base = sdk.DefaultURL
	}
	key := x.key
	if key == "" {
		key = x.getenv("HERM_API_KEY")
	}
	if key == "" {
		return nil, errors.New("no API key: set HERM_API_KEY or pass --api-key (a server prints its admin key at first start and saves it in <data-dir>/admin.key)")
	}
	x.base, x.apiKey = base, key
	x.c = x.client()
	return pos, nil
}

// print prints v: as JSON with --json, else with human.
func (x *cli) print(v any, human func(w io.Writer)) error {
	if x.json {
		return x.printJSON(v)
	}
	human(x.out)
	return nil
}

// printJSON prints v as indented JSON.
func (x *cli) printJSON(v any) error {
	enc := json.NewEncoder(x.out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// fields prints key/value pairs, the values aligned; a value's further
// lines are indented to the values' column.
func fields(w io.Writer, kv ...string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		v := strings.ReplaceAll(strings.TrimRight(kv[i+1], "\n"), "\t", "    ")
		fmt.Fprintf(tw, "%s:\t%s\n", kv[i], strings.ReplaceAll(v, "\n", "\n\t"))
	}
	tw.Flush()
}

// joinOr is ss joined by ", ", or "-".
func joinOr(ss []string) string {
	if len(ss) == 0 {
		return "-"
	}
	return strings.Join(ss, ", ")
}

// table prints rows under a header, aligned.
func table(w io.Writer, header string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ReplaceAll(header, " ", "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// when is a time for a table: RFC 3339 to the second, or "-".
func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// kv is a repeatable k=v flag.
type kv map[string]string

func (m kv) String() string { return "" }
func (m kv) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not key=value", s)
	}
	m[k] = v
	return nil
}

// list is a repeatable flag.
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }
func (l *list) Set(s string) error {
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// optBool is a bool flag that records whether it was given.
type optBool struct{ v *bool }

func (b *optBool) String() string {
	if b.v == nil {
		return ""
	}
	return fmt.Sprint(*b.v)
}
func (b *optBool) Set(s string) error {
	switch s {
	case "true", "1", "yes":
		b.v = sdk.Bool(true)
	case "false", "0", "no":
		b.v = sdk.Bool(false)
	default:
		return fmt.Errorf("%q is not true or false", s)
	}
	return nil
}
func (b *optBool) IsBoolFlag() bool { return true }

// optString is a string flag that records whether it was given.
type optString struct{ v *string }

func (s *optString) String() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}
func (s *optString) Set(v string) error { s.v = &v; return nil }

// pageFlags adds --limit and --all.
func pageFlags(fs *flag.FlagSet) (*int, *bool) {
	return fs.Int("limit", 0, "page size (1–100)"), fs.Bool("all", false, "every page")
}

// collect is the items of one page, or of every page with all.
func collect[T any](everything bool, page func() (*sdk.Page[T], error), seq func(yield func(*T, error) bool)) ([]T, string, error) {
	if !everything {
		p, err := page()
		if err != nil {
			return nil, "", err
		}
		return p.Data, p.NextCursor, nil
	}
	var out []T
	for v, err := range seq {
		if err != nil {
			return nil, "", err
		}
		out = append(out, *v)
	}
	return out, "", nil
}

// printList prints a list's items (and the next page's cursor).
func printList[T any](x *cli, items []T, next string, header string, row func(T) []string) error {
	if items == nil {
		items = []T{}
	}
	if x.json {
		return x.printJSON(sdk.Page[T]{Data: items, NextCursor: next})
	}
	rows := make([][]string, 0, len(items))
	for _, it := range items {
		rows = append(rows, row(it))
	}
	table(x.out, header, rows)
	if next != "" {
		fmt.Fprintf(x.out, "(more: --all, or the API's cursor %s)\n", next)
	}
	return nil
}

// readAllInput reads what a command takes from stdin or a file ("-":
// stdin).
func (x *cli) readInput(file string) ([]byte, error) {
	if file == "" || file == "-" {
		return io.ReadAll(x.in)
	}
	return os.ReadFile(file)
}
