package sandbox_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
)

// TestPostureFromHost looks at a running sandbox from the host, not from
// inside it: the processes in the container's cgroup, their credentials,
// capabilities, no_new_privs and seccomp mode as the host kernel reports
// them in /proc/<pid>/status, their namespaces, and the cgroup limits
// compared with what the stage asked for.
//
// Under runc the program is a host process: every process of the container
// must have CapEff/CapPrm/CapBnd/CapAmb 0, NoNewPrivs 1, Seccomp 2 and uid
// and gid 65534. Under gVisor the program is not a host process at all: the
// host sees the sentry (uid 65534 in a user namespace of its own, seccomp
// filtered), its ptrace stubs (the same) and the gofer (host root with a few
// file capabilities, seccomp filtered, in its own mount namespace); the
// program's own credentials are those gVisor reports inside, checked by the
// program itself.
func TestPostureFromHost(t *testing.T) {
	forRuntimes(t, func(t *testing.T, rt string, r *sandbox.Launcher) { testPosture(t, rt, r, false) })
}

// TestPostureFromHostPooled makes the same checks on warm containers (runc;
// gVisor sandboxes are never pooled): one created with other limits and
// updated for the stage, one created with the stage's own limits.
func TestPostureFromHostPooled(t *testing.T) {
	t.Run("updated", func(t *testing.T) { testPosture(t, "runc", pooledRunnerWith(t, 1, spec()), true) })
	t.Run("as created", func(t *testing.T) { testPosture(t, "runc", pooledRunnerWith(t, 1, postureSpec("pool")), true) })
}

// postureSpec is the stage the posture checks watch: two sleeps, limits
// unlike the defaults.
func postureSpec(job string) sandbox.Spec {
	s := spec("bash", "-c", "grep -E '^(Uid|Gid|CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; sleep 8 & sleep 8; wait")
	s.JobID = job
	s.MemoryBytes = 96 << 20
	s.Processes = 17
	s.CPUTime = 7 * time.Second
	s.WallTime = 60 * time.Second
	return s
}

func testPosture(t *testing.T, rt string, r *sandbox.Launcher, pooled bool) {
	if rt == sandbox.IsolationNamespace {
		testCellPosture(t, r)
		return
	}
	cli := dockerClient(t)
	gvisor := sandbox.IsGVisor(rt)
	job := "posture-" + randHex(6)
	s := postureSpec(job)

	done := make(chan sandbox.Outcome, 1)
	go func() {
		out, err := r.Run(context.Background(), s)
		if err != nil {
			t.Error(err)
		}
		done <- out
	}()
	id := waitContainer(t, cli, job)
	insp, err := cli.ContainerInspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if warm := insp.Config.Labels[sandbox.LabelJob] == "pool"; warm != pooled {
		t.Fatalf("container %s (job label %q): warm %v, want %v", insp.Name, insp.Config.Labels[sandbox.LabelJob], warm, pooled)
	}
	initPid := insp.State.Pid
	mem := cgroupDir(t, initPid, "memory")

	// Wait until the program runs: two sleeps under runc; under gVisor a
	// few host tasks more than the sentry's idle set.
	var procs []int
	deadline := time.Now().Add(30 * time.Second)
	for {
		procs = readPids(t, filepath.Join(cgroupDir(t, initPid, "pids"), "cgroup.procs"))
		sleeps := 0
		for _, p := range procs {
			if comm(p) == "sleep" {
				sleeps++
			}
		}
		if (!gvisor && sleeps >= 2) || (gvisor && len(procs) >= 4) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the program did not start: processes %v", procs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if gvisor {
		time.Sleep(time.Second) // let the guest's fork and exec settle
		procs = readPids(t, filepath.Join(cgroupDir(t, initPid, "pids"), "cgroup.procs"))
	}

	hostNS := namespaces(t, os.Getpid())
	for _, p := range procs {
		st, err := procStatus(p)
		if err != nil {
			continue // exited meanwhile
		}
		name := fmt.Sprintf("pid %d (%s)", p, comm(p))
		if st["NoNewPrivs"] != "1" || st["Seccomp"] != "2" {
			t.Errorf("%s: NoNewPrivs %s Seccomp %s, want 1 and 2", name, st["NoNewPrivs"], st["Seccomp"])
		}
		ns := namespaces(t, p)
		kinds := []string{"pid", "mnt", "net", "ipc", "uts"}
		if gvisor {
			// runsc's ptrace platform keeps the sentry and its stubs in the
			// host's pid namespace; the guest's pids are the sentry's own.
			kinds = kinds[1:]
		}
		for _, kind := range kinds {
			if ns[kind] == hostNS[kind] {
				t.Errorf("%s shares the host's %s namespace", name, kind)
			}
		}
		if got := cgroupDir(t, p, "memory"); got != mem {
			t.Errorf("%s is in memory cgroup %s, not the container's %s", name, got, mem)
		}
		switch {
		case !gvisor:
			for _, k := range []string{"CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh"} {
				if st[k] != "0000000000000000" {
					t.Errorf("%s: %s %s, want 0", name, k, st[k])
				}
			}
			if st["Uid"] != "65534\t65534\t65534\t65534" || st["Gid"] != "65534\t65534\t65534\t65534" {
				t.Errorf("%s: uid %q gid %q, want 65534", name, st["Uid"], st["Gid"])
			}
			limits := readFile(t, fmt.Sprintf("/proc/%d/limits", p))
			for _, want := range []string{`Max core file size\s+0\s+0`, `Max open files\s+256\s+256`} {
				if !matches(limits, want) {
					t.Errorf("%s: limits lack %q:\n%s", name, want, limits)
				}
			}
		case comm(p) == "runsc-gofer" || strings.HasPrefix(st["Uid"], "0\t"):
			// The gofer serves the root filesystem to the sentry: host root,
			// but only these file capabilities, chrooted in its own mount
			// namespace, under its own seccomp filter.
			const goferCaps = 1<<0 | 1<<1 | 1<<2 | 1<<3 | 1<<4 | 1<<18 // CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID SYS_CHROOT
			if eff := capMask(t, st["CapEff"]); eff&^goferCaps != 0 {
				t.Errorf("%s (gofer) has capabilities beyond the file ones: %s", name, st["CapEff"])
			}
			if bnd := capMask(t, st["CapBnd"]); bnd&^goferCaps != 0 {
				t.Errorf("%s (gofer) bounding set %s", name, st["CapBnd"])
			}
		default:
			// The sentry and its stubs: unprivileged on the host; their
			// capabilities belong to a user namespace of their own.
			if !strings.HasPrefix(st["Uid"], "65534\t") {
				t.Errorf("%s: uid %q, want 65534", name, st["Uid"])
			}
			if ns["user"] == hostNS["user"] && st["CapEff"] != "0000000000000000" {
				t.Errorf("%s has capabilities %s in the host's user namespace", name, st["CapEff"])
			}
		}
	}
	if gvisor {
		// No host process runs the program's binaries: everything in the
		// cgroup is runsc.
		for _, p := range procs {
			if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p)); err == nil && !strings.Contains(exe, "runsc") {
				t.Errorf("pid %d runs %s on the host", p, exe)
			}
		}
	}

	// The limits, as the kernel will enforce them.
	wantPids := sandbox.PidsLimit(rt, s.Processes)
	var quota, period int64
	if _, err := os.Stat(filepath.Join(mem, "memory.max")); err == nil { // cgroup v2
		checkInt(t, filepath.Join(mem, "memory.max"), s.MemoryBytes)
		checkInt(t, filepath.Join(mem, "memory.swap.max"), 0) // no swap on top
		checkInt(t, filepath.Join(mem, "pids.max"), wantPids)
		if _, err := fmt.Sscan(readFile(t, filepath.Join(mem, "cpu.max")), &quota, &period); err != nil {
			t.Fatalf("cpu.max: %v", err)
		}
	} else {
		checkInt(t, filepath.Join(mem, "memory.limit_in_bytes"), s.MemoryBytes)
		if _, err := os.Stat(filepath.Join(mem, "memory.memsw.limit_in_bytes")); err == nil {
			checkInt(t, filepath.Join(mem, "memory.memsw.limit_in_bytes"), s.MemoryBytes) // no swap on top
		} else {
			t.Errorf("no swap accounting (memory.memsw.*): the engine cannot keep the sandbox out of swap")
		}
		checkInt(t, filepath.Join(cgroupDir(t, initPid, "pids"), "pids.max"), wantPids)
		cpu := cgroupDir(t, initPid, "cpu")
		quota, period = readInt(t, filepath.Join(cpu, "cpu.cfs_quota_us")), readInt(t, filepath.Join(cpu, "cpu.cfs_period_us"))
	}
	if quota <= 0 || quota != period {
		t.Errorf("CPU quota %d/%d, want exactly one core", quota, period)
	}
	t.Logf("%s: %d host processes; memory %d, pids.max %d, cpu %d/%d", rt, len(procs), s.MemoryBytes, wantPids, quota, period)

	if !gvisor {
		for _, p := range procs {
			if comm(p) == "sleep" {
				_ = syscall.Kill(p, syscall.SIGKILL) // done looking: let the program end
			}
		}
	}
	out := <-done
	// What the program saw of itself.
	inside := string(out.Stdout)
	for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "Gid:\t65534\t65534\t65534\t65534", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000"} {
		if !strings.Contains(inside, want) {
			t.Errorf("the program's own status lacks %q:\n%s", want, inside)
		}
	}
	if !gvisor && (!strings.Contains(inside, "NoNewPrivs:\t1") || !strings.Contains(inside, "Seccomp:\t2")) {
		t.Errorf("the program's own status lacks NoNewPrivs 1 / Seccomp 2:\n%s", inside)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// waitContainer returns the id of the running container of job: a cold one
// carries the job's label, a warm one (labelled "pool") is renamed
// airlock-<job>-<stage>-<random> when a stage takes it.
func waitContainer(t *testing.T, cli *client.Client, job string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, f := range []filters.KeyValuePair{filters.Arg("label", sandbox.LabelJob+"="+job), filters.Arg("name", "^/airlock-"+job+"-")} {
			list, err := cli.ContainerList(context.Background(), container.ListOptions{
				Filters: filters.NewArgs(f, filters.Arg("status", "running")),
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) > 0 {
				return list[0].ID
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no running container for job %s", job)
	return ""
}

// cgroupDir is the host directory of pid's cgroup for a v1 controller (or
// its unified directory on cgroup v2).
func cgroupDir(t *testing.T, pid int, controller string) string {
	t.Helper()
	data := readFile(t, fmt.Sprintf("/proc/%d/cgroup", pid))
	for _, line := range strings.Split(strings.TrimSpace(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == controller {
				return filepath.Join("/sys/fs/cgroup", parts[1], parts[2])
			}
		}
		if parts[0] == "0" && parts[1] == "" && !strings.Contains(data, ":"+controller) {
			return filepath.Join("/sys/fs/cgroup", parts[2])
		}
	}
	t.Fatalf("pid %d has no %s cgroup:\n%s", pid, controller, data)
	return ""
}

func procStatus(pid int) (map[string]string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			st[k] = strings.TrimSpace(v)
		}
	}
	return st, sc.Err()
}

func comm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

func namespaces(t *testing.T, pid int) map[string]string {
	ns := map[string]string{}
	for _, kind := range []string{"pid", "mnt", "net", "ipc", "uts", "user", "cgroup"} {
		ns[kind], _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
	}
	return ns
}

func readPids(t *testing.T, path string) []int {
	t.Helper()
	var pids []int
	for _, f := range strings.Fields(readFile(t, path)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readInt(t *testing.T, path string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(strings.TrimSpace(readFile(t, path)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func checkInt(t *testing.T, path string, want int64) {
	t.Helper()
	if got := readInt(t, path); got != want {
		t.Errorf("%s = %d, want %d", path, got, want)
	}
}

func capMask(t *testing.T, hexMask string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(hexMask, 16, 64)
	if err != nil {
		t.Fatalf("capability mask %q: %v", hexMask, err)
	}
	return v
}

func matches(text, pattern string) bool {
	return regexp.MustCompile(pattern).MatchString(text)
}

// testCellPosture checks a run in a cell from the host: the cell container
// is locked down as a sandbox is (but for its widened seccomp profile and
// unmasked /proc, which only its init and bubblewrap use), and each of the
// program's processes is in namespaces of its own (not the host's, not the
// cell init's), unprivileged, under two seccomp filters (the cell's and the
// run's), in the run's own cgroup with the stage's limits.
func testCellPosture(t *testing.T, r *sandbox.Launcher) {
	cli := dockerClient(t)
	s := postureSpec("posture-" + randHex(6))
	done := make(chan sandbox.Outcome, 1)
	go func() {
		out, err := r.Run(context.Background(), s)
		if err != nil {
			t.Error(err)
		}
		done <- out
	}()
	// The cell that runs the program: one of this runner's cells (other
	// suites' cells may be running too) with a run cgroup holding the two
	// sleeps.
	var insp container.InspectResponse
	var procs []int
	var runMem string
	deadline := time.Now().Add(30 * time.Second)
	for runMem == "" {
		if time.Now().After(deadline) {
			t.Fatalf("the program did not start in a cell")
		}
		time.Sleep(100 * time.Millisecond)
		list, err := cli.ContainerList(context.Background(), container.ListOptions{Filters: filters.NewArgs(
			filters.Arg("label", sandbox.LabelJob+"=cell"), filters.Arg("label", sandbox.LabelExecutor+"=sandbox-test"),
			filters.Arg("status", "running"))})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			i, err := cli.ContainerInspect(context.Background(), c.ID)
			if err != nil || i.State == nil || i.State.Pid == 0 {
				continue
			}
			dirs, _ := filepath.Glob(filepath.Join(cgroupDir(t, i.State.Pid, "memory"), "run-*"))
			for _, dir := range dirs {
				pids := readPids(t, filepath.Join(dir, "cgroup.procs"))
				sleeps := 0
				for _, p := range pids {
					if comm(p) == "sleep" {
						sleeps++
					}
				}
				if sleeps >= 2 {
					insp, procs, runMem = i, pids, dir
				}
			}
		}
	}
	hc := insp.HostConfig
	if hc.Privileged || !hc.ReadonlyRootfs || string(hc.NetworkMode) != "none" || !slices.Equal(hc.CapDrop, []string{"ALL"}) ||
		len(hc.CapAdd) > 0 || insp.Config.User != sandbox.User || !insp.Config.NetworkDisabled {
		t.Errorf("cell container posture: privileged %v, read-only %v, network %s, cap-drop %v, cap-add %v, user %q",
			hc.Privileged, hc.ReadonlyRootfs, hc.NetworkMode, hc.CapDrop, hc.CapAdd, insp.Config.User)
	}
	if !slices.Contains(hc.SecurityOpt, "no-new-privileges") || !slices.ContainsFunc(hc.SecurityOpt, func(o string) bool { return strings.HasPrefix(o, "seccomp=") }) {
		t.Errorf("cell security options %v lack no-new-privileges or our seccomp profile", hc.SecurityOpt)
	}
	for _, m := range insp.Mounts {
		if m.Type == "bind" && (m.RW || strings.Contains(m.Source, "docker.sock")) {
			t.Errorf("cell has a writable or engine bind mount: %s -> %s", m.Source, m.Destination)
		}
	}
	initPid := insp.State.Pid
	hostNS, cellNS := namespaces(t, os.Getpid()), namespaces(t, initPid)
	monitors := 0
	for _, p := range procs {
		st, err := procStatus(p)
		if err != nil {
			continue
		}
		name := fmt.Sprintf("pid %d (%s)", p, comm(p))
		ns := namespaces(t, p)
		if comm(p) == "bwrap" && ns["pid"] == cellNS["pid"] {
			// bubblewrap's monitor: in the cell's namespaces (the program
			// cannot see it), under the cell's profile, unprivileged.
			monitors++
			if st["NoNewPrivs"] != "1" || st["Seccomp"] != "2" || st["CapEff"] != "0000000000000000" || !strings.HasPrefix(st["Uid"], "65534\t") {
				t.Errorf("%s: NoNewPrivs %s Seccomp %s CapEff %s Uid %q", name, st["NoNewPrivs"], st["Seccomp"], st["CapEff"], st["Uid"])
			}
			continue
		}
		if st["NoNewPrivs"] != "1" || st["Seccomp"] != "2" || st["Seccomp_filters"] < "2" {
			t.Errorf("%s: NoNewPrivs %s Seccomp %s filters %s, want 1, 2 and two filters (the cell's and the run's)", name, st["NoNewPrivs"], st["Seccomp"], st["Seccomp_filters"])
		}
		for _, k := range []string{"CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh"} {
			if st[k] != "0000000000000000" {
				t.Errorf("%s: %s %s, want 0", name, k, st[k])
			}
		}
		if st["Uid"] != "65534\t65534\t65534\t65534" || st["Gid"] != "65534\t65534\t65534\t65534" {
			t.Errorf("%s: uid %q gid %q, want 65534", name, st["Uid"], st["Gid"])
		}
		for _, kind := range []string{"user", "pid", "mnt", "net", "ipc", "uts", "cgroup"} {
			if ns[kind] == hostNS[kind] || ns[kind] == cellNS[kind] {
				t.Errorf("%s shares the host's or the cell's %s namespace", name, kind)
			}
		}
		if got := cgroupDir(t, p, "memory"); got != runMem {
			t.Errorf("%s is in memory cgroup %s, not the run's %s", name, got, runMem)
		}
		limits := readFile(t, fmt.Sprintf("/proc/%d/limits", p))
		for _, want := range []string{`Max core file size\s+0\s+0`, `Max open files\s+256\s+256`, `Max cpu time\s+8\s+9`} {
			if !matches(limits, want) {
				t.Errorf("%s: limits lack %q:\n%s", name, want, limits)
			}
		}
	}
	// The run's limits, in its own cgroup (cgroup v1 here; see internal/cgroup).
	if _, err := os.Stat(filepath.Join(runMem, "memory.limit_in_bytes")); err == nil {
		checkInt(t, filepath.Join(runMem, "memory.limit_in_bytes"), s.MemoryBytes)
		checkInt(t, filepath.Join(runMem, "memory.memsw.limit_in_bytes"), s.MemoryBytes)
		run := filepath.Base(runMem)
		checkInt(t, filepath.Join(cgroupDir(t, initPid, "pids"), run, "pids.max"), sandbox.PidsLimit("", s.Processes)+1)
		cpu := filepath.Join(cgroupDir(t, initPid, "cpu"), run)
		if q, p := readInt(t, filepath.Join(cpu, "cpu.cfs_quota_us")), readInt(t, filepath.Join(cpu, "cpu.cfs_period_us")); q <= 0 || q != p {
			t.Errorf("run CPU quota %d/%d, want exactly one core", q, p)
		}
	} else {
		checkInt(t, filepath.Join(runMem, "memory.max"), s.MemoryBytes)
		checkInt(t, filepath.Join(runMem, "memory.swap.max"), 0)
		checkInt(t, filepath.Join(runMem, "pids.max"), sandbox.PidsLimit("", s.Processes)+1)
	}
	if monitors > 1 {
		t.Errorf("%d processes of the run are in the cell's namespaces; only bubblewrap's monitor may be", monitors)
	}
	t.Logf("namespace: %d run processes in %s", len(procs), runMem)
	for _, p := range procs {
		if comm(p) == "sleep" {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
	out := <-done
	inside := string(out.Stdout)
	for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2"} {
		if !strings.Contains(inside, want) {
			t.Errorf("the program's own status lacks %q:\n%s", want, inside)
		}
	}
	if out.Isolation != sandbox.IsolationNamespace {
		t.Errorf("outcome isolation %q", out.Isolation)
	}
}
