package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	sdk "github.com/hermhq/herm/sdk/go"
)

// dispatchMore runs the subcommands of the other resources.
func (x *cli) dispatchMore(ctx context.Context, name, sub string, fs *flag.FlagSet, parse func(int, int) ([]string, error)) error {
	usage, _ := cliCommand(name)
	switch name + " " + sub {
	case "memories list":
		q := fs.String("q", "", "words the memory must contain")
		limit, everything := pageFlags(fs)
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		p := sdk.MemoryListParams{Query: *q, ListParams: sdk.ListParams{Limit: *limit}}
		items, next, err := collect(*everything, func() (*sdk.Page[sdk.Memory], error) { return x.c.Memories.List(ctx, pos[0], p) }, x.c.Memories.All(ctx, pos[0], p))
		if err != nil {
			return err
		}
		return printList(x, items, next, "MEMORY SOURCE UPDATED CONTENT", func(m sdk.Memory) []string {
			return []string{m.MemoryID, m.Source, when(&m.UpdatedAt), oneLine(m.Content, 60)}
		})
	case "memories add", "memories update", "memories get":
		n := map[string]int{"add": 2, "update": 3, "get": 2}[sub]
		pos, err := parse(n, n)
		if err != nil {
			return err
		}
		var m *sdk.Memory
		switch sub {
		case "add":
			m, err = x.c.Memories.Create(ctx, pos[0], pos[1])
		case "update":
			m, err = x.c.Memories.Update(ctx, pos[0], pos[1], pos[2])
		default:
			m, err = x.c.Memories.Get(ctx, pos[0], pos[1])
		}
		if err != nil {
			return err
		}
		return x.print(m, func(w io.Writer) { fmt.Fprintf(w, "%s (%s): %s\n", m.MemoryID, m.Source, m.Content) })
	case "memories delete":
		pos, err := parse(2, 2)
		if err != nil {
			return err
		}
		return x.done(x.c.Memories.Delete(ctx, pos[0], pos[1]), pos[1]+" deleted")

	case "skills list":
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		items, err := x.c.Skills.List(ctx, pos[0])
		if err != nil {
			return err
		}
		return printList(x, items, "", "SKILL NAME ORIGIN SOURCE DESCRIPTION", func(s sdk.Skill) []string {
			return []string{s.SkillID, s.Name, s.Origin, s.Source, oneLine(s.Description, 60)}
		})
	case "skills get":
		pos, err := parse(2, 2)
		if err != nil {
			return err
		}
		s, err := x.c.Skills.Get(ctx, pos[0], pos[1])
		if err != nil {
			return err
		}
		return x.print(s, func(w io.Writer) { fmt.Fprint(w, s.Content) })
	case "skills add", "skills replace":
		sname, file, url, wpath := fs.String("name", "", "skill name (required)"), fs.String("file", "", "a local SKILL.md (\"-\": stdin), sent inline"), fs.String("url", "", "a SKILL.md URL"), fs.String("path", "", "a SKILL.md (or folder) in the workspace")
		n := map[string]int{"add": 1, "replace": 2}[sub]
		pos, err := parse(n, n)
		if err != nil {
			return err
		}
		p := sdk.SkillParams{Name: *sname}
		switch {
		case *sname == "" || btoi(*file != "")+btoi(*url != "")+btoi(*wpath != "") != 1:
			return usageErr{"skills " + sub + ": --name and exactly one of --file, --url, --path are required", usage}
		case *file != "":
			b, err := x.readInput(*file)
			if err != nil {
				return err
			}
			p.Source, p.Content = "inline", string(b)
		case *url != "":
			p.Source, p.URL = "url", *url
		default:
			p.Source, p.Path = "file", *wpath
		}
		var s *sdk.Skill
		if sub == "add" {
			s, err = x.c.Skills.Create(ctx, pos[0], p)
		} else {
			s, err = x.c.Skills.Replace(ctx, pos[0], pos[1], p)
		}
		if err != nil {
			return err
		}
		return x.print(s, func(w io.Writer) { fmt.Fprintf(w, "%s %s: %s\n", s.SkillID, s.Name, s.Description) })
	case "skills delete":
		pos, err := parse(2, 2)
		if err != nil {
			return err
		}
		return x.done(x.c.Skills.Delete(ctx, pos[0], pos[1]), pos[1]+" deleted")

	case "mcp list":
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		ms, err := x.c.MCPServers.List(ctx, pos[0])
		if err != nil {
			return err
		}
		return printList(x, ms, "", "NAME URL PERMISSION TOOLS HEADERS", func(m sdk.MCPServer) []string {
			return []string{m.Name, m.URL, orDash(m.Permission), orDash(strings.Join(m.Tools, ",")), orDash(strings.Join(sortedKeys(m.Headers), ","))}
		})
	case "mcp add", "mcp replace":
		tools, headers := list{}, kv{}
		fs.Var(&tools, "tool", "a tool of the server's the agent may call (repeatable; default: all)")
		fs.Var(headers, "header", "Name=value sent with each request; ${ENV_NAME} is filled from the deployment's secrets (repeatable)")
		perm := fs.String("permission", "", "always_allow or always_ask: the default of its tools")
		pos, err := parse(3, 3)
		if err != nil {
			return err
		}
		m := sdk.MCPServer{Name: pos[1], URL: pos[2], Tools: tools, Permission: *perm}
		if len(headers) > 0 {
			m.Headers = headers
		}
		var got *sdk.MCPServer
		if sub == "add" {
			got, err = x.c.MCPServers.Add(ctx, pos[0], m)
		} else {
			got, err = x.c.MCPServers.Replace(ctx, pos[0], pos[1], m)
		}
		if err != nil {
			return err
		}
		return x.print(got, func(w io.Writer) { fmt.Fprintf(w, "%s %s\n", got.Name, got.URL) })
	case "mcp remove":
		pos, err := parse(2, 2)
		if err != nil {
			return err
		}
		return x.done(x.c.MCPServers.Delete(ctx, pos[0], pos[1]), pos[1]+" removed")

	case "tools list":
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		l, err := x.c.Tools.List(ctx, pos[0])
		if err != nil {
			return err
		}
		return x.print(l, func(w io.Writer) {
			rows := [][]string{}
			for _, t := range l.Data {
				rows = append(rows, []string{t.Name, t.Origin, fmt.Sprint(t.Enabled), t.Permission})
			}
			table(w, "TOOL ORIGIN ENABLED PERMISSION", rows)
			for _, m := range l.MCPServers {
				fmt.Fprintf(w, "MCP server %s: %s %s\n", m.Name, m.Status, m.Message)
			}
		})
	case "tools set":
		var enabled optBool
		fs.Var(&enabled, "enabled", "true or false")
		var perm optString
		fs.Var(&perm, "permission", "always_allow or always_ask")
		pos, err := parse(2, 2)
		if err != nil {
			return err
		}
		if enabled.v == nil && perm.v == nil {
			return usageErr{"tools set: give --enabled or --permission", usage}
		}
		t, err := x.c.Tools.Update(ctx, pos[0], pos[1], sdk.ToolUpdateParams{Enabled: enabled.v, Permission: perm.v})
		if err != nil {
			return err
		}
		return x.print(t, func(w io.Writer) { fmt.Fprintf(w, "%s enabled=%v permission=%s\n", t.Name, t.Enabled, t.Permission) })

	case "automations list":
		limit, everything := pageFlags(fs)
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		p := sdk.ListParams{Limit: *limit}
		items, next, err := collect(*everything, func() (*sdk.Page[sdk.Automation], error) { return x.c.Automations.List(ctx, pos[0], p) }, x.c.Automations.All(ctx, pos[0], p))
		if err != nil {
			return err
		}
		return printList(x, items, next, "AUTOMATION ENABLED SCHEDULE NEXT_RUN NAME", func(a sdk.Automation) []string {
			return []string{a.AutomationID, fmt.Sprint(a.Enabled), a.Schedule, when(a.NextRunAt), a.Name}
		})
	case "automations create", "automations update":
		var p sdk.AutomationParams
		var aname, sched, instr, tz, thread optString
		var enabled optBool
		fs.Var(&aname, "name", "name")
		fs.Var(&sched, "schedule", "cron, or plain English (every Monday at 9am)")
		fs.Var(&instr, "instructions", "what the agent is asked")
		fs.Var(&tz, "timezone", "IANA time zone")
		fs.Var(&thread, "thread", "thread id (default: one of its own)")
		fs.Var(&enabled, "enabled", "true or false")
		n := map[string]int{"create": 1, "update": 2}[sub]
		pos, err := parse(n, n)
		if err != nil {
			return err
		}
		p.Name, p.Schedule, p.Instructions, p.Timezone, p.ThreadID, p.Enabled = aname.v, sched.v, instr.v, tz.v, thread.v, enabled.v
		var a *sdk.Automation
		if sub == "create" {
			if p.Name == nil || p.Schedule == nil || p.Instructions == nil {
				return usageErr{"automations create: --name, --schedule and --instructions are required", usage}
			}
			a, err = x.c.Automations.Create(ctx, pos[0], p)
		} else {
			a, err = x.c.Automations.Update(ctx, pos[0], pos[1], p)
		}
		if err != nil {
			return err
		}
		return x.print(a, func(w io.Writer) {
			fmt.Fprintf(w, "%s %q (%s, next run %s)\n", a.AutomationID, a.Name, a.Cron, when(a.NextRunAt))
		})
	case "automations get":
		pos, err := parse(2, 2)
		if err != nil {
			return err
		}
		a, err := x.c.Automations.Get(ctx, pos[0], pos[1])
		if err != nil {
			return err
		}
		return x.print(a, func(w io.Writer) { printAutomation(w, a) })
	case "automations delete":
		pos, err := parse(2, 2)
		if err != nil {
			return err
		}
		return x.done(x.c.Automations.Delete(ctx, pos[0], pos[1]), pos[1]+" deleted")
	case "automations trigger":
		pos, err := parse(2, 2)
		if err != nil {
			return err
		}
		run, err := x.c.Automations.Trigger(ctx, pos[0], pos[1])
		if err != nil {
			return err
		}
		return x.print(map[string]string{"run_id": run}, func(w io.Writer) { fmt.Fprintln(w, run) })

	case "steering list":
		status, run := fs.String("status", "", "pending or resolved"), fs.String("run", "", "only this run's")
		limit, everything := pageFlags(fs)
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		p := sdk.SteeringListParams{Status: *status, RunID: *run, ListParams: sdk.ListParams{Limit: *limit}}
		items, next, err := collect(*everything, func() (*sdk.Page[sdk.SteeringRequest], error) { return x.c.Steering.List(ctx, pos[0], p) }, x.c.Steering.All(ctx, pos[0], p))
		if err != nil {
			return err
		}
		return printList(x, items, next, "REQUEST RUN KIND STATUS DECISION SUMMARY", func(s sdk.SteeringRequest) []string {
			return []string{s.SteeringRequestID, s.RunID, s.Kind, s.Status, orDash(s.Decision), oneLine(s.Summary, 60)}
		})
	case "steering get":
		pos, err := parse(2, 2)
		if err != nil {
			return err
		}
		s, err := x.c.Steering.Get(ctx, pos[0], pos[1])
		if err != nil {
			return err
		}
		return x.print(s, func(w io.Writer) { printSteering(w, s) })
	case "steering respond":
		pos, err := parse(3, 4)
		if err != nil {
			return err
		}
		r := sdk.SteeringResponse{Decision: pos[2]}
		if len(pos) == 4 {
			r.Message = pos[3]
		}
		if r.Decision != sdk.DecisionApprove && r.Decision != sdk.DecisionDeny && r.Decision != sdk.DecisionAnswer {
			return usageErr{fmt.Sprintf("steering respond: the decision is approve, deny or answer, not %q", r.Decision), usage}
		}
		s, err := x.c.Steering.Respond(ctx, pos[0], pos[1], r)
		if err != nil {
			return err
		}
		return x.print(s, func(w io.Writer) { fmt.Fprintf(w, "%s %s\n", s.SteeringRequestID, s.Decision) })
	}
	return x.dispatchAdmin(ctx, name, sub, fs, parse)
}

// dispatchAdmin runs the subcommands of the admin resources.
func (x *cli) dispatchAdmin(ctx context.Context, name, sub string, fs *flag.FlagSet, parse func(int, int) ([]string, error)) error {
	usage, _ := cliCommand(name)
	switch name + " " + sub {
	case "secrets list", "keys list", "webhooks list":
		limit, everything := pageFlags(fs)
		if _, err := parse(0, 0); err != nil {
			return err
		}
		p := sdk.ListParams{Limit: *limit}
		switch name {
		case "secrets":
			items, next, err := collect(*everything, func() (*sdk.Page[sdk.Secret], error) { return x.c.Secrets.List(ctx, p) }, x.c.Secrets.All(ctx, p))
			if err != nil {
				return err
			}
			return printList(x, items, next, "SECRET NAME CUSTOMER ALLOWED_HOSTS ROTATED", func(s sdk.Secret) []string {
				return []string{s.SecretID, s.Name, orDash(s.CustomerID), orDash(strings.Join(s.AllowedHosts, ",")), when(s.RotatedAt)}
			})
		case "keys":
			items, next, err := collect(*everything, func() (*sdk.Page[sdk.APIKey], error) { return x.c.APIKeys.List(ctx, p) }, x.c.APIKeys.All(ctx, p))
			if err != nil {
				return err
			}
			return printList(x, items, next, "KEY NAME PREFIX SCOPES CUSTOMER LAST_USED", func(k sdk.APIKey) []string {
				return []string{k.KeyID, k.Name, k.Prefix, strings.Join(k.Scopes, ","), orDash(k.CustomerID), when(k.LastUsedAt)}
			})
		default:
			items, next, err := collect(*everything, func() (*sdk.Page[sdk.Webhook], error) { return x.c.Webhooks.List(ctx, p) }, x.c.Webhooks.All(ctx, p))
			if err != nil {
				return err
			}
			return printList(x, items, next, "WEBHOOK URL EVENTS DEPLOYMENT", func(h sdk.Webhook) []string {
				return []string{h.WebhookID, h.URL, strings.Join(h.Events, ","), orDash(h.DeploymentID)}
			})
		}
	case "secrets get", "webhooks get":
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		if name == "secrets" {
			s, err := x.c.Secrets.Get(ctx, pos[0])
			if err != nil {
				return err
			}
			return x.print(s, func(w io.Writer) {
				fields(w, "secret", s.SecretID, "name", s.Name, "customer", orDash(s.CustomerID),
					"allowed hosts", joinOr(s.AllowedHosts), "created", when(&s.CreatedAt), "rotated", when(s.RotatedAt))
			})
		}
		h, err := x.c.Webhooks.Get(ctx, pos[0])
		if err != nil {
			return err
		}
		return x.print(h, func(w io.Writer) {
			fields(w, "webhook", h.WebhookID, "url", h.URL, "events", joinOr(h.Events), "deployment", orDash(h.DeploymentID), "created", when(&h.CreatedAt))
		})
	case "secrets create":
		sname, customer, hosts := fs.String("name", "", "name (required)"), fs.String("customer", "", "only this customer's deployments may use it"), list{}
		fs.Var(&hosts, "allowed-host", "a host the value may be sent to (repeatable)")
		if _, err := parse(0, 0); err != nil {
			return err
		}
		if *sname == "" {
			return usageErr{"secrets create: --name is required", usage}
		}
		value, err := x.secretValue()
		if err != nil {
			return err
		}
		s, err := x.c.Secrets.Create(ctx, sdk.SecretCreateParams{Name: *sname, Value: value, CustomerID: *customer, AllowedHosts: hosts})
		if err != nil {
			return err
		}
		return x.print(s, func(w io.Writer) { fmt.Fprintln(w, s.SecretID) })
	case "secrets rotate":
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		value, err := x.secretValue()
		if err != nil {
			return err
		}
		s, err := x.c.Secrets.Rotate(ctx, pos[0], value)
		if err != nil {
			return err
		}
		return x.print(s, func(w io.Writer) { fmt.Fprintf(w, "%s rotated\n", s.SecretID) })
	case "secrets delete", "keys delete", "webhooks delete":
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		switch name {
		case "secrets":
			err = x.c.Secrets.Delete(ctx, pos[0])
		case "keys":
			err = x.c.APIKeys.Delete(ctx, pos[0])
		default:
			err = x.c.Webhooks.Delete(ctx, pos[0])
		}
		return x.done(err, pos[0]+" deleted")
	case "keys create":
		kname, customer, scopes := fs.String("name", "", "name (required)"), fs.String("customer", "", "limit the key to this customer"), list{}
		fs.Var(&scopes, "scope", "deployments:read, deployments:write or admin (repeatable)")
		if _, err := parse(0, 0); err != nil {
			return err
		}
		if *kname == "" || len(scopes) == 0 {
			return usageErr{"keys create: --name and --scope are required", usage}
		}
		k, err := x.c.APIKeys.Create(ctx, sdk.APIKeyCreateParams{Name: *kname, Scopes: scopes, CustomerID: *customer})
		if err != nil {
			return err
		}
		return x.print(k, func(w io.Writer) {
			fmt.Fprintf(w, "%s %s\n%s\n(the key is shown this once)\n", k.KeyID, strings.Join(k.Scopes, ","), k.Key)
		})
	case "webhooks create":
		url, dep, events := fs.String("url", "", "where deliveries go (required)"), fs.String("deployment", "", "only this deployment's events"), list{}
		fs.Var(&events, "event", "an event type (repeatable, or comma-separated)")
		if _, err := parse(0, 0); err != nil {
			return err
		}
		if *url == "" || len(events) == 0 {
			return usageErr{"webhooks create: --url and --event are required", usage}
		}
		h, err := x.c.Webhooks.Create(ctx, sdk.WebhookCreateParams{URL: *url, Events: events, DeploymentID: *dep})
		if err != nil {
			return err
		}
		return x.print(h, func(w io.Writer) {
			fmt.Fprintf(w, "%s\nsigning secret: %s\n(shown this once)\n", h.WebhookID, h.Secret)
		})
	case "webhooks deliveries":
		limit, everything := pageFlags(fs)
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		p := sdk.ListParams{Limit: *limit}
		items, next, err := collect(*everything, func() (*sdk.Page[sdk.Delivery], error) { return x.c.Webhooks.Deliveries(ctx, pos[0], p) }, x.c.Webhooks.AllDeliveries(ctx, pos[0], p))
		if err != nil {
			return err
		}
		return printList(x, items, next, "DELIVERY EVENT TYPE STATUS ATTEMPTS", func(d sdk.Delivery) []string {
			return []string{d.DeliveryID, d.EventID, d.Type, d.Status, fmt.Sprint(d.Attempts)}
		})
	case "models list":
		if _, err := parse(0, 0); err != nil {
			return err
		}
		ms, err := x.c.Models.List(ctx)
		if err != nil {
			return err
		}
		return printList(x, ms, "", "MODEL PROVIDER DEFAULT DEMO", func(m sdk.Model) []string {
			return []string{m.ID, m.Provider, fmt.Sprint(m.Default), fmt.Sprint(m.Demo)}
		})
	}
	return x.dispatchAgents(ctx, name, sub, fs, parse)
}

// secretValue reads a secret's value from stdin (without its final
// newline), so that it is not in the shell's history.
func (x *cli) secretValue() (string, error) {
	b, err := io.ReadAll(x.in)
	if err != nil {
		return "", err
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("no secret value on stdin (e.g. printf %%s \"$VALUE\" | herm secrets ...)")
	}
	return v, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// oneLine is s on one line, cut to n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// printAutomation prints an automation and its recent runs.
func printAutomation(w io.Writer, a *sdk.Automation) {
	last := when(a.LastRunAt)
	if a.LastRunStatus != "" {
		last += " (" + a.LastRunStatus + ")"
	}
	fields(w,
		"automation", a.AutomationID,
		"name", a.Name,
		"enabled", fmt.Sprint(a.Enabled),
		"schedule", a.Schedule,
		"cron", orDash(a.Cron),
		"timezone", orDash(a.Timezone),
		"thread", orDash(a.ThreadID),
		"next run", when(a.NextRunAt),
		"last run", last,
		"missed runs", orDash(a.MissedRunPolicy),
		"overlap", orDash(a.Overlap),
		"max retries", fmt.Sprint(a.MaxRetries),
		"created", when(&a.CreatedAt),
		"updated", when(&a.UpdatedAt),
		"instructions", a.Instructions,
	)
	if len(a.RecentRuns) > 0 {
		fmt.Fprintln(w)
		rows := make([][]string, 0, len(a.RecentRuns))
		for _, r := range a.RecentRuns {
			rows = append(rows, []string{r.RunID, r.Status, when(&r.CreatedAt), when(r.CompletedAt)})
		}
		table(w, "RUN STATUS CREATED COMPLETED", rows)
	}
}

// printSteering prints a steering request.
func printSteering(w io.Writer, s *sdk.SteeringRequest) {
	kv := []string{"request", s.SteeringRequestID, "run", s.RunID, "kind", s.Kind, "status", s.Status, "summary", s.Summary}
	if s.Tool != "" {
		kv = append(kv, "tool", s.Tool+" "+oneLine(string(s.Arguments), 200))
	}
	if len(s.Options) > 0 {
		kv = append(kv, "options", strings.Join(s.Options, " / "))
	}
	kv = append(kv, "decision", orDash(s.Decision))
	if s.Message != "" {
		kv = append(kv, "message", s.Message)
	}
	fields(w, kv...)
}
