package sandbox_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/airlockrun/airlock/services/executor/sandboxinit"
)

// attackArg starts the test binary as an attack program inside a sandbox:
// the runner mounts the test binary at sandboxinit.MountPath, so the tests
// can run Go code in a container without an image that has a compiler.
const attackArg = "__airlock_test_attack"

func attackArgv(mode string, args ...string) []string {
	return append([]string{sandboxinit.MountPath, attackArg, mode}, args...)
}

// attackMain runs inside the container as the user's program. Every probe
// prints "ALLOWED <what>" when the sandbox let it through, "blocked <what>:
// <error>" otherwise.
func attackMain(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "attack mode missing")
		return 2
	}
	switch args[0] {
	case "init":
		return attackInit()
	case "signal":
		return attackSignal(args[1:])
	case "forge":
		return attackForge()
	case "spin":
		return spin(args[1:])
	case "work":
		return work(args[1:])
	case "alloc":
		return alloc()
	case "sockets":
		return sockets()
	case "escape":
		return escape()
	case "plant":
		return plant()
	case "daemon":
		return daemon()
	case "seek":
		return seek()
	}
	fmt.Fprintln(os.Stderr, "unknown attack mode", args[0])
	return 2
}

func probe(what string, err error) {
	if err == nil {
		fmt.Println("ALLOWED", what)
	} else {
		fmt.Println("blocked", what+":", err)
	}
}

// attackInit tries every way into the init other than signals: ptrace, its
// memory, its file descriptors, its environment, another process's view of
// its memory, and stealing its descriptors through a pidfd.
func attackInit() int {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_ATTACH, 1, 0, 0, 0, 0)
	probe("ptrace(PTRACE_ATTACH, 1)", errnoErr(e))
	if e == 0 {
		_, _, _ = unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_DETACH, 1, 0, 0, 0, 0)
	}
	_, _, e = unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, 1, 0, 0, 0, 0)
	probe("ptrace(PTRACE_SEIZE, 1)", errnoErr(e))

	// Non-blocking: where the open succeeds (gVisor), the init's stdin is
	// a pipe with nothing left in it, and a blocking read would wait for the
	// end of the stage.
	for _, p := range []string{"/proc/1/mem", "/proc/1/environ", "/proc/1/fd/0", "/proc/1/fd/1", "/proc/1/fd/2", "/proc/1/auxv", "/proc/1/syscall", "/proc/1/stack"} {
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK, 0)
		if err == nil {
			b := make([]byte, 64)
			n, rerr := unix.Read(fd, b)
			unix.Close(fd)
			if n > 0 {
				probe("read "+p, nil)
				continue
			}
			err = rerr
			if err == nil {
				err = errors.New("nothing to read")
			}
		}
		probe("read "+p, err)
	}
	_, err := os.ReadDir("/proc/1/fd")
	probe("list /proc/1/fd", err)
	_, err = os.Readlink("/proc/1/exe")
	probe("readlink /proc/1/exe", err)
	_, err = os.Readlink("/proc/1/cwd")
	probe("readlink /proc/1/cwd", err)
	_, err = os.ReadDir("/proc/1/root/")
	probe("list /proc/1/root", err)

	// process_vm_readv of the init's stack area.
	buf := make([]byte, 64)
	local := []unix.Iovec{{Base: &buf[0], Len: uint64(len(buf))}}
	remote := []unix.RemoteIovec{{Base: 0x400000, Len: len(buf)}}
	_, err = unix.ProcessVMReadv(1, local, remote, 0)
	probe("process_vm_readv(1)", err)

	pidfd, err := unix.PidfdOpen(1, 0)
	if err == nil {
		for fd := 0; fd < 8; fd++ {
			got, gerr := unix.PidfdGetfd(pidfd, fd, 0)
			probe(fmt.Sprintf("pidfd_getfd(init, %d)", fd), gerr)
			if gerr == nil {
				unix.Close(got)
			}
		}
		unix.Close(pidfd)
	} else {
		fmt.Println("blocked pidfd_open(1):", err)
	}
	probe("prlimit(1, RLIMIT_NOFILE)", unix.Prlimit(1, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 1, Max: 1}, nil))
	probe("setpriority(1)", unix.Setpriority(unix.PRIO_PROCESS, 1, 19))
	fmt.Println("done")
	return 7
}

// siQueue is si_code SI_QUEUE: a signal sent by sigqueue(3).
const siQueue = -1

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// attackSignal sends each named signal to the init (pid 1) in every way the
// kernel offers, then reports whether the init is still there.
func attackSignal(names []string) int {
	pidfd, perr := unix.PidfdOpen(1, 0)
	for _, name := range names {
		sig := unix.SignalNum("SIG" + name)
		if sig == 0 {
			fmt.Println("unknown signal", name)
			return 2
		}
		_ = unix.Kill(1, sig)
		_ = unix.Tgkill(1, 1, sig)
		// Queued signals carry a si_code of the sender's choice: SI_QUEUE
		// makes a SIGSEGV, SIGBUS or SIGFPE look like a real fault to the
		// Go runtime.
		info := unix.Siginfo{Signo: int32(sig), Code: siQueue}
		_, _, e := unix.Syscall(unix.SYS_RT_SIGQUEUEINFO, 1, uintptr(sig), uintptr(unsafe.Pointer(&info)))
		fmt.Printf("rt_sigqueueinfo(1, %s): %v\n", name, errnoErr(e))
		_, _, e = unix.Syscall6(unix.SYS_RT_TGSIGQUEUEINFO, 1, 1, uintptr(sig), uintptr(unsafe.Pointer(&info)), 0, 0)
		fmt.Printf("rt_tgsigqueueinfo(1, 1, %s): %v\n", name, errnoErr(e))
		if perr == nil {
			_, _, _ = unix.Syscall6(unix.SYS_PIDFD_SEND_SIGNAL, uintptr(pidfd), uintptr(sig), 0, 0, 0, 0)
			_, _, e = unix.Syscall6(unix.SYS_PIDFD_SEND_SIGNAL, uintptr(pidfd), uintptr(sig), uintptr(unsafe.Pointer(&info)), 0, 0, 0)
			fmt.Printf("pidfd_send_signal(init, %s, SI_QUEUE): %v\n", name, errnoErr(e))
		}
		// The init's other threads.
		if tasks, err := os.ReadDir("/proc/1/task"); err == nil {
			for _, tk := range tasks {
				var tid int
				if _, err := fmt.Sscan(tk.Name(), &tid); err == nil {
					_ = unix.Tgkill(1, tid, sig)
					_, _, _ = unix.Syscall6(unix.SYS_RT_TGSIGQUEUEINFO, 1, uintptr(tid), uintptr(sig), uintptr(unsafe.Pointer(&info)), 0, 0)
				}
			}
		}
	}
	// kill(0) reaches the caller's process group, which the init leads
	// (the program ignores the signal itself first; SIGKILL and SIGSTOP
	// cannot be ignored, so they are not sent this way).
	for _, name := range names {
		sig := unix.SignalNum("SIG" + name)
		if sig == unix.SIGKILL || sig == unix.SIGSTOP {
			continue
		}
		signal.Ignore(sig)
		_ = unix.Kill(0, sig)
	}
	time.Sleep(300 * time.Millisecond)
	if err := unix.Kill(1, 0); err == nil {
		fmt.Println("init alive")
	}
	return 7
}

// attackForge floods both streams with records that look like the init's,
// with guessed nonces, and fake verdicts, then exits 3.
func attackForge() int {
	var sb strings.Builder
	for i := 0; i < 200; i++ {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		nonce := hex.EncodeToString(b)
		if i%2 == 0 {
			nonce = strings.Repeat("0", 32)
		}
		fmt.Fprintf(&sb, "%s{\"exit_code\":0,\"signal\":0,\"artifact_size\":0}\n", sandboxinit.Marker(nonce))
	}
	sb.WriteString(`{"verdict":"accepted","status":"completed","exit_code":0}` + "\n")
	os.Stdout.WriteString(sb.String())
	os.Stderr.WriteString(sb.String())
	// What the init's command line and our own environment say: no nonce.
	if b, err := os.ReadFile("/proc/1/cmdline"); err == nil {
		fmt.Printf("init cmdline %q\n", strings.ReplaceAll(string(b), "\x00", " "))
	}
	fmt.Printf("env %q\n", os.Environ())
	return 3
}

// spin burns CPU until its own process has used the duration in args[0] (by
// the kernel's per-process CPU clock, so the figure does not depend on how
// busy the machine is), then exits 0: a calibrated load for the accounting
// tests.
func spin(args []string) int {
	d, err := time.ParseDuration(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var ts unix.Timespec
	for {
		if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		if time.Duration(ts.Nano()) >= d {
			return 0
		}
	}
}

// work runs a fixed number of rounds of integer arithmetic, args[0], and
// exits 0: the same CPU work whichever clock runs inside the sandbox, so the
// figure can be compared with the same program run as a bare process.
func work(args []string) int {
	n, err := strconv.ParseUint(args[0], 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	x := uint64(88172645463325252)
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	if x == 0 { // never: the work must be used, or it could be optimised away
		fmt.Fprintln(os.Stderr, "xorshift reached 0")
	}
	return 0
}

// alloc allocates and touches 16 MiB blocks until the kernel stops it: a
// memory bomb that reaches any memory limit in a few hundred milliseconds of
// CPU, long before a CPU or wall limit, however loaded the machine.
func alloc() int {
	var blocks [][]byte
	for {
		b := make([]byte, 16<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		blocks = append(blocks, b)
	}
}

// sockets tries socket() in every address family and prints one line per
// family: "socket <family> <errno or ok>".
func sockets() int {
	for family := 0; family < unix.AF_MAX; family++ {
		fd, err := unix.Socket(family, unix.SOCK_DGRAM, 0)
		if err == nil {
			unix.Close(fd)
			fmt.Printf("socket %d ok\n", family)
			continue
		}
		fmt.Printf("socket %d %d\n", family, err.(unix.Errno))
	}
	return 0
}
