package sandboxinit

import (
	"encoding/binary"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// RunFilter returns the compiled seccomp program (struct sock_filter array
// bytes) for bwrap --seccomp.
//
// In namespace mode every run is started by bubblewrap inside a cell, whose
// own seccomp profile must let bubblewrap build the run's namespaces and
// mounts. bubblewrap installs this filter in the run's first process right
// before exec; the kernel then applies both, and the stricter answer wins.
// The filter takes away what the set-up needed and the program does not:
//
//   - namespaces: clone with any CLONE_NEW* flag, unshare and setns are
//     refused (EPERM). A user namespace of the program's own would give it
//     every capability over a fresh set of namespaces, and with them kernel
//     code (netfilter, mounts of many filesystems) that is otherwise
//     root-only, the usual way to a kernel privilege escalation. A clone
//     without those flags, which is how threads, fork and Go's os/exec start,
//     is allowed;
//   - clone3 answers ENOSYS: its flags sit in memory, out of seccomp's sight,
//     and libc (and Go) fall back to clone, whose flags are checked;
//   - mounts: mount, umount2, pivot_root, chroot and the new mount API
//     (move_mount, open_tree, fsopen, fsconfig, fsmount, fspick,
//     mount_setattr) are refused: the run's file system is what bubblewrap
//     built, with the sensitive /proc paths masked again, and the program
//     must neither unmask nor rearrange it;
//   - kernel attack surface no judged program needs: keyrings (keyctl,
//     add_key, request_key), bpf, perf_event_open, userfaultfd (it widens
//     kernel race windows), io_uring_setup, io_uring_enter and
//     io_uring_register, fanotify_init, open_by_handle_at and
//     name_to_handle_at (file handles bypass the mount tree), lookup_dcookie;
//   - other processes: ptrace, process_vm_readv, process_vm_writev and
//     pidfd_getfd, which reach into processes of the same uid;
//   - administration, refused by the kernel to a process without
//     capabilities anyway, refused here so that no capability of the run's
//     user namespace makes them reachable: kexec_load, kexec_file_load,
//     init_module, finit_module, delete_module, sethostname, setdomainname,
//     swapon, swapoff, reboot, acct, quotactl, quotactl_fd, syslog, vhangup;
//   - socket() only for AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK, as in the
//     container profile (internal/seccomp says why); every other
//     family answers EPERM, as the container profile does (the cell's
//     profile answers the same, and this filter's answer wins). Neither
//     supported architecture has socketcall, which would hide the family;
//   - only the native architecture's system calls: a call made through
//     another table (int 0x80 on amd64) or, on amd64, numbered in the x32
//     range (0x40000000 and up) kills the whole process (SIGSYS) instead of
//     reaching the compat code, the usual home of kernel bugs.
//
// Everything else is allowed: personality, prlimit64, the queued signals and
// the rest of what the container profile narrows are narrowed there already.
// The argument checks read the low 32 bits of the first argument, which is
// exactly what the kernel reads of clone's flags and socket's family (both
// supported architectures are little-endian, so they sit at its start).
//
// RunFilter supports amd64 and arm64 and returns an error elsewhere.
func RunFilter() ([]byte, error) {
	prog, err := runFilterProgram()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 8*len(prog))
	for _, in := range prog {
		b = binary.NativeEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.NativeEndian.AppendUint32(b, in.K)
	}
	return b, nil
}

// Offsets in struct seccomp_data.
const (
	seccompNr   = 0
	seccompArch = 4
	seccompArg0 = 16 // the low half on a little-endian machine
)

// x32SyscallBit marks a system call of amd64's x32 ABI.
const x32SyscallBit = 0x40000000

// runNamespaceFlags are the clone flags that make a namespace.
const runNamespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWTIME

func runFilterProgram() ([]unix.SockFilter, error) {
	var auditArch uint32
	switch runtime.GOARCH {
	case "amd64":
		auditArch = unix.AUDIT_ARCH_X86_64
	case "arm64":
		auditArch = unix.AUDIT_ARCH_AARCH64
	default:
		return nil, fmt.Errorf("run filter: architecture %s is not supported", runtime.GOARCH)
	}
	const (
		ld   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jge  = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		jset = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	)
	var (
		kill  uint32 = unix.SECCOMP_RET_KILL_PROCESS
		allow uint32 = unix.SECCOMP_RET_ALLOW
	)
	errno := func(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e)&unix.SECCOMP_RET_DATA }

	var a bpfAssembler
	a.stmt(ld, seccompArch)
	a.retUnless(jeq, auditArch, kill)
	a.stmt(ld, seccompNr)
	if runtime.GOARCH == "amd64" {
		a.retIf(jge, x32SyscallBit, kill)
	}

	a.jump(jeq, unix.SYS_CLONE, "", "not clone")
	a.stmt(ld, seccompArg0)
	a.retIf(jset, runNamespaceFlags, errno(unix.EPERM))
	a.ret(allow)
	a.label("not clone")

	a.retIf(jeq, unix.SYS_CLONE3, errno(unix.ENOSYS))

	a.jump(jeq, unix.SYS_SOCKET, "", "not socket")
	a.stmt(ld, seccompArg0)
	for _, family := range []uint32{unix.AF_UNIX, unix.AF_INET, unix.AF_INET6, unix.AF_NETLINK} {
		a.jump(jeq, family, "socket allowed", "")
	}
	a.ret(errno(unix.EPERM))
	a.label("socket allowed")
	a.ret(allow)
	a.label("not socket")

	// Each check returns on its own, so no jump crosses the list.
	for _, nr := range runFilterRefused {
		a.retIf(jeq, nr, errno(unix.EPERM))
	}
	a.ret(allow)
	return a.assemble()
}

// bpfAssembler builds a classic BPF program whose jumps name labels, all
// forward, and resolves them when the program is complete.
type bpfAssembler struct {
	prog   []unix.SockFilter
	labels map[string]int
	refs   []bpfRef
}

// bpfClassMask selects an instruction's class (BPF_CLASS in linux/bpf_common.h).
const bpfClassMask = 0x07

// bpfRef is a jump waiting for its label: the jt (or jf) field of
// instruction at.
type bpfRef struct {
	at    int
	jt    bool
	label string
}

func (a *bpfAssembler) stmt(code uint16, k uint32) {
	a.prog = append(a.prog, unix.SockFilter{Code: code, K: k})
}

func (a *bpfAssembler) ret(k uint32) { a.stmt(unix.BPF_RET|unix.BPF_K, k) }

// jump appends a conditional jump to the labels jt and jf; "" is the next
// instruction.
func (a *bpfAssembler) jump(code uint16, k uint32, jt, jf string) {
	at := len(a.prog)
	a.stmt(code, k)
	if jt != "" {
		a.refs = append(a.refs, bpfRef{at: at, jt: true, label: jt})
	}
	if jf != "" {
		a.refs = append(a.refs, bpfRef{at: at, label: jf})
	}
}

// retIf returns action when the comparison holds and goes on otherwise.
func (a *bpfAssembler) retIf(code uint16, k, action uint32) {
	a.prog = append(a.prog, unix.SockFilter{Code: code, Jf: 1, K: k})
	a.ret(action)
}

// retUnless returns action when the comparison fails and goes on otherwise.
func (a *bpfAssembler) retUnless(code uint16, k, action uint32) {
	a.prog = append(a.prog, unix.SockFilter{Code: code, Jt: 1, K: k})
	a.ret(action)
}

// label names the next instruction.
func (a *bpfAssembler) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	if _, dup := a.labels[name]; dup {
		a.labels[name] = -1 // reported by assemble
		return
	}
	a.labels[name] = len(a.prog)
}

func (a *bpfAssembler) assemble() ([]unix.SockFilter, error) {
	if len(a.prog) == 0 || len(a.prog) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("run filter: %d instructions", len(a.prog))
	}
	if last := a.prog[len(a.prog)-1]; last.Code&bpfClassMask != unix.BPF_RET {
		return nil, fmt.Errorf("run filter: the program does not end in a return")
	}
	for name, at := range a.labels {
		if at < 0 {
			return nil, fmt.Errorf("run filter: label %q is defined twice", name)
		}
	}
	for _, r := range a.refs {
		to, ok := a.labels[r.label]
		if !ok {
			return nil, fmt.Errorf("run filter: label %q is not defined", r.label)
		}
		off := to - r.at - 1
		if off < 0 || off > 255 || to >= len(a.prog) {
			return nil, fmt.Errorf("run filter: jump from %d to %q (%d) out of reach", r.at, r.label, to)
		}
		if r.jt {
			a.prog[r.at].Jt = uint8(off)
		} else {
			a.prog[r.at].Jf = uint8(off)
		}
	}
	return a.prog, nil
}
