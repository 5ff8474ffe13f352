package sqlite

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockHolder is what <dir>/herm.lock says about the process holding it.
type lockHolder struct {
	PID  int    `json:"pid"`
	Host string `json:"host"`
}

// LockDir takes an exclusive flock of <dir>/herm.lock for this process and
// writes its pid and host name into the file: two servers on one SQLite
// data dir would break each other's event streams. If another process (or
// another LockDir of this one) holds it, the error names that process. The
// returned function releases the lock; the kernel releases it when the
// process dies, kill -9 included.
func LockDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, "herm.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		b, _ := io.ReadAll(io.LimitReader(f, 4096))
		f.Close()
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		who := "another herm server"
		var h lockHolder
		if json.Unmarshal(b, &h) == nil && h.PID > 0 {
			who += fmt.Sprintf(" (pid %d on host %s)", h.PID, h.Host)
		}
		return nil, fmt.Errorf("%s is using data dir %s; only one server may use a SQLite data dir at a time", who, dir)
	}
	host, _ := os.Hostname()
	b, _ := json.Marshal(lockHolder{PID: os.Getpid(), Host: host})
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt(append(b, '\n'), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
