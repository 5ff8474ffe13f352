package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/hermhq/herm/internal/herm"
)

// Change kinds of a workspace file.
const (
	ChangeCreated  = "created"
	ChangeModified = "modified"
	ChangeDeleted  = "deleted"
)

// Change is one change to a workspace file, made through the Workspace (by
// the file tools or the files API) or noticed after a command.
type Change struct {
	Kind string // ChangeCreated, ChangeModified or ChangeDeleted
	Path string // slash-separated, relative to the workspace
	Size int64
	// ThreadID and RunID name the run that made the change ("" when it
	// was not a run's: the files API, a background process).
	ThreadID, RunID string
}

// Entry describes one file or directory of the workspace.
type Entry struct {
	Name       string    // base name (List) or relative path (Stat, Write)
	Dir        bool      // a directory
	Size       int64     // bytes; 0 for directories
	ModifiedAt time.Time //
}

// ErrQuota is wrapped by writes refused because the workspace is at its
// disk quota.
var ErrQuota = errors.New("workspace disk quota exceeded")

// Workspace is a deployment's workspace directory on the host, seen from
// the host with every path confined beneath it (os.Root: no "..", no
// absolute paths, no symlink that leads out). Files it creates are owned by
// the sandbox user's host uid and gid.
type Workspace struct {
	*workspaceState
	// The run whose changes this view of the workspace makes (For); they
	// are in its Change notifications.
	threadID, runID string
}

// workspaceState is the state every view of a workspace shares.
type workspaceState struct {
	dir      string
	uid, gid int // host ids of the sandbox user; -1 = leave ownership alone
	root     *os.Root

	mu       sync.Mutex
	quota    int64 // bytes; 0 = none
	usage    int64 // bytes, valid when usageOK
	usageOK  bool
	onChange func(Change)
}

// For returns a view of the workspace whose changes are attributed to a
// thread and a run (empty: to nobody, like the files API's).
func (w *Workspace) For(threadID, runID string) *Workspace {
	return &Workspace{workspaceState: w.workspaceState, threadID: threadID, runID: runID}
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
	return &Workspace{workspaceState: &workspaceState{dir: dir, uid: uid, gid: gid, root: root}}, nil
}

// Dir is the workspace's host directory.
func (w *Workspace) Dir() string { return w.dir }

// Owner returns the host uid and gid of files written in the workspace.
func (w *Workspace) Owner() (uid, gid int) { return w.uid, w.gid }

// Close releases the workspace handle.
func (w *Workspace) Close() error { return w.root.Close() }

// SetQuota sets the disk quota in bytes (0 = none).
func (w *Workspace) SetQuota(bytes int64) {
	w.mu.Lock()
	w.quota = bytes
	w.mu.Unlock()
}

// OnChange sets the function told of every change made through the
// workspace (nil = nobody). It is called synchronously; keep it cheap.
func (w *Workspace) OnChange(fn func(Change)) {
	w.mu.Lock()
	w.onChange = fn
	w.mu.Unlock()
}

func (w *Workspace) notify(c Change) {
	if c.RunID == "" {
		c.ThreadID, c.RunID = w.threadID, w.runID
	}
	w.mu.Lock()
	fn := w.onChange
	w.mu.Unlock()
	if fn != nil {
		fn(c)
	}
}

// Notifying reports whether anyone listens to changes.
func (w *Workspace) Notifying() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.onChange != nil
}

// Clean checks a client- or model-supplied path and returns it cleaned and
// slash-separated ("." for the workspace itself). Absolute paths and paths
// whose ".." would leave the workspace are refused with a validation error;
// symlinks that lead out are refused when the path is used. (Tools accept
// "/workspace/..." from the model and strip the prefix before calling.)
func Clean(p string) (string, error) {
	if strings.ContainsRune(p, 0) {
		return "", herm.Errorf(herm.EInvalid, "path: must not contain NUL")
	}
	if p == "" {
		return ".", nil
	}
	if path.IsAbs(p) {
		return "", herm.Errorf(herm.EInvalid, "path %q: must be relative to the workspace", p)
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", herm.Errorf(herm.EInvalid, "path %q: leaves the workspace", p)
	}
	for name := range strings.SplitSeq(c, "/") {
		if len(name) > MaxName {
			return "", herm.Errorf(herm.EInvalid, "path: the name %q is %d bytes long, more than the %d a file name may have", truncName(name, 32)+"…", len(name), MaxName)
		}
	}
	return c, nil
}

// MaxName is the longest file name the workspace takes, in bytes (the
// file systems' limit).
const MaxName = 255

// pathErr turns a file system error into the API's vocabulary.
func pathErr(p string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return herm.Errorf(herm.ENotFound, "path %q: not found", p)
	case errors.Is(err, ErrQuota):
		return herm.Errorf(herm.ETooLarge, "path %q: %v", p, err)
	case isEscape(err):
		return herm.Errorf(herm.EInvalid, "path %q: leads out of the workspace", p)
	case errors.Is(err, syscall.ENOTDIR):
		return herm.Errorf(herm.EInvalid, "path %q: a parent is not a directory", p)
	case errors.Is(err, syscall.EISDIR):
		return herm.Errorf(herm.EInvalid, "path %q: is a directory", p)
	case errors.Is(err, syscall.ENAMETOOLONG):
		return herm.Errorf(herm.EInvalid, "path %q: too long for the file system", p)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return herm.Errorf(herm.ETooLarge, "path %q: no space left", p)
	}
	return fmt.Errorf("path %q: %w", p, err)
}

// isEscape reports an os.Root refusal of a path that leads out of the root.
func isEscape(err error) bool {
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}

func entry(name string, fi fs.FileInfo) Entry {
	e := Entry{Name: name, Dir: fi.IsDir(), ModifiedAt: fi.ModTime().UTC()}
	if !e.Dir {
		e.Size = fi.Size()
	}
	return e
}

// Stat describes one path (Name is the cleaned path).
func (w *Workspace) Stat(p string) (Entry, error) {
	c, err := Clean(p)
	if err != nil {
		return Entry{}, err
	}
	fi, err := w.root.Stat(c)
	if err != nil {
		return Entry{}, pathErr(p, err)
	}
	return entry(c, fi), nil
}

// MaxList is the most entries List returns.
const MaxList = 10000

// List returns a directory's entries sorted by name: all of them, or, in a
// directory with more than MaxList, MaxList of them and truncated. Symlinks
// are listed as what they point to when that stays inside the workspace,
// and left out otherwise.
func (w *Workspace) List(p string) (entries []Entry, truncated bool, err error) {
	c, err := Clean(p)
	if err != nil {
		return nil, false, err
	}
	fi, err := w.root.Stat(c)
	if err != nil {
		return nil, false, pathErr(p, err)
	}
	if !fi.IsDir() {
		return nil, false, herm.Errorf(herm.EInvalid, "path %q: not a directory", p)
	}
	// O_DIRECTORY: a FIFO swapped in meanwhile must not block the open.
	f, err := w.root.OpenFile(c, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, false, pathErr(p, err)
	}
	defer f.Close()
	var des []fs.DirEntry
	for len(des) <= MaxList {
		batch, err := f.ReadDir(1000)
		des = append(des, batch...)
		if err == io.EOF || (err == nil && len(batch) == 0) {
			break
		}
		if err != nil {
			return nil, false, pathErr(p, err)
		}
	}
	if len(des) > MaxList {
		des, truncated = des[:MaxList], true
	}
	out := make([]Entry, 0, len(des))
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if fi, err = w.root.Stat(path.Join(c, de.Name())); err != nil {
				continue // dangling or leading out
			}
		}
		out = append(out, entry(de.Name(), fi))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, truncated, nil
}

// Open opens a regular file for reading.
func (w *Workspace) Open(p string) (*os.File, error) {
	c, err := Clean(p)
	if err != nil {
		return nil, err
	}
	// O_NONBLOCK: opening a FIFO the sandbox made must not hang the
	// server; it is refused below as not a regular file.
	f, err := w.root.OpenFile(c, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, pathErr(p, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, pathErr(p, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, herm.Errorf(herm.EInvalid, "path %q: not a regular file", p)
	}
	return f, nil
}

// ReadFile reads a whole file of at most limit bytes (0 = no limit); a
// larger file is an error naming its size.
func (w *Workspace) ReadFile(p string, limit int64) ([]byte, error) {
	f, err := w.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if limit > 0 {
		if fi, err := f.Stat(); err == nil && fi.Size() > limit {
			return nil, herm.Errorf(herm.ETooLarge, "path %q: %d bytes, more than the %d bytes that can be read at once", p, fi.Size(), limit)
		}
	}
	return io.ReadAll(f)
}

// WriteFile writes r to p, replacing it atomically (readers see the old or
// the new content), creating parent directories, with the new file and
// directories owned by the sandbox user. It returns the written file.
func (w *Workspace) WriteFile(p string, r io.Reader) (Entry, error) {
	c, err := Clean(p)
	if err != nil {
		return Entry{}, err
	}
	if c == "." {
		return Entry{}, herm.Errorf(herm.EInvalid, "path: names the workspace itself, not a file")
	}
	if c, err = w.resolveLinks(c); err != nil {
		return Entry{}, pathErr(p, err)
	}
	old, statErr := w.root.Stat(c)
	if statErr == nil && old.IsDir() {
		return Entry{}, herm.Errorf(herm.EInvalid, "path %q: is a directory", p)
	}
	if err := w.mkdirAll(path.Dir(c)); err != nil {
		return Entry{}, pathErr(p, err)
	}
	// The temporary name must fit the file system's limit too.
	tmpName := ".herm-tmp-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
	tmp := path.Join(path.Dir(c), tmpName+truncName(path.Base(c), MaxName-len(tmpName)))
	f, err := w.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return Entry{}, pathErr(p, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			_ = w.root.Remove(tmp)
		}
	}()
	var oldSize int64
	if statErr == nil {
		oldSize = old.Size()
	}
	n, err := w.copyQuota(f, r, oldSize)
	if err != nil {
		return Entry{}, pathErr(p, err)
	}
	if statErr == nil {
		_ = f.Chmod(old.Mode().Perm())
	}
	if w.uid >= 0 || w.gid >= 0 {
		if err := f.Chown(w.uid, w.gid); err != nil {
			return Entry{}, pathErr(p, err)
		}
	}
	if err := f.Close(); err != nil {
		return Entry{}, pathErr(p, err)
	}
	if err := w.root.Rename(tmp, c); err != nil {
		return Entry{}, pathErr(p, err)
	}
	ok = true
	w.addUsage(n - oldSize)
	fi, err := w.root.Stat(c)
	if err != nil {
		return Entry{}, pathErr(p, err)
	}
	kind := ChangeModified
	if statErr != nil {
		kind = ChangeCreated
	}
	w.notify(Change{Kind: kind, Path: c, Size: fi.Size()})
	return entry(c, fi), nil
}

// truncName cuts name to at most n bytes, on a UTF-8 character boundary.
func truncName(name string, n int) string {
	if len(name) <= n {
		return name
	}
	for n > 0 && !utf8.RuneStart(name[n]) {
		n--
	}
	return name[:n]
}

// copyQuota copies r to f, refusing to grow the workspace past its quota.
// replaced is the size of the file being replaced (freed when done).
func (w *Workspace) copyQuota(f *os.File, r io.Reader, replaced int64) (int64, error) {
	w.mu.Lock()
	quota := w.quota
	w.mu.Unlock()
	if quota <= 0 {
		return io.Copy(f, r)
	}
	used, err := w.Usage(context.Background())
	if err != nil {
		return 0, err
	}
	room := quota - used + replaced
	if room < 0 {
		room = 0
	}
	n, err := io.Copy(f, io.LimitReader(r, room+1))
	if err != nil {
		return n, err
	}
	if n > room {
		return n, fmt.Errorf("%w: the workspace uses %s of its %s", ErrQuota, human(used), human(quota))
	}
	return n, nil
}

// resolveLinks follows symlinks in the last element of c (the parents are
// confined by os.Root) so that a write through a link updates its target;
// a link that leads out of the workspace, or an absolute one (which means
// something else inside the sandbox than on the host), is an escape.
func (w *Workspace) resolveLinks(c string) (string, error) {
	for range 40 {
		fi, err := w.root.Lstat(c)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			return c, nil // a new file, or not a link
		}
		target, err := w.root.Readlink(c)
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			return "", errEscape
		}
		next := path.Clean(path.Join(path.Dir(c), target))
		if next == ".." || strings.HasPrefix(next, "../") || next == "." {
			return "", errEscape
		}
		c = next
	}
	return "", syscall.ELOOP
}

var errEscape = errors.New("path escapes from parent")

func (w *Workspace) mkdirAll(dir string) error {
	if dir == "." {
		return nil
	}
	if fi, err := w.root.Stat(dir); err == nil {
		if !fi.IsDir() {
			return syscall.ENOTDIR
		}
		return nil
	}
	if err := w.mkdirAll(path.Dir(dir)); err != nil {
		return err
	}
	if err := w.root.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if w.uid >= 0 || w.gid >= 0 {
		return w.root.Lchown(dir, w.uid, w.gid)
	}
	return nil
}

// MkdirAll creates a directory and its parents, owned by the sandbox user.
func (w *Workspace) MkdirAll(p string) error {
	c, err := Clean(p)
	if err != nil {
		return err
	}
	return pathErr(p, w.mkdirAll(c))
}

// Remove removes a file, or a directory with everything in it. Removing
// the workspace itself is refused.
func (w *Workspace) Remove(p string) error {
	c, err := Clean(p)
	if err != nil {
		return err
	}
	if c == "." {
		return herm.Errorf(herm.EInvalid, "path: names the workspace itself")
	}
	fi, err := w.root.Lstat(c)
	if err != nil {
		return pathErr(p, err)
	}
	if err := w.root.RemoveAll(c); err != nil {
		return pathErr(p, err)
	}
	w.mu.Lock()
	w.usageOK = false // a directory's size is not known without walking it
	w.mu.Unlock()
	size := int64(0)
	if fi.Mode().IsRegular() {
		size = fi.Size()
	}
	w.notify(Change{Kind: ChangeDeleted, Path: c, Size: size})
	return nil
}

// FS is the workspace as a read-only fs.FS, confined like every other
// access (for walking and searching).
func (w *Workspace) FS() fs.FS { return w.root.FS() }

// Invalidate forgets the cached usage: commands changed the files.
func (w *Workspace) Invalidate() {
	w.mu.Lock()
	w.usageOK = false
	w.mu.Unlock()
}

func (w *Workspace) addUsage(delta int64) {
	w.mu.Lock()
	if w.usageOK {
		w.usage += delta
	}
	w.mu.Unlock()
}

// Usage returns the bytes the workspace's files take (the sum of the
// regular files' sizes), walking it when the cached figure is stale.
func (w *Workspace) Usage(ctx context.Context) (int64, error) {
	w.mu.Lock()
	if w.usageOK {
		u := w.usage
		w.mu.Unlock()
		return u, nil
	}
	w.mu.Unlock()
	var total int64
	err := fs.WalkDir(w.root.FS(), ".", func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable or removed meanwhile: skip it
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	w.mu.Lock()
	w.usage, w.usageOK = total, true
	w.mu.Unlock()
	return total, nil
}

// OverQuota returns a non-nil error (wrapping ErrQuota) when the workspace
// uses more than its quota.
func (w *Workspace) OverQuota(ctx context.Context) error {
	w.mu.Lock()
	quota := w.quota
	w.mu.Unlock()
	if quota <= 0 {
		return nil
	}
	used, err := w.Usage(ctx)
	if err != nil {
		return err
	}
	if used > quota {
		return fmt.Errorf("%w: the workspace uses %s of its %s; delete files to free space", ErrQuota, human(used), human(quota))
	}
	return nil
}

// HostPath returns the host path of a workspace path, for drivers that bind
// mount it. It does not check symlinks; never use it to open client paths.
func (w *Workspace) HostPath(p string) string { return filepath.Join(w.dir, filepath.FromSlash(p)) }

func human(b int64) string {
	switch {
	case b >= 1<<30:
		return strconv.FormatFloat(float64(b)/(1<<30), 'f', 1, 64) + " GiB"
	case b >= 1<<20:
		return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB"
	case b >= 1<<10:
		return strconv.FormatFloat(float64(b)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(b, 10) + " B"
}
