package agent

import (
	"fmt"
	"runtime"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"
)

// LoadSeccomp installs the deny-list on every thread of the calling
// process (the local driver's init, a container's agent) and so of
// everything it starts: no mounts, no namespaces, no tracing, no kernel
// modules or keyrings, no bpf, no io_uring; clone3 looks absent so that
// clone's flags can be checked (no new user namespace).
func LoadSeccomp() error {
	deny := []string{"mount", "umount2", "pivot_root", "ptrace", "kexec_load", "kexec_file_load",
		"init_module", "finit_module", "delete_module", "bpf", "perf_event_open", "userfaultfd",
		"keyctl", "add_key", "request_key", "unshare", "setns", "open_by_handle_at", "name_to_handle_at",
		"swapon", "swapoff", "reboot", "acct", "quotactl", "fsopen", "fsmount", "fsconfig", "fspick",
		"move_mount", "open_tree", "mount_setattr", "io_uring_setup", "io_uring_enter", "io_uring_register",
		"process_vm_readv", "process_vm_writev", "lookup_dcookie", "syslog", "settimeofday", "clock_settime",
		"clock_adjtime", "adjtimex", "vhangup", "pidfd_getfd"}
	filter := seccomp.Filter{
		NoNewPrivs: true,
		Flag:       seccomp.FilterFlagTSync,
		Policy: seccomp.Policy{
			DefaultAction: seccomp.ActionAllow,
			Syscalls: []seccomp.SyscallGroup{
				{Action: seccomp.ActionErrno, Names: deny},
				{Action: seccomp.ActionErrno, NamesWithCondtions: []seccomp.NameWithConditions{{
					Name:       "clone",
					Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.BitsSet, Value: unix.CLONE_NEWUSER}},
				}}},
				{Action: errnoAction(unix.ENOSYS), Names: []string{"clone3"}},
				// vsock is not confined by network namespaces.
				{Action: errnoAction(unix.EAFNOSUPPORT), NamesWithCondtions: []seccomp.NameWithConditions{
					{Name: "socket", Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.Equal, Value: unix.AF_VSOCK}}},
					{Name: "socketpair", Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.Equal, Value: unix.AF_VSOCK}}},
				}},
			},
		},
	}
	if err := seccomp.LoadFilter(filter); err != nil {
		return err
	}
	return loadArchFilter()
}

// loadArchFilter refuses system calls made through another ABI than the
// native one (on x86-64: the 32-bit int 0x80 and the x32 ABI), which the
// deny-list above would otherwise let through unchecked.
func loadArchFilter() error {
	var arch uint32
	switch runtime.GOARCH {
	case "amd64":
		arch = unix.AUDIT_ARCH_X86_64
	case "arm64":
		arch = unix.AUDIT_ARCH_AARCH64
	default:
		return fmt.Errorf("no seccomp architecture check for %s", runtime.GOARCH)
	}
	deny := uint32(unix.SECCOMP_RET_ERRNO) | uint32(unix.ENOSYS)
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4}, // seccomp_data.arch
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 1, Jf: 0, K: arch},
		{Code: unix.BPF_RET | unix.BPF_K, K: deny},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, Jt: 0, Jf: 1, K: 0x40000000},
		{Code: unix.BPF_RET | unix.BPF_K, K: deny}, // x32 system call numbers
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return fmt.Errorf("seccomp architecture filter: %w", errno)
	}
	return nil
}

// errnoAction is SECCOMP_RET_ERRNO with a chosen errno (ActionErrno is
// EPERM).
func errnoAction(errno unix.Errno) seccomp.Action {
	return seccomp.Action(uint32(seccomp.ActionErrno)&^0xffff | uint32(errno)&0xffff)
}
