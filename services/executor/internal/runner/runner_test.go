package runner

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/executor/internal/catalog"
	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
)

// fakeSandbox "runs" a stage: a compile returns an artifact; a run doubles
// the number it reads from stdin, or fails on the word "crash".
type fakeSandbox struct {
	mu     sync.Mutex
	stages []sandbox.Spec
}

func (f *fakeSandbox) Run(_ context.Context, spec sandbox.Spec) (sandbox.Outcome, error) {
	f.mu.Lock()
	f.stages = append(f.stages, spec)
	f.mu.Unlock()
	if spec.Stage == "compile" {
		return sandbox.Outcome{Artifacts: []byte("binary"), CPUTime: 100 * time.Millisecond}, nil
	}
	in := strings.TrimSpace(string(spec.Stdin))
	if in == "crash" {
		return sandbox.Outcome{ExitCode: 139, Signal: 11}, nil
	}
	var n int
	fmt.Sscan(in, &n)
	return sandbox.Outcome{Stdout: []byte(fmt.Sprintf("%d %s\n", 2*n, strings.Join(spec.Argv[1:], ","))), CPUTime: 5 * time.Millisecond}, nil
}

func (f *fakeSandbox) count(stage string) int {
	n := 0
	for _, s := range f.stages {
		if s.Stage == stage {
			n++
		}
	}
	return n
}

func cpp() *catalog.Language {
	c, err := catalog.Load("")
	if err != nil {
		panic(err)
	}
	return c.Find("c++")
}

func limits() contracts.LimitSet {
	return cpp().Defaults
}

func str(s string) *string { return &s }

func TestJudgeModeCompilesOnce(t *testing.T) {
	fs := &fakeSandbox{}
	r := New(fs)
	req := contracts.ExecutionRequest{Language: "c++", Files: []contracts.File{{Name: "main.cpp", Content: "..."}}}
	for i := 0; i < 20; i++ {
		want := fmt.Sprintf("%d \n", 2*i)
		if i == 13 {
			want = "999\n" // the one test whose expected output differs
		}
		req.Tests = append(req.Tests, contracts.TestCase{Name: fmt.Sprint("t", i), Stdin: fmt.Sprint(i), ExpectedOutput: &want})
	}
	res, err := r.Execute(context.Background(), "id", req, cpp(), limits())
	if err != nil {
		t.Fatal(err)
	}
	if fs.count("compile") != 1 || fs.count("run") != 20 {
		t.Errorf("compiles=%d runs=%d, want 1 and 20", fs.count("compile"), fs.count("run"))
	}
	if res.Verdict != contracts.VerdictWrongAnswer || res.FailedTest == nil || *res.FailedTest != 13 {
		t.Fatalf("verdict %s failed_test %v, want wrong_answer at 13", res.Verdict, res.FailedTest)
	}
	for i, tr := range res.Tests {
		want := contracts.VerdictAccepted
		if i == 13 {
			want = contracts.VerdictWrongAnswer
		}
		if tr.Verdict != want || tr.Name != fmt.Sprint("t", i) || tr.Skipped {
			t.Errorf("test %d: %+v", i, tr)
		}
	}
	for _, s := range fs.stages[1:] {
		if string(s.Files) != "binary" {
			t.Errorf("a run did not get the compiled artifact: %q", s.Files)
		}
	}
	if res.Run != nil || res.Compile == nil {
		t.Errorf("judge mode: run=%v compile=%v", res.Run, res.Compile)
	}
}

func TestJudgeModeStopOnFirstFailureAndArgs(t *testing.T) {
	fs := &fakeSandbox{}
	r := New(fs)
	req := contracts.ExecutionRequest{
		Language: "c++", Files: []contracts.File{{Name: "main.cpp"}}, Args: []string{"req"},
		StopOnFirstFailure: true,
		Tests: []contracts.TestCase{
			{Stdin: "1", ExpectedOutput: str("2 req")},
			{Stdin: "2", Args: []string{"own"}, ExpectedOutput: str("4 own")},
			{Stdin: "crash"},
			{Stdin: "4"},
		},
	}
	res, err := r.Execute(context.Background(), "id", req, cpp(), limits())
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != contracts.VerdictRuntimeError || *res.FailedTest != 2 {
		t.Fatalf("verdict %s at %v", res.Verdict, res.FailedTest)
	}
	if !res.Tests[3].Skipped || res.Tests[3].Verdict != contracts.VerdictSkipped || fs.count("run") != 3 {
		t.Errorf("test 3 not skipped: %+v (runs %d)", res.Tests[3], fs.count("run"))
	}
	if res.Tests[2].Signal != "SIGSEGV" {
		t.Errorf("signal %q", res.Tests[2].Signal)
	}
}

func TestSingleRunExpectedOutput(t *testing.T) {
	r := New(&fakeSandbox{})
	base := contracts.ExecutionRequest{Language: "c++", Files: []contracts.File{{Name: "main.cpp"}}, Stdin: "21"}
	for _, tc := range []struct {
		expected *string
		mode     contracts.CompareMode
		want     contracts.Verdict
	}{
		{nil, "", contracts.VerdictAccepted},
		{str("42"), "", contracts.VerdictAccepted},
		{str("42 \n\n"), "", contracts.VerdictAccepted},
		{str("42"), contracts.CompareExact, contracts.VerdictWrongAnswer},
		{str("43"), "", contracts.VerdictWrongAnswer},
	} {
		req := base
		req.ExpectedOutput, req.Compare = tc.expected, tc.mode
		res, err := r.Execute(context.Background(), "id", req, cpp(), limits())
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != tc.want || res.Run.Verdict != tc.want || res.Tests != nil {
			t.Errorf("expected %v mode %q: verdict %s", tc.expected, tc.mode, res.Verdict)
		}
	}
}
