package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Project quotas (ext4 mounted with prjquota, or xfs with pquota) give each
// workspace a real limit: the workspace directory gets a project id that
// everything created in it inherits, and the file system refuses blocks
// past the project's limit (EDQUOT, "Disk quota exceeded"). Where the file
// system has no project quotas, the driver falls back to accounting (see
// sandbox.Workspace) and a per-file size limit.

// Kernel ABI (linux/fs.h, linux/quota.h); x/sys/unix does not define these.
const (
	fsIOCGetXattr      = 0x801c581f // FS_IOC_FSGETXATTR
	fsIOCSetXattr      = 0x401c5820 // FS_IOC_FSSETXATTR
	fsXflagProjInherit = 0x00000200 // FS_XFLAG_PROJINHERIT
	qGetQuota          = 0x800007
	qSetQuota          = 0x800008
	prjQuota           = 2
	qifBLimits         = 1
	qifILimits         = 4
)

type fsxattr struct {
	Xflags     uint32
	Extsize    uint32
	Nextents   uint32
	Projid     uint32
	Cowextsize uint32
	Pad        [8]byte
}

type ifDqblk struct {
	BHardlimit uint64 // 1 KiB blocks
	BSoftlimit uint64
	CurSpace   uint64 // bytes
	IHardlimit uint64
	ISoftlimit uint64
	CurInodes  uint64
	BTime      uint64
	ITime      uint64
	Valid      uint32
	_          uint32
}

func qcmd(cmd, typ uint32) uintptr { return uintptr(cmd<<8 | typ&0xff) }

// quotactl runs quotactl_fd on the file system holding dir.
func quotactl(dir string, cmd uint32, id uint32, q *ifDqblk) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	_, _, errno := unix.Syscall6(unix.SYS_QUOTACTL_FD, f.Fd(), qcmd(cmd, prjQuota), uintptr(id), uintptr(unsafe.Pointer(q)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// projectQuotas reports whether the file system holding dir enforces
// project quotas.
func projectQuotas(dir string) bool {
	var q ifDqblk
	return quotactl(dir, qGetQuota, 0, &q) == nil
}

// projectID is the project of a deployment's uid range (never 0, which is
// the default project).
func projectID(base int) uint32 { return uint32((base-uidBase)/uidRange) + 1 }

// setProject puts dir, and everything already in it, into project id, and
// makes new files inherit it.
func setProject(dir string, id uint32) error {
	set := func(p string, inherit bool) error {
		f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		var x fsxattr
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fsIOCGetXattr, uintptr(unsafe.Pointer(&x))); errno != 0 {
			return errno
		}
		x.Projid = id
		if inherit {
			x.Xflags |= fsXflagProjInherit
		}
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fsIOCSetXattr, uintptr(unsafe.Pointer(&x))); errno != 0 {
			return errno
		}
		return nil
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil // links, FIFOs: no blocks of their own worth a quota
		}
		return set(p, d.IsDir())
	})
}

// setProjectLimit sets a project's block limit (0 = none) and an inode
// limit proportional to it.
func setProjectLimit(dir string, id uint32, mb int) error {
	q := ifDqblk{Valid: qifBLimits | qifILimits}
	if mb > 0 {
		q.BHardlimit = uint64(mb) << 10 // 1 KiB blocks
		q.IHardlimit = uint64(max(mb, 1)) * 1024
	}
	if err := quotactl(dir, qSetQuota, id, &q); err != nil {
		return fmt.Errorf("set project quota: %w", err)
	}
	return nil
}

// applyQuota gives a workspace its real limit where the file system can.
func applyQuota(root, dir string, base, mb int) error {
	if !projectQuotas(root) {
		return errNoProjectQuota
	}
	id := projectID(base)
	if err := setProject(dir, id); err != nil {
		return fmt.Errorf("project id: %w", err)
	}
	return setProjectLimit(root, id, mb)
}

var errNoProjectQuota = errors.New("no project quotas on this file system")
