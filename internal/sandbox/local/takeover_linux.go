package local

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/sandbox"
)

// A sandbox this driver starts may have run under another server before:
// one that shared the data dir and was killed (this server takes its
// deployments over), or this machine's previous server process. What a
// server killed with kill -9 leaves (TestTakeover kills one with sandboxes
// running): no process (each init has Pdeathsig SIGKILL and, as the first
// process of its PID namespace, takes every command down with it,
// background ones and the sessions they made included; the dead init
// itself stays a zombie until the host's PID 1 reaps it), no mount (all are
// in the sandbox's own mount namespace), no network namespace (only a
// descriptor holds it) and no socket file (the control socket is a
// socketpair); only the inits' cgroups, empty, which the start-up sweep
// leaves for a minute. So before a sandbox starts here, the cgroups of its
// deployment that this driver did not make are removed; one with processes
// belongs to a server still running the sandbox, and the start fails
// (sandbox.ErrInUse): two servers never run one sandbox. So does a live
// process of the sandbox (of its uid range, with its workspace at
// /workspace), which also covers machines without cgroups. The cgroup
// check is made again once the new init is in its own group, so that two
// servers starting one sandbox at once cannot both go on. All of this sees
// only this machine: across machines, one owner is the leases' job.

// takeoverGrace is how long the processes of a server killed a moment ago
// are given to end before they are taken for a live server's.
const takeoverGrace = 2 * time.Second

// newToken names this driver's cgroups apart from other servers'.
func newToken() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func isToken(s string) bool {
	if len(s) != 8 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// groupName names the cgroup of a sandbox's n-th start by this driver.
func (d *Driver) groupName(id string, n int) string {
	return fmt.Sprintf("%s.%s.%d", id, d.token, n)
}

// foreignGroups are the deployment's cgroups this driver did not make.
func (d *Driver) foreignGroups(id string) []string {
	if d.cg == nil || d.cg.mode == cgroupNone {
		return nil
	}
	own := id + "." + d.token + "."
	var out []string
	for _, name := range d.cg.groups(id) {
		if !strings.HasPrefix(name, own) {
			out = append(out, name)
		}
	}
	return out
}

// reap removes what other servers left of a deployment's sandbox before
// this driver starts it. No process of the deployment's sandbox may be
// alive then (checked also where there are no cgroups): the sandbox's
// previous instance here has ended (or ends within the grace), so one
// that lives is another server's.
func (d *Driver) reap(b *box) error {
	ws, err := os.Stat(b.ws.Dir())
	if err != nil {
		return err
	}
	if pids := waitEmpty(func() []int { return sandboxProcesses(b.base, ws) }); len(pids) > 0 {
		return fmt.Errorf("%w: deployment %s: processes %v of its sandbox are running on this machine (two servers must never run one sandbox; it starts here once they end)", sandbox.ErrInUse, b.id, pids)
	}
	for _, name := range d.foreignGroups(b.id) {
		busy := waitEmpty(func() []int {
			if d.cg.busy(name) {
				return []int{1}
			}
			return nil
		})
		if busy != nil {
			return d.inUse(b.id, name)
		}
		if err := (&cgroup{c: d.cg, name: name}).remove(); err != nil {
			return fmt.Errorf("remove the cgroup %s/%s another server left: %w", d.cg.parent, name, err)
		}
		d.logger.Info("removed a sandbox cgroup another server left", "deployment_id", b.id, "cgroup", d.cg.parent+"/"+name)
	}
	return nil
}

// othersRunning reports, once a new init is in its group, a group of the
// same deployment with processes that this driver did not make.
func (d *Driver) othersRunning(id string) error {
	for _, name := range d.foreignGroups(id) {
		if d.cg.busy(name) {
			return d.inUse(id, name)
		}
	}
	return nil
}

func (d *Driver) inUse(id, group string) error {
	return fmt.Errorf("%w: deployment %s: its cgroup %s/%s has processes (two servers must never run one sandbox; it starts here once that one stops)", sandbox.ErrInUse, id, d.cg.parent, group)
}

// waitEmpty calls list until it returns nothing or takeoverGrace has
// passed, and returns its last answer.
func waitEmpty(list func() []int) []int {
	deadline := time.Now().Add(takeoverGrace)
	for {
		got := list()
		if len(got) == 0 || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sandboxProcesses lists the live processes (zombies are not) of the
// sandbox of the workspace ws whose uid range is at base: those with a
// real, effective, saved or file system uid in the range, and the
// workspace at /workspace. (Servers with other data dirs on this machine
// number their ranges alike: a process of theirs has another workspace.)
func sandboxProcesses(base int, ws os.FileInfo) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !inRange(filepath.Join("/proc", e.Name(), "status"), base) {
			continue
		}
		if fi, err := os.Stat(filepath.Join("/proc", e.Name(), "root", "workspace")); err == nil && os.SameFile(fi, ws) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func inRange(status string, base int) bool {
	f, err := os.Open(status)
	if err != nil {
		return false // gone
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, v, _ := strings.Cut(sc.Text(), ":")
		switch key {
		case "State":
			if s := strings.TrimSpace(v); strings.HasPrefix(s, "Z") || strings.HasPrefix(s, "X") {
				return false
			}
		case "Uid":
			for _, f := range strings.Fields(v) {
				if uid, err := strconv.Atoi(f); err == nil && uid >= base && uid < base+uidRange {
					return true
				}
			}
			return false
		}
	}
	return false
}
