package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
	"github.com/airlockrun/airlock/services/executor"
)

// The attack suite: programs that try what the published escapes from
// online judges tried (Judge0 CVE-2024-28185, -28189, -29021; Piston's
// patched exploits) and every resource and isolation attack we know of,
// each run through the whole stack (gateway, NATS, executor, Docker) under
// runc and under gVisor (runsc). Each attack has the verdicts it may get and
// its own checks; every attack also gets the same safety checks:
//
//   - the verdict arrives within 1.5x its wall limits (compile + run) plus a
//     margin for container start on a loaded machine;
//   - no container, host process or cgroup of the job remains;
//   - a hello job submitted at the same time is accepted with its output;
//   - the test process's goroutines and heap return near their baseline;
//   - the canary secret in the executor's environment appears nowhere in the
//     result, and nothing the attacks aim at changed on the host.
//
// docs/security.md maps each defence to the attacks that prove it.

// canaryEnv is set in this process's environment before the stack starts:
// it is the gateway's and the executor's environment.
const canaryEnv = "AIRLOCK_CANARY_SECRET"

// pwned is the name every attack uses for what it tries to plant on the host.
const pwned = "airlock-pwned"

// ipcKey is the SysV IPC key the persistence attack creates.
const ipcKey = 0x41524c4b

type attack struct {
	name   string
	lang   string // language; the entry file name comes from it
	code   string
	stdin  string
	args   []string
	limits contracts.Limits
	// want lists the acceptable verdicts.
	want []contracts.Verdict
	// check adds the attack's own assertions.
	check func(t *testing.T, e contracts.Execution, env *attackEnv)
	// next, when set, is a second program run after the first (persistence).
	next *attack
}

// attackEnv is what an attack's checks may need to know about the stack.
type attackEnv struct {
	runtime  string // "runc", "runsc" or "namespace"
	gvisor   bool
	cells    bool // namespace isolation: stages run in cells
	canary   string
	honeypot *honeypot
}

var entryFile = map[string]string{"python": "main.py", "bash": "main.sh", "c": "main.c", "c++": "main.cpp", "java": "Main.java"}

var (
	ac  = []contracts.Verdict{contracts.VerdictAccepted}
	tle = []contracts.Verdict{contracts.VerdictTimeLimitExceeded}
	mle = []contracts.Verdict{contracts.VerdictMemoryLimitExceeded}
	re  = []contracts.Verdict{contracts.VerdictRuntimeError}
	ole = []contracts.Verdict{contracts.VerdictOutputLimitExceeded}
	ce  = []contracts.Verdict{contracts.VerdictCompileError}
)

func verdicts(v ...contracts.Verdict) []contracts.Verdict { return v }

// noLines fails for every output line starting with prefix, except the
// tolerated ones.
func noLines(t *testing.T, out, prefix string, tolerated ...string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, prefix) && !slices.Contains(tolerated, line) {
			t.Errorf("%s", line)
		}
	}
}

func stdout(e contracts.Execution) string {
	if e.Run == nil {
		return ""
	}
	return e.Run.Stdout
}

// lineInt returns the integer after "key " on a line of out, or -1.
func lineInt(out, key string) int {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + ` (\d+)`).FindStringSubmatch(out)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func processLimitMessage(t *testing.T, e contracts.Execution, env *attackEnv) {
	t.Helper()
	// Under runc the pids cgroup refuses the forks and counts it; gVisor
	// refuses them inside the sandbox (RLIMIT_NPROC), out of the host's view.
	if !env.gvisor && !strings.Contains(e.Message, "processes") {
		t.Errorf("message %q does not report the process limit", e.Message)
	}
}

func attacks() []attack {
	return []attack{
		// ---- resource exhaustion ----
		{name: "fork bomb (shell)", lang: "bash",
			code:   "f() { f | f & }\nf\nsleep 2\necho done\n",
			limits: contracts.Limits{WallTimeMS: 4000},
			want:   verdicts(contracts.VerdictTimeLimitExceeded, contracts.VerdictRuntimeError, contracts.VerdictAccepted),
			check:  processLimitMessage},
		{name: "fork bomb (python)", lang: "python",
			code:   "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
			limits: contracts.Limits{WallTimeMS: 3000},
			// Under gVisor every guest process costs sentry memory, counted
			// in the container's limit: the bomb can end there first.
			want:  verdicts(contracts.VerdictTimeLimitExceeded, contracts.VerdictRuntimeError, contracts.VerdictMemoryLimitExceeded),
			check: processLimitMessage},
		{name: "thread bomb", lang: "c",
			code: `#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static void *idle(void *a) { (void)a; pause(); return 0; }
int main(void) {
	int n = 0; pthread_t t;
	while (pthread_create(&t, 0, idle, 0) == 0) n++;
	printf("threads %d\n", n);
	return 0;
}
`,
			want: ac,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				if n := lineInt(stdout(e), "threads"); n < 1 || n > 80 {
					t.Errorf("created %d threads under a limit of 64 processes", n)
				}
				processLimitMessage(t, e, env)
			}},
		{name: "memory bomb", lang: "c",
			code: `#include <stdlib.h>
#include <string.h>
int main(void) { for (;;) { char *p = malloc(1 << 20); if (!p) return 3; memset(p, 1, 1 << 20); } }
`,
			limits: contracts.Limits{MemoryMB: 64},
			want:   mle},
		{name: "writes to the root filesystem", lang: "python",
			code: `import os
for p in ["/etc/` + pwned + `", "/usr/` + pwned + `", "/` + pwned + `", "/.airlock/init", "/bin/sh", "/proc/sys/kernel/core_pattern",
          "/proc/sysrq-trigger", "/sys/kernel/uevent_helper", "/sys/fs/cgroup/` + pwned + `", "/etc/passwd"]:
    try:
        with open(p, "ab") as f:
            f.write(b"x")
        print("ALLOWED write", p)
    except OSError as e:
        print("blocked write", p, e.errno)
for d in ["/sys/fs/cgroup/memory/` + pwned + `", "/` + pwned + `-dir"]:
    try:
        os.mkdir(d)
        print("ALLOWED mkdir", d)
    except OSError as e:
        print("blocked mkdir", d, e.errno)
`,
			want:  ac,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) { noLines(t, stdout(e), "ALLOWED") }},
		{name: "file past the size limit", lang: "python",
			code: `n = 0
try:
    with open("big", "wb") as f:
        while True:
            f.write(b"x" * (1 << 20))
            f.flush()
            n += 1
except OSError as e:
    print("stopped", n, e.errno)
`,
			limits: contracts.Limits{MemoryMB: 512},
			want:   verdicts(contracts.VerdictAccepted, contracts.VerdictMemoryLimitExceeded),
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				if e.Verdict == contracts.VerdictAccepted {
					if n := lineInt(stdout(e), "stopped"); n < 0 || n > 128 {
						t.Errorf("wrote %d MB into a 128 MB work directory", n)
					}
				}
			}},
		{name: "/dev/shm and /tmp exhaustion", lang: "python",
			code: `for d in ["/dev/shm", "/tmp"]:
    n = 0
    try:
        with open(d + "/fill", "wb") as f:
            while True:
                f.write(b"x" * (1 << 20))
                f.flush()
                n += 1
    except OSError as e:
        print(d, n, e.errno)
`,
			limits: contracts.Limits{MemoryMB: 512},
			want:   verdicts(contracts.VerdictAccepted, contracts.VerdictMemoryLimitExceeded),
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				if e.Verdict != contracts.VerdictAccepted {
					return
				}
				if n := lineInt(stdout(e), "/dev/shm"); n < 0 || n > 64 {
					t.Errorf("/dev/shm took %d MB", n)
				}
				if n := lineInt(stdout(e), "/tmp"); n < 0 || n > 128 {
					t.Errorf("/tmp took %d MB", n)
				}
			}},
		{name: "inode exhaustion", lang: "python",
			code: `import os
n = 0
try:
    while True:
        os.close(os.open("f%d" % n, os.O_CREAT | os.O_WRONLY, 0o600))
        n += 1
except OSError as e:
    print("files", n, e.errno)
`,
			limits: contracts.Limits{WallTimeMS: 10000, CPUTimeMS: 8000},
			// gVisor ignores nr_inodes: its inodes cost sentry memory, and the
			// loop ends at the memory or time limit instead.
			want: verdicts(contracts.VerdictAccepted, contracts.VerdictTimeLimitExceeded, contracts.VerdictMemoryLimitExceeded),
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				if !env.gvisor && (e.Verdict != contracts.VerdictAccepted || lineInt(stdout(e), "files") > 65536) {
					t.Errorf("runc: want the tmpfs inode cap (65536) to stop the loop: %s", stdout(e))
				}
			}},
		{name: "fd exhaustion", lang: "python",
			code: `import os
fds = []
try:
    while True:
        fds.append(os.open("/dev/null", os.O_RDONLY))
except OSError as e:
    print("fds", len(fds), e.errno)
`,
			want: ac,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				if n := lineInt(stdout(e), "fds"); n < 1 || n > 256 {
					t.Errorf("opened %d descriptors under nofile 256", n)
				}
			}},
		{name: "stdout flood", lang: "python",
			code:   "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
			limits: contracts.Limits{OutputBytes: 100000},
			want:   ole,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				if !e.Run.Truncated || len(e.Run.Stdout)+len(e.Run.Stderr) != 100000 {
					t.Errorf("truncated %v, %d+%d bytes kept, want exactly 100000", e.Run.Truncated, len(e.Run.Stdout), len(e.Run.Stderr))
				}
			}},
		{name: "stderr flood", lang: "python",
			code:   "import sys\nwhile True:\n    sys.stderr.write('y' * 65536)\n",
			limits: contracts.Limits{OutputBytes: 100000},
			want:   ole,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				if !e.Run.Truncated || len(e.Run.Stdout)+len(e.Run.Stderr) != 100000 {
					t.Errorf("truncated %v, %d+%d bytes kept, want exactly 100000", e.Run.Truncated, len(e.Run.Stdout), len(e.Run.Stderr))
				}
			}},
		{name: "large stdin never read while writing", lang: "python",
			// os.write in a loop: gVisor returns short writes on a full host
			// pipe, which Python's unbuffered text layer does not retry.
			code:  "import os\ndata = b'z' * 300000\nwhile data:\n    data = data[os.write(1, data):]\n",
			stdin: strings.Repeat("0123456789abcdef", 4<<20/16),
			want:  ac,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				if len(stdout(e)) != 300000 {
					t.Errorf("stdout %d bytes, want 300000", len(stdout(e)))
				}
			}},
		{name: "busy loop", lang: "c",
			code:   "int main(void) { volatile unsigned long i = 0; for (;;) i++; }\n",
			limits: contracts.Limits{CPUTimeMS: 1000, WallTimeMS: 10000},
			want:   tle,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				if e.Run.CPUTimeMS < 1000 {
					t.Errorf("cpu_time_ms %d, want at least the 1000 ms limit", e.Run.CPUTimeMS)
				}
			}},
		{name: "threads burning CPU", lang: "c",
			code: `#define _GNU_SOURCE
#include <pthread.h>
#include <unistd.h>
static void *burn(void *a) { volatile unsigned long i = 0; (void)a; for (;;) i++; return 0; }
int main(void) {
	pthread_t t;
	for (int i = 0; i < 4; i++) pthread_create(&t, 0, burn, 0);
	for (;;) sleep(1); /* the main thread itself uses no CPU */
}
`,
			limits: contracts.Limits{CPUTimeMS: 1000, WallTimeMS: 20000},
			want:   tle,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				// Only the threads burn: if their CPU did not count, the wall
				// clock (20 s) would end the run, not the 1 s CPU limit.
				if e.Run.CPUTimeMS < 1000 || e.Run.WallTimeMS >= 20000 || e.Run.Signal != "SIGKILL" {
					t.Errorf("cpu %d ms wall %d ms signal %s: want the CPU watchdog to kill it before the wall limit", e.Run.CPUTimeMS, e.Run.WallTimeMS, e.Run.Signal)
				}
			}},
		{name: "sleeping forever", lang: "bash",
			code:   "sleep infinity\n",
			limits: contracts.Limits{WallTimeMS: 2000},
			want:   tle,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				if e.Run.Signal != "SIGKILL" || e.Run.WallTimeMS < 2000 {
					t.Errorf("signal %s wall %d ms, want SIGKILL at the 2000 ms wall limit", e.Run.Signal, e.Run.WallTimeMS)
				}
			}},
		{name: "stops itself with SIGSTOP", lang: "bash",
			code:   "kill -STOP $$\necho resumed\n",
			limits: contracts.Limits{WallTimeMS: 2000},
			want:   tle},
		{name: "ignores SIGTERM", lang: "bash",
			code:   "trap '' TERM INT HUP QUIT\nwhile :; do sleep 1; done\n",
			limits: contracts.Limits{WallTimeMS: 2000},
			want:   tle},
		{name: "daemonizes to outlive the job", lang: "python",
			code: `import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for i in range(600):
            try:
                with open("/tmp/daemon-alive", "a") as f:
                    f.write("x")
            except OSError:
                pass
            time.sleep(0.1)
        os._exit(0)
    os._exit(0)
print("parent leaves")
`,
			want: ac},
		{name: "unreaped zombies", lang: "c",
			code: `#define _GNU_SOURCE
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>
int main(void) {
	int n = 0;
	for (int i = 0; i < 40; i++) { pid_t p = fork(); if (p == 0) _exit(0); if (p > 0) n++; }
	sleep(1);
	printf("zombies %d\n", n);
	return 0;
}
`,
			want: ac},
		{name: "crash storm with core dumps", lang: "bash",
			code:  "echo core $(ulimit -c)\nfor i in $(seq 30); do bash -c 'kill -SEGV $$'; done 2>/dev/null\necho done\n",
			want:  ac,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) { want(t, stdout(e), "core 0\n", "done\n") }},

		// ---- isolation ----
		{name: "environment and secrets", lang: "python",
			code: `import os, glob
print("KEYS", " ".join(sorted(os.environ)))
for p in ["/proc/self/environ", "/proc/1/environ", "/proc/1/cmdline"] + glob.glob("/proc/[0-9]*/environ") + glob.glob("/proc/[0-9]*/cmdline"):
    try:
        print(p, open(p, "rb").read().replace(b"\0", b" "))
    except OSError as e:
        print(p, "unreadable", e.errno)
for p in ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"]:
    try:
        print(p, open(p).read())
    except OSError as e:
        print(p, "unreadable", e.errno)
`,
			want: ac,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				m := regexp.MustCompile(`(?m)^KEYS (.*)$`).FindStringSubmatch(stdout(e))
				if m == nil {
					t.Fatal("no KEYS line")
				}
				allowed := []string{"PATH", "HOME", "LANG", "TMPDIR", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "LC_CTYPE"}
				for _, k := range strings.Fields(m[1]) {
					if !slices.Contains(allowed, k) {
						t.Errorf("unexpected environment variable %s in the sandbox", k)
					}
				}
			}},
		{name: "host probing", lang: "python",
			code: `import os, stat
pids = [p for p in os.listdir("/proc") if p.isdigit()]
print("PIDS", len(pids))
mounts = open("/proc/mounts").read()
# (the root overlay's options name its layers under /var/lib/docker: paths, not access)
for word in ["docker.sock", "containerd.sock", "/run/docker", "/var/run/docker"]:
    if word in mounts:
        print("FOUND mount", word)
for p in ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock", "/var/run/docker/containerd/containerd.sock",
          "/proc/1/root/var/run/docker.sock", "/host", "/run/secrets", "/var/lib/docker"]:
    if os.path.lexists(p):
        print("FOUND path", p)
for root, dirs, files in os.walk("/", onerror=lambda e: None):
    if root.startswith(("/proc", "/sys")):
        dirs[:] = []
        continue
    for f in files:
        p = os.path.join(root, f)
        try:
            if stat.S_ISSOCK(os.lstat(p).st_mode):
                print("FOUND socket", p)
        except OSError:
            pass
try:
    os.mkdir("/sys/fs/cgroup/` + pwned + `")
    print("FOUND writable cgroupfs")
except OSError:
    pass
print("probed")
`,
			want: ac,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				noLines(t, stdout(e), "FOUND")
				if n := lineInt(stdout(e), "PIDS"); n < 1 || n > 3 {
					t.Errorf("the program sees %d processes, want only the init and itself", n)
				}
				want(t, stdout(e), "probed\n")
			}},
		{name: "capabilities, no_new_privs, seccomp", lang: "python",
			code: `import os
for line in open("/proc/self/status"):
    if line.split(":")[0] in ("Uid", "Gid", "CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"):
        print(line.strip())
for f, a in [(os.setuid, 0), (os.setgid, 0), (os.chroot, "/tmp")]:
    try:
        f(a)
        print("ALLOWED", f.__name__)
    except OSError as e:
        print("blocked", f.__name__, e.errno)
`,
			want: ac,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				out := stdout(e)
				noLines(t, out, "ALLOWED")
				want(t, out, "Uid:\t65534\t65534\t65534\t65534", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000")
				if !env.gvisor {
					want(t, out, "NoNewPrivs:\t1", "Seccomp:\t2")
				}
			}},
		{name: "forbidden system calls", lang: "c",
			code: `#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <unistd.h>
#include <linux/keyctl.h>
#define TRY(what, call) do { long r = (call); if (r >= 0) printf("ALLOWED %s\n", what); else printf("blocked %s: %s\n", what, strerror(errno)); } while (0)
int main(void) {
	TRY("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER));
	TRY("unshare(CLONE_NEWNS)", unshare(CLONE_NEWNS));
	TRY("unshare(CLONE_NEWNET)", unshare(CLONE_NEWNET));
	TRY("mount tmpfs", mount("none", "/tmp", "tmpfs", 0, 0));
	TRY("io_uring_setup", syscall(425, 8, (char[120]){0}));
	TRY("socket(AF_VSOCK)", socket(40, SOCK_STREAM, 0));
	TRY("socket(AF_PACKET)", socket(AF_PACKET, SOCK_RAW, 0));
	TRY("socket(AF_INET, SOCK_RAW)", socket(AF_INET, SOCK_RAW, 1));
	TRY("socket(AF_ALG)", socket(38, SOCK_SEQPACKET, 0));
	TRY("keyctl", syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, 0));
	TRY("add_key", syscall(SYS_add_key, "user", "k", "v", 1, KEY_SPEC_PROCESS_KEYRING));
	TRY("bpf", syscall(SYS_bpf, 0, (char[128]){0}, 128));
	TRY("perf_event_open", syscall(SYS_perf_event_open, (char[128]){0}, 0, -1, -1, 0));
	TRY("userfaultfd", syscall(SYS_userfaultfd, 0));
	TRY("kexec_load", syscall(SYS_kexec_load, 0, 0, 0, 0));
	TRY("init_module", syscall(SYS_init_module, 0, 0, ""));
	TRY("swapon", syscall(SYS_swapon, "/tmp/x", 0));
	TRY("syslog", syscall(SYS_syslog, 3, (char[64]){0}, 64));
	TRY("settimeofday", syscall(SYS_settimeofday, 0, 0) == 0 && errno != EFAULT ? 0 : -1);
	TRY("setns", syscall(SYS_setns, 0, 0));
	TRY("chroot", chroot("/tmp"));
	TRY("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
	TRY("open_by_handle_at", syscall(SYS_open_by_handle_at, -100, (char[64]){8, 0, 0, 0, 1}, 0));
	TRY("prlimit(init)", prlimit(1, RLIMIT_NOFILE, &(struct rlimit){1, 1}, 0));
	TRY("setpriority(init, -5)", setpriority(PRIO_PROCESS, 1, -5));
	TRY("reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0x1234567, 0));
	puts("done");
	return 0;
}
`,
			want: ac,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				var tolerated []string
				if env.gvisor {
					// gVisor's own kernel: these succeed inside the sandbox
					// and touch nothing on the host (its user namespaces and
					// mounts are the sentry's); it does not apply the OCI
					// seccomp profile.
					// gVisor lets the program create a user namespace (in the
					// sentry), where it holds every capability: the raw
					// sockets, chroot, syslog and renice that follow are then
					// the sentry's own emulation, and io_uring is the
					// sentry's implementation, not the host's.
					tolerated = []string{"ALLOWED unshare(CLONE_NEWUSER)", "ALLOWED unshare(CLONE_NEWNS)", "ALLOWED unshare(CLONE_NEWNET)",
						"ALLOWED prlimit(init)", "ALLOWED io_uring_setup", "ALLOWED socket(AF_PACKET)", "ALLOWED socket(AF_INET, SOCK_RAW)",
						"ALLOWED syslog", "ALLOWED chroot", "ALLOWED setpriority(init, -5)"}
				}
				noLines(t, stdout(e), "ALLOWED", tolerated...)
				want(t, stdout(e), "done\n")
			}},
		{name: "32-bit system call table", lang: "c",
			code: `#include <stdio.h>
int main(void) {
	long r;
	__asm__ volatile ("int $0x80" : "=a"(r) : "a"(20L) : "memory"); /* i386 getpid */
	if (r > 0) printf("ALLOWED int80 getpid %ld\n", r); else printf("blocked int80 %ld\n", r);
	return 0;
}
`,
			want:  verdicts(contracts.VerdictAccepted, contracts.VerdictRuntimeError),
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) { noLines(t, stdout(e), "ALLOWED") }},
		{name: "network egress", lang: "python",
			code: `import socket, sys
print("IFACES", " ".join(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:]))
targets = [("169.254.169.254", 80), ("1.1.1.1", 443), ("8.8.8.8", 53)] + [(a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])) for a in sys.argv[1:]]
for host, port in targets:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1.5)
    try:
        s.connect((host, port))
        print("CONNECTED", host, port)
    except OSError as e:
        print("blocked", host, port, e)
    finally:
        s.close()
try:
    print("RESOLVED", socket.getaddrinfo("example.com", 80)[0][4])
except OSError as e:
    print("no dns", e)
try:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"\0" * 12, ("8.8.8.8", 53))
    u.settimeout(1)
    u.recvfrom(512)
    print("CONNECTED udp 8.8.8.8 53")
except OSError as e:
    print("blocked udp", e)
`,
			limits: contracts.Limits{WallTimeMS: 20000},
			want:   ac,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				out := stdout(e)
				noLines(t, out, "CONNECTED")
				noLines(t, out, "RESOLVED")
				if m := regexp.MustCompile(`(?m)^IFACES (.*)$`).FindStringSubmatch(out); m == nil || strings.TrimSpace(m[1]) != "lo" {
					t.Errorf("network interfaces %q, want only lo", m)
				}
				if n := env.honeypot.count.Load(); n > 0 {
					t.Errorf("the honeypot on the host accepted %d connection(s) from the sandbox", n)
				}
			}},
		{name: "persistence between two runs", lang: "python",
			code: `import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for d in ["/tmp", "/dev/shm", "/work", "."]:
    try:
        open(os.path.join(d, "airlock-persist"), "w").write("x")
    except OSError as e:
        print("cannot write", d, e)
print("shm", libc.shmget(` + strconv.Itoa(ipcKey) + `, 4096, 0o1666))
print("msg", libc.msgget(` + strconv.Itoa(ipcKey) + `, 0o1666))
print("sem", libc.semget(` + strconv.Itoa(ipcKey) + `, 1, 0o1666))
`,
			want: ac,
			next: &attack{lang: "python",
				code: `import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for d in ["/tmp", "/dev/shm", "/work", "."]:
    if os.path.exists(os.path.join(d, "airlock-persist")):
        print("FOUND file in", d)
if libc.shmget(` + strconv.Itoa(ipcKey) + `, 0, 0) >= 0: print("FOUND shm")
if libc.msgget(` + strconv.Itoa(ipcKey) + `, 0) >= 0: print("FOUND msg")
if libc.semget(` + strconv.Itoa(ipcKey) + `, 0, 0) >= 0: print("FOUND sem")
if os.path.exists("/tmp/daemon-alive"): print("FOUND daemon")
print("checked")
`,
				want: ac,
				check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
					noLines(t, stdout(e), "FOUND")
					want(t, stdout(e), "checked\n")
				}}},
		{name: "planted symlinks and hard links", lang: "python",
			code: `import os
targets = ["/etc/shadow", "/etc/passwd", "/proc/1/root", "/proc/1/environ", "/var/run/docker.sock", "/.airlock/init", "/", "../../../../..", "/sys/fs/cgroup"]
for d in ["/work", "/tmp", "/dev/shm"]:
    for i, tgt in enumerate(targets):
        for name in ["main.py", "main", "Main.class", "link%d" % i, "` + pwned + `"]:
            p = os.path.join(d, name)
            try:
                if os.path.lexists(p):
                    os.unlink(p)
                os.symlink(tgt, p)
            except OSError:
                pass
for src in ["/.airlock/init", "/etc/passwd", "/usr/bin/python3"]:
    try:
        os.link(src, "/work/hard-" + os.path.basename(src))
        print("ALLOWED hard link", src)
    except OSError as e:
        print("blocked hard link", src, e.errno)
print("planted")
`,
			want: ac,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				noLines(t, stdout(e), "ALLOWED")
				want(t, stdout(e), "planted\n")
			}},
		{name: "binary and terminal junk", lang: "python",
			code: `import sys
junk = bytes(range(256)) * 4 + b"\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b[31mred\x1b[0m\xff\xfe\xc3\x28\r\x00done\n"
sys.stdout.buffer.write(junk)
sys.stderr.buffer.write(junk)
`,
			want: ac,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				want(t, stdout(e), "\x1b[2J", "done\n")
			}},
		{name: "imitates a verdict and the result protocol", lang: "bash",
			code: "printf '\\0\\0airlock-record:%032d:{\"exit_code\":0,\"signal\":0}\\n' 0\n" +
				"echo '{\"verdict\":\"accepted\",\"status\":\"completed\",\"exit_code\":0}'\n" +
				"printf '\\0\\0airlock-record:%032d:{\"exit_code\":0}\\n' 0 >&2\n" +
				"echo accepted; exit 3\n",
			want: re,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				if e.Run.ExitCode != 3 {
					t.Errorf("exit code %d, want the real 3", e.Run.ExitCode)
				}
				want(t, stdout(e), `{"verdict":"accepted","status":"completed","exit_code":0}`, "airlock-record:")
			}},
		{name: "kills and stops the init", lang: "bash",
			code: "kill -KILL 1; kill -STOP 1; sleep 0.3; echo still here; exit 7\n",
			want: re,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				// runc: the kernel shields a pid namespace's init from SIGKILL
				// and SIGSTOP sent inside it, and the init reports the real
				// exit. gVisor does not: the init dies, the job ends as a
				// runtime error (init lost); never a better verdict.
				if !env.gvisor && (e.Run.ExitCode != 7 || stdout(e) != "still here\n") {
					t.Errorf("exit %d stdout %q, want the program's own exit 7", e.Run.ExitCode, stdout(e))
				}
			}},
		{name: "ptraces the init and reads its descriptors", lang: "c",
			code: `#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <unistd.h>
int main(void) {
	if (ptrace(PTRACE_ATTACH, 1, 0, 0) == 0) puts("ALLOWED ptrace attach"); else printf("blocked ptrace: %s\n", strerror(errno));
	if (ptrace(PTRACE_SEIZE, 1, 0, 0) == 0) puts("ALLOWED ptrace seize"); else printf("blocked seize: %s\n", strerror(errno));
	const char *paths[] = {"/proc/1/mem", "/proc/1/fd/0", "/proc/1/fd/1", "/proc/1/fd/3", "/proc/1/root/etc/passwd", "/proc/1/map_files"};
	for (unsigned i = 0; i < sizeof paths / sizeof *paths; i++) {
		char b[16]; int fd = open(paths[i], O_RDONLY | O_NONBLOCK); /* gVisor opens fd 0: an empty pipe */
		if (fd >= 0 && read(fd, b, sizeof b) > 0) printf("ALLOWED read %s\n", paths[i]); else printf("blocked %s: %s\n", paths[i], strerror(errno));
		if (fd >= 0) close(fd);
	}
	char buf[64]; struct iovec l = {buf, sizeof buf}, r = {(void *)0x400000, sizeof buf};
	if (process_vm_readv(1, &l, 1, &r, 1, 0) > 0) puts("ALLOWED process_vm_readv"); else printf("blocked process_vm_readv: %s\n", strerror(errno));
	return 5;
}
`,
			want: re,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				noLines(t, stdout(e), "ALLOWED")
				if e.Run.ExitCode != 5 {
					t.Errorf("exit %d, want the program's own 5", e.Run.ExitCode)
				}
			}},

		// ---- compile time ----
		{name: "#include /dev/urandom", lang: "c",
			code:   "#include \"/dev/urandom\"\nint main(void) { return 0; }\n",
			limits: contracts.Limits{CompileWallTimeMS: 10000, CompileCPUTimeMS: 5000, CompileMemoryMB: 256},
			want:   ce},
		{name: "preprocessor explosion", lang: "c",
			code: "#define A0 x x x x x x x x x x\n#define A1 A0 A0 A0 A0 A0 A0 A0 A0 A0 A0\n#define A2 A1 A1 A1 A1 A1 A1 A1 A1 A1 A1\n" +
				"#define A3 A2 A2 A2 A2 A2 A2 A2 A2 A2 A2\n#define A4 A3 A3 A3 A3 A3 A3 A3 A3 A3 A3\n#define A5 A4 A4 A4 A4 A4 A4 A4 A4 A4 A4\n" +
				"#define A6 A5 A5 A5 A5 A5 A5 A5 A5 A5 A5\n#define A7 A6 A6 A6 A6 A6 A6 A6 A6 A6 A6\n#define A8 A7 A7 A7 A7 A7 A7 A7 A7 A7 A7\n" +
				"#define A9 A8 A8 A8 A8 A8 A8 A8 A8 A8 A8\nint x = A9;\nint main(void) { return 0; }\n",
			limits: contracts.Limits{CompileWallTimeMS: 10000, CompileCPUTimeMS: 5000, CompileMemoryMB: 256},
			want:   ce},
		{name: "constexpr loop that never ends", lang: "c++",
			code: `constexpr long f() {
	long s = 0;
	for (long i = 0; i < 200000; i++)
		for (long j = 0; j < 200000; j++) s += i ^ j;
	return s;
}
constexpr long v = f();
int main() { return v & 1; }
`,
			limits: contracts.Limits{CompileWallTimeMS: 10000, CompileCPUTimeMS: 5000},
			want:   ce,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				// The compile CPU limit ends it, or g++'s own
				// -fconstexpr-ops-limit when the machine is fast enough.
				if e.Compile == nil || (e.Compile.Verdict != contracts.VerdictTimeLimitExceeded && e.Compile.Verdict != contracts.VerdictCompileError) {
					t.Errorf("compile stage %+v, want time_limit_exceeded or compile_error", e.Compile)
				}
			}},
		{name: "huge initialized static array", lang: "c",
			code:   "static char a[1L << 34] = {1};\nint main(int argc, char **argv) { (void)argv; return a[argc * 12345]; }\n",
			limits: contracts.Limits{CompileWallTimeMS: 15000, CompileCPUTimeMS: 8000},
			want:   ce},
		{name: "huge zero-filled static array", lang: "c",
			code: "static char a[1L << 40];\nint main(int argc, char **argv) { (void)argv; a[argc * 123456789L] = 1; return a[argc * 123456789L] - 1; }\n",
			want: verdicts(contracts.VerdictRuntimeError, contracts.VerdictMemoryLimitExceeded, contracts.VerdictAccepted)},
		{name: "JVM sizes its heap from the container", lang: "java",
			code: `public class Main {
	public static void main(String[] a) {
		System.out.println("heap " + (Runtime.getRuntime().maxMemory() >> 20));
		System.out.println("cpus " + Runtime.getRuntime().availableProcessors());
	}
}
`,
			limits: contracts.Limits{MemoryMB: 256},
			want:   ac,
			check: func(t *testing.T, e contracts.Execution, env *attackEnv) {
				if h := lineInt(stdout(e), "heap"); h < 96 || h > 224 {
					t.Errorf("max heap %d MB under a 256 MB container, want about 75%%", h)
				}
				if c := lineInt(stdout(e), "cpus"); c != 1 {
					t.Errorf("%d processors, want 1", c)
				}
			}},
		{name: "JVM memory bomb", lang: "java",
			code: `import java.util.*;
public class Main {
	public static void main(String[] a) {
		List<long[]> l = new ArrayList<>();
		while (true) l.add(new long[1 << 17]);
	}
}
`,
			limits: contracts.Limits{MemoryMB: 256},
			want:   verdicts(contracts.VerdictRuntimeError, contracts.VerdictMemoryLimitExceeded)},
	}
}

func want(t *testing.T, out string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(out, p) {
			t.Errorf("output lacks %q:\n%.2000s", p, out)
		}
	}
}

// attackRuntimes: runc always; runsc when the engine has it registered,
// which CI requires.
func attackRuntimes(t *testing.T, cli *client.Client) []string {
	return testkit.Runtimes(t, func() (map[string]system.RuntimeWithStatus, error) {
		info, err := cli.Info(context.Background())
		return info.Runtimes, err
	})
}

func TestAttacks(t *testing.T) {
	testkit.RequireDocker(t)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	canary := "canary-" + strings.ToLower(contracts.NewID())
	t.Setenv(canaryEnv, canary)
	for _, rt := range attackRuntimes(t, cli) {
		t.Run(rt, func(t *testing.T) { runAttacks(t, cli, rt, canary) })
	}
}

func runAttacks(t *testing.T, cli *client.Client, rt, canary string) {
	s := startDev(t, func(c *config) {
		c.Executor.Languages = []string{"bash", "python", "c", "c++", "java"}
		switch rt {
		case "runc":
			c.Executor.Isolation = "container"
		case "namespace":
			c.Executor.Isolation = "namespace"
		default:
			c.Executor.Isolation, c.Executor.Runtime = "gvisor", rt
		}
	})
	hp := startHoneypot(t)
	env := &attackEnv{runtime: rt, gvisor: strings.HasPrefix(rt, "runsc"), cells: rt == "namespace", canary: canary, honeypot: hp}
	watch := watchContainers(t, cli, s.ExecutorID)
	gw := bridgeGateway(t, cli)
	natsPort := port(t, s.NATSURL)
	gwPort := port(t, s.URL)

	// Warm up once (first-run costs), then take the baselines.
	if e := execute(t, s, hello()); e.Verdict != contracts.VerdictAccepted {
		t.Fatalf("hello: %s", dump(e))
	}
	goroutines, heap := settle(0, 0)
	host := snapshotHost(t)
	t.Logf("%s: baseline %d goroutines, %d MB heap", rt, goroutines, heap>>20)

	for _, a := range attacks() {
		a := a
		if a.name == "network egress" {
			a.args = []string{
				fmt.Sprintf("%s:%d", gw, hp.port), fmt.Sprintf("%s:%d", gw, natsPort), fmt.Sprintf("%s:%d", gw, gwPort),
				fmt.Sprintf("127.0.0.1:%d", natsPort), fmt.Sprintf("127.0.0.1:%d", gwPort), fmt.Sprintf("127.0.0.1:%d", hp.port),
			}
			for _, ip := range hostIPs() {
				a.args = append(a.args, fmt.Sprintf("%s:%d", ip, hp.port))
			}
		}
		t.Run(a.name, func(t *testing.T) {
			start := time.Now()
			for step := &a; step != nil; step = step.next {
				runAttack(t, s, cli, watch, env, step)
			}
			checkHost(t, host)
			if g, h := settle(goroutines, heap); g > goroutines+25 || h > heap+256<<20 {
				t.Errorf("the executor did not return to its baseline: %d goroutines (baseline %d), %d MB heap (baseline %d MB)", g, goroutines, h>>20, heap>>20)
			}
			t.Logf("%s / %s: %v", rt, a.name, time.Since(start).Round(10*time.Millisecond))
		})
	}
}

// attackLimits are the limits an attack runs under: its own, and where time
// is not what the attack is about (no time_limit_exceeded among its
// verdicts), time limits far from what it needs on a slow, loaded machine
// or under gVisor, so that only the defence under test can decide it.
func attackLimits(a *attack) contracts.Limits {
	if slices.Contains(a.want, contracts.VerdictTimeLimitExceeded) {
		return a.limits
	}
	return roomyLimits(a.limits)
}

// hello is the job that runs beside each attack and must be accepted
// (execute gives it time limits far from what it needs).
func hello() contracts.ExecutionRequest {
	return src("python", "main.py", "print('hello beside an attack')\n")
}

// runAttack submits one attack, runs a hello job beside it, and applies the
// attack's checks and the safety checks.
func runAttack(t *testing.T, s *stack, cli *client.Client, watch *containerWatch, env *attackEnv, a *attack) {
	t.Helper()
	submitted := time.Now()
	req := contracts.ExecutionRequest{Language: a.lang, Files: []contracts.File{{Name: entryFile[a.lang], Content: a.code}},
		Stdin: a.stdin, Args: a.args, Limits: attackLimits(a)}
	code, _, data := request(t, "POST", s.URL+"/v1/executions", req, nil)
	if code != 202 {
		t.Fatalf("submit: %d %s", code, data)
	}
	var acc contracts.Accepted
	if err := json.Unmarshal(data, &acc); err != nil {
		t.Fatal(err)
	}
	if e := execute(t, s, hello()); e.Verdict != contracts.VerdictAccepted || stdout(e) != "hello beside an attack\n" {
		t.Errorf("the hello job beside the attack: %s", dump(e))
	}
	code, _, data = request(t, "GET", s.URL+"/v1/executions/"+acc.ID+"?wait=true&timeout=180s", nil, nil)
	if code != 200 {
		t.Fatalf("result: %d %s", code, data)
	}
	var e contracts.Execution
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatal(err)
	}
	if e.Status != contracts.StatusCompleted {
		t.Fatalf("not completed: %s", data)
	}
	if strings.Contains(string(data), env.canary) {
		t.Errorf("the canary secret is in the result")
	}
	detail := ""
	if e.Compile != nil {
		detail += fmt.Sprintf(" compile=%s", e.Compile.Verdict)
	}
	if e.Run != nil {
		detail += fmt.Sprintf(" exit=%d signal=%q cpu=%dms wall=%dms mem=%dKB", e.Run.ExitCode, e.Run.Signal, e.Run.CPUTimeMS, e.Run.WallTimeMS, e.Run.MemoryKB)
	}
	t.Logf("verdict %s%s (%v after submission)", e.Verdict, detail, time.Since(submitted).Round(time.Millisecond))
	if !slices.Contains(a.want, e.Verdict) {
		t.Errorf("verdict %s, want one of %v: %.3000s", e.Verdict, a.want, dump(e))
	}
	if e.Verdict == contracts.VerdictInternalError {
		return
	}
	// Within 1.5x the wall limits the job ran under, from the moment it was
	// submitted, plus a margin for starting containers on a loaded machine.
	if e.Limits != nil && e.FinishedAt != nil {
		wall := time.Duration(e.Limits.WallTimeMS) * time.Millisecond
		if e.Compile != nil {
			wall += time.Duration(e.Limits.CompileWallTimeMS) * time.Millisecond
		}
		// A hang detector, not a speed test: the margin covers starting
		// containers (gVisor's take seconds) on a slow, loaded machine.
		bound := wall*3/2 + 60*time.Second
		if took := e.FinishedAt.Sub(e.CreatedAt); took > bound {
			t.Errorf("the verdict took %v, more than 1.5x the wall limits %v + 60 s", took, wall)
		}
	}
	if a.check != nil {
		a.check(t, e, env)
	}
	if t.Failed() {
		t.Logf("execution: %.4000s", dump(e))
	}
	if env.cells {
		checkCellsClean(t, cli, s.ExecutorID)
		return
	}
	checkGone(t, cli, watch.used(acc.ID, submitted, time.Now()))
}

// checkCellsClean: in namespace isolation a job has no container of its
// own; what must not remain is any process of a run in a cell. Every cell
// of the executor holds its init alone in its own cgroup; an idle cell also
// holds its next stage's sandbox, prepared ahead of demand in a run cgroup:
// bubblewrap's monitor and the run's first process (Airlock's init),
// waiting for a job, and nothing else.
func checkCellsClean(t *testing.T, cli *client.Client, executorID string) {
	t.Helper()
	list, err := cli.ContainerList(context.Background(), container.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", "run.airlock.executor="+executorID), filters.Arg("label", "run.airlock.job=cell"), filters.Arg("status", "running"))})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, c := range list {
		for {
			left := cellLeftovers(c.ID)
			if len(left) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("cell %.12s holds a run's leftovers: %v", c.ID, left)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// cellLeftovers lists what in a cell's cgroups belongs to no waiting
// sandbox: processes besides the init in the cell's own, more than one run
// cgroup, or a run cgroup with anything but a waiting sandbox in it.
func cellLeftovers(id string) []string {
	var left []string
	base := "/sys/fs/cgroup/memory/docker/" + id
	if b, err := os.ReadFile(base + "/cgroup.procs"); err == nil {
		if n := len(strings.Fields(string(b))); n != 1 {
			left = append(left, fmt.Sprintf("%d processes in the cell's own cgroup", n))
		}
	}
	runs, _ := filepath.Glob(base + "/run-*")
	if len(runs) > 1 {
		left = append(left, fmt.Sprintf("%d run cgroups", len(runs)))
	}
	for _, run := range runs {
		b, _ := os.ReadFile(run + "/cgroup.procs")
		var comms []string
		for _, pid := range strings.Fields(string(b)) {
			comm, _ := os.ReadFile("/proc/" + pid + "/comm")
			comms = append(comms, strings.TrimSpace(string(comm)))
		}
		slices.Sort(comms)
		if len(comms) > 0 && !slices.Equal(comms, []string{"bwrap", "init"}) {
			left = append(left, fmt.Sprintf("%s holds %v", filepath.Base(run), comms))
		}
	}
	return left
}

// containerWatch records the containers the executor creates, per job, and
// the warm-pool containers it hands to jobs: a pooled container is created
// ahead with the job label "pool"; when a job takes it, it is renamed
// airlock-<job>-<stage>-<random> (a "rename" event), and when the job's
// limits differ from the pool's its limits are updated (an "update" event).
type containerWatch struct {
	mu      sync.Mutex
	created map[string][]string // job -> containers
	updated []watchEvent
}

type watchEvent struct {
	at time.Time
	id string
}

// used returns the containers that served job, or any job that took a pooled
// container between from and to (the hello beside it included).
func (w *containerWatch) used(job string, from, to time.Time) []string {
	deadline := time.Now().Add(30 * time.Second)
	for {
		w.mu.Lock()
		ids := slices.Clone(w.created[job])
		for _, ev := range w.updated {
			if !ev.at.Before(from) && !ev.at.After(to) && !slices.Contains(ids, ev.id) {
				ids = append(ids, ev.id)
			}
		}
		w.mu.Unlock()
		if len(ids) > 0 || time.Now().After(deadline) {
			return ids
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func watchContainers(t *testing.T, cli *client.Client, executorID string) *containerWatch {
	w := &containerWatch{created: map[string][]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	msgs, errs := cli.Events(ctx, events.ListOptions{Filters: filters.NewArgs(
		filters.Arg("type", "container"), filters.Arg("event", "create"), filters.Arg("event", "update"), filters.Arg("event", "rename"),
		filters.Arg("label", "run.airlock.executor="+executorID))})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case m := <-msgs:
				w.mu.Lock()
				switch m.Action {
				case events.ActionCreate:
					job := m.Actor.Attributes["run.airlock.job"]
					w.created[job] = append(w.created[job], m.Actor.ID)
				case events.ActionUpdate:
					w.updated = append(w.updated, watchEvent{at: time.Unix(0, m.TimeNano), id: m.Actor.ID})
				case events.ActionRename:
					// name: airlock-<job>-<stage>-<random>
					if parts := strings.Split(strings.TrimPrefix(m.Actor.Attributes["name"], "airlock-"), "-"); len(parts) >= 3 {
						w.created[parts[0]] = append(w.created[parts[0]], m.Actor.ID)
					}
				}
				w.mu.Unlock()
			case <-errs:
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

// checkGone waits until the job's containers, their cgroups and their host
// processes are gone.
func checkGone(t *testing.T, cli *client.Client, ids []string) {
	t.Helper()
	if len(ids) == 0 {
		t.Error("no container was seen for the job")
		return
	}
	deadline := time.Now().Add(2 * time.Minute)
	for _, id := range ids {
		for {
			left := leftovers(cli, id)
			if len(left) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("container %.12s left: %v", id, left)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func leftovers(cli *client.Client, id string) []string {
	var left []string
	if _, err := cli.ContainerInspect(context.Background(), id); err == nil || !client.IsErrNotFound(err) {
		left = append(left, "the container")
	}
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/docker/" + id)
	v2, _ := filepath.Glob("/sys/fs/cgroup/system.slice/docker-" + id + ".scope")
	left = append(left, append(dirs, v2...)...)
	procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), id) {
			left = append(left, "process "+filepath.Base(filepath.Dir(p)))
		}
	}
	return left
}

// settle waits (a minute at most: background removals of the job's
// containers take a while on a loaded machine) until the goroutine count and
// heap come back near the given baseline, and returns what they are.
func settle(goroutines int, heap uint64) (int, uint64) {
	var g int
	var h uint64
	for i := 0; i < 300; i++ {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		g, h = runtime.NumGoroutine(), ms.HeapAlloc
		if goroutines == 0 || (g <= goroutines+25 && h <= heap+256<<20) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return g, h
}

// hostState is what the attacks aim at on the host.
type hostState struct {
	corePattern string
	hostname    string
	ipc         []string
}

func snapshotHost(t *testing.T) hostState {
	var st hostState
	b, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
	st.corePattern = string(b)
	st.hostname, _ = os.Hostname()
	for _, f := range []string{"/proc/sysvipc/shm", "/proc/sysvipc/msg", "/proc/sysvipc/sem"} {
		b, _ := os.ReadFile(f)
		st.ipc = append(st.ipc, string(b))
	}
	return st
}

func checkHost(t *testing.T, before hostState) {
	t.Helper()
	now := snapshotHost(t)
	if now.corePattern != before.corePattern || now.hostname != before.hostname {
		t.Errorf("host changed: core_pattern %q -> %q, hostname %q -> %q", before.corePattern, now.corePattern, before.hostname, now.hostname)
	}
	key := fmt.Sprintf("%10d", ipcKey)
	for _, s := range now.ipc {
		if strings.Contains(s, key) || strings.Contains(s, strconv.Itoa(ipcKey)) {
			t.Errorf("the attack's SysV IPC key %#x exists on the host", ipcKey)
		}
	}
	for _, dir := range []string{"/", "/tmp", "/var/tmp", "/dev/shm", "/etc", "/usr", "/root"} {
		matches, _ := filepath.Glob(filepath.Join(dir, pwned+"*"))
		for _, m := range matches {
			t.Errorf("planted on the host: %s", m)
		}
	}
	for _, dir := range []string{"/tmp", "/dev/shm", "/"} {
		for _, name := range []string{"airlock-persist", "daemon-alive"} {
			if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
				t.Errorf("a sandbox file reached the host: %s", filepath.Join(dir, name))
			}
		}
	}
	if cores, _ := filepath.Glob("core*"); len(cores) > 0 {
		t.Errorf("core files on the host: %v", cores)
	}
}

// honeypot is a TCP listener on every host address: a sandbox that reaches
// it has network access to the host.
type honeypot struct {
	port  int
	count atomic.Int64
}

func startHoneypot(t *testing.T) *honeypot {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	hp := &honeypot{port: ln.Addr().(*net.TCPAddr).Port}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			hp.count.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return hp
}

// bridgeGateway is the host's address on Docker's default bridge: what a
// container with a network would reach the host by.
func bridgeGateway(t *testing.T, cli *client.Client) string {
	n, err := cli.NetworkInspect(context.Background(), "bridge", network.InspectOptions{})
	if err == nil {
		for _, c := range n.IPAM.Config {
			if c.Gateway != "" {
				return c.Gateway
			}
		}
	}
	return "172.17.0.1"
}

func hostIPs() []string {
	var ips []string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			ips = append(ips, n.IP.String())
		}
	}
	return ips
}

func port(t *testing.T, raw string) int {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("no port in %s", raw)
	}
	return p
}

// TestPreflightRefuses: the executor refuses to start, saying what to fix,
// when the runtime it is told to use is not registered with the engine.
func TestPreflightRefuses(t *testing.T) {
	testkit.RequireDocker(t)
	for _, tc := range []struct {
		name   string
		mutate func(*executor.Config)
		want   string
	}{
		{"global runtime", func(c *executor.Config) { c.Runtime = "no-such-runtime" }, `runtime "no-such-runtime" is not registered`},
		{"language runtime", func(c *executor.Config) { c.LanguageRuntimes = map[string]string{"python": "runsc-missing"} }, `runtime "runsc-missing" is not registered`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := executor.DefaultConfig()
			cfg.ID = "preflight-" + strings.ToLower(contracts.NewID()[:8])
			tc.mutate(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			err := executor.Run(ctx, cfg, nil, testLogger(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "daemon.json") {
				t.Fatalf("executor.Run = %v, want a refusal containing %q and what to fix", err, tc.want)
			}
		})
	}
}
