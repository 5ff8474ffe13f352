package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: its controlling side and its terminal.
func openPTY(t *testing.T) (ctl, term *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(ctl.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		ctl.Close()
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ctl.Fd()), unix.TIOCGPTN)
	if err != nil {
		ctl.Close()
		t.Skipf("ptsname: %v", err)
	}
	term, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		ctl.Close()
		t.Skipf("open the terminal: %v", err)
	}
	return ctl, term
}

// TestCLISpinnerOnTerminal: on a terminal, send shows the spinner while
// the tool runs and clears its line; the answer is still all there. (The
// same command to a pipe shows none: TestCLIBinaryStreams.)
func TestCLISpinnerOnTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	s := startServer(t, map[string]string{"HERM_SANDBOX": "process"})
	id := s.createReady(nil)["deployment_id"].(string)
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	ctl, term := openPTY(t)
	defer ctl.Close()
	cmd := exec.Command(bin, "send", id, "run: sleep 0.5; echo slept")
	cmd.Env = append(os.Environ(), "HERM_URL="+s.url, "HERM_API_KEY="+s.key)
	cmd.Stdin, cmd.Stdout = strings.NewReader(""), term
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	term.Close()
	read := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(ctl) // ends with EIO once the command exits
		read <- b
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("send: %v\n%s", err, errOut.String())
	}
	var out string
	select {
	case b := <-read:
		out = string(b)
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal's output did not end")
	}
	if !strings.Contains(out, "thinking…") || !strings.Contains(out, "\r\033[K") {
		t.Errorf("no spinner on a terminal:\n%q", out)
	}
	if !strings.Contains(out, "⚙ shell") || !strings.Contains(out, "slept") {
		t.Errorf("the run is not all there:\n%q", out)
	}
}
