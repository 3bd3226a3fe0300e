package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
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
// runc and under gVisor (runsc). The attacks are data, in testdata/attacks
// (one directory each: the program, the verdicts it may get and the name of
// its own checks in attackChecks; see its README.md); every attack also gets
// the same safety checks:
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
	check attackCheck
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

// attackCheck is an attack's own assertions on its execution.
type attackCheck func(t *testing.T, e contracts.Execution, env *attackEnv)

// attackChecks are the attacks' own assertions, by the name an attack's
// attack.json gives in "check" (testdata/attacks/README.md). Every entry is
// used by some attack (TestAttackTable).
func attackChecks() map[string]attackCheck {
	return map[string]attackCheck{
		"process-limit-message": processLimitMessage,
		"thread-bomb": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			if n := lineInt(stdout(e), "threads"); n < 1 || n > 80 {
				t.Errorf("created %d threads under a limit of 64 processes", n)
			}
			processLimitMessage(t, e, env)
		},
		"nothing-allowed": func(t *testing.T, e contracts.Execution, env *attackEnv) { noLines(t, stdout(e), "ALLOWED") },
		"file-past-the-size-limit": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			if e.Verdict == contracts.VerdictAccepted {
				if n := lineInt(stdout(e), "stopped"); n < 0 || n > 128 {
					t.Errorf("wrote %d MB into a 128 MB work directory", n)
				}
			}
		},
		"dev-shm-and-tmp-exhaustion": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			if e.Verdict != contracts.VerdictAccepted {
				return
			}
			if n := lineInt(stdout(e), "/dev/shm"); n < 0 || n > 64 {
				t.Errorf("/dev/shm took %d MB", n)
			}
			if n := lineInt(stdout(e), "/tmp"); n < 0 || n > 128 {
				t.Errorf("/tmp took %d MB", n)
			}
		},
		"inode-exhaustion": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			if !env.gvisor && (e.Verdict != contracts.VerdictAccepted || lineInt(stdout(e), "files") > 65536) {
				t.Errorf("runc: want the tmpfs inode cap (65536) to stop the loop: %s", stdout(e))
			}
		},
		"fd-exhaustion": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			if n := lineInt(stdout(e), "fds"); n < 1 || n > 256 {
				t.Errorf("opened %d descriptors under nofile 256", n)
			}
		},
		"output-cut-at-100000-bytes": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			if !e.Run.Truncated || len(e.Run.Stdout)+len(e.Run.Stderr) != 100000 {
				t.Errorf("truncated %v, %d+%d bytes kept, want exactly 100000", e.Run.Truncated, len(e.Run.Stdout), len(e.Run.Stderr))
			}
		},
		"large-stdin-never-read-while-writing": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			if len(stdout(e)) != 300000 {
				t.Errorf("stdout %d bytes, want 300000", len(stdout(e)))
			}
		},
		"busy-loop": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			if e.Run.CPUTimeMS < 1000 {
				t.Errorf("cpu_time_ms %d, want at least the 1000 ms limit", e.Run.CPUTimeMS)
			}
		},
		"threads-burning-cpu": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			// Only the threads burn: if their CPU did not count, the wall
			// clock (20 s) would end the run, not the 1 s CPU limit.
			if e.Run.CPUTimeMS < 1000 || e.Run.WallTimeMS >= 20000 || e.Run.Signal != "SIGKILL" {
				t.Errorf("cpu %d ms wall %d ms signal %s: want the CPU watchdog to kill it before the wall limit", e.Run.CPUTimeMS, e.Run.WallTimeMS, e.Run.Signal)
			}
		},
		"sleeping-forever": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			if e.Run.Signal != "SIGKILL" || e.Run.WallTimeMS < 2000 {
				t.Errorf("signal %s wall %d ms, want SIGKILL at the 2000 ms wall limit", e.Run.Signal, e.Run.WallTimeMS)
			}
		},
		"crash-storm-with-core-dumps": func(t *testing.T, e contracts.Execution, env *attackEnv) { want(t, stdout(e), "core 0\n", "done\n") },
		"environment-and-secrets": func(t *testing.T, e contracts.Execution, env *attackEnv) {
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
		},
		"host-probing": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			noLines(t, stdout(e), "FOUND")
			if n := lineInt(stdout(e), "PIDS"); n < 1 || n > 3 {
				t.Errorf("the program sees %d processes, want only the init and itself", n)
			}
			want(t, stdout(e), "probed\n")
		},
		"capabilities-no-new-privs-seccomp": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			out := stdout(e)
			noLines(t, out, "ALLOWED")
			want(t, out, "Uid:\t65534\t65534\t65534\t65534", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000")
			if !env.gvisor {
				want(t, out, "NoNewPrivs:\t1", "Seccomp:\t2")
			}
		},
		"forbidden-system-calls": func(t *testing.T, e contracts.Execution, env *attackEnv) {
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
		},
		"network-egress": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			out := stdout(e)
			noLines(t, out, "CONNECTED")
			noLines(t, out, "RESOLVED")
			if m := regexp.MustCompile(`(?m)^IFACES (.*)$`).FindStringSubmatch(out); m == nil || strings.TrimSpace(m[1]) != "lo" {
				t.Errorf("network interfaces %q, want only lo", m)
			}
			if n := env.honeypot.count.Load(); n > 0 {
				t.Errorf("the honeypot on the host accepted %d connection(s) from the sandbox", n)
			}
		},
		"persistence-between-two-runs": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			noLines(t, stdout(e), "FOUND")
			want(t, stdout(e), "checked\n")
		},
		"planted-symlinks-and-hard-links": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			noLines(t, stdout(e), "ALLOWED")
			want(t, stdout(e), "planted\n")
		},
		"binary-and-terminal-junk": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			want(t, stdout(e), "\x1b[2J", "done\n")
		},
		"imitates-a-verdict-and-the-result-protocol": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			if e.Run.ExitCode != 3 {
				t.Errorf("exit code %d, want the real 3", e.Run.ExitCode)
			}
			want(t, stdout(e), `{"verdict":"accepted","status":"completed","exit_code":0}`, "airlock-record:")
		},
		"kills-and-stops-the-init": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			// runc: the kernel shields a pid namespace's init from SIGKILL
			// and SIGSTOP sent inside it, and the init reports the real
			// exit. gVisor does not: the init dies, the job ends as a
			// runtime error (init lost); never a better verdict.
			if !env.gvisor && (e.Run.ExitCode != 7 || stdout(e) != "still here\n") {
				t.Errorf("exit %d stdout %q, want the program's own exit 7", e.Run.ExitCode, stdout(e))
			}
		},
		"ptraces-the-init-and-reads-its-descriptors": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			noLines(t, stdout(e), "ALLOWED")
			if e.Run.ExitCode != 5 {
				t.Errorf("exit %d, want the program's own 5", e.Run.ExitCode)
			}
		},
		"constexpr-loop-that-never-ends": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			// The compile CPU limit ends it, or g++'s own
			// -fconstexpr-ops-limit when the machine is fast enough.
			if e.Compile == nil || (e.Compile.Verdict != contracts.VerdictTimeLimitExceeded && e.Compile.Verdict != contracts.VerdictCompileError) {
				t.Errorf("compile stage %+v, want time_limit_exceeded or compile_error", e.Compile)
			}
		},
		"jvm-sizes-its-heap-from-the-container": func(t *testing.T, e contracts.Execution, env *attackEnv) {
			if h := lineInt(stdout(e), "heap"); h < 96 || h > 224 {
				t.Errorf("max heap %d MB under a 256 MB container, want about 75%%", h)
			}
			if c := lineInt(stdout(e), "cpus"); c != 1 {
				t.Errorf("%d processors, want 1", c)
			}
		},
	}
}

// attackSpec is an attack's attack.json (testdata/attacks/README.md).
type attackSpec struct {
	Name  string `json:"name"`
	Group string `json:"group"`
	Lang  string `json:"lang"`
	Note  string `json:"note"`
	Stdin *struct {
		Repeat string `json:"repeat"`
		Times  int    `json:"times"`
	} `json:"stdin"`
	Args   []string            `json:"args"`
	Limits contracts.Limits    `json:"limits"`
	Want   []contracts.Verdict `json:"want"`
	Check  string              `json:"check"`
}

// attacksDir holds one directory per attack, run in the order of their names.
const attacksDir = "testdata/attacks"

// attacks reads the attack table from attacksDir.
func attacks(t *testing.T) []attack {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(attacksDir, "*", "attack.json"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no attacks in %s (%v)", attacksDir, err)
	}
	slices.Sort(dirs)
	var list []attack
	for _, spec := range dirs {
		a := loadAttack(t, filepath.Dir(spec))
		if a.name == "" {
			t.Fatalf("%s: no name", spec)
		}
		list = append(list, *a)
	}
	return list
}

// loadAttack reads the attack in dir: its attack.json, its program (the
// language's entry file) and, in dir/next, the program run after it.
func loadAttack(t *testing.T, dir string) *attack {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "attack.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec attackSpec
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		t.Fatalf("%s/attack.json: %v", dir, err)
	}
	entry, ok := entryFile[spec.Lang]
	if !ok {
		t.Fatalf("%s: unknown language %q", dir, spec.Lang)
	}
	code, err := os.ReadFile(filepath.Join(dir, entry))
	if err != nil {
		t.Fatalf("%s: the program: %v", dir, err)
	}
	if len(spec.Want) == 0 {
		t.Fatalf("%s: no verdicts in want", dir)
	}
	a := &attack{name: spec.Name, lang: spec.Lang, code: string(code), args: spec.Args, limits: spec.Limits, want: spec.Want}
	if spec.Stdin != nil {
		a.stdin = strings.Repeat(spec.Stdin.Repeat, spec.Stdin.Times)
	}
	if spec.Check != "" {
		if a.check = attackChecks()[spec.Check]; a.check == nil {
			t.Fatalf("%s: no check %q in attackChecks", dir, spec.Check)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "next", "attack.json")); err == nil {
		a.next = loadAttack(t, filepath.Join(dir, "next"))
	}
	return a
}

// TestAttackTable checks the attack table without Docker: every attack
// loads, names are unique, every check in attackChecks is used, and the
// programs use the names the host checks look for (pwned, ipcKey).
func TestAttackTable(t *testing.T) {
	list := attacks(t)
	names := map[string]bool{}
	used := map[string]bool{}
	var sources strings.Builder
	for _, a := range list {
		if names[a.name] {
			t.Errorf("two attacks named %q", a.name)
		}
		names[a.name] = true
		for step := &a; step != nil; step = step.next {
			sources.WriteString(step.code)
			for name, check := range attackChecks() {
				if step.check != nil && reflect.ValueOf(step.check).Pointer() == reflect.ValueOf(check).Pointer() {
					used[name] = true
				}
			}
		}
	}
	for name := range attackChecks() {
		if !used[name] {
			t.Errorf("attackChecks[%q] is used by no attack", name)
		}
	}
	for _, s := range []string{pwned, strconv.Itoa(ipcKey)} {
		if !strings.Contains(sources.String(), s) {
			t.Errorf("no attack program uses %q, which the host checks look for", s)
		}
	}
	t.Logf("%d attacks", len(list))
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
			c.Executor.Isolation, c.Executor.OCIRuntime = "gvisor", rt
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

	for _, a := range attacks(t) {
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
		{"global runtime", func(c *executor.Config) { c.OCIRuntime = "no-such-runtime" }, `runtime "no-such-runtime" is not registered`},
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
