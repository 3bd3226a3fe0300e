package seccomp

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestSeccompProfile checks the profile every runc sandbox gets, without a
// container: io_uring, socketcall and every socket family but UNIX, INET,
// INET6 and NETLINK are refused, queued signals cannot reach the init, the
// native architecture is the only one, and ordinary sockets still work.
func TestSeccompProfile(t *testing.T) {
	raw, err := Sandbox()
	if err != nil {
		t.Fatal(err)
	}
	var prof specs.LinuxSeccomp
	if err := json.Unmarshal([]byte(raw), &prof); err != nil {
		t.Fatal(err)
	}
	if prof.DefaultAction != specs.ActErrno {
		t.Errorf("default action %s, want %s", prof.DefaultAction, specs.ActErrno)
	}
	if len(prof.Architectures) != 1 {
		t.Errorf("architectures %v, want only the native one", prof.Architectures)
	}
	allowsSocket := func(domain uint64) bool {
		for _, sc := range prof.Syscalls {
			if sc.Action == specs.ActAllow && slices.Contains(sc.Names, "socket") && mayAllowDomain(sc.Args, domain) {
				return true
			}
		}
		return false
	}
	allowed := map[string]bool{}
	for _, sc := range prof.Syscalls {
		if sc.Action != specs.ActAllow {
			continue
		}
		for _, n := range sc.Names {
			if n == "socket" || n == "prlimit64" || n == "rt_sigqueueinfo" || n == "rt_tgsigqueueinfo" {
				continue // conditional; checked below
			}
			allowed[n] = true
			if strings.HasPrefix(n, "io_uring") || n == "socketcall" {
				t.Errorf("%s is allowed", n)
			}
		}
	}
	for _, sc := range prof.Syscalls {
		if slices.Contains(sc.Names, "prlimit64") && sc.Action == specs.ActAllow &&
			(len(sc.Args) != 1 || sc.Args[0] != (specs.LinuxSeccompArg{Index: 0, Value: 0, Op: specs.OpEqualTo})) {
			t.Errorf("prlimit64 allowed beyond the caller itself: %+v", sc.Args)
		}
	}
	for d := uint64(0); d < unix.AF_MAX; d++ {
		want := slices.Contains([]uint64{unix.AF_UNIX, unix.AF_INET, unix.AF_INET6, unix.AF_NETLINK}, d)
		if allowsSocket(d) != want {
			t.Errorf("socket(%d) allowed %v, want %v", d, !want, want)
		}
	}
	// Queued signals never towards the init; pidfd_send_signal (target
	// unknown to seccomp) not at all.
	for _, sc := range prof.Syscalls {
		if sc.Action != specs.ActAllow {
			continue
		}
		for _, n := range []string{"rt_sigqueueinfo", "rt_tgsigqueueinfo"} {
			if slices.Contains(sc.Names, n) && (len(sc.Args) != 1 || sc.Args[0] != (specs.LinuxSeccompArg{Index: 0, Value: 1, Op: specs.OpNotEqual})) {
				t.Errorf("%s allowed towards the init: %+v", n, sc.Args)
			}
		}
		if slices.Contains(sc.Names, "pidfd_send_signal") {
			t.Error("pidfd_send_signal is allowed")
		}
	}
	for _, n := range []string{"read", "write", "clone", "execve", "mmap", "futex", "exit_group", "wait4"} {
		if !allowed[n] {
			t.Errorf("%s is not allowed", n)
		}
	}
	// Without capabilities, the rules Docker adds for CAP_SYS_ADMIN and
	// friends are absent.
	for _, n := range []string{"mount", "bpf", "perf_event_open", "kexec_load", "init_module", "unshare", "setns", "keyctl", "add_key"} {
		if allowed[n] {
			t.Errorf("%s is allowed without capabilities", n)
		}
	}
	t.Logf("profile: %d bytes, %d rules, architectures %v", len(raw), len(prof.Syscalls), prof.Architectures)
}

func TestMayAllowDomain(t *testing.T) {
	arg := func(op specs.LinuxSeccompOperator, v uint64) specs.LinuxSeccompArg {
		return specs.LinuxSeccompArg{Index: 0, Op: op, Value: v}
	}
	cases := []struct {
		args []specs.LinuxSeccompArg
		want bool
	}{
		{nil, true},
		{[]specs.LinuxSeccompArg{arg(specs.OpEqualTo, 2)}, false},
		{[]specs.LinuxSeccompArg{arg(specs.OpEqualTo, 40)}, true},
		{[]specs.LinuxSeccompArg{arg(specs.OpLessThan, 40)}, false},
		{[]specs.LinuxSeccompArg{arg(specs.OpLessThan, 41)}, true},
		// runc ORs conditions on one argument.
		{[]specs.LinuxSeccompArg{arg(specs.OpEqualTo, 2), arg(specs.OpEqualTo, 40)}, true},
		{[]specs.LinuxSeccompArg{{Index: 1, Op: specs.OpEqualTo, Value: 1}}, true},
		{[]specs.LinuxSeccompArg{arg(specs.OpMaskedEqual, 0)}, true},
	}
	for i, tc := range cases {
		if got := mayAllowDomain(tc.args, unix.AF_VSOCK); got != tc.want {
			t.Errorf("case %d %+v: %v, want %v", i, tc.args, got, tc.want)
		}
	}
}
