// Package typescript_test runs the TypeScript SDK's tests (npm test: build,
// then node --test against a real herm serve built from this repository) as
// part of `go test ./...`.
package typescript_test

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

func TestTypeScriptSDK(t *testing.T) {
	if os.Getenv("HERM_TEST_TYPESCRIPT") != "1" {
		t.Skip("set HERM_TEST_TYPESCRIPT=1 after `npm ci --prefix sdk/typescript` to run the TypeScript SDK's tests")
	}
	if _, err := os.Stat("node_modules/typescript/package.json"); err != nil {
		t.Fatalf("HERM_TEST_TYPESCRIPT=1 but sdk/typescript/node_modules is not installed: run `npm ci --prefix sdk/typescript` (%v)", err)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("HERM_TEST_TYPESCRIPT=1 but npm is not on PATH: %v", err)
	}
	ctx := context.Background()
	if dl, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-10*time.Second))
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, npm, "test")
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "FORCE_COLOR=0")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // each line of npm's output into the test log as it comes
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			t.Log(sc.Text())
		}
		io.Copy(io.Discard, pr)
	}()
	err = cmd.Run()
	pw.Close()
	wg.Wait()
	if err != nil {
		t.Fatalf("npm test in sdk/typescript failed: %v", err)
	}
}
