// Package workspace is what the server itself does in deployments'
// workspaces on behalf of the agent, the API and the egress proxy: it
// saves tool outputs too long for the model and tools' files, saves and
// reads messages' attachments, checks file skills when they are set,
// writes the system prompt's skills catalog and memories, and puts the
// egress proxy's CA certificates where the sandbox trusts them; and it
// reports changes of the workspaces as filesystem events.
package workspace

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hermhq/herm/internal/egress"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/memory"
	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/skills"
	"github.com/hermhq/herm/internal/tools"
)

// Sandboxes hands out deployments' sandboxes (sandbox.Manager).
type Sandboxes interface {
	// Workspace returns a deployment's workspace, without preparing its
	// sandbox for commands (sandbox.Manager.Workspace).
	Workspace(ctx context.Context, d *herm.Deployment) (*sandbox.Workspace, error)
}

// Downloader fetches a URL, under the deployment's egress policy when d is
// not nil, and returns its body and media type (builtin.Downloader).
type Downloader interface {
	Download(ctx context.Context, d *herm.Deployment, rawURL string, limit int64) ([]byte, string, error)
}

// Options are a Host's dependencies.
type Options struct {
	Sandboxes  Sandboxes
	Downloader Downloader
	// Deployment reads a deployment as stored.
	Deployment func(ctx context.Context, id string) (*herm.Deployment, error)
	Memories   *memory.Store
	Logger     *slog.Logger
}

// Host does the server's work in deployments' workspaces.
type Host struct {
	opts Options
}

// New returns a Host.
func New(opts Options) *Host {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Host{opts: opts}
}

// Spill saves a tool call's full output in the deployment's workspace, as
// .herm/outputs/<call id>.txt, and returns that path.
func (h *Host) Spill(ctx context.Context, d *herm.Deployment, callID, content string) (string, error) {
	ws, err := h.opts.Sandboxes.Workspace(ctx, d)
	if err != nil {
		return "", err
	}
	p := ".herm/outputs/" + safeName(callID) + ".txt"
	if _, err := ws.For(herm.RunOf(ctx)).WriteFile(p, strings.NewReader(content)); err != nil {
		return "", err
	}
	return p, nil
}

// SaveFile keeps a binary part of a tool result in the workspace, as
// .herm/outputs/<call id>-<name>, and returns that path.
func (h *Host) SaveFile(ctx context.Context, d *herm.Deployment, callID string, f tools.File) (string, error) {
	ws, err := h.opts.Sandboxes.Workspace(ctx, d)
	if err != nil {
		return "", err
	}
	p := ".herm/outputs/" + safeName(callID) + "-" + safeFileName(f.Name)
	if _, err := ws.For(herm.RunOf(ctx)).WriteFile(p, bytes.NewReader(f.Data)); err != nil {
		return "", err
	}
	return p, nil
}

// Save fetches (under the deployment's egress policy) or decodes a
// message's attachment and writes it as attachments/<run_id>/<n>-<name>.
// Why it could not be fetched is an EInvalid error the user may read.
func (h *Host) Save(ctx context.Context, d *herm.Deployment, runID string, n int, at herm.Attachment) (herm.SavedAttachment, error) {
	var data []byte
	var mt, name string
	var err error
	if strings.HasPrefix(at.URL, "data:") {
		mt, data, err = herm.DecodeDataURL(at.URL)
	} else {
		data, mt, err = h.opts.Downloader.Download(ctx, d, at.URL, herm.MaxAttachmentBytes)
		if err != nil && ctx.Err() == nil {
			// Why it could not be fetched is the user's to know (a refused
			// address, an HTTP status, a size), not an internal error.
			err = herm.Errorf(herm.EInvalid, "%s", fetchError(err))
		}
		if u, perr := url.Parse(at.URL); perr == nil {
			name = path.Base(u.Path)
		}
	}
	if err != nil {
		return herm.SavedAttachment{}, err
	}
	if at.Type == herm.AttachImage && !herm.IsImageType(mt) {
		return herm.SavedAttachment{}, herm.Errorf(herm.EInvalid, "an image must be png, jpeg, gif or webp (this is %s)", mt)
	}
	if name == "" || name == "/" || name == "." {
		name = at.Type
		if exts, _ := mime.ExtensionsByType(mt); len(exts) > 0 {
			name += exts[0]
		}
	}
	ws, err := h.opts.Sandboxes.Workspace(ctx, d)
	if err != nil {
		return herm.SavedAttachment{}, err
	}
	p := fmt.Sprintf("attachments/%s/%d-%s", safeName(runID), n, safeFileName(name))
	e, err := ws.For(herm.RunOf(ctx)).WriteFile(p, bytes.NewReader(data))
	if err != nil {
		return herm.SavedAttachment{}, err
	}
	return herm.SavedAttachment{Type: at.Type, Path: e.Name, MediaType: mt, Size: e.Size}, nil
}

// Read returns a saved attachment's bytes.
func (h *Host) Read(ctx context.Context, d *herm.Deployment, p string) ([]byte, error) {
	ws, err := h.opts.Sandboxes.Workspace(ctx, d)
	if err != nil {
		return nil, err
	}
	return ws.ReadFile(p, herm.MaxAttachmentBytes)
}

// ResolveSkill checks a configured skill's SKILL.md when it is set: an
// inline one as it is, a url one fetched now (and stored), a file one from
// the workspace of a deployment that has one. EInvalidSkill says why one
// is refused.
func (h *Host) ResolveSkill(ctx context.Context, s herm.Skill, d *herm.Deployment) (herm.Skill, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch s.Source {
	case herm.SkillURL:
		body, _, err := h.opts.Downloader.Download(ctx, nil, s.URL, skills.MaxBytes) // the server fetches it, not the agent: no egress policy
		if err != nil {
			return s, herm.Errorf(herm.EInvalidSkill, "fetching %s failed: %s", s.URL, fetchError(err))
		}
		s.Content = string(body)
	case herm.SkillFile:
		if d.ID == "" {
			return s, nil // no workspace yet: checked when it is used
		}
		// The workspace of the deployment as stored: d is an update being
		// validated, whose sandbox settings must not reach the running
		// sandbox before it is stored.
		stored, err := h.opts.Deployment(ctx, d.ID)
		if err != nil {
			return s, err
		}
		if stored.Status != herm.DeploymentReady {
			return s, nil
		}
		ws, err := h.opts.Sandboxes.Workspace(ctx, stored)
		if err != nil {
			return s, err
		}
		_, file := skills.FileDir(s.Path)
		b, err := ws.ReadFile(file, skills.MaxBytes)
		if err != nil {
			return s, herm.Errorf(herm.EInvalidSkill, "%s: %s", file, herm.ErrorMessage(err))
		}
		s.Content = "" // read from the workspace at each use
		return s, checkSkill(string(b), s.Name)
	}
	return s, checkSkill(s.Content, s.Name)
}

func checkSkill(content, name string) error {
	meta, _, err := skills.Parse(content)
	if err != nil {
		return err
	}
	if meta.Name != name {
		return herm.Errorf(herm.EInvalidSkill, "its front matter names it %q, not %q", meta.Name, name)
	}
	return nil
}

// SystemExtra is what a run's system prompt gets besides the deployment's
// own: the skills catalog, what the agent remembers (features.memory) and
// the project context of the workspace (ProjectContext).
func (h *Host) SystemExtra(ctx context.Context, d *herm.Deployment) string {
	ws, err := h.opts.Sandboxes.Workspace(ctx, d)
	if err != nil {
		ws = nil
	}
	out := skills.Catalog(skills.Load(ctx, d, ws))
	if ws != nil {
		out += ProjectContext(ws)
	}
	if d.Features.Memory && ws != nil && h.opts.Memories != nil {
		list, err := h.opts.Memories.List(ws, "")
		if err != nil {
			h.opts.Logger.Warn("memories not shown to the run", "deployment_id", d.ID, "err", err)
		}
		out += memory.Prompt(list)
	}
	return out
}

// MaxProjectContext is the most of one project context file the system
// prompt carries.
const MaxProjectContext = 32 << 10

// ProjectContext is the system prompt's part for the workspace's project
// context files (AGENTS.md, .herm/context.md at its root): their text,
// each cut at MaxProjectContext bytes (the agent is told to read the rest
// with read_file); "" when there is none.
func ProjectContext(ws *sandbox.Workspace) string {
	var b strings.Builder
	for _, name := range []string{"AGENTS.md", ".herm/context.md"} {
		f, err := ws.Open(name)
		if err != nil {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(f, MaxProjectContext+1))
		f.Close()
		if err != nil || len(bytes.TrimSpace(data)) == 0 || bytes.IndexByte(data, 0) >= 0 {
			continue // none, empty or binary
		}
		cut := ""
		if len(data) > MaxProjectContext {
			n := MaxProjectContext
			for n > 0 && !utf8.RuneStart(data[n]) {
				n--
			}
			data = data[:n]
			cut = fmt.Sprintf("\n[%s goes on past %d KiB: read the rest with read_file]", name, MaxProjectContext>>10)
		}
		if !utf8.Valid(data) {
			continue // not text
		}
		fmt.Fprintf(&b, "\n\n## Project context: %s (from the workspace)\n%s%s", name, strings.TrimSpace(string(data)), cut)
	}
	return b.String()
}

// Egress returns what prepares a sandbox for its commands
// (sandbox.Manager.SetPrepare): m's proxy served on the sandbox's network
// hook, where the driver has one, and its CA certificates in the
// workspace.
func Egress(m *egress.Manager) func(ctx context.Context, d *herm.Deployment, sb sandbox.Sandbox) (map[string]string, error) {
	return func(ctx context.Context, d *herm.Deployment, sb sandbox.Sandbox) (map[string]string, error) {
		inner := sb
		if u, ok := sb.(interface{ Unwrap() sandbox.Sandbox }); ok {
			inner = u.Unwrap()
		}
		host, _ := inner.(egress.Host) // nil: no network at all for this sandbox
		return m.Prepare(ctx, d, host, func(name string, data []byte) error {
			_, err := sb.Workspace().WriteFile(name, bytes.NewReader(data))
			return err
		})
	}
}

// WatchFilesystem makes m emit filesystem events for the deployments that
// turned features.filesystem_webhooks on. The deployments are read with
// ctx's values; the watch outlives ctx (it lasts as long as m).
func WatchFilesystem(ctx context.Context, m *sandbox.Manager, deployment func(ctx context.Context, id string) (*herm.Deployment, error), emit func(*herm.Event)) {
	ctx = context.WithoutCancel(ctx)
	m.OnChange(func(id string) bool {
		d, err := deployment(ctx, id)
		return err == nil && d.Features.FilesystemWebhooks
	}, func(id string, c sandbox.Change) {
		data, _ := json.Marshal(map[string]any{"change": c.Kind, "path": c.Path, "size": c.Size})
		emit(&herm.Event{DeploymentID: id, ThreadID: c.ThreadID, RunID: c.RunID, Type: herm.EventFilesystem, Data: data})
	})
}

// fetchError is a download failure as a user may read it.
func fetchError(err error) string {
	if herm.ErrorCode(err) != herm.EInternal {
		return herm.ErrorMessage(err)
	}
	return err.Error()
}

// safeName keeps a model-supplied id usable as one file name.
func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 || b.Len() > 128 {
		return fmt.Sprintf("call_%x", len(s))
	}
	return b.String()
}

// safeFileName keeps a file name's letters, digits, dots, dashes and
// underscores.
func safeFileName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := strings.TrimLeft(b.String(), ".")
	if out == "" {
		return "attachment"
	}
	return clipName(out, 100)
}

func clipName(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
