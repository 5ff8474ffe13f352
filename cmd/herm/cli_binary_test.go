package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cliProc is a herm client command run as the built binary.
type cliProc struct {
	code           int
	stdout, stderr string
}

// hermBin runs the binary with args against s, stdin as its input.
func (s *server) hermBin(stdin string, args ...string) cliProc {
	s.t.Helper()
	bin, err := buildOnce()
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HERM_URL="+s.url, "HERM_API_KEY="+s.key)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		s.t.Fatalf("herm %s: %v", strings.Join(args, " "), err)
	}
	return cliProc{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errOut.String()}
}

// TestCLIBadUsage runs every client command and subcommand as the binary
// with no arguments, with a flag it does not have, and with ids that do
// not exist: each one exits with status 1, says what is wrong on stderr
// and prints nothing on stdout; none panics.
func TestCLIBadUsage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	s := startServer(t, map[string]string{"HERM_SANDBOX": "process"})
	dep := s.createReady(nil)["deployment_id"].(string)
	const bogus = "dep_01BOGUS0000000000000000000"

	type cmdCase struct {
		cmd    string   // "name sub"
		noArgs string   // what stderr says with no arguments; "" when that succeeds
		bad    []string // arguments with an id that does not exist (nil: none to give)
		stdin  string
		want   string // what stderr says with bad: the id that was not found
	}
	cases := []cmdCase{
		{cmd: "deployments create", noArgs: "--customer and --name are required"},
		{cmd: "deployments list"},
		{cmd: "deployments get", noArgs: "missing arguments", bad: []string{bogus}, want: bogus},
		{cmd: "deployments update", noArgs: "missing arguments", bad: []string{bogus, "--name", "x"}, want: bogus},
		{cmd: "deployments delete", noArgs: "missing arguments", bad: []string{bogus}, want: bogus},
		{cmd: "threads create", noArgs: "missing arguments", bad: []string{bogus}, want: bogus},
		{cmd: "threads list", noArgs: "missing arguments", bad: []string{bogus}, want: bogus},
		{cmd: "threads get", noArgs: "missing arguments", bad: []string{dep, "thr_bogus"}, want: "thr_bogus"},
		{cmd: "threads rename", noArgs: "missing arguments", bad: []string{dep, "thr_bogus", "T"}, want: "thr_bogus"},
		{cmd: "threads delete", noArgs: "missing arguments", bad: []string{dep, "thr_bogus"}, want: "thr_bogus"},
		{cmd: "send", noArgs: "missing arguments", bad: []string{bogus, "hello"}, want: bogus},
		{cmd: "events", noArgs: "missing arguments", bad: []string{bogus}, want: bogus},
		{cmd: "events", noArgs: "missing arguments", bad: []string{bogus, "--follow"}, want: bogus},
		{cmd: "runs list", noArgs: "missing arguments", bad: []string{bogus}, want: bogus},
		{cmd: "runs get", noArgs: "missing arguments", bad: []string{dep, "run_bogus"}, want: "run_bogus"},
		{cmd: "runs cancel", noArgs: "missing arguments", bad: []string{dep, "run_bogus"}, want: "run_bogus"},
		{cmd: "files ls", noArgs: "missing arguments", bad: []string{bogus}, want: bogus},
		{cmd: "files cat", noArgs: "missing arguments", bad: []string{dep, "no/such.txt"}, want: "no/such.txt"},
		{cmd: "files put", noArgs: "missing arguments", bad: []string{bogus, "a.txt"}, stdin: "x", want: bogus},
		{cmd: "files rm", noArgs: "missing arguments", bad: []string{dep, "no/such.txt"}, want: "no/such.txt"},
		{cmd: "memories list", noArgs: "missing arguments", bad: []string{bogus}, want: bogus},
		{cmd: "memories add", noArgs: "missing arguments", bad: []string{bogus, "fact"}, want: bogus},
		{cmd: "memories get", noArgs: "missing arguments", bad: []string{dep, "mem_bogus"}, want: "mem_bogus"},
		{cmd: "memories update", noArgs: "missing arguments", bad: []string{dep, "mem_bogus", "fact"}, want: "mem_bogus"},
		{cmd: "memories delete", noArgs: "missing arguments", bad: []string{dep, "mem_bogus"}, want: "mem_bogus"},
		{cmd: "skills list", noArgs: "missing arguments", bad: []string{bogus}, want: bogus},
		{cmd: "skills get", noArgs: "missing arguments", bad: []string{dep, "skl_bogus"}, want: "skl_bogus"},
		{cmd: "skills add", noArgs: "missing arguments", bad: []string{bogus, "--name", "x", "--file", "-"}, stdin: testSkill, want: bogus},
		{cmd: "skills replace", noArgs: "missing arguments", bad: []string{dep, "skl_bogus", "--name", "x", "--file", "-"}, stdin: testSkill, want: "skl_bogus"},
		{cmd: "skills delete", noArgs: "missing arguments", bad: []string{dep, "skl_bogus"}, want: "skl_bogus"},
		{cmd: "tools list", noArgs: "missing arguments", bad: []string{bogus}, want: bogus},
		{cmd: "tools set", noArgs: "missing arguments", bad: []string{dep, "no_such_tool", "--enabled=false"}, want: "no_such_tool"},
		{cmd: "mcp list", noArgs: "missing arguments", bad: []string{bogus}, want: bogus},
		{cmd: "mcp add", noArgs: "missing arguments", bad: []string{bogus, "crm", "https://mcp.example.com/mcp"}, want: bogus},
		{cmd: "mcp replace", noArgs: "missing arguments", bad: []string{dep, "nosuch", "https://mcp.example.com/mcp"}, want: "nosuch"},
		{cmd: "mcp remove", noArgs: "missing arguments", bad: []string{dep, "nosuch"}, want: "nosuch"},
		{cmd: "automations list", noArgs: "missing arguments", bad: []string{bogus}, want: bogus},
		{cmd: "automations get", noArgs: "missing arguments", bad: []string{dep, "auto_bogus"}, want: "auto_bogus"},
		{cmd: "automations create", noArgs: "missing arguments", bad: []string{bogus, "--name", "n", "--schedule", "every day at 9am", "--instructions", "i"}, want: bogus},
		{cmd: "automations update", noArgs: "missing arguments", bad: []string{dep, "auto_bogus", "--enabled=false"}, want: "auto_bogus"},
		{cmd: "automations delete", noArgs: "missing arguments", bad: []string{dep, "auto_bogus"}, want: "auto_bogus"},
		{cmd: "automations trigger", noArgs: "missing arguments", bad: []string{dep, "auto_bogus"}, want: "auto_bogus"},
		{cmd: "steering list", noArgs: "missing arguments", bad: []string{bogus}, want: bogus},
		{cmd: "steering get", noArgs: "missing arguments", bad: []string{dep, "str_bogus"}, want: "str_bogus"},
		{cmd: "steering respond", noArgs: "missing arguments", bad: []string{dep, "str_bogus", "approve"}, want: "str_bogus"},
		{cmd: "secrets list"},
		{cmd: "secrets get", noArgs: "missing arguments", bad: []string{"sec_bogus"}, want: "sec_bogus"},
		{cmd: "secrets create", noArgs: "--name is required"},
		{cmd: "secrets rotate", noArgs: "missing arguments", bad: []string{"sec_bogus"}, stdin: "v", want: "sec_bogus"},
		{cmd: "secrets delete", noArgs: "missing arguments", bad: []string{"sec_bogus"}, want: "sec_bogus"},
		{cmd: "keys list"},
		{cmd: "keys create", noArgs: "--name and --scope are required"},
		{cmd: "keys delete", noArgs: "missing arguments", bad: []string{"key_bogus"}, want: "key_bogus"},
		{cmd: "webhooks list"},
		{cmd: "webhooks get", noArgs: "missing arguments", bad: []string{"whk_bogus"}, want: "whk_bogus"},
		{cmd: "webhooks create", noArgs: "--url and --event are required"},
		{cmd: "webhooks delete", noArgs: "missing arguments", bad: []string{"whk_bogus"}, want: "whk_bogus"},
		{cmd: "webhooks deliveries", noArgs: "missing arguments", bad: []string{"whk_bogus"}, want: "whk_bogus"},
		{cmd: "models list"},
		{cmd: "agents create", noArgs: "--name and --model are required"},
		{cmd: "agents list"},
		{cmd: "agents get", noArgs: "missing arguments", bad: []string{"agt_bogus"}, want: "agt_bogus"},
		{cmd: "agents update", noArgs: "missing arguments", bad: []string{"agt_bogus", "--name", "x"}, want: "agt_bogus"},
		{cmd: "agents archive", noArgs: "missing arguments", bad: []string{"agt_bogus"}, want: "agt_bogus"},
		{cmd: "agents versions", noArgs: "missing arguments", bad: []string{"agt_bogus"}, want: "agt_bogus"},
		{cmd: "sessions create", noArgs: "--agent is required", bad: []string{"--agent", "agt_bogus"}, want: "agt_bogus"},
		{cmd: "sessions list"},
		{cmd: "sessions get", noArgs: "missing arguments", bad: []string{"sesn_bogus"}, want: "sesn_bogus"},
		{cmd: "sessions update", noArgs: "missing arguments", bad: []string{"sesn_bogus", "--title", "T"}, want: "sesn_bogus"},
		{cmd: "sessions archive", noArgs: "missing arguments", bad: []string{"sesn_bogus"}, want: "sesn_bogus"},
		{cmd: "sessions delete", noArgs: "missing arguments", bad: []string{"sesn_bogus"}, want: "sesn_bogus"},
		{cmd: "sessions send", noArgs: "missing arguments", bad: []string{"sesn_bogus", "hello"}, want: "sesn_bogus"},
		{cmd: "sessions events", noArgs: "missing arguments", bad: []string{"sesn_bogus"}, want: "sesn_bogus"},
		{cmd: "sessions events", noArgs: "missing arguments", bad: []string{"sesn_bogus", "--follow"}, want: "sesn_bogus"},
		{cmd: "sessions confirm", noArgs: "missing arguments", bad: []string{"sesn_bogus", "evt_1", "--allow"}, want: "sesn_bogus"},
		{cmd: "sessions interrupt", noArgs: "missing arguments", bad: []string{"sesn_bogus"}, want: "sesn_bogus"},
		{cmd: "sessions steer", noArgs: "missing arguments", bad: []string{"sesn_bogus", "faster"}, want: "sesn_bogus"},
		{cmd: "sessions tool-result", noArgs: "missing arguments", bad: []string{"sesn_bogus", "evt_1", "done"}, want: "sesn_bogus"},
	}
	// Every subcommand the usage lists is in the table.
	for name := range strings.FieldsSeq("deployments threads send runs events files memories skills tools mcp automations steering secrets keys webhooks models agents sessions") {
		usage, ok := cliCommand(name)
		if !ok {
			t.Fatalf("no command %s", name)
		}
		for l := range strings.SplitSeq(usage, "\n") {
			f := strings.Fields(l)
			if len(f) < 2 || f[0] != "herm" {
				continue
			}
			cmd := f[1]
			if len(f) > 2 && f[1] != "send" && f[1] != "events" {
				cmd += " " + f[2]
			}
			found := false
			for _, c := range cases {
				found = found || c.cmd == cmd
			}
			if !found {
				t.Errorf("herm %s is not in the table", cmd)
			}
		}
	}

	check := func(args []string, stdin string, code int, want string) {
		t.Helper()
		p := s.hermBin(stdin, args...)
		what := "herm " + strings.Join(args, " ")
		if strings.Contains(p.stderr, "panic") || strings.Contains(p.stderr, "goroutine ") {
			t.Errorf("%s panicked:\n%s", what, p.stderr)
		}
		if p.code != code {
			t.Errorf("%s: exit status %d, want %d\nstderr: %s", what, p.code, code, p.stderr)
		}
		if code != 0 {
			if !strings.Contains(p.stderr, want) || !strings.HasPrefix(p.stderr, "herm: ") {
				t.Errorf("%s: stderr %q does not say %q", what, p.stderr, want)
			}
			if p.stdout != "" {
				t.Errorf("%s printed %q on stdout", what, p.stdout)
			}
		}
	}
	for _, c := range cases {
		args := strings.Fields(c.cmd)
		if c.noArgs == "" {
			check(args, "", 0, "")
		} else {
			check(args, "", 1, c.noArgs)
		}
		check(append(args, "--bogus"), "", 1, "flag provided but not defined: -bogus")
		if c.bad != nil {
			check(append(args, c.bad...), c.stdin, 1, c.want)
			check(append(args, c.bad...), c.stdin, 1, "not_found")
		}
		check(append(args, "-h"), "", 0, "")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"deployments"}, "deployments: missing subcommand"},
		{[]string{"deployments", "frob"}, `deployments: unknown subcommand "frob"`},
		{[]string{"mcp", "frob", dep}, `mcp: unknown subcommand "frob"`},
		{[]string{"frob"}, `unknown command "frob"`},
		{[]string{"runs", "list", dep, "--limit", "many"}, `invalid value "many" for flag -limit`},
		{[]string{"tools", "set", dep, "shell", "--enabled=maybe"}, `"maybe" is not true or false`},
		{[]string{"deployments", "create", "--customer", "c", "--name", "n", "--metadata", "novalue"}, `"novalue" is not key=value`},
		{[]string{"deployments", "get", dep, "extra"}, "too many arguments (extra)"},
		{[]string{"steering", "respond", dep, "str_x", "maybe"}, `approve, deny or answer, not "maybe"`},
		{[]string{"deployments", "create", "--customer", "c", "--name", "n", "--model", "nope/none"}, "validation_error"},
	} {
		check(c.args, "", 1, c.want)
	}
	if p := s.hermBin("", "deployments", "get", dep, "--server", "http://127.0.0.1:1"); p.code != 1 || !strings.Contains(p.stderr, "connection refused") {
		t.Errorf("no server: %+v", p)
	}
	if p := s.hermBin("", "deployments", "get", dep, "--api-key", "herm_sk_wrong"); p.code != 1 || !strings.Contains(p.stderr, "401 unauthorized") {
		t.Errorf("a wrong key: %+v", p)
	}
}

// TestCLIBinaryStreams runs send and events --follow as the binary: send's
// output to a pipe has no spinner or other terminal control characters,
// and SIGINT ends events --follow with status 0.
func TestCLIBinaryStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	s := startServerWith(t, map[string]string{"HERM_SANDBOX": "process"}, func(c *config) { c.DemoWordDelay = 30 * time.Millisecond })
	id := s.createReady(nil)["deployment_id"].(string)

	// The tool call takes long enough for the spinner to turn (it does on
	// a terminal: TestCLISpinnerOnTerminal).
	p := s.hermBin("", "send", id, "run: sleep 0.5; echo slept")
	if p.code != 0 || !strings.Contains(p.stdout, "⚙ shell") || !strings.Contains(p.stdout, "slept") {
		t.Fatalf("send: %+v", p)
	}
	for _, c := range []string{"\r", "\033", "thinking", "⠋"} {
		if strings.Contains(p.stdout+p.stderr, c) {
			t.Errorf("send to a pipe printed %q:\n%q", c, p.stdout)
		}
	}

	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "events", id, "--follow")
	cmd.Env = append(os.Environ(), "HERM_URL="+s.url, "HERM_API_KEY="+s.key)
	var out, errOut syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Messages until one's run is printed (the stream opens at some point
	// after the start).
	deadline := time.Now().Add(30 * time.Second)
	for printed := false; !printed; {
		run := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "hi"})["run_id"].(string)
		s.waitRun(id, run, "completed")
		for end := time.Now().Add(2 * time.Second); !printed && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			l := lineWith(out.String(), run+"  run_status       {\"error\":null,\"status\":\"completed\"")
			printed = l != ""
		}
		if time.Now().After(deadline) {
			t.Fatalf("events --follow printed no run:\n%s\nstderr: %s", out.String(), errOut.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil || errOut.String() != "" {
			t.Fatalf("after SIGINT: %v, stderr %q", err, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("events --follow did not end on SIGINT")
	}
}
