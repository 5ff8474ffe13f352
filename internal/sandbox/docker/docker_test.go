package docker_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/sandbox/agent"
	"github.com/hermhq/herm/internal/sandbox/docker"
	"github.com/hermhq/herm/internal/sandbox/sandboxtest"
)

func TestMain(m *testing.M) {
	agent.MaybeRunInContainer() // this test binary is also the containers' agent
	if arg := os.Getenv(nodeEnv); arg != "" {
		runNode(arg) // and a server node that TestTakeover kills
	}
	os.Exit(m.Run())
}

// TestConformance runs against the engine at HERM_TEST_DOCKER_HOST with
// the image HERM_TEST_DOCKER_IMAGE (.ci/docker-setup.sh starts one and
// imports a skeleton image that uses the host's /usr); it skips without
// them.
func TestConformance(t *testing.T) {
	conformance(t, "docker", "")
}

// TestConformanceGVisor runs the suite on gVisor: the engine must know the
// runtime named by HERM_TEST_GVISOR_RUNTIME, with --host-uds=open
// (HERM_WITH_GVISOR=1 .ci/docker-setup.sh builds runsc and registers it;
// not part of every CI run).
func TestConformanceGVisor(t *testing.T) {
	rt := os.Getenv("HERM_TEST_GVISOR_RUNTIME")
	if rt == "" {
		t.Skip("HERM_TEST_GVISOR_RUNTIME is not set: no gVisor runtime to test against")
	}
	conformance(t, "gvisor", rt)
}

func conformance(t *testing.T, name, runtime string) {
	host, image := os.Getenv("HERM_TEST_DOCKER_HOST"), os.Getenv("HERM_TEST_DOCKER_IMAGE")
	if host == "" || image == "" {
		t.Skip("HERM_TEST_DOCKER_HOST and HERM_TEST_DOCKER_IMAGE are not set: no Docker engine to test against")
	}
	data := t.TempDir()
	// The container's user must reach its workspace and the agent binary.
	if err := os.Chmod(data, 0o711); err != nil {
		t.Fatal(err)
	}
	d, err := docker.New(docker.Options{
		Name: name, Host: host, Image: image, HostUsr: os.Getenv("HERM_TEST_DOCKER_HOST_USR") != "0",
		Root: filepath.Join(data, "workspaces"), Runtime: runtime,
	})
	if err != nil {
		t.Fatal(err)
	}
	sandboxtest.Run(t, d, sandboxtest.Options{Isolated: true, Limits: true, DataDir: data})
}

func BenchmarkShellRoundTrip(b *testing.B) {
	host, image := os.Getenv("HERM_TEST_DOCKER_HOST"), os.Getenv("HERM_TEST_DOCKER_IMAGE")
	if host == "" || image == "" {
		b.Skip("HERM_TEST_DOCKER_HOST and HERM_TEST_DOCKER_IMAGE are not set")
	}
	data := b.TempDir()
	_ = os.Chmod(data, 0o711)
	d, err := docker.New(docker.Options{Host: host, Image: image, HostUsr: true, Root: filepath.Join(data, "workspaces"),
		Runtime: os.Getenv("HERM_TEST_BENCH_RUNTIME")})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close(b.Context())
	sb, err := d.Ensure(b.Context(), sandbox.Spec{DeploymentID: "dep_bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Destroy(b.Context(), "dep_bench")
	run := func() {
		var out strings.Builder
		res, err := sb.Exec(b.Context(), sandbox.ExecRequest{Command: "echo hi", Stdout: &out})
		if err != nil || res.ExitCode != 0 || out.String() != "hi\n" {
			b.Fatalf("%+v %v %q", res, err, out.String())
		}
	}
	run() // start the sandbox
	var ds []time.Duration
	for b.Loop() {
		t0 := time.Now()
		run()
		ds = append(ds, time.Since(t0))
	}
	sandboxtest.ReportPercentiles(b, ds)
}
