package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/landlock-lsm/go-landlock/landlock"
	"golang.org/x/sys/unix"

	"github.com/hermhq/herm/internal/sandbox/agent"
)

// initArg is argv[1] of the sandbox's init process: the server's own binary
// re-executed inside the new namespaces.
const initArg = "__herm-sandbox-init"

// Inside the sandbox, commands run as this user.
const (
	sandboxUID = 1000
	sandboxGID = 1000
)

// initConfig is what the server tells the init, over fd 3 (never argv or
// the environment, which the sandbox's processes could read).
type initConfig struct {
	Staging   string `json:"staging"`   // empty host dir the root tmpfs is mounted on
	Workspace string `json:"workspace"` // host workspace dir, bound at /workspace
	RootFS    string `json:"rootfs"`    // "" = the host's /usr; else a root filesystem dir
	TmpMB     int    `json:"tmp_mb"`    // size of /tmp
	DiskMB    int    `json:"disk_mb"`   // the workspace quota (0 = none)
	Landlock  bool   `json:"landlock"`
}

// MaybeRunInit runs the sandbox init when this process was started as
// one, and never returns then. Call it first thing in main (and in
// TestMain of tests that start sandboxes): the init must not run anything
// else.
func MaybeRunInit() {
	if len(os.Args) < 2 || os.Args[1] != initArg {
		return
	}
	runtime.LockOSThread()
	if err := runInit(); err != nil {
		fmt.Fprintf(os.Stderr, "herm sandbox init: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runInit() error {
	// Descriptors the server inherited from its own parent must not reach
	// the sandbox's commands (3 and 4 are ours; 4 stays the agent's).
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close-on-exec: %w", err)
	}
	cfgFile := os.NewFile(3, "config")
	ctrl := os.NewFile(4, "control")
	if cfgFile == nil || ctrl == nil {
		return errors.New("started without its descriptors")
	}
	// The server writes the config once the init is in its cgroups.
	raw, err := io.ReadAll(cfgFile)
	cfgFile.Close()
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	var cfg initConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := setupRoot(cfg); err != nil {
		return err
	}
	// Nested user namespaces are the widest door to kernel attack surface;
	// nothing in the sandbox needs one.
	if err := os.WriteFile("/proc/sys/user/max_user_namespaces", []byte("0"), 0); err != nil {
		return fmt.Errorf("limit user namespaces: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if cfg.Landlock {
		err := landlock.V6.BestEffort().RestrictPaths(
			landlock.RODirs("/"),
			landlock.RWDirs("/workspace", "/tmp", "/dev/shm", "/dev/pts"),
			landlock.RWFiles("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/ptmx").IgnoreIfMissing(),
		)
		if err != nil {
			return fmt.Errorf("landlock: %w", err)
		}
		if err := landlock.V6.BestEffort().RestrictScoped(); err != nil {
			return fmt.Errorf("landlock scopes: %w", err)
		}
	}
	if cfg.DiskMB > 0 {
		// No single file may be larger than the whole quota (the quota
		// itself is accounted on the host; this bounds one command).
		lim := uint64(cfg.DiskMB) << 20
		if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: lim, Max: lim}); err != nil {
			return fmt.Errorf("file size limit: %w", err)
		}
	}
	if err := agent.LoadSeccomp(); err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	return agent.Serve(ctrl, agent.Options{NestedPID: true, UID: sandboxUID, GID: sandboxGID})
}

// setupRoot builds the sandbox's file system in a new root and pivots into
// it: a read-only root (tmpfs with the host's /usr, or a root filesystem
// directory), /workspace read-write, a private /tmp, a fresh /proc and a
// minimal /dev.
func setupRoot(cfg initConfig) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	r := cfg.Staging
	if err := unix.Mount("tmpfs", r, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=16m,mode=755"); err != nil {
		return fmt.Errorf("root tmpfs: %w", err)
	}
	src := "/"
	if cfg.RootFS != "" {
		src = cfg.RootFS
	}
	if err := populateRoot(src, r, cfg.RootFS == ""); err != nil {
		return err
	}
	if err := setupEtc(src, r, cfg.RootFS == ""); err != nil {
		return err
	}
	if err := setupDev(r); err != nil {
		return err
	}
	for _, d := range []string{"proc", "tmp", "workspace", ".old"} {
		if err := os.MkdirAll(filepath.Join(r, d), 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount("proc", filepath.Join(r, "proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	tmpOpts := fmt.Sprintf("size=%dm,mode=1777", max(cfg.TmpMB, 1))
	if err := unix.Mount("tmpfs", filepath.Join(r, "tmp"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, tmpOpts); err != nil {
		return fmt.Errorf("mount /tmp: %w", err)
	}
	ws := filepath.Join(r, "workspace")
	if err := unix.Mount(cfg.Workspace, ws, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind /workspace: %w", err)
	}
	if err := unix.Mount("", ws, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("remount /workspace: %w", err)
	}
	if err := unix.PivotRoot(r, filepath.Join(r, ".old")); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.old", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount old root: %w", err)
	}
	_ = unix.Rmdir("/.old")
	if err := unix.Mount("", "/", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("remount / read-only: %w", err)
	}
	if err := unix.Sethostname([]byte("sandbox")); err != nil {
		return fmt.Errorf("hostname: %w", err)
	}
	return unix.Chdir("/workspace")
}

// populateRoot binds src's top-level directories read-only into the new
// root r, and copies its top-level symlinks. From the host's root (hostUsr)
// only /usr and the merged-/usr links (bin, lib, ...) are taken.
func populateRoot(src, r string, hostUsr bool) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("read root %s: %w", src, err)
	}
	skip := map[string]bool{"proc": true, "dev": true, "tmp": true, "workspace": true, "etc": true, "sys": true}
	hostKeep := map[string]bool{"usr": true, "bin": true, "sbin": true, "lib": true, "lib32": true, "lib64": true, "libx32": true}
	for _, e := range entries {
		name := e.Name()
		if skip[name] || (hostUsr && !hostKeep[name]) {
			continue
		}
		from, to := filepath.Join(src, name), filepath.Join(r, name)
		switch {
		case e.Type()&os.ModeSymlink != 0:
			target, err := os.Readlink(from)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, to); err != nil {
				return err
			}
		case e.IsDir():
			if err := bindRO(from, to, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// setupEtc makes /etc: from a root filesystem, its own /etc read-only;
// from the host, only what programs need to run (the dynamic loader's
// cache, certificates, alternatives) plus generated passwd, group and hosts.
func setupEtc(src, r string, hostUsr bool) error {
	etc := filepath.Join(r, "etc")
	if !hostUsr {
		// Lstat: a root file system whose etc is a link (say, to /etc)
		// must not bind the host's.
		if fi, err := os.Lstat(filepath.Join(src, "etc")); err == nil && fi.IsDir() {
			return bindRO(filepath.Join(src, "etc"), etc, true)
		}
	}
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"alternatives", "ssl", "ca-certificates", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
		"nsswitch.conf", "localtime", "mime.types", "protocols", "services", "bash.bashrc", "profile", "inputrc", "python3", "python3.11"} {
		from := filepath.Join("/etc", name)
		fi, err := os.Stat(from)
		if err != nil {
			continue
		}
		if err := bindRO(from, filepath.Join(etc, name), fi.IsDir()); err != nil {
			return err
		}
	}
	files := map[string]string{
		"passwd":      "root:x:0:0:root:/root:/usr/sbin/nologin\nuser:x:1000:1000:user:/workspace:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"group":       "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n",
		"hosts":       "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n",
		"hostname":    "sandbox\n",
		"resolv.conf": "# no resolver in the sandbox: outbound access, where allowed, goes through the proxy\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// setupDev makes a minimal /dev: the harmless character devices bound from
// the host, a private devpts and /dev/shm.
func setupDev(r string) error {
	dev := filepath.Join(r, "dev")
	if err := os.MkdirAll(dev, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "size=64k,mode=755"); err != nil {
		return fmt.Errorf("mount /dev: %w", err)
	}
	for _, name := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		to := filepath.Join(dev, name)
		if err := os.WriteFile(to, nil, 0o666); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+name, to, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", name, err)
		}
	}
	pts := filepath.Join(dev, "pts")
	if err := os.MkdirAll(pts, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("devpts", pts, "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return fmt.Errorf("mount /dev/pts: %w", err)
	}
	shm := filepath.Join(dev, "shm")
	if err := os.MkdirAll(shm, 0o1777); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=64m,mode=1777"); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	links := map[string]string{"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	return nil
}

// bindRO bind-mounts from onto to (created as a directory or an empty
// file), read-only, nosuid, nodev.
func bindRO(from, to string, dir bool) error {
	if dir {
		if err := os.MkdirAll(to, 0o755); err != nil {
			return err
		}
	} else if err := os.WriteFile(to, nil, 0o644); err != nil {
		return err
	}
	if err := unix.Mount(from, to, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", from, err)
	}
	if err := unix.Mount("", to, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("remount %s read-only: %w", from, err)
	}
	return nil
}
