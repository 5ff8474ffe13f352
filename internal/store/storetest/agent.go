package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// agent stores a new agent (version 1).
func (f *fixture) agent() *herm.Agent {
	f.t.Helper()
	a := &herm.Agent{ID: f.id(herm.PrefixAgent), Name: "helper", Metadata: map[string]string{"team": "support"},
		CreatedAt: at(0), UpdatedAt: at(0)}
	f.must(f.s.CreateAgent(f.ctx, a, json.RawMessage(`{"name":"helper","model":"demo/echo","instructions":"v1"}`)))
	return a
}

// hiddenDeployment returns an unsaved hidden deployment of the agent and
// user key, with its default thread.
func (f *fixture) hiddenDeployment(agentID, userKey string) (*herm.Deployment, *herm.Thread) {
	d, t := f.newDeployment("")
	d.AgentID, d.UserKey = agentID, userKey
	return d, t
}

// session stores a session of the agent for user, with the pair's hidden
// deployment (made when missing) and a thread of its own.
func (f *fixture) session(q store.Querier, a *herm.Agent, user string) *herm.Session {
	f.t.Helper()
	s, err := f.newSession(q, a, user)
	f.must(err)
	return s
}

func (f *fixture) newSession(q store.Querier, a *herm.Agent, user string) (*herm.Session, error) {
	id := f.id(herm.PrefixSession)
	key := user
	if key == "" {
		key = id
	}
	d, dt := f.hiddenDeployment(a.ID, key)
	dep, _, err := q.EnsureAgentDeployment(f.ctx, d, dt)
	if err != nil {
		return nil, err
	}
	th := &herm.Thread{ID: f.id(herm.PrefixThread), DeploymentID: dep.ID, Title: "session", CreatedAt: at(time.Second), LastActivityAt: at(time.Second)}
	if err := q.CreateThread(f.ctx, th); err != nil {
		return nil, err
	}
	s := &herm.Session{ID: id, AgentID: a.ID, AgentVersion: a.CurrentVersion, UserID: user, Title: "chat",
		Metadata: map[string]string{"k": "v"}, DeploymentID: dep.ID, ThreadID: th.ID, CreatedAt: at(time.Second), UpdatedAt: at(time.Second)}
	return s, q.CreateSession(f.ctx, s)
}

func agentTests() []test {
	return []test{
		{"Agent/CreateGetList", func(t *testing.T, f *fixture) {
			a := f.agent()
			got, err := f.s.GetAgent(f.ctx, a.ID)
			f.must(err)
			wantDiff(t, "agent", &herm.Agent{ID: a.ID, Name: "helper", Status: herm.AgentActive, CurrentVersion: 1,
				Metadata: map[string]string{"team": "support"}, CreatedAt: at(0), UpdatedAt: at(0)}, got)
			_, err = f.s.GetAgent(f.ctx, "agt_missing")
			wantCode(t, err, herm.ENotFound)
			wantCode(t, f.s.CreateAgent(f.ctx, &herm.Agent{ID: a.ID}, json.RawMessage(`{}`)), herm.EConflict)
			wantCode(t, f.s.CreateAgent(f.ctx, &herm.Agent{ID: f.id(herm.PrefixAgent)}, json.RawMessage(`{`)), herm.EInvalid)

			b, c := f.agent(), f.agent()
			f.must(f.s.ArchiveAgent(f.ctx, b.ID, at(time.Hour)))
			ids := func(l []*herm.Agent) []string {
				var out []string
				for _, a := range l {
					out = append(out, a.ID)
				}
				return out
			}
			all, err := f.s.ListAgents(f.ctx, herm.AgentFilter{})
			f.must(err)
			wantDiff(t, "all agents", []string{c.ID, b.ID, a.ID}, ids(all))
			active, err := f.s.ListAgents(f.ctx, herm.AgentFilter{Archived: ptr(false)})
			f.must(err)
			wantDiff(t, "active agents", []string{c.ID, a.ID}, ids(active))
			archived, err := f.s.ListAgents(f.ctx, herm.AgentFilter{Archived: ptr(true)})
			f.must(err)
			wantDiff(t, "archived agents", []string{b.ID}, ids(archived))
			if archived[0].Status != herm.AgentArchived || archived[0].ArchivedAt == nil || !archived[0].ArchivedAt.Equal(at(time.Hour)) {
				t.Fatalf("archived agent %+v", archived[0])
			}
			page, err := f.s.ListAgents(f.ctx, herm.AgentFilter{Page: herm.Page{Limit: 1, Cursor: c.ID}})
			f.must(err)
			wantDiff(t, "page after the newest", []string{b.ID}, ids(page))
			wantCode(t, f.s.ArchiveAgent(f.ctx, b.ID, at(2*time.Hour)), herm.EConflict)
			wantCode(t, f.s.ArchiveAgent(f.ctx, "agt_missing", at(time.Hour)), herm.ENotFound)
		}},
		{"Agent/UpdateVersions", func(t *testing.T, f *fixture) {
			a := f.agent()
			a.Name, a.CurrentVersion, a.UpdatedAt, a.Metadata = "helper 2", 2, at(time.Minute), nil
			f.must(f.s.UpdateAgent(f.ctx, a, json.RawMessage(`{"instructions":"v2"}`)))
			got, err := f.s.GetAgent(f.ctx, a.ID)
			f.must(err)
			if got.Name != "helper 2" || got.CurrentVersion != 2 || !got.UpdatedAt.Equal(at(time.Minute)) || got.Metadata != nil {
				t.Fatalf("updated agent %+v", got)
			}
			// A second update from version 1 loses, changing nothing.
			stale := *a
			stale.Name, stale.CurrentVersion = "stale", 2
			wantCode(t, f.s.UpdateAgent(f.ctx, &stale, json.RawMessage(`{"instructions":"stale"}`)), herm.EConflict)
			v1, err := f.s.GetAgentVersion(f.ctx, a.ID, 1)
			f.must(err)
			v2, err := f.s.GetAgentVersion(f.ctx, a.ID, 2)
			f.must(err)
			wantDiff(t, "version 2", &herm.AgentVersion{AgentID: a.ID, Version: 2, Definition: json.RawMessage(`{"instructions":"v2"}`), CreatedAt: at(time.Minute)}, v2)
			if string(v1.Definition) != `{"name":"helper","model":"demo/echo","instructions":"v1"}` {
				t.Fatalf("version 1 %s", v1.Definition)
			}
			_, err = f.s.GetAgentVersion(f.ctx, a.ID, 3)
			wantCode(t, err, herm.ENotFound)
			for v := 3; v <= 5; v++ {
				a.CurrentVersion = v
				f.must(f.s.UpdateAgent(f.ctx, a, json.RawMessage(fmt.Sprintf(`{"v":%d}`, v))))
			}
			vs, err := f.s.ListAgentVersions(f.ctx, a.ID, 0, 0)
			f.must(err)
			var nums []int
			for _, v := range vs {
				nums = append(nums, v.Version)
			}
			wantDiff(t, "versions", []int{5, 4, 3, 2, 1}, nums)
			vs, err = f.s.ListAgentVersions(f.ctx, a.ID, 4, 2)
			f.must(err)
			if len(vs) != 2 || vs[0].Version != 3 || vs[1].Version != 2 {
				t.Fatalf("versions below 4: %+v", vs)
			}
			wantCode(t, f.s.UpdateAgent(f.ctx, &herm.Agent{ID: "agt_missing", CurrentVersion: 2}, json.RawMessage(`{}`)), herm.ENotFound)
			f.must(f.s.ArchiveAgent(f.ctx, a.ID, at(time.Hour)))
			a.CurrentVersion = 6
			wantCode(t, f.s.UpdateAgent(f.ctx, a, json.RawMessage(`{}`)), herm.EConflict)
		}},
		{"Agent/HiddenDeployments", func(t *testing.T, f *fixture) {
			a := f.agent()
			plain := f.deployment()
			d, dt := f.hiddenDeployment(a.ID, "user-1")
			got, created, err := f.s.EnsureAgentDeployment(f.ctx, d, dt)
			f.must(err)
			if !created || got.ID != d.ID || got.AgentID != a.ID || got.UserKey != "user-1" || got.ThreadID != dt.ID {
				t.Fatalf("hidden deployment %+v created %v", got, created)
			}
			// Another one of the same pair: the first is returned.
			d2, dt2 := f.hiddenDeployment(a.ID, "user-1")
			again, created, err := f.s.EnsureAgentDeployment(f.ctx, d2, dt2)
			f.must(err)
			if created || again.ID != d.ID {
				t.Fatalf("second ensure: %s created %v, want %s", again.ID, created, d.ID)
			}
			if _, err := f.s.GetDeployment(f.ctx, d2.ID); herm.ErrorCode(err) != herm.ENotFound {
				t.Fatalf("the losing deployment was stored: %v", err)
			}
			if _, err := f.s.GetThread(f.ctx, d2.ID, dt2.ID); herm.ErrorCode(err) != herm.ENotFound {
				t.Fatalf("the losing thread was stored: %v", err)
			}
			wantCode(t, f.s.CreateDeployment(f.ctx, d2, dt2), herm.EConflict)
			other, _, err := f.ensure(a.ID, "user-2")
			f.must(err)
			_, _, err = f.ensure("agt_missing", "user-1")
			wantCode(t, err, herm.ENotFound)
			_, _, err = f.ensure(a.ID, "")
			wantCode(t, err, herm.EInvalid)

			found, err := f.s.DeploymentForAgentUser(f.ctx, a.ID, "user-2")
			f.must(err)
			if found.ID != other.ID {
				t.Fatalf("deployment of user-2: %s, want %s", found.ID, other.ID)
			}
			_, err = f.s.DeploymentForAgentUser(f.ctx, a.ID, "user-3")
			wantCode(t, err, herm.ENotFound)
			// Hidden deployments are reachable by ID, not listed.
			byID, err := f.s.GetDeployment(f.ctx, d.ID)
			f.must(err)
			if byID.AgentID != a.ID || byID.UserKey != "user-1" {
				t.Fatalf("GetDeployment of a hidden deployment: %+v", byID)
			}
			for _, filter := range []herm.DeploymentFilter{{}, {CustomerID: ""}, {Status: herm.DeploymentReady}} {
				list, err := f.s.ListDeployments(f.ctx, filter)
				f.must(err)
				if len(list) != 1 || list[0].ID != plain.ID || list[0].AgentID != "" {
					t.Fatalf("ListDeployments(%+v) = %d deployments, want only %s", filter, len(list), plain.ID)
				}
			}
			// Still internal work: by status and owner.
			ids, err := f.s.ListDeploymentIDsByStatus(f.ctx, herm.DeploymentReady, "")
			f.must(err)
			if len(ids) != 3 {
				t.Fatalf("deployments by status: %v", ids)
			}
		}},
		{"Session/Lifecycle", func(t *testing.T, f *fixture) {
			a := f.agent()
			s1 := f.session(f.s, a, "user-1")
			got, err := f.s.GetSession(f.ctx, s1.ID)
			f.must(err)
			wantDiff(t, "session", s1, got)
			// Pinned versions: a session of version 2 beside one of 1.
			a.CurrentVersion, a.UpdatedAt = 2, at(time.Minute)
			f.must(f.s.UpdateAgent(f.ctx, a, json.RawMessage(`{"instructions":"v2"}`)))
			s2 := f.session(f.s, a, "user-1")
			if s2.DeploymentID != s1.DeploymentID || s2.ThreadID == s1.ThreadID || s2.AgentVersion != 2 {
				t.Fatalf("second session of user-1: %+v (first %+v)", s2, s1)
			}
			s3 := f.session(f.s, a, "user-2")
			s4 := f.session(f.s, a, "")
			if s3.DeploymentID == s1.DeploymentID || s4.DeploymentID == s1.DeploymentID || s4.DeploymentID == s3.DeploymentID {
				t.Fatal("sessions of different users share a deployment")
			}
			if s4.UserID != "" {
				t.Fatalf("session without user: %+v", s4)
			}
			b := f.agent()
			s5 := f.session(f.s, b, "user-1")

			// Errors.
			bad := *s1
			bad.ID, bad.AgentVersion, bad.ThreadID = f.id(herm.PrefixSession), 9, f.thread(s1.DeploymentID).ID
			wantCode(t, f.s.CreateSession(f.ctx, &bad), herm.ENotFound)
			bad.AgentVersion, bad.ThreadID = 1, s1.ThreadID
			wantCode(t, f.s.CreateSession(f.ctx, &bad), herm.EConflict) // s1's thread
			dup := *s1
			wantCode(t, f.s.CreateSession(f.ctx, &dup), herm.EConflict)
			_, err = f.s.GetSession(f.ctx, "sesn_missing")
			wantCode(t, err, herm.ENotFound)

			// Update and archive.
			s2.Title, s2.Metadata, s2.UpdatedAt = "renamed", map[string]string{"x": "y"}, at(time.Hour)
			f.must(f.s.UpdateSession(f.ctx, s2))
			got, err = f.s.GetSession(f.ctx, s2.ID)
			f.must(err)
			wantDiff(t, "updated session", s2, got)
			wantCode(t, f.s.UpdateSession(f.ctx, &herm.Session{ID: "sesn_missing"}), herm.ENotFound)
			f.must(f.s.ArchiveSession(f.ctx, s3.ID, at(2*time.Hour)))
			wantCode(t, f.s.ArchiveSession(f.ctx, s3.ID, at(3*time.Hour)), herm.EConflict)
			wantCode(t, f.s.ArchiveSession(f.ctx, "sesn_missing", at(time.Hour)), herm.ENotFound)
			got, err = f.s.GetSession(f.ctx, s3.ID)
			f.must(err)
			if got.ArchivedAt == nil || !got.ArchivedAt.Equal(at(2*time.Hour)) || !got.UpdatedAt.Equal(at(2*time.Hour)) {
				t.Fatalf("archived session %+v", got)
			}

			// Lists.
			for _, c := range []struct {
				f    herm.SessionFilter
				want []*herm.Session
			}{
				{herm.SessionFilter{}, []*herm.Session{s5, s4, s3, s2, s1}},
				{herm.SessionFilter{AgentID: a.ID}, []*herm.Session{s4, s3, s2, s1}},
				{herm.SessionFilter{UserID: "user-1"}, []*herm.Session{s5, s2, s1}},
				{herm.SessionFilter{AgentID: a.ID, UserID: "user-1"}, []*herm.Session{s2, s1}},
				{herm.SessionFilter{AgentID: a.ID, Archived: ptr(true)}, []*herm.Session{s3}},
				{herm.SessionFilter{AgentID: a.ID, Archived: ptr(false)}, []*herm.Session{s4, s2, s1}},
				{herm.SessionFilter{AgentID: a.ID, Page: herm.Page{Limit: 2, Cursor: s4.ID}}, []*herm.Session{s3, s2}},
				{herm.SessionFilter{Metadata: map[string]string{"x": "y"}}, []*herm.Session{s2}},
				{herm.SessionFilter{Metadata: map[string]string{"x": "z"}}, nil},
				{herm.SessionFilter{Metadata: map[string]string{"x": "y", "w": "y"}}, nil},
				{herm.SessionFilter{Metadata: map[string]string{"y": "x"}}, nil},
			} {
				list, err := f.s.ListSessions(f.ctx, c.f)
				f.must(err)
				var want, got []string
				for _, s := range c.want {
					want = append(want, s.ID)
				}
				for _, s := range list {
					got = append(got, s.ID)
				}
				wantDiff(t, fmt.Sprintf("sessions %+v", c.f), want, got)
			}

			// By status: running while a run of its thread is queued or
			// running; a waiting or finished run leaves it idle.
			f.run(s1.DeploymentID, s1.ThreadID, herm.RunQueued, at(time.Minute))
			f.run(s2.DeploymentID, s2.ThreadID, herm.RunWaitingOnHuman, at(time.Minute))
			f.run(s3.DeploymentID, s3.ThreadID, herm.RunCompleted, at(time.Minute))
			for status, want := range map[string][]*herm.Session{"running": {s1}, "idle": {s4, s3, s2}} {
				list, err := f.s.ListSessions(f.ctx, herm.SessionFilter{AgentID: a.ID, Status: status})
				f.must(err)
				var w, got []string
				for _, s := range want {
					w = append(w, s.ID)
				}
				for _, s := range list {
					got = append(got, s.ID)
				}
				wantDiff(t, "sessions "+status, w, got)
			}
			_, err = f.s.ListSessions(f.ctx, herm.SessionFilter{Status: "busy"})
			wantCode(t, err, herm.EInvalid)

			// An archived agent keeps its sessions and takes no new ones.
			f.must(f.s.ArchiveAgent(f.ctx, a.ID, at(time.Hour)))
			if _, err := f.newSession(f.s, a, "user-1"); herm.ErrorCode(err) != herm.EConflict {
				t.Fatalf("session of an archived agent: %v", err)
			}
			if _, err := f.s.GetSession(f.ctx, s1.ID); err != nil {
				t.Fatal(err)
			}

			// Delete: the session and its thread go, the deployment (memory)
			// and the other sessions stay.
			f.run(s1.DeploymentID, s1.ThreadID, herm.RunCompleted, at(time.Minute))
			f.must(f.s.DeleteSession(f.ctx, s1.ID))
			_, err = f.s.GetSession(f.ctx, s1.ID)
			wantCode(t, err, herm.ENotFound)
			_, err = f.s.GetThread(f.ctx, s1.DeploymentID, s1.ThreadID)
			wantCode(t, err, herm.ENotFound)
			if _, err := f.s.GetDeployment(f.ctx, s1.DeploymentID); err != nil {
				t.Fatalf("the deployment of a deleted session: %v", err)
			}
			if _, err := f.s.GetSession(f.ctx, s2.ID); err != nil {
				t.Fatalf("the other session of the user: %v", err)
			}
			wantCode(t, f.s.DeleteSession(f.ctx, s1.ID), herm.ENotFound)
			// Deleting a deployment takes its sessions with it.
			f.must(f.s.DeleteDeployment(f.ctx, s4.DeploymentID))
			_, err = f.s.GetSession(f.ctx, s4.ID)
			wantCode(t, err, herm.ENotFound)
		}},
		{"Race/UpdateAgent", func(t *testing.T, f *fixture) {
			// Two updates from one version: exactly one wins, and the
			// versions hold the winner's definition.
			other := f.another()
			a := f.agent()
			for i := range rounds {
				v := a.CurrentVersion + 1
				mk := func(who string) (*herm.Agent, json.RawMessage) {
					c := *a
					c.Name, c.CurrentVersion = who, v
					return &c, json.RawMessage(fmt.Sprintf(`{"by":%q}`, who))
				}
				x, dx := mk("a")
				y, dy := mk("b")
				var errA, errB error
				race(func() { errA = f.s.UpdateAgent(f.ctx, x, dx) }, func() { errB = other.UpdateAgent(f.ctx, y, dy) })
				wa, wb := won(t, "update a", errA), won(t, "update b", errB)
				if wa == wb {
					t.Fatalf("round %d: updates %v and %v, want exactly one to win", i, errA, errB)
				}
				got, err := f.s.GetAgent(f.ctx, a.ID)
				f.must(err)
				ver, err := f.s.GetAgentVersion(f.ctx, a.ID, v)
				f.must(err)
				if got.CurrentVersion != v || string(ver.Definition) != fmt.Sprintf(`{"by":%q}`, got.Name) {
					t.Fatalf("round %d: agent %+v, version %s", i, got, ver.Definition)
				}
				a = got
			}
		}},
		{"Race/SessionsMakeOneDeployment", func(t *testing.T, f *fixture) {
			// The first two sessions of one agent and user, at once: one
			// hidden deployment, both sessions in it.
			other := f.another()
			a := f.agent()
			for i := range rounds {
				user := fmt.Sprintf("user-%d", i)
				var sa, sb *herm.Session
				var errA, errB error
				race(func() {
					errA = f.s.InTx(f.ctx, func(q store.Querier) error { var err error; sa, err = f.newSession(q, a, user); return err })
				}, func() {
					errB = other.InTx(f.ctx, func(q store.Querier) error { var err error; sb, err = f.newSession(q, a, user); return err })
				})
				f.must(errA)
				f.must(errB)
				if sa.DeploymentID != sb.DeploymentID {
					t.Fatalf("round %d: sessions in deployments %s and %s", i, sa.DeploymentID, sb.DeploymentID)
				}
				d, err := f.s.DeploymentForAgentUser(f.ctx, a.ID, user)
				f.must(err)
				if d.ID != sa.DeploymentID {
					t.Fatalf("round %d: the pair's deployment is %s, sessions are in %s", i, d.ID, sa.DeploymentID)
				}
				list, err := f.s.ListSessions(f.ctx, herm.SessionFilter{UserID: user})
				f.must(err)
				if len(list) != 2 {
					t.Fatalf("round %d: %d sessions", i, len(list))
				}
			}
		}},
	}
}

// ensure calls EnsureAgentDeployment with a new deployment of the pair.
func (f *fixture) ensure(agentID, userKey string) (*herm.Deployment, bool, error) {
	d, t := f.hiddenDeployment(agentID, userKey)
	return f.s.EnsureAgentDeployment(f.ctx, d, t)
}
