package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestVerdict(t *testing.T) {
	for _, c := range []struct {
		o    outcome
		want string
	}{
		{outcome{stdout: "1337\n"}, "accepted"},
		{outcome{stdout: "1337  \r\n\r\n"}, "accepted"},
		{outcome{stdout: "1338\n"}, "wrong_answer"},
		{outcome{stdout: " 1337\n"}, "wrong_answer"},
		{outcome{timedOut: true, signal: syscall.SIGKILL, exitCode: -1}, "time_limit_exceeded"},
		{outcome{signal: syscall.SIGXCPU, exitCode: -1}, "time_limit_exceeded"},
		{outcome{signal: syscall.SIGKILL, exitCode: -1}, "time_limit_exceeded"},
		{outcome{signal: syscall.SIGSEGV, exitCode: -1}, "runtime_error"},
		{outcome{exitCode: 1, stderr: "Traceback (most recent call last):\nMemoryError\n"}, "memory_limit_exceeded"},
		{outcome{exitCode: 1, stderr: "ValueError: candidate 3 gives up\n"}, "runtime_error"},
		{outcome{exitCode: 2, stdout: "1337\n"}, "runtime_error"},
	} {
		if got := c.o.verdict("1337"); got != c.want {
			t.Errorf("%+v: %s, want %s", c.o, got, c.want)
		}
	}
}

func TestCommand(t *testing.T) {
	limits := map[string]int{"cpu_time_ms": 1500, "wall_time_ms": 3000, "memory_mb": 64}
	got := strings.Join(command("/usr/bin/python3", "/usr/bin/prlimit", "main.py", limits), " ")
	if want := "/usr/bin/prlimit --cpu=2 --as=67108864 -- /usr/bin/python3 main.py"; got != want {
		t.Errorf("with prlimit: %s, want %s", got, want)
	}
	if got := strings.Join(command("/usr/bin/python3", "", "main.py", limits), " "); got != "/usr/bin/python3 main.py" {
		t.Errorf("without prlimit: %s", got)
	}
}

// The bare programs are exactly those of the request: harness files first,
// then the candidate's, the problem's test and limits.
func TestBareJobsAreTheRequest(t *testing.T) {
	req, _ := build(40, 3)
	payload, _ := json.Marshal(req)
	var sent evaluationRequest
	if err := json.Unmarshal(payload, &sent); err != nil {
		t.Fatal(err)
	}
	jobs, err := bareJobs(sent)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 40 {
		t.Fatalf("%d jobs", len(jobs))
	}
	for i, j := range jobs {
		c := req.Candidates[i]
		p := req.Problems[slices.IndexFunc(req.Problems, func(p problem) bool { return p.ID == c.Problem })]
		if len(j.files) != 2 || j.files[0] != p.Harness.Files[0] || j.files[1] != c.Files[0] {
			t.Errorf("job %d files %v", i, j.files)
		}
		if len(j.tests) != 1 || j.tests[0] != p.Harness.Tests[0] || j.limits["wall_time_ms"] != 3000 {
			t.Errorf("job %d tests %v limits %v", i, j.tests, j.limits)
		}
	}
	sent.Candidates[0].Problem = "nope"
	if _, err := bareJobs(sent); err == nil {
		t.Error("a candidate of no problem was taken")
	}
}

func TestRatios(t *testing.T) {
	ns := &modeRun{mode: "namespace", wall: 30 * time.Second}
	ct := &modeRun{mode: "container", wall: 120 * time.Second}
	b := &bareRun{wall: 20 * time.Second}
	rs := ratios([]*modeRun{ns, ct}, b, 500)
	if len(rs) != 3 {
		t.Fatalf("%d ratios", len(rs))
	}
	if rs[0].Name != "wall time, namespace / bare" || rs[0].Value() != 1.5 || rs[0].Mark() != "met" {
		t.Errorf("namespace: %s %v %q", rs[0].Name, rs[0].Value(), rs[0].Mark())
	}
	if rs[1].Name != "wall time, container / bare" || rs[1].Value() != 6 || rs[1].Target != nil {
		t.Errorf("container: %s %v %v", rs[1].Name, rs[1].Value(), rs[1].Target)
	}
	if rs[2].Name != "wall time, container / namespace" || rs[2].Value() != 4 {
		t.Errorf("third: %s %v", rs[2].Name, rs[2].Value())
	}
	ns.wall = 41 * time.Second
	if m := ratios([]*modeRun{ns}, b, 500)[0].Mark(); m != "NOT MET" {
		t.Errorf("41 s against 20 s: %q", m)
	}
	if r := ratios([]*modeRun{ns}, b, 200)[0]; r.Target != nil {
		t.Error("a target for fewer than 300 programs")
	}
	if rs := ratios([]*modeRun{ns, ct}, nil, 500); len(rs) != 1 || rs[0].Target != nil {
		t.Errorf("without bare: %v", rs)
	}
}

func TestCheck(t *testing.T) {
	want := []string{"accepted", "wrong_answer", "accepted"}
	var ev evaluation
	ev.Summary.Completed = 3
	ev.Summary.ByVerdict = map[string]int{"accepted": 2, "wrong_answer": 1}
	for i, v := range want {
		ev.Candidates = append(ev.Candidates, candidateResult{Index: i, Verdict: v})
	}
	if w := check(&ev, want); len(w) != 0 {
		t.Errorf("all as built: %v", w)
	}
	ev.Candidates[0].Verdict, ev.Candidates[1].Verdict = "wrong_answer", "accepted"
	if w := check(&ev, want); len(w) != 2 {
		t.Errorf("two swapped (the counts still match): %v", w)
	}
	ev.Summary.Completed, ev.Summary.ByVerdict["accepted"] = 2, 1
	if w := check(&ev, want); len(w) != 4 {
		t.Errorf("one missing: %v", w)
	}
}

// The bare baseline on the host ends every kind of program as it was built
// to: needs /usr/bin/python3 and /usr/bin/prlimit, takes a few seconds (a
// program loops until the 3 s wall limit).
func TestBareRun(t *testing.T) {
	for _, p := range []string{"/usr/bin/python3", "/usr/bin/prlimit"} {
		if _, err := os.Stat(p); err != nil {
			t.Skip(err)
		}
	}
	req, want := build(20, 2)
	jobs, err := bareJobs(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := runBare(jobs, "/usr/bin/python3", "/usr/bin/prlimit", 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range b.verdicts {
		if v != want[i] {
			t.Errorf("program %d (%s): %s, built for %s", i, req.Candidates[i].ID, v, want[i])
		}
	}
	if b.cpu <= 0 || b.wall <= 0 || !strings.Contains(b.caps, "RLIMIT_AS") {
		t.Errorf("cpu %v wall %v caps %q", b.cpu, b.wall, b.caps)
	}
	left, _ := filepath.Glob(filepath.Join(os.TempDir(), "evalbench-bare-*"))
	if len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestReport(t *testing.T) {
	_, want := build(20, 2)
	built := map[string]int{}
	for _, v := range want {
		built[v]++
	}
	one := 1.0
	mode := func(name string, wall time.Duration, each int64) *modeRun {
		r := &modeRun{mode: name, wall: wall, accepted: 25 * time.Millisecond}
		r.ev.Summary.Total, r.ev.Summary.Completed, r.ev.Summary.ByVerdict = 20, 20, built
		r.ev.Summary.CPUTimeMS, r.ev.Summary.DurationMS = 4000, each*20
		r.ev.PassAtK.Estimates = append(r.ev.PassAtK.Estimates, struct {
			K        int
			Value    *float64
			Problems int
		}{1, &one, 2})
		for i, v := range want {
			r.ev.Candidates = append(r.ev.Candidates, candidateResult{Index: i, Verdict: v, DurationMS: each})
		}
		return r
	}
	runs := []*modeRun{mode("namespace", 6*time.Second, 100), mode("container", 20*time.Second, 700)}
	bare := &bareRun{python: "/usr/bin/python3", parallel: 2, caps: "wall 3000 ms", wall: 4 * time.Second, cpu: 3 * time.Second,
		verdicts: want, durations: make([]time.Duration, len(want))}
	for i := range bare.durations {
		bare.durations[i] = 50 * time.Millisecond
	}
	path := filepath.Join(t.TempDir(), "eval.md")
	cfg := settings{n: 20, problems: 2, slots: 4, queueMax: 100}
	if err := report(path, cfg, 3000, built, runs, bare, "2 cores", "commit abc", time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	doc := string(b)
	for _, s := range []string{
		"(`namespace`, `container`)",
		"`/usr/bin/python3 main.py` in a fresh directory each, 2 at a time",
		"Measured 2026-12-02 10:00 UTC from commit abc, on 2 cores.",
		"| figure | airlock namespace | airlock container | bare python3 |",
		"| wall time (Airlock: POST to completed) | 6.0 s | 20.0 s | 4.0 s |",
		"| programs per second | 3.3 | 1.0 | 5.0 |",
		// fewer than 300 programs: no target
		"| wall time, namespace / bare | 1.50 |  |  | 6.0 s / 4.0 s |",
		"| verdict | built for | got, namespace | got, container | got, bare | mean time in a slot, namespace | mean time in a slot, container | mean time, bare |",
		"| `accepted` | 10 | 10 | 10 | 10 | 100 ms | 700 ms | 50 ms |",
		"| pass@1 over 2 problems | 1.0000 | 1.0000 |",
	} {
		if !strings.Contains(doc, s) {
			t.Errorf("report lacks %q:\n%s", s, doc)
		}
	}
}
