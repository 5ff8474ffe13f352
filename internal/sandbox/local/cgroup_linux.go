package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// cgroupMode is how the driver limits a sandbox's memory, pids and CPU.
type cgroupMode string

const (
	cgroupV2   cgroupMode = "v2"
	cgroupV1   cgroupMode = "v1"
	cgroupNone cgroupMode = "none"
)

// cgroups creates one cgroup per running sandbox under a "herm" parent.
type cgroups struct {
	mode   cgroupMode
	root   string // /sys/fs/cgroup
	parent string // name of the parent group, "herm"
	why    string // for cgroupNone: why neither version is usable
}

// detectCgroups finds a usable cgroup hierarchy: v2 with the memory, pids
// and cpu controllers available, else v1 with memory, pids and cpu
// mounted, else none.
func detectCgroups(root, parent string) *cgroups {
	c := &cgroups{root: root, parent: parent, mode: cgroupNone}
	var reasons []string
	if b, err := os.ReadFile(filepath.Join(root, "cgroup.controllers")); err == nil {
		have := strings.Fields(string(b))
		if hasAll(have, "memory", "pids", "cpu") {
			if err := c.prepareV2(); err == nil {
				c.mode = cgroupV2
				return c
			} else {
				reasons = append(reasons, "v2: "+err.Error())
			}
		} else {
			reasons = append(reasons, fmt.Sprintf("v2: controllers %v lack memory, pids or cpu", have))
		}
	}
	v1 := true
	for _, ctl := range []string{"memory", "pids", "cpu"} {
		if fi, err := os.Stat(filepath.Join(root, ctl)); err != nil || !fi.IsDir() {
			v1 = false
			reasons = append(reasons, "v1: no "+ctl+" hierarchy")
			break
		}
		if err := os.MkdirAll(filepath.Join(root, ctl, parent), 0o755); err != nil {
			v1 = false
			reasons = append(reasons, "v1: "+err.Error())
			break
		}
	}
	if v1 {
		c.mode = cgroupV1
		return c
	}
	c.why = strings.Join(reasons, "; ")
	if c.why == "" {
		c.why = "no cgroup file system at " + root
	}
	return c
}

func hasAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

// prepareV2 creates the parent group and delegates the controllers to its
// children.
func (c *cgroups) prepareV2() error {
	if err := os.WriteFile(filepath.Join(c.root, "cgroup.subtree_control"), []byte("+memory +pids +cpu"), 0); err != nil {
		return fmt.Errorf("enable controllers at the root: %w", err)
	}
	p := filepath.Join(c.root, c.parent)
	if err := os.MkdirAll(p, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(p, "cgroup.subtree_control"), []byte("+memory +pids +cpu"), 0); err != nil {
		return fmt.Errorf("enable controllers for %s: %w", p, err)
	}
	return nil
}

// sweep removes groups left behind by a server that did not stop cleanly
// (their processes died with it; a group still in use is not removed, and
// a young one may be another server's, about to be used).
func (c *cgroups) sweep() {
	for _, p := range c.dirs("") {
		entries, _ := os.ReadDir(p)
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && e.IsDir() && time.Since(fi.ModTime()) > time.Minute {
				_ = os.Remove(filepath.Join(p, e.Name()))
			}
		}
	}
}

// dirs are the directories of the group name: one in v2, one per
// controller in v1.
func (c *cgroups) dirs(name string) []string {
	switch c.mode {
	case cgroupV2:
		return []string{filepath.Join(c.root, c.parent, name)}
	case cgroupV1:
		var dirs []string
		for _, ctl := range []string{"memory", "pids", "cpu"} {
			dirs = append(dirs, filepath.Join(c.root, ctl, c.parent, name))
		}
		return dirs
	}
	return nil
}

// groups lists the groups of a deployment, in any hierarchy.
func (c *cgroups) groups(id string) []string {
	seen := make(map[string]bool)
	var out []string
	for _, p := range c.dirs("") {
		entries, _ := os.ReadDir(p)
		for _, e := range entries {
			if e.IsDir() && groupOf(e.Name(), id) && !seen[e.Name()] {
				seen[e.Name()] = true
				out = append(out, e.Name())
			}
		}
	}
	return out
}

// groupOf reports whether a group is one of deployment id's: named
// <id>.<n> (by servers before instance tokens) or <id>.<token>.<n>.
func groupOf(name, id string) bool {
	rest, ok := strings.CutPrefix(name, id+".")
	if !ok {
		return false
	}
	if tok, n, found := strings.Cut(rest, "."); found {
		return isToken(tok) && isNumber(n)
	}
	return isNumber(rest)
}

func isNumber(s string) bool {
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

// busy reports whether a group has processes (in any hierarchy, or in a
// group below it).
func (c *cgroups) busy(name string) bool {
	for _, dir := range c.dirs(name) {
		found := false
		_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
			if err != nil || !e.IsDir() {
				return nil
			}
			if b, err := os.ReadFile(filepath.Join(p, "cgroup.procs")); err == nil && len(strings.TrimSpace(string(b))) > 0 {
				found = true
				return filepath.SkipAll
			}
			return nil
		})
		if found {
			return true
		}
	}
	return false
}

// cgroup is one sandbox's group.
type cgroup struct {
	c    *cgroups
	name string
}

// create makes the group of a sandbox with its limits (zero = no limit).
func (c *cgroups) create(name string, r herm.Resources) (*cgroup, error) {
	g := &cgroup{c: c, name: name}
	switch c.mode {
	case cgroupV2:
		dir := filepath.Join(c.root, c.parent, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		set := map[string]string{"memory.max": "max", "pids.max": "max", "cpu.max": "max 100000"}
		if r.MemoryMB > 0 {
			set["memory.max"] = strconv.FormatInt(int64(r.MemoryMB)<<20, 10)
			set["memory.swap.max"] = "0"
		}
		if r.PIDs > 0 {
			set["pids.max"] = strconv.Itoa(r.PIDs)
		}
		if r.CPU > 0 {
			set["cpu.max"] = strconv.Itoa(int(r.CPU*100000)) + " 100000"
		}
		for file, v := range set {
			if err := os.WriteFile(filepath.Join(dir, file), []byte(v), 0); err != nil && file != "memory.swap.max" {
				return nil, fmt.Errorf("cgroup %s: %w", file, err)
			}
		}
	case cgroupV1:
		for _, ctl := range []string{"memory", "pids", "cpu"} {
			if err := os.MkdirAll(filepath.Join(c.root, ctl, c.parent, name), 0o755); err != nil {
				return nil, err
			}
		}
		type setting struct{ ctl, file, v string }
		mem, pids, quota := "-1", "max", "-1"
		if r.MemoryMB > 0 {
			mem = strconv.FormatInt(int64(r.MemoryMB)<<20, 10)
		}
		if r.PIDs > 0 {
			pids = strconv.Itoa(r.PIDs)
		}
		if r.CPU > 0 {
			quota = strconv.Itoa(int(r.CPU * 100000))
		}
		for _, s := range []setting{
			{"memory", "memory.limit_in_bytes", mem},
			{"pids", "pids.max", pids},
			{"cpu", "cpu.cfs_period_us", "100000"},
			{"cpu", "cpu.cfs_quota_us", quota},
		} {
			if err := os.WriteFile(filepath.Join(c.root, s.ctl, c.parent, name, s.file), []byte(s.v), 0); err != nil {
				return nil, fmt.Errorf("cgroup %s: %w", s.file, err)
			}
		}
		// Without swap accounting memsw is absent; with it, swap counts too.
		memsw := filepath.Join(c.root, "memory", c.parent, name, "memory.memsw.limit_in_bytes")
		if _, err := os.Stat(memsw); err == nil {
			_ = os.WriteFile(memsw, []byte(mem), 0)
		}
	}
	return g, nil
}

// add moves a process into the group.
func (g *cgroup) add(pid int) error {
	p := []byte(strconv.Itoa(pid))
	switch g.c.mode {
	case cgroupV2:
		return os.WriteFile(filepath.Join(g.c.root, g.c.parent, g.name, "cgroup.procs"), p, 0)
	case cgroupV1:
		for _, ctl := range []string{"memory", "pids", "cpu"} {
			if err := os.WriteFile(filepath.Join(g.c.root, ctl, g.c.parent, g.name, "cgroup.procs"), p, 0); err != nil {
				return fmt.Errorf("cgroup %s: %w", ctl, err)
			}
		}
	}
	return nil
}

// remove deletes the group once its processes are gone (they were killed:
// give the kernel a moment to reap them).
func (g *cgroup) remove() error {
	var errs []error
	for _, d := range g.c.dirs(g.name) {
		var err error
		for i := 0; i < 50; i++ {
			if err = os.Remove(d); err == nil || errors.Is(err, os.ErrNotExist) {
				err = nil
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// events reports the group's OOM kills and refused forks so far, to
// explain a killed command.
func (g *cgroup) events() (oomKills, pidsMax int) {
	read := func(path, key string) int {
		b, err := os.ReadFile(path)
		if err != nil {
			return 0
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, " ")
			if ok && k == key {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				return n
			}
		}
		return 0
	}
	switch g.c.mode {
	case cgroupV2:
		dir := filepath.Join(g.c.root, g.c.parent, g.name)
		return read(filepath.Join(dir, "memory.events"), "oom_kill"), read(filepath.Join(dir, "pids.events"), "max")
	case cgroupV1:
		return read(filepath.Join(g.c.root, "memory", g.c.parent, g.name, "memory.oom_control"), "oom_kill"),
			read(filepath.Join(g.c.root, "pids", g.c.parent, g.name, "pids.events"), "max")
	}
	return 0, 0
}
