package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	sdk "github.com/hermhq/herm/sdk/go"
)

// dispatch runs subcommand args[0] of command name.
func (x *cli) dispatch(ctx context.Context, name string, args []string) error {
	usage, _ := cliCommand(name)
	sub, args := args[0], args[1:]
	fs := x.flags(name + " " + sub)
	if name == sub {
		fs = x.flags(name)
	}
	parse := func(minArgs, maxArgs int) ([]string, error) { return x.parse(fs, usage, args, minArgs, maxArgs) }
	switch name + " " + sub {
	case "deployments create":
		customer, dname := fs.String("customer", "", "customer_id (required)"), fs.String("name", "", "name (required)")
		prompt, model, file := fs.String("system-prompt", "", "system prompt"), fs.String("model", "", "provider/model"), fs.String("file", "", "a JSON file of create params (flags override it)")
		meta := kv{}
		fs.Var(meta, "metadata", "k=v (repeatable)")
		if _, err := parse(0, 0); err != nil {
			return err
		}
		var p sdk.DeploymentCreateParams
		if *file != "" {
			if err := x.readJSON(*file, &p); err != nil {
				return err
			}
		}
		setStr(&p.CustomerID, *customer)
		setStr(&p.Name, *dname)
		setStr(&p.SystemPrompt, *prompt)
		setStr(&p.Model, *model)
		if len(meta) > 0 {
			p.Metadata = meta
		}
		if p.CustomerID == "" || p.Name == "" {
			return usageErr{"deployments create: --customer and --name are required", usage}
		}
		d, err := x.c.Deployments.Create(ctx, p)
		if err != nil {
			return err
		}
		return x.print(d, func(w io.Writer) { fmt.Fprintf(w, "%s %s (default thread %s)\n", d.DeploymentID, d.Status, d.ThreadID) })
	case "deployments list":
		customer, status := fs.String("customer", "", "only this customer's"), fs.String("status", "", "only this status")
		limit, everything := pageFlags(fs)
		if _, err := parse(0, 0); err != nil {
			return err
		}
		p := sdk.DeploymentListParams{CustomerID: *customer, Status: *status, ListParams: sdk.ListParams{Limit: *limit}}
		items, next, err := collect(*everything, func() (*sdk.Page[sdk.Deployment], error) { return x.c.Deployments.List(ctx, p) }, x.c.Deployments.All(ctx, p))
		if err != nil {
			return err
		}
		return printList(x, items, next, "DEPLOYMENT CUSTOMER STATUS MODEL NAME", func(d sdk.Deployment) []string {
			return []string{d.DeploymentID, d.CustomerID, d.Status, d.Model, d.Name}
		})
	case "deployments get":
		wait := fs.Bool("wait", false, "wait until it is no longer provisioning")
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		var d *sdk.Deployment
		if *wait {
			d, err = x.c.Deployments.WaitReady(ctx, pos[0])
		} else {
			d, err = x.c.Deployments.Get(ctx, pos[0])
		}
		if d == nil {
			return err
		}
		if perr := x.print(d, func(w io.Writer) { printDeployment(w, d) }); perr != nil {
			return perr
		}
		return err
	case "deployments update":
		var dname, model, prompt optString
		fs.Var(&dname, "name", "new name")
		fs.Var(&model, "model", "new model")
		fs.Var(&prompt, "system-prompt", "new system prompt")
		file := fs.String("file", "", "a JSON file of update params (flags override it)")
		meta := kv{}
		fs.Var(meta, "metadata", "k=v (repeatable; k= removes k)")
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		var p sdk.DeploymentUpdateParams
		if *file != "" {
			if err := x.readJSON(*file, &p); err != nil {
				return err
			}
		}
		if dname.v != nil {
			p.Name = dname.v
		}
		if model.v != nil {
			p.Model = model.v
		}
		if prompt.v != nil {
			p.SystemPrompt = prompt.v
		}
		p.Metadata = metadataPatch(p.Metadata, meta)
		d, err := x.c.Deployments.Update(ctx, pos[0], p)
		if err != nil {
			return err
		}
		return x.print(d, func(w io.Writer) { fmt.Fprintf(w, "%s updated (config version %d)\n", d.DeploymentID, d.ConfigVersion) })
	case "deployments delete":
		retain := fs.Bool("retain-filesystem", false, "keep a snapshot of the workspace")
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		d, err := x.c.Deployments.Delete(ctx, pos[0], sdk.DeploymentDeleteParams{RetainFilesystem: *retain})
		if err != nil {
			return err
		}
		return x.print(d, func(w io.Writer) {
			fmt.Fprintf(w, "%s %s", d.DeploymentID, d.Status)
			if d.SnapshotID != "" {
				fmt.Fprintf(w, " (snapshot %s)", d.SnapshotID)
			}
			fmt.Fprintln(w)
		})

	case "threads create":
		title := fs.String("title", "", "title")
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		t, err := x.c.Threads.Create(ctx, pos[0], *title)
		if err != nil {
			return err
		}
		return x.print(t, func(w io.Writer) { fmt.Fprintln(w, t.ThreadID) })
	case "threads list":
		limit, everything := pageFlags(fs)
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		p := sdk.ListParams{Limit: *limit}
		items, next, err := collect(*everything, func() (*sdk.Page[sdk.Thread], error) { return x.c.Threads.List(ctx, pos[0], p) }, x.c.Threads.All(ctx, pos[0], p))
		if err != nil {
			return err
		}
		return printList(x, items, next, "THREAD STATUS MESSAGES LAST_ACTIVITY TITLE", func(t sdk.Thread) []string {
			title := t.Title
			if t.IsDefault {
				title += " (default)"
			}
			return []string{t.ThreadID, t.Status, strconv.Itoa(t.MessageCount), when(&t.LastActivityAt), title}
		})
	case "threads get":
		pos, err := parse(2, 2)
		if err != nil {
			return err
		}
		t, err := x.c.Threads.Get(ctx, pos[0], pos[1])
		if err != nil {
			return err
		}
		return x.print(t, func(w io.Writer) {
			fmt.Fprintf(w, "%s %q (%s, %d messages)\n", t.ThreadID, t.Title, t.Status, t.MessageCount)
			for _, m := range t.Messages {
				fmt.Fprintf(w, "\n%s (%s):\n%s\n", m.Role, when(&m.CreatedAt), m.Content)
			}
		})
	case "threads rename":
		pos, err := parse(3, 3)
		if err != nil {
			return err
		}
		t, err := x.c.Threads.Update(ctx, pos[0], pos[1], pos[2])
		if err != nil {
			return err
		}
		return x.print(t, func(w io.Writer) { fmt.Fprintf(w, "%s renamed %q\n", t.ThreadID, t.Title) })
	case "threads delete":
		pos, err := parse(2, 2)
		if err != nil {
			return err
		}
		return x.done(x.c.Threads.Delete(ctx, pos[0], pos[1]), pos[1]+" deleted")

	case "send send":
		thread, mode, noWait := fs.String("thread", "", "thread id, or new (default: the default thread)"), fs.String("mode", "", "steer, queue, interrupt or reject"), fs.Bool("no-wait", false, "print the run's id and return")
		pos, err := parse(2, 2)
		if err != nil {
			return err
		}
		return x.send(ctx, pos[0], sdk.MessageSendParams{Content: pos[1], ThreadID: *thread, Mode: *mode}, *noWait)

	case "runs list":
		status, thread, auto := fs.String("status", "", "only this status"), fs.String("thread", "", "only this thread's"), fs.String("automation", "", "only this automation's")
		limit, everything := pageFlags(fs)
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		p := sdk.RunListParams{Status: *status, ThreadID: *thread, AutomationID: *auto, ListParams: sdk.ListParams{Limit: *limit}}
		items, next, err := collect(*everything, func() (*sdk.Page[sdk.Run], error) { return x.c.Runs.List(ctx, pos[0], p) }, x.c.Runs.All(ctx, pos[0], p))
		if err != nil {
			return err
		}
		return printList(x, items, next, "RUN THREAD STATUS TRIGGER CREATED MODEL", func(r sdk.Run) []string {
			return []string{r.RunID, r.ThreadID, r.Status, r.Trigger.Type, when(&r.CreatedAt), orDash(r.Model)}
		})
	case "runs get", "runs cancel":
		pos, err := parse(2, 2)
		if err != nil {
			return err
		}
		var r *sdk.Run
		if sub == "get" {
			r, err = x.c.Runs.Get(ctx, pos[0], pos[1])
		} else {
			r, err = x.c.Runs.Cancel(ctx, pos[0], pos[1])
		}
		if err != nil {
			return err
		}
		return x.print(r, func(w io.Writer) { printRunObject(w, r) })

	case "events events":
		follow := fs.Bool("follow", false, "keep following the stream (Ctrl-C ends it)")
		after, types, run, thread := fs.String("after", "", "start after this event id"), list{}, fs.String("run", "", "only this run's"), fs.String("thread", "", "only this thread's")
		fs.Var(&types, "types", "only these types (comma-separated)")
		pos, err := parse(1, 1)
		if err != nil {
			return err
		}
		return x.events(ctx, pos[0], *follow, *after, types, *run, *thread)

	case "files ls":
		pos, err := parse(1, 2)
		if err != nil {
			return err
		}
		dir := ""
		if len(pos) == 2 {
			dir = pos[1]
		}
		l, err := x.c.Files.List(ctx, pos[0], dir)
		if err != nil {
			return err
		}
		return x.print(l, func(w io.Writer) {
			rows := [][]string{}
			for _, e := range l.Entries {
				n := e.Name
				if e.Type == "directory" {
					n += "/"
				}
				rows = append(rows, []string{strconv.FormatInt(e.Size, 10), when(&e.ModifiedAt), n})
			}
			table(w, "SIZE MODIFIED NAME", rows)
		})
	case "files cat":
		pos, err := parse(2, 2)
		if err != nil {
			return err
		}
		rc, err := x.c.Files.Open(ctx, pos[0], pos[1])
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.Copy(x.out, rc)
		return err
	case "files put":
		pos, err := parse(2, 3)
		if err != nil {
			return err
		}
		src := "-"
		if len(pos) == 3 {
			src = pos[2]
		}
		b, err := x.readInput(src)
		if err != nil {
			return err
		}
		fi, err := x.c.Files.Write(ctx, pos[0], pos[1], b)
		if err != nil {
			return err
		}
		return x.print(fi, func(w io.Writer) { fmt.Fprintf(w, "%s (%d bytes)\n", fi.Path, fi.Size) })
	case "files rm":
		pos, err := parse(2, 2)
		if err != nil {
			return err
		}
		return x.done(x.c.Files.Delete(ctx, pos[0], pos[1]), pos[1]+" deleted")
	}
	return x.dispatchMore(ctx, name, sub, fs, parse)
}

// done reports a command that returns nothing.
func (x *cli) done(err error, what string) error {
	if err != nil {
		return err
	}
	if x.json {
		return x.print(map[string]bool{"ok": true}, nil)
	}
	fmt.Fprintln(x.out, what)
	return nil
}

func setStr(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

// readJSON decodes a JSON file ("-": stdin) into v, refusing unknown
// fields.
func (x *cli) readJSON(file string, v any) error {
	b, err := x.readInput(file)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

func printRunObject(w io.Writer, r *sdk.Run) {
	fmt.Fprintf(w, "%s %s (thread %s, trigger %s)\n", r.RunID, r.Status, r.ThreadID, r.Trigger.Type)
	fmt.Fprintf(w, "  created %s, started %s, completed %s\n", when(&r.CreatedAt), when(r.StartedAt), when(r.CompletedAt))
	fmt.Fprintf(w, "  model %s; %d model calls, %d tool calls, %d input and %d output tokens\n", orDash(r.Model), r.Usage.ModelCalls, r.Usage.ToolCalls, r.Usage.InputTokens, r.Usage.OutputTokens)
	if r.Error != nil {
		fmt.Fprintf(w, "  error: %s: %s\n", r.Error.Code, r.Error.Message)
	}
}

// printDeployment prints a deployment's settings and status.
func printDeployment(w io.Writer, d *sdk.Deployment) {
	status := d.Status
	if d.Error != nil {
		status += " (" + d.Error.Code + ": " + d.Error.Message + ")"
	}
	sandbox := "disabled"
	if d.Sandbox.Enabled {
		sandbox = d.Sandbox.Type
		if d.Sandbox.PersistentFilesystem {
			sandbox += ", persistent filesystem"
		}
		if n := d.Sandbox.Network; n.Egress != "" {
			sandbox += ", egress " + n.Egress
			if len(n.AllowedHosts) > 0 {
				sandbox += " to " + strings.Join(n.AllowedHosts, " ")
			}
		}
	}
	var mcp, skills, secrets, tools, features, meta []string
	for _, m := range d.MCPServers {
		mcp = append(mcp, m.Name+" "+m.URL)
	}
	for _, s := range d.Skills {
		skills = append(skills, s.Name+" ("+s.SkillID+")")
	}
	for _, k := range sortedKeys(d.Secrets) {
		secrets = append(secrets, k+"="+d.Secrets[k])
	}
	for _, k := range sortedKeys(d.Tools) {
		t := d.Tools[k]
		var set []string
		if t.Enabled != nil {
			set = append(set, "enabled="+strconv.FormatBool(*t.Enabled))
		}
		if t.Permission != "" {
			set = append(set, t.Permission)
		}
		tools = append(tools, k+" "+strings.Join(set, " "))
	}
	for name, on := range map[string]bool{"memory": d.Features.Memory, "dreaming": d.Features.Dreaming, "dreaming_review": d.Features.DreamingReview, "automations": d.Features.Automations,
		"steering": d.Features.Steering, "filesystem_webhooks": d.Features.FilesystemWebhooks} {
		if on {
			features = append(features, name)
		}
	}
	slices.Sort(features)
	for _, k := range sortedKeys(d.Metadata) {
		meta = append(meta, k+"="+d.Metadata[k])
	}
	budget := "-"
	if d.BudgetUSD != nil {
		budget = fmt.Sprintf("$%.2f", *d.BudgetUSD)
	}
	fields(w,
		"deployment", d.DeploymentID,
		"name", d.Name,
		"customer", d.CustomerID,
		"status", status,
		"model", orDash(d.Model),
		"runtime", orDash(d.Runtime),
		"default thread", d.ThreadID,
		"config version", strconv.Itoa(d.ConfigVersion),
		"sandbox", sandbox,
		"workspace", orDash(d.Filesystem.WorkspacePath),
		"features", joinOr(features),
		"tools", joinOr(tools),
		"mcp servers", joinOr(mcp),
		"skills", joinOr(skills),
		"secrets", joinOr(secrets),
		"metadata", joinOr(meta),
		"budget", budget,
		"created", when(&d.CreatedAt),
		"updated", when(&d.UpdatedAt),
		"system prompt", orDash(d.SystemPrompt),
	)
}

// sortedKeys is m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
