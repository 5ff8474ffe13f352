package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/eventlog"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/memory"
	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/sandbox/docker"
	"github.com/hermhq/herm/internal/sandbox/local"
	"github.com/hermhq/herm/internal/sandbox/process"
	"github.com/hermhq/herm/internal/secrets"
	"github.com/hermhq/herm/internal/skills"
	"github.com/hermhq/herm/internal/store"
	"github.com/hermhq/herm/internal/tools"
	"github.com/hermhq/herm/internal/tools/builtin"
)

// sandboxes picks and enables the sandbox drivers. It returns the manager
// and, when deployments get no code execution, a notice saying why (logged
// loudly and shown in /readyz).
func newSandboxes(ctx context.Context, cfg *config, root string, logger *slog.Logger) (*sandbox.Manager, string, error) {
	loc, err := local.New(local.Options{Root: root, IdleTimeout: cfg.SandboxIdle, RootFS: cfg.SandboxRootFS, Logger: logger})
	if err != nil {
		return nil, "", err
	}
	localErr := loc.Check(ctx)
	var drivers []sandbox.Driver
	if localErr == nil {
		drivers = append(drivers, loc)
	}
	if cfg.DockerImage != "" {
		ds, err := containerDrivers(ctx, cfg, root, logger)
		if err != nil {
			return nil, "", err
		}
		drivers = append(drivers, ds...)
	}
	def, notice := cfg.Sandbox, ""
	switch cfg.Sandbox {
	case "docker", "gvisor":
		// checked by containerDrivers
	case "local":
		if localErr != nil {
			return nil, "", fmt.Errorf("the local sandbox driver cannot run here: %v (use --sandbox process for unisolated development, or --sandbox none)", localErr)
		}
	case "process":
		drivers = append(drivers, process.New(root))
		logger.Warn("SANDBOX DRIVER 'process' ISOLATES NOTHING: agents' commands run as the server's user with its files and network; use it for development only")
	case "none":
		notice = "code execution is disabled by --sandbox none"
	default: // best available
		def = local.Name
		if localErr != nil {
			def = process.NameNone
			notice = fmt.Sprintf("no isolating sandbox driver works here (%v): deployments get no code execution; start with --sandbox process to run code unisolated (development only)", localErr)
		}
	}
	if def == process.NameNone {
		drivers = append(drivers, process.NewWorkspaceOnly(root, notice))
		logger.Warn("NO CODE EXECUTION: " + notice)
	}
	m, err := sandbox.NewManager(def, drivers...)
	if err != nil {
		return nil, "", err
	}
	m.NoExec(process.NameNone)
	return m, notice, nil
}

// containerDrivers enables docker (and gvisor) when an image is configured.
// A driver asked for as the default must work; otherwise one that does not
// is left out with a warning.
func containerDrivers(ctx context.Context, cfg *config, root string, logger *slog.Logger) ([]sandbox.Driver, error) {
	types := []struct{ name, runtime string }{{"docker", ""}}
	if cfg.GVisorRuntime != "" {
		types = append(types, struct{ name, runtime string }{"gvisor", cfg.GVisorRuntime})
	}
	var out []sandbox.Driver
	for _, t := range types {
		d, err := docker.New(docker.Options{
			Name: t.name, Runtime: t.runtime, Host: cfg.DockerHost, Image: cfg.DockerImage, HostUsr: cfg.DockerHostUsr,
			Root: root, IdleTimeout: cfg.SandboxIdle, Logger: logger,
		})
		if err == nil {
			err = d.Check(ctx)
		}
		if err != nil {
			if cfg.Sandbox == t.name {
				return nil, fmt.Errorf("the %s sandbox driver cannot run: %v", t.name, err)
			}
			logger.Warn("sandbox driver unavailable", "driver", t.name, "err", err)
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

// watchFilesystem emits filesystem events for the deployments that turned
// features.filesystem_webhooks on.
func watchFilesystem(m *sandbox.Manager, st store.Store, elog *eventlog.Log, logger *slog.Logger) {
	m.OnChange(func(id string) bool {
		d, err := st.GetDeployment(context.Background(), id)
		return err == nil && d.Features.FilesystemWebhooks
	}, func(id string, c sandbox.Change) {
		data, _ := json.Marshal(map[string]any{"change": c.Kind, "path": c.Path, "size": c.Size})
		elog.Emit(&herm.Event{DeploymentID: id, ThreadID: c.ThreadID, RunID: c.RunID, Type: herm.EventFilesystem, Data: data})
	})
	_ = logger
}

// spill saves a tool's full output in the deployment's workspace.
func spill(m *sandbox.Manager) func(ctx context.Context, d *herm.Deployment, callID, content string) (string, error) {
	return func(ctx context.Context, d *herm.Deployment, callID, content string) (string, error) {
		sb, err := m.Get(ctx, d)
		if err != nil {
			return "", err
		}
		p := ".herm/outputs/" + safeName(callID) + ".txt"
		if _, err := sb.Workspace().For(herm.RunOf(ctx)).WriteFile(p, strings.NewReader(content)); err != nil {
			return "", err
		}
		return p, nil
	}
}

// saveFile keeps a binary part of a tool result in the workspace, as
// .herm/outputs/<call id>-<name>.
func saveFile(m *sandbox.Manager) func(ctx context.Context, d *herm.Deployment, callID string, f tools.File) (string, error) {
	return func(ctx context.Context, d *herm.Deployment, callID string, f tools.File) (string, error) {
		sb, err := m.Get(ctx, d)
		if err != nil {
			return "", err
		}
		p := ".herm/outputs/" + safeName(callID) + "-" + safeFileName(f.Name)
		if _, err := sb.Workspace().For(herm.RunOf(ctx)).WriteFile(p, bytes.NewReader(f.Data)); err != nil {
			return "", err
		}
		return p, nil
	}
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

// attachments saves messages' attachments in deployments' workspaces.
type attachments struct {
	m  *sandbox.Manager
	dl *builtin.Downloader
}

func (a attachments) Save(ctx context.Context, d *herm.Deployment, runID string, n int, at herm.Attachment) (herm.SavedAttachment, error) {
	var data []byte
	var mt, name string
	var err error
	if strings.HasPrefix(at.URL, "data:") {
		mt, data, err = herm.DecodeDataURL(at.URL)
	} else {
		data, mt, err = a.dl.Download(ctx, d, at.URL, herm.MaxAttachmentBytes)
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
	sb, err := a.m.Get(ctx, d)
	if err != nil {
		return herm.SavedAttachment{}, err
	}
	p := fmt.Sprintf("attachments/%s/%d-%s", safeName(runID), n, safeFileName(name))
	e, err := sb.Workspace().For(herm.RunOf(ctx)).WriteFile(p, bytes.NewReader(data))
	if err != nil {
		return herm.SavedAttachment{}, err
	}
	return herm.SavedAttachment{Type: at.Type, Path: e.Name, MediaType: mt, Size: e.Size}, nil
}

func (a attachments) Read(ctx context.Context, d *herm.Deployment, p string) ([]byte, error) {
	sb, err := a.m.Get(ctx, d)
	if err != nil {
		return nil, err
	}
	return sb.Workspace().ReadFile(p, herm.MaxAttachmentBytes)
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

// redactor replaces a deployment's secret values with [REDACTED:NAME].
func redactor(v *secrets.Vault) func(ctx context.Context, d *herm.Deployment) *secrets.Redactor {
	return func(ctx context.Context, d *herm.Deployment) *secrets.Redactor {
		values := map[string]string{}
		for env := range d.Secrets {
			if val, _, err := v.Reveal(ctx, d, env); err == nil {
				values[env] = val
			}
		}
		return secrets.NewRedactor(values)
	}
}

// skillResolver checks configured skills' SKILL.md when they are set: an
// inline one as it is, a url one fetched now (and stored), a file one from
// the workspace of a deployment that has one.
func skillResolver(st store.Store, m *sandbox.Manager, dl *builtin.Downloader) func(ctx context.Context, s herm.Skill, d *herm.Deployment) (herm.Skill, error) {
	return func(ctx context.Context, s herm.Skill, d *herm.Deployment) (herm.Skill, error) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		switch s.Source {
		case herm.SkillURL:
			body, _, err := dl.Download(ctx, nil, s.URL, skills.MaxBytes) // the server fetches it, not the agent: no egress policy
			if err != nil {
				return s, herm.Errorf(herm.EInvalidSkill, "fetching %s failed: %s", s.URL, fetchError(err))
			}
			s.Content = string(body)
		case herm.SkillFile:
			if d.ID == "" {
				return s, nil // no workspace yet: checked when it is used
			}
			// The workspace of the deployment as stored: d is an update
			// being validated, whose sandbox settings must not reach the
			// running sandbox before it is stored.
			stored, err := st.GetDeployment(ctx, d.ID)
			if err != nil {
				return s, err
			}
			if stored.Status != herm.DeploymentReady {
				return s, nil
			}
			sb, err := m.Get(ctx, stored)
			if err != nil {
				return s, err
			}
			_, file := skills.FileDir(s.Path)
			b, err := sb.Workspace().ReadFile(file, skills.MaxBytes)
			if err != nil {
				return s, herm.Errorf(herm.EInvalidSkill, "%s: %s", file, herm.ErrorMessage(err))
			}
			s.Content = "" // read from the workspace at each use
			return s, checkSkill(string(b), s.Name)
		}
		return s, checkSkill(s.Content, s.Name)
	}
}

// fetchError is a download failure as a user may read it.
func fetchError(err error) string {
	if herm.ErrorCode(err) != herm.EInternal {
		return herm.ErrorMessage(err)
	}
	return err.Error()
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

// systemExtra is what a run's system prompt gets besides the deployment's
// own: the skills catalog, and what the agent remembers (features.memory).
func systemExtra(m *sandbox.Manager, memories *memory.Store, logger *slog.Logger) func(ctx context.Context, d *herm.Deployment) string {
	return func(ctx context.Context, d *herm.Deployment) string {
		var ws *sandbox.Workspace
		if sb, err := m.Get(ctx, d); err == nil {
			ws = sb.Workspace()
		}
		out := skills.Catalog(skills.Load(ctx, d, ws))
		if d.Features.Memory && ws != nil {
			list, err := memories.List(ws, "")
			if err != nil {
				logger.Warn("memories not shown to the run", "deployment_id", d.ID, "err", err)
			}
			out += memory.Prompt(list)
		}
		return out
	}
}
