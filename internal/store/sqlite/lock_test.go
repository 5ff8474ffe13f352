package sqlite

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// A locked data dir refuses a second lock, naming the holder, until the
// first is released.
func TestLockDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	release, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	want := fmt.Sprintf("another herm server (pid %d on host %s) is using data dir %s", os.Getpid(), host, dir)
	if _, err := LockDir(dir); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("second lock: %v, want %q", err, want)
	}
	release()
	release2, err := LockDir(dir)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	release2()
}
