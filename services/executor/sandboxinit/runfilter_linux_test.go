package sandboxinit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// runFilterChildEnv makes the test binary a child that installs the run
// filter on itself: "probes" or "x32".
const runFilterChildEnv = "AIRLOCK_RUNFILTER_CHILD"

// Instruction codes RunFilter emits.
const (
	bpfLd   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfJge  = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	bpfJset = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	bpfRet  = unix.BPF_RET | unix.BPF_K
)

func runFilterSupported(t *testing.T) {
	t.Helper()
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		if _, err := RunFilter(); err == nil {
			t.Fatalf("RunFilter on %s: no error", runtime.GOARCH)
		}
		t.Skipf("RunFilter does not support %s", runtime.GOARCH)
	}
}

func decodeRunFilter(t *testing.T) []unix.SockFilter {
	t.Helper()
	b, err := RunFilter()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 || len(b)%8 != 0 {
		t.Fatalf("RunFilter: %d bytes, not a whole number of 8-byte instructions", len(b))
	}
	return sockFilters(b)
}

// sockFilters decodes an array of struct sock_filter.
func sockFilters(b []byte) []unix.SockFilter {
	prog := make([]unix.SockFilter, len(b)/8)
	for i := range prog {
		in := b[8*i:]
		prog[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(in),
			Jt:   in[2],
			Jf:   in[3],
			K:    binary.NativeEndian.Uint32(in[4:]),
		}
	}
	return prog
}

// TestRunFilterProgram checks the program's shape: known instructions only,
// every jump lands inside the program, and it ends in a return.
func TestRunFilterProgram(t *testing.T) {
	runFilterSupported(t)
	prog := decodeRunFilter(t)
	if len(prog) > unix.BPF_MAXINSNS {
		t.Fatalf("%d instructions, the kernel takes at most %d", len(prog), unix.BPF_MAXINSNS)
	}
	for i, in := range prog {
		switch in.Code {
		case bpfLd:
			if in.K%4 != 0 || in.K >= 64 {
				t.Errorf("instruction %d loads offset %d, outside struct seccomp_data", i, in.K)
			}
		case bpfJeq, bpfJge, bpfJset:
			for _, off := range []uint8{in.Jt, in.Jf} {
				if i+1+int(off) >= len(prog) {
					t.Errorf("instruction %d jumps %d past the end (%d instructions)", i, off, len(prog))
				}
			}
		case bpfRet:
		default:
			t.Errorf("instruction %d: unexpected code %#x", i, in.Code)
		}
	}
	if prog[len(prog)-1].Code != bpfRet {
		t.Errorf("the program ends in %#x, not a return", prog[len(prog)-1].Code)
	}
	t.Logf("%d instructions", len(prog))
}

// evalRunFilter runs prog on one struct seccomp_data, as the kernel would.
func evalRunFilter(t *testing.T, prog []unix.SockFilter, arch, nr uint32, arg0 uint64) uint32 {
	t.Helper()
	data := make([]byte, 64)
	binary.NativeEndian.PutUint32(data[0:], nr)
	binary.NativeEndian.PutUint32(data[4:], arch)
	binary.NativeEndian.PutUint64(data[16:], arg0)
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		var cond bool
		switch in.Code {
		case bpfLd:
			acc = binary.NativeEndian.Uint32(data[in.K:])
			continue
		case bpfRet:
			return in.K
		case bpfJeq:
			cond = acc == in.K
		case bpfJge:
			cond = acc >= in.K
		case bpfJset:
			cond = acc&in.K != 0
		default:
			t.Fatalf("instruction %d: unexpected code %#x", pc, in.Code)
		}
		if cond {
			pc += int(in.Jt)
		} else {
			pc += int(in.Jf)
		}
	}
	t.Fatal("the program ran off its end")
	return 0
}

// TestRunFilterPolicy evaluates the program on system calls the kernel
// could not be asked about in a test (another architecture) and on every
// namespace flag one by one.
func TestRunFilterPolicy(t *testing.T) {
	runFilterSupported(t)
	prog := decodeRunFilter(t)
	native := uint32(unix.AUDIT_ARCH_X86_64)
	if runtime.GOARCH == "arm64" {
		native = unix.AUDIT_ARCH_AARCH64
	}
	const (
		allow = unix.SECCOMP_RET_ALLOW
		kill  = unix.SECCOMP_RET_KILL_PROCESS
	)
	errno := func(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e) }
	threadFlags := uint64(unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
		unix.CLONE_THREAD | unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID)
	type call struct {
		name string
		arch uint32
		nr   uint32
		arg0 uint64
		want uint32
	}
	calls := []call{
		{"getpid", native, unix.SYS_GETPID, 0, allow},
		{"read", native, unix.SYS_READ, 0, allow},
		{"getpid of i386", unix.AUDIT_ARCH_I386, unix.SYS_GETPID, 0, kill},
		{"getpid of arm", unix.AUDIT_ARCH_ARM, unix.SYS_GETPID, 0, kill},
		{"clone of a thread", native, unix.SYS_CLONE, threadFlags, allow},
		{"clone of vfork", native, unix.SYS_CLONE, unix.CLONE_VM | unix.CLONE_VFORK | unix.CLONE_PIDFD | uint64(unix.SIGCHLD), allow},
		// The kernel reads only the low 32 bits of clone's flags.
		{"clone, high bits only", native, unix.SYS_CLONE, 0xffffffff<<32 | uint64(unix.SIGCHLD), allow},
		{"clone3", native, unix.SYS_CLONE3, 0, errno(unix.ENOSYS)},
		{"socket AF_UNIX", native, unix.SYS_SOCKET, unix.AF_UNIX, allow},
		{"socket AF_INET", native, unix.SYS_SOCKET, unix.AF_INET, allow},
		{"socket AF_INET6", native, unix.SYS_SOCKET, unix.AF_INET6, allow},
		{"socket AF_NETLINK", native, unix.SYS_SOCKET, unix.AF_NETLINK, allow},
		// socket's family is an int: the kernel drops the high bits too.
		{"socket AF_INET, high bits", native, unix.SYS_SOCKET, 1<<32 | unix.AF_INET, allow},
		{"socket AF_PACKET, high bits", native, unix.SYS_SOCKET, 1<<32 | unix.AF_PACKET, errno(unix.EPERM)},
		{"socket AF_UNSPEC", native, unix.SYS_SOCKET, unix.AF_UNSPEC, errno(unix.EPERM)},
		{"socket AF_VSOCK", native, unix.SYS_SOCKET, unix.AF_VSOCK, errno(unix.EPERM)},
		{"socket AF_ALG", native, unix.SYS_SOCKET, unix.AF_ALG, errno(unix.EPERM)},
		{"socket AF_TIPC", native, unix.SYS_SOCKET, unix.AF_TIPC, errno(unix.EPERM)},
	}
	for _, f := range []uint64{unix.CLONE_NEWNS, unix.CLONE_NEWCGROUP, unix.CLONE_NEWUTS, unix.CLONE_NEWIPC,
		unix.CLONE_NEWUSER, unix.CLONE_NEWPID, unix.CLONE_NEWNET, unix.CLONE_NEWTIME} {
		calls = append(calls, call{fmt.Sprintf("clone %#x", f), native, unix.SYS_CLONE, f | uint64(unix.SIGCHLD), errno(unix.EPERM)})
	}
	// A sample of the refused calls, written out here rather than taken
	// from the filter's own table.
	for _, nr := range []uint32{unix.SYS_UNSHARE, unix.SYS_SETNS, unix.SYS_PIVOT_ROOT, unix.SYS_FSOPEN, unix.SYS_OPEN_TREE,
		unix.SYS_PROCESS_VM_READV, unix.SYS_PIDFD_GETFD, unix.SYS_PERF_EVENT_OPEN, unix.SYS_USERFAULTFD,
		unix.SYS_IO_URING_ENTER, unix.SYS_OPEN_BY_HANDLE_AT, unix.SYS_INIT_MODULE, unix.SYS_KEXEC_LOAD, unix.SYS_REBOOT} {
		calls = append(calls, call{fmt.Sprintf("system call %d", nr), native, nr, 0, errno(unix.EPERM)})
	}
	if runtime.GOARCH == "amd64" {
		calls = append(calls,
			call{"x32 getpid", native, x32SyscallBit | unix.SYS_GETPID, 0, kill},
			call{"x32 socket", native, x32SyscallBit | unix.SYS_SOCKET, unix.AF_INET, kill})
	}
	for _, c := range calls {
		if got := evalRunFilter(t, prog, c.arch, c.nr, c.arg0); got != c.want {
			t.Errorf("%s: action %#x, want %#x", c.name, got, c.want)
		}
	}
}

// TestRunFilterProbes installs the filter in a child process and makes the
// real system calls.
func TestRunFilterProbes(t *testing.T) {
	if os.Getenv(runFilterChildEnv) == "probes" {
		runFilterProbes()
		return
	}
	runFilterSupported(t)
	out, err := runFilterChild(t, "TestRunFilterProbes", "probes")
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	want := map[string]string{
		"install":                     "ok",
		"seccomp mode":                "2",
		"getpid":                      "ok",
		"read /proc/self/status":      "ok",
		"exec /bin/true":              "ok",
		"socket AF_UNIX":              "ok",
		"socket AF_INET":              "ok",
		"unshare CLONE_NEWUSER":       "EPERM",
		"unshare CLONE_NEWNS":         "EPERM",
		"clone CLONE_NEWUSER|SIGCHLD": "EPERM",
		"clone3":                      "ENOSYS",
		"mount":                       "EPERM",
		"keyctl":                      "EPERM",
		"bpf":                         "EPERM",
		"io_uring_setup":              "EPERM",
		"socket AF_PACKET":            "EPERM",
		"socket AF_VSOCK":             "EPERM",
		"socket AF_BLUETOOTH":         "EPERM",
		"ptrace PTRACE_TRACEME":       "EPERM",
	}
	got := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		name, result, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "probe "), ": ")
		if !ok || !strings.HasPrefix(sc.Text(), "probe ") {
			continue
		}
		t.Log(sc.Text())
		got[name] = result
	}
	for name, w := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("%s: no result", name)
		} else if g != w {
			t.Errorf("%s: %s, want %s", name, g, w)
		}
	}
	if t.Failed() {
		t.Logf("child output:\n%s", out)
	}
}

// TestRunFilterKillsX32 makes an x32 system call under the filter: the
// process dies of SIGSYS.
func TestRunFilterKillsX32(t *testing.T) {
	if os.Getenv(runFilterChildEnv) == "x32" {
		if err := installRunFilter(); err != nil {
			fmt.Printf("install: %v\n", err)
			os.Exit(2)
		}
		_, _, e := unix.RawSyscall(x32SyscallBit|unix.SYS_GETPID, 0, 0, 0)
		fmt.Printf("survived the x32 getpid: %v\n", e)
		os.Exit(3)
	}
	runFilterSupported(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("x32 is an amd64 ABI")
	}
	out, err := runFilterChild(t, "TestRunFilterKillsX32", "x32")
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("child: %v\n%s", err, out)
	}
	ws := exit.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("child: %v, want killed by SIGSYS\n%s", err, out)
	}
	t.Logf("child: %v", err)
}

// runFilterChild runs this test binary's test as a child in the given mode
// and returns its stdout.
func runFilterChild(t *testing.T, test, mode string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), runFilterChildEnv+"="+mode)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if stderr.Len() > 0 {
		t.Logf("child stderr:\n%s", stderr.Bytes())
	}
	return out, err
}

// installRunFilter installs RunFilter's program on every thread of this
// process, as bwrap would on its child before exec.
func installRunFilter() error {
	b, err := RunFilter()
	if err != nil {
		return err
	}
	prog := sockFilters(b)
	// no_new_privs is per thread: set it on the one that installs the
	// filter (TSYNC then sets it on the others).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_NO_NEW_PRIVS: %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if e != 0 {
		return fmt.Errorf("seccomp: %w", e)
	}
	if r != 0 {
		return fmt.Errorf("seccomp: thread %d could not be synchronized", r)
	}
	return nil
}

// runFilterProbes is the child: one line "probe NAME: RESULT" a probe,
// RESULT "ok" or the errno's name.
func runFilterProbes() {
	report := func(name string, err error) {
		result := "ok"
		var e unix.Errno
		switch {
		case errors.As(err, &e):
			result = unix.ErrnoName(e)
		case err != nil:
			result = err.Error()
		}
		fmt.Printf("probe %s: %s\n", name, result)
	}
	errnoErr := func(e unix.Errno) error {
		if e == 0 {
			return nil
		}
		return e
	}
	if err := installRunFilter(); err != nil {
		report("install", err)
		return
	}
	report("install", nil)

	status, err := os.ReadFile("/proc/self/status")
	report("read /proc/self/status", err)
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Seccomp:"); ok {
			fmt.Printf("probe seccomp mode: %s\n", strings.TrimSpace(v))
		}
	}
	_, _, e := unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
	report("getpid", errnoErr(e))
	report("exec /bin/true", exec.Command("/bin/true").Run())
	for _, s := range []struct {
		name   string
		domain int
		typ    int
	}{
		{"AF_UNIX", unix.AF_UNIX, unix.SOCK_STREAM},
		{"AF_INET", unix.AF_INET, unix.SOCK_DGRAM},
		{"AF_PACKET", unix.AF_PACKET, unix.SOCK_RAW},
		{"AF_VSOCK", unix.AF_VSOCK, unix.SOCK_STREAM},
		{"AF_BLUETOOTH", unix.AF_BLUETOOTH, unix.SOCK_RAW},
	} {
		fd, err := unix.Socket(s.domain, s.typ, 0)
		if err == nil {
			unix.Close(fd)
		}
		report("socket "+s.name, err)
	}

	report("unshare CLONE_NEWUSER", unix.Unshare(unix.CLONE_NEWUSER))
	report("unshare CLONE_NEWNS", unix.Unshare(unix.CLONE_NEWNS))
	report("clone CLONE_NEWUSER|SIGCHLD", probeNamespaceClone())
	// No clone_args at all: without the filter this is EINVAL, not a fork.
	_, _, e = unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	report("clone3", errnoErr(e))
	// A mount point that does not exist: without the filter ENOENT.
	report("mount", unix.Mount("none", "/nonexistent/airlock-run-filter", "tmpfs", 0, ""))
	_, err = unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_SESSION_KEYRING, 0, 0, 0)
	report("keyctl", err)
	_, _, e = unix.Syscall(unix.SYS_BPF, unix.BPF_MAP_CREATE, 0, 0)
	report("bpf", errnoErr(e))
	_, _, e = unix.Syscall(unix.SYS_IO_URING_SETUP, 1, 0, 0)
	report("io_uring_setup", errnoErr(e))
	// Last: were it allowed, the test binary would stop at its next signal.
	_, _, e = unix.Syscall(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0)
	report("ptrace PTRACE_TRACEME", errnoErr(e))
}

// probeNamespaceClone makes a raw clone(CLONE_NEWUSER|SIGCHLD). Should the
// filter let it through, the new process leaves at once and the probe
// reports "forked".
func probeNamespaceClone() error {
	pid, _, e := unix.RawSyscall6(unix.SYS_CLONE, unix.CLONE_NEWUSER|uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 {
		return e
	}
	if pid == 0 {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
	var ws unix.WaitStatus
	_, _ = unix.Wait4(int(pid), &ws, 0, nil)
	return errors.New("forked")
}
