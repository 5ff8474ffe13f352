package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// fullDeployment returns an unsaved deployment with every configuration
// field set, and its default thread.
func (f *fixture) fullDeployment() (*herm.Deployment, *herm.Thread) {
	d, t := f.newDeployment("cus_full")
	d.Name, d.Model, d.SystemPrompt = "Support agent", "anthropic/claude-sonnet", "Be helpful.\n\"Quoted\" — ünïcode."
	d.Status = herm.DeploymentProvisioning
	d.Sandbox = herm.Sandbox{
		Enabled: true, Type: "local", PersistentFilesystem: true,
		Resources: herm.Resources{CPU: 1.5, MemoryMB: 512, DiskMB: 2048, PIDs: 128},
		Network:   herm.Network{Egress: herm.EgressProxy, AllowedHosts: []string{"api.github.com", "*.example.com"}},
	}
	d.MCPServers = []herm.MCPServer{
		{Name: "docs", URL: "https://mcp.example.com/mcp", Tools: []string{"search", "fetch"},
			Headers: map[string]string{"Authorization": "Bearer sec_abc"}, Permission: herm.PermissionAlwaysAsk},
		{Name: "plain", URL: "https://plain.example.com"},
	}
	d.Skills = []herm.Skill{
		{SkillID: "skl_1", Name: "pdf", Source: herm.SkillInline, Content: "# PDF\nUse pdftotext."},
		{SkillID: "skl_2", Name: "web", Source: herm.SkillURL, URL: "https://skills.example.com/web.md"},
		{SkillID: "skl_3", Name: "local", Source: herm.SkillFile, Path: "skills/local.md"},
	}
	d.Secrets = map[string]string{"GITHUB_TOKEN": "sec_1", "NPM_TOKEN": "sec_2"}
	d.Features = herm.Features{Memory: true, Dreaming: true, Steering: true, FilesystemWebhooks: true}
	d.Tools = map[string]herm.ToolSettings{
		"bash":      {Enabled: ptr(true), Permission: herm.PermissionAlwaysAsk},
		"web_fetch": {Enabled: ptr(false)},
		"read_file": {Permission: herm.PermissionAlwaysAllow},
	}
	d.Metadata = map[string]string{"plan": "pro", "région": "eu-west"}
	d.Timezone = "Europe/Paris"
	return d, t
}

// ignoreVersionTime leaves UpdatedAt out of DeploymentVersion comparisons.
func ignoreVersionTime() cmp.Option { return cmpopts.IgnoreFields(herm.Deployment{}, "UpdatedAt") }

func deploymentTests() []test {
	return []test{
		{"Deployment/CreateAndGet", func(t *testing.T, f *fixture) {
			d, th := f.fullDeployment()
			f.must(f.s.CreateDeployment(f.ctx, d, th))
			got, err := f.s.GetDeployment(f.ctx, d.ID)
			f.must(err)
			wantDiff(t, "deployment", d, got)

			v1, err := f.s.DeploymentVersion(f.ctx, d.ID, 1)
			f.must(err)
			wantDiff(t, "version 1", d, v1, ignoreVersionTime())

			gotThread, err := f.s.GetThread(f.ctx, d.ID, d.ThreadID)
			f.must(err)
			th.Status = herm.ThreadIdle
			wantDiff(t, "default thread", th, gotThread)
		}},
		{"Deployment/NilAndEmpty", func(t *testing.T, f *fixture) {
			nilD, nilT := f.newDeployment("cus_1")
			nilD.Features = herm.Features{}
			emptyD, emptyT := f.newDeployment("cus_1")
			emptyD.Sandbox.Network.AllowedHosts = []string{}
			emptyD.MCPServers, emptyD.Skills = []herm.MCPServer{}, []herm.Skill{}
			emptyD.Secrets, emptyD.Metadata = map[string]string{}, map[string]string{}
			emptyD.Tools = map[string]herm.ToolSettings{}
			emptyD.Error = &herm.ErrorInfo{}
			for _, d := range []*herm.Deployment{nilD, emptyD} {
				th := nilT
				if d == emptyD {
					th = emptyT
				}
				f.must(f.s.CreateDeployment(f.ctx, d, th))
				got, err := f.s.GetDeployment(f.ctx, d.ID)
				f.must(err)
				wantDiff(t, "deployment", d, got) // no EquateEmpty: nil stays nil, empty stays empty
				v1, err := f.s.DeploymentVersion(f.ctx, d.ID, 1)
				f.must(err)
				wantDiff(t, "version 1", d, v1, ignoreVersionTime())
			}
		}},
		{"Deployment/Conflict", func(t *testing.T, f *fixture) {
			d := f.deployment()
			again, th := f.newDeployment("cus_2")
			again.ID, th.DeploymentID = d.ID, d.ID
			wantCode(t, f.s.CreateDeployment(f.ctx, again, th), herm.EConflict)
			_, err := f.s.GetThread(f.ctx, d.ID, th.ID)
			wantCode(t, err, herm.ENotFound) // nothing of the failed create is left

			// A taken thread ID fails the whole create.
			other, th2 := f.newDeployment("cus_2")
			th2.ID = d.ThreadID
			other.ThreadID = d.ThreadID
			wantCode(t, f.s.CreateDeployment(f.ctx, other, th2), herm.EConflict)
			_, err = f.s.GetDeployment(f.ctx, other.ID)
			wantCode(t, err, herm.ENotFound)
		}},
		{"Deployment/NotFound", func(t *testing.T, f *fixture) {
			d := f.deployment()
			_, err := f.s.GetDeployment(f.ctx, "dep_nope")
			wantCode(t, err, herm.ENotFound)
			wantCode(t, f.s.SetDeploymentStatus(f.ctx, "dep_nope", herm.DeploymentReady, nil, at(0)), herm.ENotFound)
			_, err = f.s.DeploymentVersion(f.ctx, "dep_nope", 1)
			wantCode(t, err, herm.ENotFound)
			_, err = f.s.DeploymentVersion(f.ctx, d.ID, 2)
			wantCode(t, err, herm.ENotFound)
			wantCode(t, f.s.DeleteDeployment(f.ctx, "dep_nope"), herm.ENotFound)
			u := *d
			u.ID, u.ConfigVersion = "dep_nope", 2
			wantCode(t, f.s.UpdateDeploymentConfig(f.ctx, &u), herm.ENotFound)
			_, _, err = f.s.EventBounds(f.ctx, "dep_nope")
			wantCode(t, err, herm.ENotFound)
		}},
		{"Deployment/List", func(t *testing.T, f *fixture) {
			var all []*herm.Deployment
			for i := range 6 {
				d, th := f.newDeployment(fmt.Sprintf("cus_%d", i%2))
				if i%3 == 0 {
					d.Status = herm.DeploymentError
				}
				f.must(f.s.CreateDeployment(f.ctx, d, th))
				all = append(all, d)
			}
			tests := []struct {
				name   string
				filter herm.DeploymentFilter
				want   []*herm.Deployment
			}{
				{"all", herm.DeploymentFilter{}, []*herm.Deployment{all[5], all[4], all[3], all[2], all[1], all[0]}},
				{"limit", herm.DeploymentFilter{Page: herm.Page{Limit: 2}}, []*herm.Deployment{all[5], all[4]}},
				{"cursor", herm.DeploymentFilter{Page: herm.Page{Limit: 2, Cursor: all[4].ID}}, []*herm.Deployment{all[3], all[2]}},
				{"last page", herm.DeploymentFilter{Page: herm.Page{Limit: 2, Cursor: all[0].ID}}, nil},
				{"customer", herm.DeploymentFilter{CustomerID: "cus_1"}, []*herm.Deployment{all[5], all[3], all[1]}},
				{"customer cursor", herm.DeploymentFilter{CustomerID: "cus_1", Page: herm.Page{Cursor: all[5].ID}}, []*herm.Deployment{all[3], all[1]}},
				{"status", herm.DeploymentFilter{Status: herm.DeploymentError}, []*herm.Deployment{all[3], all[0]}},
				{"customer and status", herm.DeploymentFilter{CustomerID: "cus_0", Status: herm.DeploymentReady}, []*herm.Deployment{all[4], all[2]}},
				{"no match", herm.DeploymentFilter{CustomerID: "cus_9"}, nil},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					got, err := f.s.ListDeployments(f.ctx, tc.filter)
					f.must(err)
					wantDiff(t, "deployments", tc.want, got, cmpopts.EquateEmpty())
				})
			}
		}},
		{"Deployment/UpdateConfig", func(t *testing.T, f *fixture) {
			d, th := f.fullDeployment()
			f.must(f.s.CreateDeployment(f.ctx, d, th))
			f.must(f.s.SetDeploymentStatus(f.ctx, d.ID, herm.DeploymentReady, nil, at(time.Minute)))

			u := d.Clone()
			u.ConfigVersion, u.UpdatedAt = 2, at(time.Hour)
			u.Name, u.Model, u.SystemPrompt = "Renamed", "openai/gpt-x", "New prompt"
			u.Sandbox.Resources.MemoryMB = 1024
			u.MCPServers = u.MCPServers[:1]
			u.Skills = nil
			u.Secrets = map[string]string{"ONLY": "sec_9"}
			u.Features.Dreaming = false
			u.Tools = map[string]herm.ToolSettings{"bash": {Permission: herm.PermissionAlwaysAllow}}
			u.Metadata = map[string]string{}
			// Fields that are not configuration are not updated.
			u.CustomerID, u.Runtime, u.Status, u.ThreadID = "cus_other", "other", herm.DeploymentDeleting, "thr_other"
			u.Error, u.CreatedAt = &herm.ErrorInfo{Code: "x", Message: "y"}, at(24*time.Hour)
			f.must(f.s.UpdateDeploymentConfig(f.ctx, u))

			want := u.Clone()
			want.CustomerID, want.Runtime, want.Status, want.ThreadID = d.CustomerID, d.Runtime, herm.DeploymentReady, d.ThreadID
			want.Error, want.CreatedAt = nil, d.CreatedAt
			got, err := f.s.GetDeployment(f.ctx, d.ID)
			f.must(err)
			wantDiff(t, "updated deployment", want, got)

			// Versions keep each configuration; status fields are current.
			v1, err := f.s.DeploymentVersion(f.ctx, d.ID, 1)
			f.must(err)
			wantV1 := d.Clone()
			wantV1.Status = herm.DeploymentReady
			wantDiff(t, "version 1", wantV1, v1, ignoreVersionTime())
			v2, err := f.s.DeploymentVersion(f.ctx, d.ID, 2)
			f.must(err)
			wantDiff(t, "version 2", want, v2, ignoreVersionTime())

			// Optimistic concurrency: only version 3 may follow version 2.
			for _, v := range []int{1, 2, 4} {
				stale := want.Clone()
				stale.ConfigVersion, stale.Name = v, fmt.Sprint("stale ", v)
				wantCode(t, f.s.UpdateDeploymentConfig(f.ctx, stale), herm.EConflict)
			}
			next := want.Clone()
			next.ConfigVersion, next.Name = 3, "third"
			f.must(f.s.UpdateDeploymentConfig(f.ctx, next))
			got, err = f.s.GetDeployment(f.ctx, d.ID)
			f.must(err)
			if got.ConfigVersion != 3 || got.Name != "third" {
				t.Fatalf("after update 3: version %d name %q", got.ConfigVersion, got.Name)
			}
			v2, err = f.s.DeploymentVersion(f.ctx, d.ID, 2)
			f.must(err)
			wantDiff(t, "version 2 after update 3", want, v2, ignoreVersionTime())
		}},
		{"Deployment/ConcurrentUpdate", func(t *testing.T, f *fixture) {
			d := f.deployment()
			const n = 6
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					u := d.Clone()
					u.ConfigVersion, u.Name = 2, fmt.Sprint("writer ", i)
					errs[i] = f.s.UpdateDeploymentConfig(f.ctx, u)
				})
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch herm.ErrorCode(err) {
				case "":
					ok++
				case herm.EConflict:
				default:
					t.Fatalf("UpdateDeploymentConfig: %v", err)
				}
			}
			if ok != 1 {
				t.Fatalf("%d concurrent updates to version 2 succeeded, want 1", ok)
			}
		}},
		{"Deployment/Status", func(t *testing.T, f *fixture) {
			a, b, c := f.deployment(), f.deployment(), f.deployment()
			info := &herm.ErrorInfo{Code: "provisioning_failed", Message: "no space left"}
			f.must(f.s.SetDeploymentStatus(f.ctx, a.ID, herm.DeploymentError, info, at(time.Hour)))
			got, err := f.s.GetDeployment(f.ctx, a.ID)
			f.must(err)
			want := a.Clone()
			want.Status, want.Error, want.UpdatedAt = herm.DeploymentError, info, at(time.Hour)
			wantDiff(t, "deployment", want, got)

			f.must(f.s.SetDeploymentStatus(f.ctx, a.ID, herm.DeploymentReady, nil, at(2*time.Hour)))
			got, err = f.s.GetDeployment(f.ctx, a.ID)
			f.must(err)
			if got.Status != herm.DeploymentReady || got.Error != nil || !got.UpdatedAt.Equal(at(2*time.Hour)) {
				t.Fatalf("after ready: status %s error %v updated %v", got.Status, got.Error, got.UpdatedAt)
			}

			f.must(f.s.SetDeploymentStatus(f.ctx, b.ID, herm.DeploymentDeleting, nil, at(time.Hour)))
			f.must(f.s.SetDeploymentStatus(f.ctx, c.ID, herm.DeploymentDeleting, nil, at(time.Hour)))
			for st, want := range map[herm.DeploymentStatus][]string{
				herm.DeploymentDeleting:     {b.ID, c.ID},
				herm.DeploymentReady:        {a.ID},
				herm.DeploymentProvisioning: nil,
			} {
				ids, err := f.s.ListDeploymentIDsByStatus(f.ctx, st, "")
				f.must(err)
				wantDiff(t, string(st), want, ids, cmpopts.EquateEmpty(), cmpopts.SortSlices(func(x, y string) bool { return x < y }))
			}
		}},
		{"Deployment/DeleteCascade", func(t *testing.T, f *fixture) {
			type world struct {
				d      *herm.Deployment
				thread *herm.Thread
				run    *herm.Run
				msg    *herm.Message
			}
			build := func() world {
				d := f.deployment()
				u := d.Clone()
				u.ConfigVersion = 2
				f.must(f.s.UpdateDeploymentConfig(f.ctx, u))
				th := f.thread(d.ID)
				r := f.run(d.ID, th.ID, herm.RunRunning, at(time.Second))
				m := f.message(d.ID, th.ID, r.ID, false, at(time.Second))
				f.message(d.ID, th.ID, r.ID, true, at(2*time.Second))
				f.must(f.s.AppendStep(f.ctx, &herm.RunStep{RunID: r.ID, Index: 0, Kind: herm.StepInput, Data: json.RawMessage(`{}`), CreatedAt: at(0)}))
				f.must(f.s.AppendEvents(f.ctx, []*herm.Event{
					event(d.ID, "", "", herm.EventDeploymentStatus, 1),
					event(d.ID, th.ID, r.ID, herm.EventToken, 2),
				}))
				return world{d, th, r, m}
			}
			gone, kept := build(), build()
			f.must(f.s.DeleteDeployment(f.ctx, gone.d.ID))

			_, err := f.s.GetDeployment(f.ctx, gone.d.ID)
			wantCode(t, err, herm.ENotFound)
			for _, v := range []int{1, 2} {
				_, err = f.s.DeploymentVersion(f.ctx, gone.d.ID, v)
				wantCode(t, err, herm.ENotFound)
			}
			for _, th := range []string{gone.d.ThreadID, gone.thread.ID} {
				_, err = f.s.GetThread(f.ctx, gone.d.ID, th)
				wantCode(t, err, herm.ENotFound)
			}
			_, err = f.s.GetRun(f.ctx, gone.d.ID, gone.run.ID)
			wantCode(t, err, herm.ENotFound)
			checkEmpty(t, f, gone.d.ID, gone.thread.ID, gone.run.ID, true)
			wantCode(t, f.s.AppendEvents(f.ctx, []*herm.Event{event(gone.d.ID, "", "", herm.EventToken, 3)}), herm.ENotFound)
			wantCode(t, f.s.DeleteDeployment(f.ctx, gone.d.ID), herm.ENotFound)
			counts, err := f.s.CountRunsByStatus(f.ctx)
			f.must(err)
			if counts[herm.RunRunning] != 1 {
				t.Fatalf("running runs after delete = %d, want 1 (the other deployment's)", counts[herm.RunRunning])
			}

			// The other deployment is untouched.
			if _, err := f.s.GetDeployment(f.ctx, kept.d.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := f.s.GetRun(f.ctx, kept.d.ID, kept.run.ID); err != nil {
				t.Fatal(err)
			}
			msgs, err := f.s.ListMessages(f.ctx, kept.thread.ID, 0)
			f.must(err)
			wantDiff(t, "kept messages", []*herm.Message{kept.msg}, msgs)
			evs, err := f.s.ListEvents(f.ctx, kept.d.ID, 0, 0, store.EventFilter{})
			f.must(err)
			if len(evs) != 2 {
				t.Fatalf("kept events = %d, want 2", len(evs))
			}
			steps, err := f.s.ListSteps(f.ctx, kept.run.ID)
			f.must(err)
			if len(steps) != 1 {
				t.Fatalf("kept steps = %d, want 1", len(steps))
			}
		}},
	}
}

// checkEmpty fails unless the thread's messages, the run's steps and
// pending messages and (withEvents) the deployment's events are gone.
func checkEmpty(t *testing.T, f *fixture, deploymentID, threadID, runID string, withEvents bool) {
	t.Helper()
	msgs, err := f.s.ListMessages(f.ctx, threadID, 0)
	f.must(err)
	pending, err := f.s.PendingMessages(f.ctx, runID)
	f.must(err)
	steps, err := f.s.ListSteps(f.ctx, runID)
	f.must(err)
	active, err := f.s.ActiveRuns(f.ctx, threadID)
	f.must(err)
	runs, err := f.s.ListRuns(f.ctx, herm.RunFilter{ThreadID: threadID})
	f.must(err)
	if len(msgs)+len(pending)+len(steps)+len(active)+len(runs) != 0 {
		t.Fatalf("left behind: %d messages, %d pending, %d steps, %d active runs, %d runs",
			len(msgs), len(pending), len(steps), len(active), len(runs))
	}
	if withEvents {
		evs, err := f.s.ListEvents(f.ctx, deploymentID, 0, 0, store.EventFilter{})
		f.must(err)
		if len(evs) != 0 {
			t.Fatalf("left behind: %d events", len(evs))
		}
	}
}
