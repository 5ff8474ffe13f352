package workspace

import (
	"context"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/hermhq/herm/internal/egress"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/sandbox/process"
	"github.com/hermhq/herm/internal/tools"
)

// oneSandbox hands out one sandbox of the process driver.
type oneSandbox struct{ sb sandbox.Sandbox }

func (o oneSandbox) Workspace(context.Context, *herm.Deployment) (*sandbox.Workspace, error) {
	return o.sb.Workspace(), nil
}

// fakeDownloader serves fixed bodies by URL; others fail.
type fakeDownloader map[string]string

func (f fakeDownloader) Download(_ context.Context, _ *herm.Deployment, u string, _ int64) ([]byte, string, error) {
	if b, ok := f[u]; ok {
		return []byte(b), "text/markdown", nil
	}
	return nil, "", herm.Errorf(herm.EInvalid, "HTTP 404 from %s", u)
}

func newHost(t *testing.T, dl fakeDownloader, stored *herm.Deployment) (*Host, sandbox.Sandbox) {
	t.Helper()
	drv := process.New(t.TempDir())
	sb, err := drv.Ensure(context.Background(), sandbox.Spec{DeploymentID: "dep_1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = drv.Close(context.Background()) })
	return New(Options{Sandboxes: oneSandbox{sb}, Downloader: dl,
		Deployment: func(context.Context, string) (*herm.Deployment, error) { return stored, nil }}), sb
}

func read(t *testing.T, sb sandbox.Sandbox, p string) string {
	t.Helper()
	b, err := sb.Workspace().ReadFile(p, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Tool outputs are saved under .herm/outputs with names made safe.
func TestSpillAndSaveFile(t *testing.T) {
	t.Parallel()
	h, sb := newHost(t, nil, nil)
	d := &herm.Deployment{ID: "dep_1"}
	p, err := h.Spill(context.Background(), d, "call/../1", "long output")
	if err != nil || p != ".herm/outputs/call____1.txt" || read(t, sb, p) != "long output" {
		t.Fatalf("spill: %q %v", p, err)
	}
	p, err = h.SaveFile(context.Background(), d, "call_2", tools.File{Name: "../image one.png", Data: []byte("PNG")})
	if err != nil || p != ".herm/outputs/call_2-_image_one.png" || read(t, sb, p) != "PNG" {
		t.Fatalf("save file: %q %v", p, err)
	}
}

// An attachment is decoded or fetched and saved under attachments/<run>/;
// one that cannot be fetched says why, as a user's error.
func TestAttachments(t *testing.T) {
	t.Parallel()
	h, sb := newHost(t, fakeDownloader{"https://x.com/files/notes.md": "# notes"}, nil)
	d := &herm.Deployment{ID: "dep_1"}
	ctx := context.Background()
	png := "data:image/png;base64," + base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n"))
	saved, err := h.Save(ctx, d, "run_1", 0, herm.Attachment{Type: herm.AttachImage, URL: png})
	if err != nil || saved.Path != "attachments/run_1/0-image.png" || saved.MediaType != "image/png" {
		t.Fatalf("data URL: %+v %v", saved, err)
	}
	if b, err := h.Read(ctx, d, saved.Path); err != nil || string(b) != "\x89PNG\r\n\x1a\n" {
		t.Fatalf("read back: %q %v", b, err)
	}
	saved, err = h.Save(ctx, d, "run_1", 1, herm.Attachment{Type: "file", URL: "https://x.com/files/notes.md"})
	if err != nil || saved.Path != "attachments/run_1/1-notes.md" || read(t, sb, saved.Path) != "# notes" {
		t.Fatalf("https: %+v %v", saved, err)
	}
	_, err = h.Save(ctx, d, "run_1", 2, herm.Attachment{Type: "file", URL: "https://x.com/missing"})
	if herm.ErrorCode(err) != herm.EInvalid || !strings.Contains(herm.ErrorMessage(err), "HTTP 404") {
		t.Fatalf("a failed fetch: %v", err)
	}
	_, err = h.Save(ctx, d, "run_1", 3, herm.Attachment{Type: herm.AttachImage, URL: "https://x.com/files/notes.md"})
	if herm.ErrorCode(err) != herm.EInvalid || !strings.Contains(herm.ErrorMessage(err), "png, jpeg, gif or webp") {
		t.Fatalf("an image that is not one: %v", err)
	}
}

func skillMD(name string) string {
	return "---\nname: " + name + "\ndescription: Does " + name + ".\n---\nSteps.\n"
}

// Skills are checked when they are set: inline as they are, url ones
// fetched, file ones read from the stored deployment's workspace; the
// catalog of the system prompt lists them.
func TestResolveSkillAndSystemExtra(t *testing.T) {
	t.Parallel()
	stored := &herm.Deployment{ID: "dep_1", Status: herm.DeploymentReady}
	h, sb := newHost(t, fakeDownloader{"https://x.com/deploy.md": skillMD("deploy")}, stored)
	ctx := context.Background()
	d := &herm.Deployment{ID: "dep_1"}
	if _, err := h.ResolveSkill(ctx, herm.Skill{Source: herm.SkillInline, Name: "other", Content: skillMD("review")}, d); herm.ErrorCode(err) != herm.EInvalidSkill {
		t.Fatalf("an inline skill whose name differs: %v", err)
	}
	s, err := h.ResolveSkill(ctx, herm.Skill{Source: herm.SkillURL, Name: "deploy", URL: "https://x.com/deploy.md"}, d)
	if err != nil || s.Content != skillMD("deploy") {
		t.Fatalf("url skill: %+v %v", s, err)
	}
	if _, err := h.ResolveSkill(ctx, herm.Skill{Source: herm.SkillURL, Name: "deploy", URL: "https://x.com/nope.md"}, d); herm.ErrorCode(err) != herm.EInvalidSkill {
		t.Fatalf("a url skill that cannot be fetched: %v", err)
	}
	if _, err := sb.Workspace().WriteFile("skills/triage/SKILL.md", strings.NewReader(skillMD("triage"))); err != nil {
		t.Fatal(err)
	}
	s, err = h.ResolveSkill(ctx, herm.Skill{Source: herm.SkillFile, Name: "triage", Path: "skills/triage"}, d)
	if err != nil || s.Content != "" {
		t.Fatalf("file skill: %+v %v", s, err)
	}
	if _, err := h.ResolveSkill(ctx, herm.Skill{Source: herm.SkillFile, Name: "triage", Path: "skills/missing"}, d); herm.ErrorCode(err) != herm.EInvalidSkill {
		t.Fatalf("a file skill that is not there: %v", err)
	}
	d.Skills = []herm.Skill{{Source: herm.SkillInline, Name: "review", Content: skillMD("review")}}
	if got := h.SystemExtra(ctx, d); !strings.Contains(got, "review") || !strings.Contains(got, "Does review.") {
		t.Fatalf("system prompt extra:\n%s", got)
	}
}

// Egress gives a sandbox whose driver has no network hook only the
// secrets' placeholders, and writes no CA into its workspace.
func TestEgressWithoutNetworkHook(t *testing.T) {
	t.Parallel()
	_, sb := newHost(t, nil, nil)
	m := egress.NewManager(egress.ManagerOptions{Key: []byte("k")})
	defer m.Close()
	d := &herm.Deployment{ID: "dep_1", Secrets: map[string]string{"TOKEN": "sec_1"}}
	env, err := Egress(m)(context.Background(), d, sb)
	if err != nil || len(env) != 1 || env["TOKEN"] != egress.Placeholder([]byte("k"), "dep_1", "TOKEN") {
		t.Fatalf("env %v %v", env, err)
	}
	if _, err := sb.Workspace().ReadFile(".herm/ca-bundle.pem", 1<<20); err == nil {
		t.Fatal("a CA bundle for a sandbox with no proxy")
	}
}

// Changes of a workspace are filesystem events for a deployment with
// features.filesystem_webhooks, and nothing for one without.
func TestWatchFilesystem(t *testing.T) {
	t.Parallel()
	m, err := sandbox.NewManager(process.Name, process.New(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	deps := map[string]*herm.Deployment{}
	for _, id := range []string{"dep_on", "dep_off"} {
		deps[id] = &herm.Deployment{ID: id, Sandbox: herm.Sandbox{Enabled: true, Type: process.Name},
			Features: herm.Features{FilesystemWebhooks: id == "dep_on"}}
	}
	var mu sync.Mutex
	var got []string
	WatchFilesystem(context.Background(), m, func(_ context.Context, id string) (*herm.Deployment, error) { return deps[id], nil }, func(e *herm.Event) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e.DeploymentID+" "+e.Type+" "+string(e.Data))
	})
	for _, id := range []string{"dep_off", "dep_on"} {
		sb, err := m.Get(context.Background(), deps[id])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sb.Workspace().WriteFile("notes.txt", strings.NewReader("hi")); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !strings.HasPrefix(got[0], "dep_on filesystem ") || !strings.Contains(got[0], `"path":"notes.txt"`) {
		t.Fatalf("events %q", got)
	}
}

// The project context: AGENTS.md then .herm/context.md, each cut at
// MaxProjectContext bytes (on a rune boundary, with a note); empty, absent
// or binary files add nothing.
func TestProjectContext(t *testing.T) {
	ws, err := sandbox.OpenWorkspace(t.TempDir(), -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	if got := ProjectContext(ws); got != "" {
		t.Fatalf("no files: %q", got)
	}
	write := func(p, s string) {
		if _, err := ws.WriteFile(p, strings.NewReader(s)); err != nil {
			t.Fatal(err)
		}
	}
	write("AGENTS.md", "Use tabs.\n")
	write(".herm/context.md", "  \n")
	if got := ProjectContext(ws); got != "\n\n## Project context: AGENTS.md (from the workspace)\nUse tabs." {
		t.Fatalf("AGENTS.md: %q", got)
	}
	big := strings.Repeat("é", MaxProjectContext) // 2 bytes each
	write(".herm/context.md", big)
	write("AGENTS.md", "\x00\x01\x02")
	got := ProjectContext(ws)
	if strings.Contains(got, "AGENTS.md (from") || !strings.Contains(got, "## Project context: .herm/context.md") ||
		!strings.HasSuffix(got, "[.herm/context.md goes on past 32 KiB: read the rest with read_file]") || len(got) > MaxProjectContext+200 {
		t.Fatalf("cut: %d bytes, ends %q", len(got), got[max(0, len(got)-120):])
	}
	if !utf8.ValidString(got) {
		t.Fatal("cut inside a rune")
	}
}
