package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// A single server (Options.Shared false: it alone uses the data dir)
// reserves uid ranges in memory, learning at start which ranges the
// workspaces and any reservations left on disk hold. Servers that share the
// data dir reserve them on disk, as follows.
//
// Host uid ranges are reserved on disk, so that several servers sharing a
// data dir (a cluster on a shared file system, or two processes on one
// machine) never hand one range to two deployments: range k is reserved by
// creating the directory StateDir/ranges/<k> (mkdir either creates it or
// fails because it exists, atomically, on local file systems and on NFS)
// and then, inside it, an empty file named by the deployment's id. Only the
// process that made the directory writes into it.
//
//   - A range is the deployment's when its file is there. A directory with
//     another deployment's file, or with none (being made right now, or left
//     by a crash between the two steps), is taken.
//   - A reservation is released by removing the deployment's own file (by
//     name: it fails when the range is another's) and then the directory,
//     which is empty unless something is very wrong; nobody else can reserve
//     the range in between, since the directory still exists.
//   - The reservation is made before the workspace is given to the range,
//     and released after the workspace's contents are gone, keeping its
//     (empty) directory until then: at every moment a workspace owned by a
//     range either holds its reservation or is about to be handed to a new
//     one, never sharing a range with another deployment.
//
// A reservation is not fsynced (that cost a millisecond per deployment
// made): what a power loss can take back is found again at start, when
// every server reserves the range of each workspace that has none. On a
// local file system the servers sharing it crash together and all scan
// before they allocate; on NFS, mkdir and create are committed by the
// file server before they return, and a client's crash loses nothing.
//
// A reservation left behind by a crash (made, but the workspace never
// handed to it; or the workspace removed and the server killed before the
// reservation was) is left: nothing proves that no other server is about to
// use it, and with 49,151 ranges a leak costs nothing. A Destroy that is
// tried again after such a crash releases it.

// rangesDir is where the reservations are.
func (d *Driver) rangesDir() string { return filepath.Join(d.opts.StateDir, "ranges") }

func (d *Driver) rangeDir(k int) string { return filepath.Join(d.rangesDir(), strconv.Itoa(k)) }

// reserve makes uid range k the deployment's, unless another deployment
// holds it. It reports whether the range is id's, made now or before.
// Called without d.mu (it waits for the disk: two fsyncs), which it takes
// to record what it found; the reservation itself is atomic on disk,
// between goroutines as between processes.
func (d *Driver) reserve(k int, id string) (bool, error) {
	if !d.opts.Shared {
		return d.reserveHere(k, id), nil
	}
	dir := d.rangeDir(k)
	err := os.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrExist) {
		// Another reservation, or this deployment's own from before (or a
		// retried mkdir on NFS that did create it): look for id's file.
		_, err := os.Lstat(filepath.Join(dir, id))
		switch {
		case err == nil:
			d.setRange(k, id)
			return true, nil
		case errors.Is(err, fs.ErrNotExist):
			d.mu.Lock()
			if owner, known := d.ranges[k]; !known || owner == id {
				d.ranges[k] = "" // taken, by whom is not known
			}
			d.mu.Unlock()
			return false, nil
		default:
			return false, fmt.Errorf("uid range %d: %w", k, err)
		}
	}
	if err != nil {
		return false, fmt.Errorf("reserve uid range %d: %w", k, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, id), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		// The directory is this process's: nobody else writes into it.
		_ = os.Remove(filepath.Join(dir, id))
		_ = os.Remove(dir)
		return false, fmt.Errorf("reserve uid range %d: %w", k, err)
	}
	d.setRange(k, id)
	return true, nil
}

// reserveHere is reserve on a server alone on its data dir: the range is
// id's when nobody holds it, or a reservation left on disk (by the data
// dir's days in a cluster) is id's.
func (d *Driver) reserveHere(k int, id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	owner, known := d.ranges[k]
	if known && owner == "" {
		if _, err := os.Lstat(filepath.Join(d.rangeDir(k), id)); err == nil {
			owner = id
		}
	}
	if known && owner != id {
		return false
	}
	d.ranges[k] = id
	return true
}

func (d *Driver) setRange(k int, id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ranges[k] = id
}

// release gives up the deployment's reservation of range k, if it is
// still the deployment's. d.mu is held.
func (d *Driver) release(k int, id string) error {
	if d.ranges[k] == id && !d.opts.Shared {
		delete(d.ranges, k)
	}
	// On disk too: a reservation from the data dir's days in a cluster.
	dir := d.rangeDir(k)
	err := os.Remove(filepath.Join(dir, id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // another's, or released already
	}
	if err != nil {
		return fmt.Errorf("release uid range %d: %w", k, err)
	}
	if d.ranges[k] == id {
		delete(d.ranges, k)
	}
	if err := os.Remove(dir); err != nil {
		// Left taken: only the one who made a reservation may remove it.
		d.logger.Warn("uid range reservation left taken", "range", k, "err", err)
		d.ranges[k] = ""
	}
	return nil
}

// allocRange reserves a free uid range for a deployment. Called without
// d.mu: with Shared, a range being tried is marked taken (""), so that
// concurrent allocations try others.
func (d *Driver) allocRange(id string) (int, error) {
	for {
		d.mu.Lock()
		k := -1
		for i := 0; i < maxRanges; i++ {
			if _, taken := d.ranges[i]; !taken {
				k = i
				break
			}
		}
		if k < 0 {
			d.mu.Unlock()
			return 0, errors.New("no free uid range for a new sandbox")
		}
		if !d.opts.Shared {
			d.ranges[k] = id
			d.mu.Unlock()
			return k, nil
		}
		d.ranges[k] = ""
		d.mu.Unlock()
		mine, err := d.reserve(k, id)
		if err != nil {
			d.mu.Lock()
			if d.ranges[k] == "" {
				delete(d.ranges, k) // tried again by the next allocation
			}
			d.mu.Unlock()
			return 0, err
		}
		if mine {
			return k, nil
		}
	}
}

// scanRanges learns which ranges are reserved, and reserves the range of
// each workspace that has none yet (workspaces made before reservations
// existed). A workspace whose range is another deployment's gets a range
// of its own when it is next ensured.
func (d *Driver) scanRanges() error {
	if err := os.MkdirAll(d.rangesDir(), 0o700); err != nil {
		return err
	}
	reserved, err := os.ReadDir(d.rangesDir())
	if err != nil {
		return err
	}
	workspaces, err := os.ReadDir(d.opts.Root)
	if err != nil {
		return err
	}
	d.mu.Lock()
	for _, e := range reserved {
		if k, err := strconv.Atoi(e.Name()); err == nil && k >= 0 && k < maxRanges {
			d.ranges[k] = ""
		}
	}
	d.mu.Unlock()
	for _, e := range workspaces {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		k, ok := rangeOf(filepath.Join(d.opts.Root, e.Name()))
		d.mu.Lock()
		_, known := d.ranges[k]
		d.mu.Unlock()
		if !ok || known {
			continue
		}
		if _, err := d.reserve(k, e.Name()); err != nil {
			return err
		}
	}
	return nil
}

// rangeOf returns the uid range index a workspace directory's owner says.
func rangeOf(dir string) (int, bool) {
	fi, err := os.Stat(dir)
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid < uidBase+sandboxUID || (st.Uid-uidBase-sandboxUID)%uidRange != 0 {
		return 0, false
	}
	k := int(st.Uid-uidBase-sandboxUID) / uidRange
	return k, k < maxRanges
}
