package sandbox_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
)

// The namespace mode's own attacks: what one run of a cell may try against
// the cell and against the runs after it. Each test runs its stages in one
// cell (a cell serves its image and tenant; IdleCells shows it was kept and
// taken again).

func cellRunner(t *testing.T) *sandbox.Launcher {
	t.Helper()
	return newRunnerFor(t, sandbox.IsolationNamespace)
}

// runIn runs s and fails the test on an infrastructure error.
func runIn(t *testing.T, r *sandbox.Launcher, s sandbox.Spec) sandbox.Outcome {
	t.Helper()
	out, err := r.Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if out.Isolation != sandbox.IsolationNamespace {
		t.Fatalf("isolation %q, want namespace", out.Isolation)
	}
	return out
}

// idle is the number of idle cells of the test image.
func idle(r *sandbox.Launcher) int { return r.IdleCells()[testImage] }

// allowed lists the probes of an attack program's output that got through.
func allowed(out sandbox.Outcome) []string {
	var got []string
	for _, line := range strings.Split(string(out.Stdout), "\n") {
		if strings.HasPrefix(line, "ALLOWED") {
			got = append(got, line)
		}
	}
	return got
}

// TestCellRunsAreApart: a run plants a daemon in a session of its own
// (holding an abstract socket and a SysV segment) and files wherever it can
// write; the next run of the same cell finds none of it, and sees no
// process but its own.
func TestCellRunsAreApart(t *testing.T) {
	r := cellRunner(t)
	out := runIn(t, r, spec(attackArgv("plant")...))
	if out.ExitCode != 0 || !strings.Contains(string(out.Stdout), "planted") {
		t.Fatalf("plant: exit %d stdout %q stderr %q", out.ExitCode, out.Stdout, out.Stderr)
	}
	t.Logf("plant: %s", strings.TrimSpace(string(out.Stdout)))
	if n := idle(r); n != 1 {
		t.Fatalf("%d idle cells after a run that left a daemon: the cell should have ended it and been kept", n)
	}
	out = runIn(t, r, spec(attackArgv("seek")...))
	t.Logf("seek: %s", strings.TrimSpace(string(out.Stdout)))
	if got := allowed(out); len(got) > 0 || out.ExitCode != 0 {
		t.Errorf("the next run of the cell found what the first left (exit %d):\n%s", out.ExitCode, strings.Join(got, "\n"))
	}
	if n := idle(r); n != 1 {
		t.Errorf("%d idle cells after the second run, want the same one", n)
	}
}

// TestCellEscape: a run cannot create namespaces, mount, change its root,
// join another namespace, leave its cgroup, use the keyring, ptrace, bpf or
// io_uring, write to the cell's file system or the kernel's knobs, or read
// what the masks hide.
func TestCellEscape(t *testing.T) {
	r := cellRunner(t)
	out := runIn(t, r, spec(attackArgv("escape")...))
	t.Logf("escape:\n%s", out.Stdout)
	if got := allowed(out); len(got) > 0 || out.ExitCode != 0 {
		t.Errorf("the run got through (exit %d, stderr %q):\n%s", out.ExitCode, out.Stderr, strings.Join(got, "\n"))
	}
	if !strings.Contains(string(out.Stdout), "blocked unshare(user)") || !strings.Contains(string(out.Stdout), "blocked mount tmpfs") {
		t.Errorf("the probes did not run:\n%s", out.Stdout)
	}
	// Nothing was created in the cell: a new run sees a clean root.
	out = runIn(t, r, spec("sh", "-c", "ls -a / /work; ls /tmp | wc -l"))
	if strings.Contains(string(out.Stdout), "airlock-planted") {
		t.Errorf("a file planted in the cell remained:\n%s", out.Stdout)
	}
}

// TestCellSurvivesItsRuns: a run that fills its memory, its pids, its time
// or its CPU is ended in its own cgroup, and the cell serves the next stage
// (so does a stage whose files the cell refused before any run started);
// a run whose output passed the cap costs the cell (its stream cannot be
// kept in step), and the next stage gets a new one.
func TestCellSurvivesItsRuns(t *testing.T) {
	r := cellRunner(t)
	hello := func(t *testing.T) {
		t.Helper()
		out := runIn(t, r, spec("echo", "hello"))
		if string(out.Stdout) != "hello\n" || out.ExitCode != 0 {
			t.Errorf("hello after: exit %d stdout %q stderr %q", out.ExitCode, out.Stdout, out.Stderr)
		}
	}
	hello(t)
	cases := []struct {
		name string
		spec sandbox.Spec
		ok   func(sandbox.Outcome) bool
		kept bool
	}{
		{"memory", spec(attackArgv("alloc")...), func(o sandbox.Outcome) bool { return o.OOMKilled }, true},
		{"pids", func() sandbox.Spec {
			s := spec("bash", "-c", "f(){ f|f& }; f; sleep 2; echo survived")
			s.CPUTime, s.WallTime = 2*time.Second, 5*time.Second
			return s
		}(), func(o sandbox.Outcome) bool { return o.ProcessLimitHit && !o.InitLost }, true},
		{"wall", func() sandbox.Spec { s := spec("sleep", "100"); s.WallTime = 2 * time.Second; return s }(),
			func(o sandbox.Outcome) bool { return o.TimedOut && o.Signal == 9 }, true},
		{"cpu", func() sandbox.Spec { s := spec("bash", "-c", "while :; do :; done"); s.CPUTime = time.Second; return s }(),
			func(o sandbox.Outcome) bool { return o.CPUExceeded && o.CPUTime < 1500*time.Millisecond }, true},
		{"files refused", func() sandbox.Spec {
			s := spec("echo", "ran")
			s.Files = bytes.Repeat([]byte("not a tar archive "), 64)
			return s
		}(), func(o sandbox.Outcome) bool { return o.InitError != "" && len(o.Stdout) == 0 }, true},
		{"output", spec("yes"), func(o sandbox.Outcome) bool { return o.OutputExceeded }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := idle(r)
			out := runIn(t, r, tc.spec)
			t.Logf("%s: wall=%v cpu=%v mem=%dKB exit=%d sig=%d oom=%v pids=%v timedout=%v cpu-exceeded=%v",
				tc.name, out.WallTime, out.CPUTime, out.MemoryPeakBytes>>10, out.ExitCode, out.Signal, out.OOMKilled, out.ProcessLimitHit, out.TimedOut, out.CPUExceeded)
			if !tc.ok(out) {
				t.Errorf("%s: outcome %+v", tc.name, out)
			}
			want := before
			if !tc.kept {
				want = before - 1
			}
			if n := idle(r); n != want {
				t.Errorf("%d idle cells after the run, want %d (kept: %v)", n, want, tc.kept)
			}
			hello(t)
		})
	}
}

// TestCellsPerTenant: a tenant's stage never runs in another tenant's cell,
// even one idle of the same image; the tenant's next stage takes its own.
func TestCellsPerTenant(t *testing.T) {
	r := cellRunner(t)
	for i, tenant := range []string{"acme", "globex", "acme"} {
		s := spec("true")
		s.Tenant = tenant
		runIn(t, r, s)
		if want := min(i+1, 2); idle(r) != want {
			t.Errorf("after %s's stage: %d idle cells, want %d (one per tenant)", tenant, idle(r), want)
		}
	}
}

// TestCellServesAJobsStages: a job's stages (its compile stage and its
// tests) run in one cell, one after the other, even when another cell of
// the image and tenant is idle and ready.
func TestCellServesAJobsStages(t *testing.T) {
	r := cellRunner(t)
	// Two cells: two stages at once.
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := spec("sleep", "1")
		s.JobID = "overlap"
		runIn(t, r, s)
	}()
	time.Sleep(300 * time.Millisecond)
	stage := func(name string) sandbox.Outcome {
		s := spec("true")
		s.JobID, s.Stage = "job-1", name
		return runIn(t, r, s)
	}
	first := stage("compile")
	<-done
	if n := idle(r); n != 2 {
		t.Fatalf("%d idle cells, want 2", n)
	}
	for i := range 3 {
		if o := stage("run"); o.Sandbox != first.Sandbox || o.Sandbox == "" {
			t.Errorf("test %d of the job ran in cell %.12s, its compile stage in %.12s", i, o.Sandbox, first.Sandbox)
		}
	}
}
