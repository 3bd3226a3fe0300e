package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
)

// The AI-evaluation tests (docs/ai-evaluation.md) run through the real
// stack: POST /v1/evaluations with real containers, the scientific Python
// runtime, and the NATS client in judge mode.

// evaluate submits an evaluation and waits (long polls) until it completes.
func evaluate(t *testing.T, s *stack, body any, header map[string]string) (contracts.EvaluationAccepted, contracts.Evaluation) {
	t.Helper()
	code, hdr, data := request(t, "POST", s.URL+"/v1/evaluations", body, header)
	if code != 202 {
		t.Fatalf("POST /v1/evaluations = %d: %s", code, data)
	}
	var acc contracts.EvaluationAccepted
	if err := json.Unmarshal(data, &acc); err != nil {
		t.Fatal(err)
	}
	if hdr.Get("Location") != "/v1/evaluations/"+acc.ID {
		t.Errorf("Location %q", hdr.Get("Location"))
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		code, _, data = request(t, "GET", s.URL+"/v1/evaluations/"+acc.ID+"?wait=true&timeout=60s", nil, nil)
		var ev contracts.Evaluation
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatalf("GET evaluation = %d: %v: %s", code, err, data)
		}
		if code == 200 && ev.Status == contracts.EvaluationCompleted {
			return acc, ev
		}
		if code != 202 || time.Now().After(deadline) {
			t.Fatalf("GET evaluation = %d (status %s): %s", code, ev.Status, data)
		}
	}
}

// TestEvalPythonSci runs a program per library of the scientific runtime
// (NumPy, SciPy, pandas, SymPy, NetworkX, unittest, doctest) as one
// evaluation, plus a failing unittest suite and a failing doctest.
func TestEvalPythonSci(t *testing.T) {
	s := startDev(t, func(c *config) {
		c.Executor.Languages = []string{"python-sci"}
		c.Executor.Slots = 2
	})
	files, err := filepath.Glob("testdata/python-sci/*.py")
	if err != nil || len(files) != 7 {
		t.Fatalf("testdata/python-sci: %v %v", files, err)
	}
	var cands []contracts.Candidate
	for _, f := range files {
		code := readFile(t, f)
		cands = append(cands, contracts.Candidate{ID: strings.TrimSuffix(filepath.Base(f), ".py"),
			Files: []contracts.File{{Name: "main.py", Content: code}}})
	}
	// Two candidates built to fail: a unittest assertion and a doctest example.
	suite := readFile(t, "testdata/python-sci/unittest_suite.py")
	doc := readFile(t, "testdata/python-sci/doctest_module.py")
	broken := []contracts.Candidate{
		{ID: "unittest-fails", Files: []contracts.File{{Name: "main.py", Content: strings.Replace(suite, "n * n, 49", "n * n, 50", 1)}}},
		{ID: "doctest-fails", Files: []contracts.File{{Name: "main.py", Content: strings.Replace(doc, "8, 13]", "8, 14]", 1)}}},
	}
	if broken[0].Files[0].Content == suite || broken[1].Files[0].Content == doc {
		t.Fatal("the failing variants did not change the programs")
	}
	cands = append(cands, broken...)
	// Time limits far above what the imports need on a slow machine.
	body := contracts.EvaluationRequest{Language: "python-sci", Harness: &contracts.Harness{Limits: roomyLimits(contracts.Limits{}),
		Tests: []contracts.TestCase{{Name: "seven", Stdin: "7\n"}}}, Candidates: cands}
	_, ev := evaluate(t, s, body, nil)

	if ev.Language != "python-sci" || ev.Summary.Passed != 7 || ev.Summary.ByVerdict[contracts.VerdictRuntimeError] != 2 {
		t.Errorf("summary %+v", ev.Summary)
	}
	var b strings.Builder
	for _, c := range ev.Candidates {
		fmt.Fprintf(&b, "%-16s %-14s cpu %5d ms wall %5d ms mem %4d MB\n", c.ID, c.Verdict, c.CPUTimeMS, c.WallTimeMS, c.MemoryKB/1024)
		if strings.HasSuffix(c.ID, "-fails") {
			if c.Verdict != contracts.VerdictRuntimeError || c.FailedTest == nil || c.FailedTestName != "seven" {
				t.Errorf("%s: want runtime_error on test seven, got %+v", c.ID, c)
			}
			continue
		}
		if c.Verdict != contracts.VerdictAccepted {
			exec := getExecution(t, s, c.ExecutionID)
			t.Errorf("%s: verdict %s: %s", c.ID, c.Verdict, dump(exec))
			continue
		}
		exec := getExecution(t, s, c.ExecutionID)
		lib := strings.Split(c.ID, "_")[0]
		if out := exec.Tests[0].Stdout; !strings.HasPrefix(out, "OK "+lib+" ") {
			t.Errorf("%s: stdout %q, want OK %s ...", c.ID, out, lib)
		}
	}
	t.Logf("python-sci programs (CPU includes interpreter start and imports):\n%s", b.String())
}

func getExecution(t *testing.T, s *stack, id string) contracts.Execution {
	t.Helper()
	code, _, data := request(t, "GET", s.URL+"/v1/executions/"+id, nil, nil)
	if code != 200 {
		t.Fatalf("GET /v1/executions/%s = %d: %s", id, code, data)
	}
	var e contracts.Execution
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestEvalVerdicts: candidates built to pass, answer wrong, raise, loop
// forever and allocate too much, judged by a HumanEval-style harness (the
// harness's main.py imports the candidate's solution.py), in two problems.
func TestEvalVerdicts(t *testing.T) {
	s := startDev(t, func(c *config) { c.Executor.Languages = []string{"python"} })
	harness := func(fn string, cases [][2]string) contracts.Harness {
		h := contracts.Harness{
			Files: []contracts.File{{Name: "main.py", Content: "import sys\nfrom solution import " + fn +
				"\nargs = [int(x) for x in sys.stdin.read().split()]\nprint(" + fn + "(*args))\n"}},
			// Far above what a candidate that returns needs; the one that
			// loops forever runs into them.
			Limits: contracts.Limits{WallTimeMS: 15000, CPUTimeMS: 5000, MemoryMB: 64},
		}
		for i, c := range cases {
			out := c[1]
			h.Tests = append(h.Tests, contracts.TestCase{Name: fmt.Sprintf("case%d", i), Stdin: c[0], ExpectedOutput: &out})
		}
		return h
	}
	sol := func(problem, code string) contracts.Candidate {
		return contracts.Candidate{ID: problem + "/" + fmt.Sprint(len(code)), Problem: problem,
			Files: []contracts.File{{Name: "solution.py", Content: code}}}
	}
	cands := []contracts.Candidate{
		sol("add", "def add(a, b):\n    return a + b\n"),
		sol("add", "def add(a, b):\n    return a - b\n"),
		sol("add", "def add(a, b):\n    raise ValueError('no')\n"),
		sol("add", "def add(a, b):\n    while True:\n        pass\n"),
		sol("square", "def square(a):\n    return a * a\n"),
		sol("square", "def square(a):\n    return a ** 2\n"),
		sol("square", "def square(a):\n    return bytearray(512 << 20)\n"),
	}
	body := contracts.EvaluationRequest{Language: "python",
		Problems: []contracts.EvaluationProblem{
			{ID: "add", Harness: harness("add", [][2]string{{"1 2", "3"}, {"-5 5", "0"}})},
			{ID: "square", Harness: harness("square", [][2]string{{"3", "9"}, {"-4", "16"}})},
		},
		Candidates: cands, K: []int{1, 2}}
	key := map[string]string{"Idempotency-Key": "eval-verdicts-" + s.ExecutorID}
	acc, ev := evaluate(t, s, body, key)

	want := []contracts.Verdict{"accepted", "wrong_answer", "runtime_error", "time_limit_exceeded", "accepted", "accepted", "memory_limit_exceeded"}
	for i, c := range ev.Candidates {
		if c.Verdict != want[i] || c.Passed != (want[i] == "accepted") || c.ExecutionID != acc.Candidates[i].ExecutionID {
			t.Errorf("candidate %d (%s): %+v, want %s", i, c.ID, c, want[i])
		}
		if !c.Passed && (c.FailedTest == nil || *c.FailedTest != 0 || c.FailedTestName != "case0") {
			t.Errorf("candidate %d: failed test %v %q", i, c.FailedTest, c.FailedTestName)
		}
	}
	if fmt.Sprint(ev.PassAtK.Problems) != "[{add 4 1} {square 3 2}]" {
		t.Errorf("pass@k inputs %+v", ev.PassAtK.Problems)
	}
	// pass@1 = (1/4 + 2/3) / 2; pass@2 = ((1 - C(3,2)/C(4,2)) + (1 - 0)) / 2.
	wantEst := map[int]float64{1: (0.25 + 2.0/3) / 2, 2: ((1 - 3.0/6) + 1) / 2}
	for _, e := range ev.PassAtK.Estimates {
		if e.Value == nil || math.Abs(*e.Value-wantEst[e.K]) > 1e-9 || e.Problems != 2 {
			t.Errorf("pass@%d = %+v, want %v", e.K, e, wantEst[e.K])
		}
	}
	// A retry names the same evaluation; the completed results stay.
	code, _, data := request(t, "POST", s.URL+"/v1/evaluations", body, key)
	var again contracts.EvaluationAccepted
	_ = json.Unmarshal(data, &again)
	if code != 202 || again.ID != acc.ID || again.Status != contracts.EvaluationCompleted {
		t.Errorf("retry: %d %s", code, data)
	}
}

// TestEvalNATSClient is the NATS route of docs/ai-evaluation.md: the Go
// client submits every candidate in judge mode under an idempotency key
// derived from the run, waits for each, and computes pass@k itself.
func TestEvalNATSClient(t *testing.T) {
	s := startDev(t, func(c *config) { c.Executor.Languages = []string{"python"} })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := client.New(ctx, s.NATS, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	nine := "9"
	tests := []contracts.TestCase{{Stdin: "3\n", ExpectedOutput: &nine}}
	samples := []string{"print(int(input()) ** 2)\n", "print(int(input()) * 3)\n", "print(int(input()) * 2 + 3)\n", "print(1/0)\n"}
	ids := make([]string, len(samples))
	for i, code := range samples {
		req := roomy(contracts.ExecutionRequest{Language: "python", Files: []contracts.File{{Name: "main.py", Content: code}}, Tests: tests})
		key := fmt.Sprintf("run-%s/problem-0/sample-%d", s.ExecutorID, i)
		sub, err := c.Submit(ctx, &req, client.SubmitOptions{IdempotencyKey: key})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = sub.ID
		// A retried submission is the same execution.
		if again, err := c.Submit(ctx, &req, client.SubmitOptions{IdempotencyKey: key}); err != nil || again.ID != ids[i] {
			t.Fatalf("retry: %q %v, want %q", again.ID, err, ids[i])
		}
	}
	passed := 0
	var verdicts []contracts.Verdict
	for _, id := range ids {
		exec, err := c.Wait(ctx, id, client.WaitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		verdicts = append(verdicts, exec.Verdict)
		if exec.Verdict == contracts.VerdictAccepted {
			passed++
		}
	}
	want := []contracts.Verdict{"accepted", "accepted", "accepted", "runtime_error"}
	if !slices.Equal(verdicts, want) {
		t.Errorf("verdicts %v, want %v", verdicts, want)
	}
	if got := contracts.PassAtK(len(samples), passed, 1); math.Abs(got-0.75) > 1e-12 {
		t.Errorf("pass@1 = %v", got)
	}
}
