package agent

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"time"

	"github.com/landlock-lsm/go-landlock/landlock"
	"golang.org/x/sys/unix"
)

// ContainerArg is argv[1] of the agent in a container sandbox (the docker
// driver bind-mounts the server's binary into the container); argv[2] is
// the control socket's path, and the optional argv[3] the host egress
// proxy's socket, which the agent relays RelayAddr to.
const ContainerArg = "__herm-sandbox-agent"

// RelayAddr is where a container's agent listens for its commands' proxy
// connections.
const RelayAddr = "127.0.0.1:3128"

// MaybeRunInContainer runs the agent of a container sandbox when this
// process was started as one (argv[1] is ContainerArg), and never returns
// then. Call it first thing in main (and in TestMain of tests whose
// binary containers run): the agent must not run anything else.
func MaybeRunInContainer() {
	if len(os.Args) < 2 || os.Args[1] != ContainerArg {
		return
	}
	runtime.LockOSThread()
	var err error
	switch len(os.Args) {
	case 3:
		err = runInContainer(os.Args[2], "")
	case 4:
		err = runInContainer(os.Args[2], os.Args[3])
	default:
		err = errors.New("usage: " + ContainerArg + " SOCKET [PROXY-SOCKET]")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "herm sandbox agent: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runInContainer serves a container sandbox: the container runtime made
// the namespaces, the read-only root and the limits; the agent connects to
// the server's control socket, confines itself like the local driver's
// init (no new privileges, Landlock, the seccomp deny-list) and runs
// commands, each leading its own session and process group.
func runInContainer(path, relay string) error {
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close-on-exec: %w", err)
	}
	if relay != "" {
		// Bound before any command runs, so that none can take the port.
		ln, err := net.Listen("tcp", RelayAddr)
		if err != nil {
			return fmt.Errorf("egress relay: %w", err)
		}
		go serveRelay(ln, relay)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return fmt.Errorf("connect %s: %w", path, err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	err = landlock.V6.BestEffort().RestrictPaths(
		landlock.RODirs("/"),
		landlock.RWDirs("/workspace", "/tmp", "/dev/shm").IgnoreIfMissing(),
		landlock.RWFiles("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/ptmx").IgnoreIfMissing(),
	)
	if err != nil {
		return fmt.Errorf("landlock: %w", err)
	}
	// No Landlock signal scope here: it refuses the agent's kill of a
	// finished command's process group (seen on 6.18); the container's
	// PID namespace already keeps signals inside.
	if err := LoadSeccomp(); err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	return Serve(os.NewFile(uintptr(fd), "control"), Options{})
}

// serveRelay copies each connection on ln to a new connection to the unix
// socket at path (the host's egress proxy), both ways. When the host serves
// no proxy there (egress "none"), connections are closed at once.
func serveRelay(ln net.Listener, path string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go func() {
			defer c.Close()
			up, err := net.DialTimeout("unix", path, 5*time.Second)
			if err != nil {
				return
			}
			defer up.Close()
			go func() {
				_, _ = io.Copy(up, c)
				_ = up.(*net.UnixConn).CloseWrite()
			}()
			_, _ = io.Copy(c, up) // the proxy's side ends the connection
		}()
	}
}
