package docker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/sandbox/docker"
	"github.com/hermhq/herm/internal/sandbox/sandboxtest"
)

// Servers of a cluster may share one Docker engine (as here) and one data
// dir. In production they are separate processes; TestTakeover kills a
// real one, the other tests use two Driver values in one test process, which
// share nothing but the engine and the directory, as two processes would.

func engine(t *testing.T) (host, image string) {
	t.Helper()
	host, image = os.Getenv("HERM_TEST_DOCKER_HOST"), os.Getenv("HERM_TEST_DOCKER_IMAGE")
	if host == "" || image == "" {
		t.Skip("HERM_TEST_DOCKER_HOST and HERM_TEST_DOCKER_IMAGE are not set: no Docker engine to test against")
	}
	return host, image
}

func newDriver(host, image, root string) (*docker.Driver, error) {
	return docker.New(docker.Options{Host: host, Image: image, HostUsr: os.Getenv("HERM_TEST_DOCKER_HOST_USR") != "0", Root: root, IdleTimeout: -1})
}

// dataDir is a data dir the containers' user can pass through.
func dataDir(t *testing.T) string {
	t.Helper()
	data := t.TempDir()
	if err := os.Chmod(data, 0o711); err != nil {
		t.Fatal(err)
	}
	return data
}

// containers lists the deployment's containers on the engine (by the
// driver's label) with their state.
func containers(t *testing.T, cli *client.Client, id string) map[string]string {
	t.Helper()
	list, err := cli.ContainerList(t.Context(), client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", "dev.herm.deployment="+id)})
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string)
	for _, c := range list.Items {
		out[strings.Join(c.Names, ",")] = string(c.State)
	}
	return out
}

func startedAt(t *testing.T, cli *client.Client, id string) string {
	t.Helper()
	insp, err := cli.ContainerInspect(t.Context(), "herm-"+id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return insp.Container.State.StartedAt
}

// nodeEnv makes this test binary a server node that runs a sandbox and
// waits to be killed (TestTakeover): "<workspace root> <deployment id>".
const nodeEnv = "HERM_TEST_DOCKER_NODE"

// runNode is the node: a container with a command in flight, a background
// loop in a session of its own, and an egress listener.
func runNode(arg string) {
	root, id := sandboxtest.NodeArgs(arg)
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	d, err := newDriver(os.Getenv("HERM_TEST_DOCKER_HOST"), os.Getenv("HERM_TEST_DOCKER_IMAGE"), root)
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	sb, err := d.Ensure(ctx, sandbox.Spec{DeploymentID: id})
	if err != nil {
		fail(err)
	}
	if _, _, err := sb.(interface {
		EgressListener() (net.Listener, string, error)
	}).EgressListener(); err != nil {
		fail(err)
	}
	for _, req := range []sandbox.ExecRequest{
		{Command: "echo from-a > a.txt"},
		{Command: sandboxtest.TickCommand, Background: true},
	} {
		if res, err := sb.Exec(ctx, req); err != nil || res.ExitCode != 0 {
			fail(fmt.Errorf("%q: %+v %v", req.Command, res, err))
		}
	}
	go sb.Exec(ctx, sandbox.ExecRequest{Command: "sleep 1003"})
	time.Sleep(200 * time.Millisecond)
	fmt.Println("ready")
	select {}
}

// A server killed with kill -9 while its container runs: the container
// stops by itself (its agent loses the server), and another server on the
// same engine and data dir takes the deployment over in the same
// container, with its files and a working egress socket: one container,
// never a second, and the name taken is no error.
func TestTakeover(t *testing.T) {
	host, image := engine(t)
	data := dataDir(t)
	root := filepath.Join(data, "workspaces")
	id := fmt.Sprintf("dep_taken%d", os.Getpid())
	cli, err := client.New(client.WithHost(host))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	kill := sandboxtest.StartNode(t, nodeEnv+"="+root+" "+id)
	if got := containers(t, cli, id); len(got) != 1 || got["/herm-"+id] != "running" {
		t.Fatalf("the node's containers: %v", got)
	}

	kill()
	// No waiting: the new server takes over at once (its start gives the
	// container a moment to stop by itself, and never kills it).
	files, _ := filepath.Glob(filepath.Join(data, "sandbox", "docker", id, "*"))
	t.Logf("left by the killed server: containers %v, files %v", containers(t, cli, id), files)
	b, err := newDriver(host, image, root)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	defer b.Destroy(context.Background(), id)
	sb, err := b.Ensure(t.Context(), sandbox.Spec{DeploymentID: id})
	if err != nil {
		t.Fatal(err)
	}
	ln, addr, err := sb.(interface {
		EgressListener() (net.Listener, string, error)
	}).EgressListener()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sandboxtest.Serve(ln, "served by b")
	if out := sandboxtest.MustRun(t, sb, "cat a.txt"); out != "from-a\n" {
		t.Fatalf("after the takeover: %q", out)
	}
	host3128, port, _ := net.SplitHostPort(addr)
	probe := fmt.Sprintf(`python3 -c "import socket; print(socket.create_connection(('%s', %s), 3).recv(100).decode())"`, host3128, port)
	if out := sandboxtest.MustRun(t, sb, probe); out != "served by b\n" {
		t.Fatalf("egress after the takeover: %q", out)
	}
	if got := containers(t, cli, id); len(got) != 1 || got["/herm-"+id] != "running" {
		t.Fatalf("containers after the takeover: %v", got)
	}
	sandboxtest.TickStopped(t, filepath.Join(root, id))
}

// While one server runs a deployment's container, another sharing the
// engine must not take it: its command fails with sandbox.ErrInUse and the
// first server's sandbox goes on. Once that stops it, the other starts it;
// and the first one, closing, leaves the other's container alone.
func TestTakeoverRefusesLiveOwner(t *testing.T) {
	host, image := engine(t)
	root := filepath.Join(dataDir(t), "workspaces")
	id := fmt.Sprintf("dep_live%d", os.Getpid())
	cli, err := client.New(client.WithHost(host))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	a, err := newDriver(host, image, root)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	b, err := newDriver(host, image, root)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	defer b.Destroy(context.Background(), id)
	sa, err := a.Ensure(t.Context(), sandbox.Spec{DeploymentID: id})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.Ensure(t.Context(), sandbox.Spec{DeploymentID: id})
	if err != nil {
		t.Fatal(err)
	}
	sandboxtest.MustRun(t, sa, "echo a > owner")
	res, err := sb.Exec(t.Context(), sandbox.ExecRequest{Command: "echo b > owner"})
	if !errors.Is(err, sandbox.ErrInUse) {
		t.Fatalf("a second server took the running container: %+v %v", res, err)
	}
	t.Log(err)
	if out := sandboxtest.MustRun(t, sa, "cat owner"); out != "a\n" {
		t.Fatalf("owner file %q", out)
	}
	if err := sa.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	sandboxtest.MustRun(t, sb, "echo b > owner")
	run := startedAt(t, cli, id)
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out := sandboxtest.MustRun(t, sb, "cat owner"); out != "b\n" {
		t.Fatalf("owner file %q", out)
	}
	if now := startedAt(t, cli, id); now != run {
		t.Fatalf("the first server, closing, killed the container the second one runs (started %s, now %s)", run, now)
	}
}
