package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"math"
	"strconv"
	"strings"

	sdk "github.com/hermhq/herm/sdk/go"
)

// The newer API generation's commands: agents and sessions.

// dispatchAgents runs the subcommands of agents and sessions.
func (x *cli) dispatchAgents(ctx context.Context, name, sub string, fs *flag.FlagSet, parse func(int, int) ([]string, error)) error {
	usage, _ := cliCommand(name)
	switch name + " " + sub {
	case "agents create":
		aname, model, instr := fs.String("name", "", "name (required)"), fs.String("model", "", "provider/model (required)"), fs.String("instructions", "", "the agent's instructions")
		file := fileFlag(fs, "a JSON file of the agent (\"-\": stdin); flags override it")
		meta := kv{}
		fs.Var(meta, "metadata", "k=v (repeatable)")
		if _, err := parse(0, 0); err != nil {
			return err
		}
		var p sdk.AgentCreateParams
		if *file != "" {
			if err := x.readJSON(*file, &p); err != nil {
				return err
			}
		}
		setStr(&p.Name, *aname)
		setStr(&p.Model, *model)
		setStr(&p.Instructions, *instr)
		if len(meta) > 0 {
			p.Metadata = meta
		}
		if p.Name == "" || p.Model == "" {
			return usageErr{"agents create: --name and --model are required (as flags or in the file)", usage}
		}
		a, err := x.c.Agents.Create(ctx, p)
		if err != nil {
			return err
		}
		return x.print(a, func(w io.Writer) { fmt.Fprintf(w, "%s version %d\n", a.ID, a.Version) })
	case "agents list":
		status := fs.String("status", "", "active or archived")
		limit, everything := pageFlags(fs)
		if _, err := parse(0, 0); err != nil {
			return err
		}
		p := sdk.AgentListParams{Status: *status, ListParams: sdk.ListParams{Limit: *limit}}
		items, next, err := collectCamel(*everything, func() (*sdk.CamelPage[sdk.Agent], error) { return x.c.Agents.List(ctx, p) }, x.c.Agents.All(ctx, p))
		if err != nil {
			return err
		}
		return printCamelList(x, items, next, "AGENT VERSION STATUS MODEL UPDATED NAME", func(a sdk.Agent) []string {
			return []string{a.ID, strconv.Itoa(a.Version), a.Status, a.Model, when(&a.UpdatedAt), a.Name}
		})
	case "agents get":
		version := fs.Int("version", 0, "this version (default: the current one)")
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		var a *sdk.Agent
		if *version != 0 {
			a, err = x.c.Agents.Version(ctx, pos[0], *version)
		} else {
			a, err = x.c.Agents.Get(ctx, pos[0])
		}
		if err != nil {
			return err
		}
		return x.print(a, func(w io.Writer) { printAgent(w, a) })
	case "agents update":
		var aname, model, instr optString
		fs.Var(&aname, "name", "new name")
		fs.Var(&model, "model", "new model")
		fs.Var(&instr, "instructions", "new instructions")
		file := fileFlag(fs, "a JSON file of the changes (\"-\": stdin); flags override it")
		meta := kv{}
		fs.Var(meta, "metadata", "k=v (repeatable; k= removes k)")
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		var p sdk.AgentUpdateParams
		if *file != "" {
			if p, err = x.readAgentUpdate(*file); err != nil {
				return err
			}
		}
		if aname.v != nil {
			p.Name = aname.v
		}
		if model.v != nil {
			p.Model = model.v
		}
		if instr.v != nil {
			p.Instructions = instr.v
		}
		p.Metadata = metadataPatch(p.Metadata, meta)
		a, err := x.c.Agents.Update(ctx, pos[0], p)
		if err != nil {
			return err
		}
		return x.print(a, func(w io.Writer) { fmt.Fprintf(w, "%s updated (version %d)\n", a.ID, a.Version) })
	case "agents archive":
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		a, err := x.c.Agents.Archive(ctx, pos[0])
		if err != nil {
			return err
		}
		return x.print(a, func(w io.Writer) { fmt.Fprintf(w, "%s archived\n", a.ID) })
	case "agents versions":
		limit, everything := pageFlags(fs)
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		p := sdk.ListParams{Limit: *limit}
		items, next, err := collectCamel(*everything, func() (*sdk.CamelPage[sdk.Agent], error) { return x.c.Agents.Versions(ctx, pos[0], p) },
			x.c.Agents.AllVersions(ctx, pos[0], p))
		if err != nil {
			return err
		}
		return printCamelList(x, items, next, "VERSION MADE MODEL NAME INSTRUCTIONS", func(a sdk.Agent) []string {
			return []string{strconv.Itoa(a.Version), when(&a.UpdatedAt), a.Model, a.Name, oneLine(a.Instructions, 50)}
		})

	case "sessions create":
		agent, user, title := fs.String("agent", "", "the agent's id (required)"), fs.String("user", "", "your end user's id: the sessions of one agent and user share memory"), fs.String("title", "", "title")
		meta := kv{}
		fs.Var(meta, "metadata", "k=v (repeatable)")
		if _, err := parse(0, 0); err != nil {
			return err
		}
		if *agent == "" {
			return usageErr{"sessions create: --agent is required", usage}
		}
		p := sdk.SessionCreateParams{UserID: *user, Title: *title}
		if len(meta) > 0 {
			p.Metadata = meta
		}
		sess, err := x.c.Sessions.Create(ctx, *agent, p)
		if err != nil {
			return err
		}
		return x.print(sess, func(w io.Writer) {
			fmt.Fprintf(w, "%s (agent %s version %d, user %s)\n", sess.ID, sess.AgentID, sess.AgentVersion, orDash(deref(sess.UserID)))
		})
	case "sessions list":
		agent, user, status, archived := fs.String("agent", "", "only this agent's"), fs.String("user", "", "only this user's"), fs.String("status", "", "idle or running"), fs.String("archived", "", "false (default), true or any")
		limit, everything := pageFlags(fs)
		if _, err := parse(0, 0); err != nil {
			return err
		}
		p := sdk.SessionListParams{AgentID: *agent, UserID: *user, Status: *status, Archived: *archived, ListParams: sdk.ListParams{Limit: *limit}}
		items, next, err := collectCamel(*everything, func() (*sdk.CamelPage[sdk.Session], error) { return x.c.Sessions.List(ctx, p) }, x.c.Sessions.All(ctx, p))
		if err != nil {
			return err
		}
		return printCamelList(x, items, next, "SESSION AGENT VERSION USER STATUS CREATED TITLE", func(s sdk.Session) []string {
			title := s.Title
			if s.ArchivedAt != nil {
				title += " (archived)"
			}
			return []string{s.ID, s.AgentID, strconv.Itoa(s.AgentVersion), orDash(deref(s.UserID)), s.Status, when(&s.CreatedAt), title}
		})
	case "sessions get":
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		sess, err := x.c.Sessions.Get(ctx, pos[0])
		if err != nil {
			return err
		}
		return x.print(sess, func(w io.Writer) {
			printSession(w, &sess.Session)
			for _, m := range sess.Messages {
				fmt.Fprintf(w, "\n%s (%s):\n%s\n", m.Role, when(&m.CreatedAt), m.Text())
			}
		})
	case "sessions update":
		var title optString
		fs.Var(&title, "title", "new title")
		meta := kv{}
		fs.Var(meta, "metadata", "k=v (repeatable; k= removes k)")
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		if title.v == nil && len(meta) == 0 {
			return usageErr{"sessions update: give --title or --metadata", usage}
		}
		p := sdk.SessionUpdateParams{Title: title.v}
		p.Metadata = metadataPatch(p.Metadata, meta)
		sess, err := x.c.Sessions.Update(ctx, pos[0], p)
		if err != nil {
			return err
		}
		return x.print(sess, func(w io.Writer) { fmt.Fprintf(w, "%s updated\n", sess.ID) })
	case "sessions archive", "sessions interrupt":
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		var sess *sdk.Session
		if sub == "archive" {
			sess, err = x.c.Sessions.Archive(ctx, pos[0])
		} else {
			sess, err = x.c.Sessions.Send(ctx, pos[0], sdk.Interrupt())
		}
		if err != nil {
			return err
		}
		return x.print(sess, func(w io.Writer) {
			fmt.Fprintf(w, "%s %s\n", sess.ID, map[string]string{"archive": "archived", "interrupt": "interrupted"}[sub])
		})
	case "sessions delete":
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		return x.done(x.c.Sessions.Delete(ctx, pos[0]), pos[0]+" deleted")
	case "sessions send":
		noWait := fs.Bool("no-wait", false, "send and return")
		pos, err := parse(2, 2)
		if err != nil {
			return err
		}
		return x.sessionSend(ctx, pos[0], pos[1], *noWait)
	case "sessions events":
		follow := fs.Bool("follow", false, "keep following the stream (Ctrl-C ends it)")
		after := fs.Int64("after", -1, "start after this sequence (0: the first event)")
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		if *after < -1 {
			return usageErr{"sessions events: --after is a sequence (0 or more)", usage}
		}
		return x.sessionEvents(ctx, pos[0], *follow, *after)
	case "sessions steer":
		pos, err := parse(2, 2)
		if err != nil {
			return err
		}
		sess, err := x.c.Sessions.Send(ctx, pos[0], sdk.Steer(pos[1]))
		if err != nil {
			return err
		}
		return x.print(sess, func(w io.Writer) { fmt.Fprintf(w, "%s steered\n", sess.ID) })
	case "sessions tool-result":
		pos, err := parse(3, 3)
		if err != nil {
			return err
		}
		out := pos[2]
		if out == "-" {
			b, err := x.readInput("-")
			if err != nil {
				return err
			}
			out = string(b)
		}
		sess, err := x.c.Sessions.Send(ctx, pos[0], sdk.CustomToolResult(pos[1], out))
		if err != nil {
			return err
		}
		return x.print(sess, func(w io.Writer) { fmt.Fprintf(w, "%s answered\n", pos[1]) })
	case "sessions confirm":
		allow, deny, msg := fs.Bool("allow", false, "allow the tool use"), fs.Bool("deny", false, "deny it"), fs.String("message", "", "with --deny: why, told to the model")
		pos, err := parse(2, 2)
		if err != nil {
			return err
		}
		switch {
		case *allow == *deny:
			return usageErr{"sessions confirm: give --allow or --deny", usage}
		case *allow && *msg != "":
			return usageErr{"sessions confirm: --message goes with --deny", usage}
		}
		sess, err := x.c.Sessions.Send(ctx, pos[0], sdk.ToolConfirmation(pos[1], *allow, *msg))
		if err != nil {
			return err
		}
		return x.print(sess, func(w io.Writer) {
			fmt.Fprintf(w, "%s %s\n", pos[1], map[bool]string{true: "allowed", false: "denied"}[*allow])
		})
	}
	return usageErr{fmt.Sprintf("%s: unknown subcommand %q", name, sub), usage}
}

// metadataPatch adds --metadata k=v flags to a patch's metadata: an empty
// value removes the key (null).
func metadataPatch(into map[string]*string, meta map[string]string) map[string]*string {
	for k, v := range meta {
		if into == nil {
			into = map[string]*string{}
		}
		if v == "" {
			into[k] = nil
		} else {
			into[k] = sdk.String(v)
		}
	}
	return into
}

// fileFlag adds -f and its long form --file.
func fileFlag(fs *flag.FlagSet, doc string) *string {
	file := fs.String("file", "", doc)
	fs.StringVar(file, "f", "", doc)
	return file
}

// readAgentUpdate reads an agent's changes from a JSON file ("-": stdin);
// "modelSettings": null goes back to the provider's defaults.
func (x *cli) readAgentUpdate(file string) (sdk.AgentUpdateParams, error) {
	var p sdk.AgentUpdateParams
	b, err := x.readInput(file)
	if err != nil {
		return p, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("%s: %w", file, err)
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(b, &raw) == nil && string(bytes.TrimSpace(raw["modelSettings"])) == "null" {
		p.ClearModelSettings = true
	}
	return p, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// collectCamel is collect for the lists of the newer API generation.
func collectCamel[T any](everything bool, page func() (*sdk.CamelPage[T], error), seq iter.Seq2[*T, error]) ([]T, string, error) {
	return collect(everything, func() (*sdk.Page[T], error) {
		p, err := page()
		if err != nil {
			return nil, err
		}
		return &sdk.Page[T]{Data: p.Data, NextCursor: p.NextCursor}, nil
	}, seq)
}

// printCamelList is printList for the lists of the newer API generation
// (with --json: {"data": [...], "nextCursor": ...}).
func printCamelList[T any](x *cli, items []T, next string, header string, row func(T) []string) error {
	if x.json {
		if items == nil {
			items = []T{}
		}
		return x.printJSON(sdk.CamelPage[T]{Data: items, NextCursor: next})
	}
	return printList(x, items, next, header, row)
}

// printAgent prints an agent's definition and status.
func printAgent(w io.Writer, a *sdk.Agent) {
	var tools, mcp, skills, secrets, features, meta []string
	for _, t := range a.Tools {
		tools = append(tools, agentTool(t))
	}
	for _, m := range a.MCPServers {
		mcp = append(mcp, m.Name+" "+m.URL)
	}
	for _, s := range a.Skills {
		skills = append(skills, s.Name+" ("+s.Source+")")
	}
	for _, k := range sortedKeys(a.Secrets) {
		secrets = append(secrets, k+"="+a.Secrets[k])
	}
	if a.Features.Memory {
		features = append(features, "memory")
	}
	if a.Features.FilesystemWebhooks {
		features = append(features, "filesystemWebhooks")
	}
	for _, k := range sortedKeys(a.Metadata) {
		meta = append(meta, k+"="+a.Metadata[k])
	}
	sandbox := "server's default"
	if sb := a.Sandbox; sb.Enabled != nil && !*sb.Enabled {
		sandbox = "disabled"
	} else if sb.Type != "" || sb.Network != nil {
		var parts []string
		if sb.Type != "" {
			parts = append(parts, sb.Type)
		}
		if n := sb.Network; n != nil && n.Egress != "" {
			e := "egress " + n.Egress
			if len(n.AllowedHosts) > 0 {
				e += " to " + strings.Join(n.AllowedHosts, " ")
			}
			parts = append(parts, e)
		}
		sandbox = strings.Join(parts, ", ")
	}
	settings := "provider's defaults"
	if ms := a.ModelSettings; ms != nil {
		b, _ := json.Marshal(ms)
		settings = string(b)
	}
	archived := "-"
	if a.ArchivedAt != nil {
		archived = when(a.ArchivedAt)
	}
	fields(w,
		"agent", a.ID,
		"name", a.Name,
		"status", a.Status,
		"version", strconv.Itoa(a.Version),
		"model", a.Model,
		"tools", joinOr(tools),
		"mcp servers", joinOr(mcp),
		"skills", joinOr(skills),
		"sandbox", sandbox,
		"secrets", joinOr(secrets),
		"features", joinOr(features),
		"model settings", settings,
		"metadata", joinOr(meta),
		"created", when(&a.CreatedAt),
		"version made", when(&a.UpdatedAt),
		"archived", archived,
		"instructions", orDash(a.Instructions),
	)
}

// agentTool is an agent's tools entry on one line.
func agentTool(t sdk.AgentTool) string {
	config := func(c sdk.AgentToolConfig) string {
		var set []string
		if c.Enabled != nil {
			set = append(set, "enabled="+strconv.FormatBool(*c.Enabled))
		}
		if c.PermissionPolicy != nil {
			set = append(set, c.PermissionPolicy.Type)
		}
		return strings.Join(set, " ")
	}
	var s string
	switch t.Type {
	case sdk.ToolsetAgent:
		s = "built-in tools"
	case sdk.ToolsetMCP:
		s = "MCP server " + t.MCPServerName
	case sdk.ToolsetCustom:
		return "custom " + t.Name
	default:
		return t.Type
	}
	var more []string
	if t.DefaultConfig != nil {
		more = append(more, "default "+config(*t.DefaultConfig))
	}
	for _, c := range t.Configs {
		more = append(more, c.Name+" "+config(c))
	}
	if len(more) > 0 {
		s += " (" + strings.Join(more, "; ") + ")"
	}
	return s
}

// printSession prints a session's fields.
func printSession(w io.Writer, s *sdk.Session) {
	var meta []string
	for _, k := range sortedKeys(s.Metadata) {
		meta = append(meta, k+"="+s.Metadata[k])
	}
	fields(w,
		"session", s.ID,
		"agent", fmt.Sprintf("%s version %d", s.AgentID, s.AgentVersion),
		"user", orDash(deref(s.UserID)),
		"title", orDash(s.Title),
		"status", s.Status,
		"metadata", joinOr(meta),
		"created", when(&s.CreatedAt),
		"updated", when(&s.UpdatedAt),
		"archived", when(s.ArchivedAt),
	)
}

// sessionSend sends a user.message and prints the turn as it streams,
// until the session is idle.
func (x *cli) sessionSend(ctx context.Context, sid, text string, noWait bool) error {
	var st *sdk.Stream[sdk.SessionEvent]
	if !noWait {
		var err error
		// Open the stream first, so that nothing of the turn is missed.
		if st, err = x.c.Sessions.Stream(ctx, sid, sdk.SessionStreamParams{}); err != nil {
			return err
		}
		defer st.Close()
	}
	sess, err := x.c.Sessions.Send(ctx, sid, sdk.UserMessage(text))
	if err != nil {
		return err
	}
	if noWait {
		return x.print(sess, func(w io.Writer) { fmt.Fprintf(w, "%s %s\n", sess.ID, sess.Status) })
	}
	return x.followTurn(ctx, sid, st)
}

// toolUse is a tool use event seen in a turn.
type toolUse struct {
	custom      bool
	name, input string
}

// followTurn prints a session's events from st until it is idle: the
// agent's text as it streams, tool uses and results folded to a line
// each, a spinner while the model thinks (on a terminal), and tool uses
// that wait for a confirmation asked inline.
func (x *cli) followTurn(ctx context.Context, sid string, st *sdk.Stream[sdk.SessionEvent]) error {
	spin := newSpinner(x.out, x.tty && !x.json)
	defer spin.stop()
	enc := json.NewEncoder(x.out)
	enc.SetEscapeHTML(false)
	midLine := false
	newline := func() {
		if midLine {
			fmt.Fprintln(x.out)
			midLine = false
		}
	}
	input := bufio.NewReader(x.in)
	uses := map[string]toolUse{}
	started := false // the turn's first event was seen (an idle before it is an earlier turn's)
	spin.start()
	for e, err := range st.All() {
		if err != nil {
			spin.stop()
			newline()
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted; the turn goes on (herm sessions interrupt %s stops it)", sid)
			}
			return err
		}
		spin.stop()
		if x.json {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		switch e.Type {
		case sdk.EventUserMessage, sdk.EventSessionStatusRunning:
			started = true
		case sdk.EventAgentMessage:
			var m sdk.AgentMessagePayload
			if err := e.Decode(&m); err != nil {
				return err
			}
			if x.json || m.Subagent != nil {
				break
			}
			if m.Delta {
				fmt.Fprint(x.out, m.Text())
				midLine = !strings.HasSuffix(m.Text(), "\n")
				continue // no spinner mid-answer
			}
			newline()
		case sdk.EventAgentToolUse, sdk.EventAgentMCPToolUse, sdk.EventAgentCustomToolUse:
			var u struct {
				Name          string          `json:"name"`
				MCPServerName string          `json:"mcp_server_name"`
				Input         json.RawMessage `json:"input"`
			}
			if err := e.Decode(&u); err != nil {
				return err
			}
			name := u.Name
			if u.MCPServerName != "" {
				name = u.MCPServerName + "__" + u.Name
			}
			uses[e.ID] = toolUse{custom: e.Type == sdk.EventAgentCustomToolUse, name: name, input: oneLine(string(u.Input), 200)}
			if !x.json {
				newline()
				fmt.Fprintf(x.out, "⚙ %s %s\n", name, oneLine(string(u.Input), 100))
			}
		case sdk.EventAgentToolResult, sdk.EventAgentMCPToolResult, sdk.EventUserCustomToolResult:
			var r sdk.AgentToolResultPayload
			if err := e.Decode(&r); err != nil {
				return err
			}
			if !x.json {
				newline()
				mark := "↳"
				if r.IsError {
					mark = "↳ error:"
				}
				text := r.Text()
				lines := strings.Count(strings.TrimRight(text, "\n"), "\n") + 1
				more := ""
				if lines > 1 {
					more = fmt.Sprintf(" (%d lines)", lines)
				}
				fmt.Fprintf(x.out, "  %s %s%s\n", mark, oneLine(text, 100), more)
			}
		case sdk.EventSessionError:
			var se sdk.SessionErrorPayload
			if err := e.Decode(&se); err == nil && !x.json {
				newline()
				fmt.Fprintf(x.out, "! %s\n", se.Error.Message)
			}
		case sdk.EventSessionStatusIdle:
			if !started {
				break
			}
			var idle sdk.SessionStatusIdlePayload
			if err := e.Decode(&idle); err != nil {
				return err
			}
			newline()
			switch idle.StopReason.Type {
			case sdk.StopEndTurn:
				return nil
			case sdk.StopMaxSteps:
				if !x.json {
					fmt.Fprintln(x.errOut, "(the turn stopped at the server's step limit)")
				}
				return nil
			case sdk.StopInterrupted:
				return fmt.Errorf("session %s: the turn was interrupted", sid)
			case sdk.StopError:
				why := idle.StopReason.Message
				if why == "" {
					why = "no error was given"
				}
				return fmt.Errorf("session %s: the turn failed: %s", sid, why)
			case sdk.StopRequiresAction:
				if err := x.confirmInline(ctx, sid, input, uses, idle.StopReason.EventIDs); err != nil {
					return err
				}
			}
		}
		spin.start()
	}
	return errors.New("the event stream ended before the turn did")
}

// confirmInline asks the person at the terminal to allow or deny each tool
// use a turn waits for and sends the answers.
func (x *cli) confirmInline(ctx context.Context, sid string, in *bufio.Reader, uses map[string]toolUse, ids []string) error {
	prompt := x.errOut
	if !x.json {
		prompt = x.out
	}
	var answers []sdk.UserEvent
	var custom []string
	for _, id := range ids {
		u, ok := uses[id]
		if u.custom {
			custom = append(custom, u.name+" ("+id+")")
			continue
		}
		if !ok {
			u.name = id
		}
		fmt.Fprintf(prompt, "? The agent wants to use %s %s\nAllow? [y/n] ", u.name, u.input)
		for {
			line, err := in.ReadString('\n')
			switch strings.ToLower(strings.TrimSpace(line)) {
			case "y", "yes":
				answers = append(answers, sdk.ToolConfirmation(id, true, ""))
			case "n", "no":
				answers = append(answers, sdk.ToolConfirmation(id, false, "denied at the terminal"))
			default:
				if err == nil {
					fmt.Fprint(prompt, "please answer y or n: ")
					continue
				}
				if !errors.Is(err, io.EOF) {
					return err
				}
				return fmt.Errorf("no answer on the input: the session waits; answer with herm sessions confirm %s %s --allow|--deny [--message M]", sid, id)
			}
			break
		}
	}
	if len(answers) > 0 {
		if _, err := x.c.Sessions.Send(ctx, sid, answers...); err != nil {
			return err
		}
		if !x.json {
			for _, a := range answers {
				fmt.Fprintf(x.out, "  → %s\n", a.Result)
			}
		}
	}
	if len(custom) > 0 {
		return fmt.Errorf("the session waits for the result of the custom tool use %s: answer with herm sessions tool-result %s <custom_tool_use_id> <output>", strings.Join(custom, ", "), sid)
	}
	return nil
}

// sessionEvents prints a session's events: the stored ones (after after,
// or from the first), then with follow the stream (after after, or from
// now on), until ctx ends.
func (x *cli) sessionEvents(ctx context.Context, sid string, follow bool, after int64) error {
	show := func(e *sdk.SessionEvent) error {
		if x.json {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(x.out, "%s\n", b)
			return err
		}
		var fields map[string]json.RawMessage
		_ = json.Unmarshal(e.Payload, &fields)
		delete(fields, "type")
		rest, _ := json.Marshal(fields)
		_, err := fmt.Fprintf(x.out, "%d  %s  %s  %-24s %s\n", e.Sequence, e.ID, e.CreatedAt.UTC().Format("15:04:05.000"), e.Type, oneLine(string(rest), 160))
		return err
	}
	if !follow {
		for e, err := range x.c.Sessions.AllEvents(ctx, sid, sdk.SessionEventListParams{After: max(after, 0), Limit: 1000}) {
			if err != nil {
				return err
			}
			if err := show(e); err != nil {
				return err
			}
		}
		return nil
	}
	// --follow goes on until it is interrupted: through a server's restart
	// however long, reopening the stream after the last event printed.
	c := x.client(sdk.WithReconnects(math.MaxInt32))
	p := sdk.SessionStreamParams{After: max(after, 0), FromStart: after == 0}
	st, err := c.Sessions.Stream(ctx, sid, p)
	return followStream(ctx, st, err, show)
}
