package sandbox

import (
	"fmt"
	"os"
)

// Workspace is a deployment's workspace directory on the host, seen from
// the host with every path confined beneath it (os.Root: no "..", no
// absolute paths, no symlink that leads out). Files it creates are owned by
// the sandbox user's host uid and gid.
type Workspace struct {
	dir      string
	uid, gid int // host ids of the sandbox user; -1 = leave ownership alone
	root     *os.Root
}

// OpenWorkspace opens (creating it, mode 0700, owned by uid:gid) the
// workspace directory dir. uid and gid are the host ids that own files
// written through the workspace; -1 leaves ownership to the server's user.
func OpenWorkspace(dir string, uid, gid int) (*Workspace, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create workspace: %w", err)
	}
	if uid >= 0 || gid >= 0 {
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, fmt.Errorf("chown workspace: %w", err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open workspace: %w", err)
	}
	return &Workspace{dir: dir, uid: uid, gid: gid, root: root}, nil
}

// Dir is the workspace's host directory.
func (w *Workspace) Dir() string { return w.dir }

// Owner returns the host uid and gid of files written in the workspace.
func (w *Workspace) Owner() (uid, gid int) { return w.uid, w.gid }

// Close releases the workspace handle.
func (w *Workspace) Close() error { return w.root.Close() }
