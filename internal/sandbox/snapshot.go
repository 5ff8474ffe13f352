package sandbox

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// Snapshot states.
const (
	SnapshotPending = "pending" // reserved: taken when the deployment's deletion gets there
	SnapshotReady   = "ready"
)

// SnapshotMeta describes a workspace snapshot.
type SnapshotMeta struct {
	ID           string    `json:"snapshot_id"`
	DeploymentID string    `json:"deployment_id"`
	CustomerID   string    `json:"customer_id"`
	Status       string    `json:"status"`
	Size         int64     `json:"size"` // bytes of the compressed archive
	CreatedAt    time.Time `json:"created_at"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// Snapshots keeps compressed workspace snapshots (tar.gz) in a directory,
// each with a JSON description, for a retention time. Restores waiting for
// a deployment's provisioning are recorded there too, so that they survive
// a restart.
type Snapshots struct {
	dir       string
	retention time.Duration
	now       func() time.Time
}

// NewSnapshots keeps snapshots in dir for retention (default 30 days).
func NewSnapshots(dir string, retention time.Duration, now func() time.Time) (*Snapshots, error) {
	if retention <= 0 {
		retention = 30 * 24 * time.Hour
	}
	if now == nil {
		now = time.Now
	}
	for _, d := range []string{dir, filepath.Join(dir, "restores")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	return &Snapshots{dir: dir, retention: retention, now: now}, nil
}

func validName(s string) bool {
	return s != "" && !strings.ContainsAny(s, "/\\\x00") && s != "." && s != ".."
}

func (s *Snapshots) metaPath(id string) string    { return filepath.Join(s.dir, id+".json") }
func (s *Snapshots) archivePath(id string) string { return filepath.Join(s.dir, id+".tar.gz") }
func (s *Snapshots) restorePath(dep string) string {
	return filepath.Join(s.dir, "restores", dep)
}

func (s *Snapshots) writeMeta(m SnapshotMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := s.metaPath(m.ID) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.metaPath(m.ID))
}

// Get returns a snapshot's description (ENotFound when unknown or expired).
func (s *Snapshots) Get(id string) (SnapshotMeta, error) {
	var m SnapshotMeta
	if !validName(id) {
		return m, herm.Errorf(herm.ENotFound, "snapshot %q not found", id)
	}
	b, err := os.ReadFile(s.metaPath(id))
	if err != nil {
		return m, herm.Errorf(herm.ENotFound, "snapshot %q not found", id)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("snapshot %s: %w", id, err)
	}
	if m.Status == SnapshotReady && !s.now().Before(m.ExpiresAt) {
		return m, herm.Errorf(herm.ENotFound, "snapshot %q has expired", id)
	}
	return m, nil
}

// Reserve records that the deletion of a deployment keeps a snapshot id.
func (s *Snapshots) Reserve(id string, d *herm.Deployment) error {
	if !validName(id) {
		return fmt.Errorf("bad snapshot id %q", id)
	}
	now := s.now().UTC()
	return s.writeMeta(SnapshotMeta{ID: id, DeploymentID: d.ID, CustomerID: d.CustomerID, Status: SnapshotPending,
		CreatedAt: now, ExpiresAt: now.Add(s.retention)})
}

// PendingFor returns the snapshots reserved for a deployment and not yet
// taken.
func (s *Snapshots) PendingFor(deploymentID string) []SnapshotMeta {
	var out []SnapshotMeta
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		m, err := s.Get(id)
		if err == nil && m.Status == SnapshotPending && m.DeploymentID == deploymentID {
			out = append(out, m)
		}
	}
	return out
}

// Take archives a workspace as snapshot m (reserved before).
func (s *Snapshots) Take(ctx context.Context, m SnapshotMeta, ws *Workspace) error {
	tmp := s.archivePath(m.ID) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	err = fs.WalkDir(ws.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: p, ModTime: fi.ModTime(), Mode: int64(fi.Mode().Perm())}
		switch {
		case d.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, p+"/"
		case d.Type()&fs.ModeSymlink != 0:
			target, err := ws.root.Readlink(p)
			if err != nil {
				return err
			}
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
		case d.Type().IsRegular():
			hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		default:
			return nil // FIFOs, sockets, devices: not kept
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		r, err := ws.Open(p)
		if err != nil {
			return err
		}
		defer r.Close()
		_, err = io.CopyN(tw, r, hdr.Size)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", m.ID, err)
	}
	if err := os.Rename(tmp, s.archivePath(m.ID)); err != nil {
		return err
	}
	fi, err := os.Stat(s.archivePath(m.ID))
	if err != nil {
		return err
	}
	now := s.now().UTC()
	m.Status, m.Size, m.CreatedAt, m.ExpiresAt = SnapshotReady, fi.Size(), now, now.Add(s.retention)
	return s.writeMeta(m)
}

// MarkRestore records that provisioning a deployment starts from a
// snapshot.
func (s *Snapshots) MarkRestore(deploymentID, snapshotID string) error {
	return os.WriteFile(s.restorePath(deploymentID), []byte(snapshotID), 0o600)
}

// RestoreFor returns the snapshot a deployment is to start from ("" when
// none).
func (s *Snapshots) RestoreFor(deploymentID string) string {
	b, err := os.ReadFile(s.restorePath(deploymentID))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Restored forgets a done restore.
func (s *Snapshots) Restored(deploymentID string) error {
	err := os.Remove(s.restorePath(deploymentID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Restore unpacks a snapshot into a workspace, through the workspace (so
// with its confinement, ownership and quota).
func (s *Snapshots) Restore(ctx context.Context, id string, ws *Workspace) error {
	m, err := s.Get(id)
	if err != nil {
		return err
	}
	if m.Status != SnapshotReady {
		return herm.Errorf(herm.EConflict, "snapshot %s is not ready", id)
	}
	f, err := os.Open(s.archivePath(id))
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", id, err)
	}
	tr := tar.NewReader(zr)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", id, err)
		}
		p := strings.TrimSuffix(hdr.Name, "/")
		if c, err := Clean(p); err != nil || c != p || p == "." {
			return fmt.Errorf("snapshot %s: bad entry %q", id, hdr.Name)
		}
		mode := fs.FileMode(hdr.Mode).Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := ws.MkdirAll(p); err != nil {
				return err
			}
			_ = ws.root.Chmod(p, mode)
		case tar.TypeSymlink:
			if err := ws.MkdirAll(path.Dir(p)); err != nil {
				return err
			}
			if err := ws.root.Symlink(hdr.Linkname, p); err != nil {
				return fmt.Errorf("snapshot %s: %s: %w", id, p, err)
			}
			uid, gid := ws.Owner()
			if uid >= 0 || gid >= 0 {
				_ = ws.root.Lchown(p, uid, gid)
			}
		case tar.TypeReg:
			if _, err := ws.WriteFile(p, io.LimitReader(tr, hdr.Size)); err != nil {
				return err
			}
			_ = ws.root.Chmod(p, mode)
		}
	}
}

// Sweep removes expired snapshots and returns how many.
func (s *Snapshots) Sweep() (int, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		b, err := os.ReadFile(s.metaPath(id))
		if err != nil {
			continue
		}
		var m SnapshotMeta
		if json.Unmarshal(b, &m) != nil || m.Status != SnapshotReady || s.now().Before(m.ExpiresAt) {
			continue
		}
		_ = os.Remove(s.archivePath(id))
		if os.Remove(s.metaPath(id)) == nil {
			n++
		}
	}
	return n, nil
}
