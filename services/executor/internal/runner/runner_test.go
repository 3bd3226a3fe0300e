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

// fakeSandbox "runs" a stage: a compile returns an artifact; a run (or a
// checker) doubles the number it reads from stdin, or fails on the word
// "crash".
type fakeSandbox struct {
	mu     sync.Mutex
	stages []sandbox.Spec
}

func (f *fakeSandbox) Run(_ context.Context, spec sandbox.Spec) (sandbox.Outcome, error) {
	f.mu.Lock()
	f.stages = append(f.stages, spec)
	f.mu.Unlock()
	if spec.Stage == "checker-compile" {
		build, err := sandbox.TarFiles(map[string][]byte{"main": []byte("checker")}, []string{"main"})
		return sandbox.Outcome{Artifacts: build}, err
	}
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
	res, err := r.Execute(context.Background(), "id", "default", req, cpp(), limits())
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
	res, err := r.Execute(context.Background(), "id", "default", req, cpp(), limits())
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
		res, err := r.Execute(context.Background(), "id", "default", req, cpp(), limits())
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != tc.want || res.Run.Verdict != tc.want || res.Tests != nil {
			t.Errorf("expected %v mode %q: verdict %s", tc.expected, tc.mode, res.Verdict)
		}
	}
}

// TestIsolationResolution: every stage of an execution gets the mode of its
// tenant, else of its language, else the default, with the runtime of that
// mode and the tenant; the result reports the mode the sandbox ran in.
func TestIsolationResolution(t *testing.T) {
	iso := Isolation{
		Default:   sandbox.IsolationNamespace,
		Languages: map[string]string{"c++": sandbox.IsolationContainer, "python": sandbox.IsolationGVisor},
		Tenants:   map[string]string{"acme": sandbox.IsolationGVisor, "beta": sandbox.IsolationContainer},
		Runtimes:  map[string]string{"c++": "crun"},
	}
	cat, err := catalog.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tenant, language string
		mode, runtime    string
	}{
		{"default", "c++", sandbox.IsolationContainer, "crun"},  // language
		{"default", "python", sandbox.IsolationGVisor, "runsc"}, // language
		{"default", "bash", sandbox.IsolationNamespace, ""},     // default
		{"acme", "c++", sandbox.IsolationGVisor, "runsc"},       // tenant beats language
		{"acme", "bash", sandbox.IsolationGVisor, "runsc"},      // tenant beats default
		{"beta", "python", sandbox.IsolationContainer, ""},      // tenant beats language
		{"beta", "c++", sandbox.IsolationContainer, "crun"},     // the language's runtime
		{"other", "python", sandbox.IsolationGVisor, "runsc"},   // an unnamed tenant
	} {
		fs := &fakeSandbox{}
		r := New(fs)
		r.Isolation = iso
		lang := cat.Find(tc.language)
		req := contracts.ExecutionRequest{Language: tc.language, Files: []contracts.File{{Name: lang.EntryFile}},
			Tests: []contracts.TestCase{{Stdin: "1"}, {Stdin: "2"}}}
		res, err := r.Execute(context.Background(), "id", tc.tenant, req, lang, lang.Defaults)
		if err != nil {
			t.Fatal(err)
		}
		want := 2
		if lang.Compiled() {
			want = 3
		}
		if len(fs.stages) != want {
			t.Fatalf("%s/%s: %d stages, want %d", tc.tenant, tc.language, len(fs.stages), want)
		}
		for _, s := range fs.stages {
			if s.Isolation != tc.mode || s.OCIRuntime != tc.runtime || s.Tenant != tc.tenant {
				t.Errorf("%s/%s: %s stage in %q runtime %q tenant %q, want %q %q %q",
					tc.tenant, tc.language, s.Stage, s.Isolation, s.OCIRuntime, s.Tenant, tc.mode, tc.runtime, tc.tenant)
			}
		}
		// The fake reports no mode: the result falls back to the one asked for.
		if res.Isolation != tc.mode {
			t.Errorf("%s/%s: result isolation %q, want %q", tc.tenant, tc.language, res.Isolation, tc.mode)
		}
	}
}

// reportingSandbox reports a mode of its own, as a sandbox that fell back
// to another would.
type reportingSandbox struct {
	fakeSandbox
	mode        string
	failCompile bool
}

func (r *reportingSandbox) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Outcome, error) {
	out, err := r.fakeSandbox.Run(ctx, spec)
	out.Isolation = r.mode
	if r.failCompile && spec.Stage == "compile" {
		out.ExitCode = 1
	}
	return out, err
}

func TestIsolationReportedBySandbox(t *testing.T) {
	r := New(&reportingSandbox{mode: sandbox.IsolationContainer})
	req := contracts.ExecutionRequest{Language: "c++", Files: []contracts.File{{Name: "main.cpp"}}, Stdin: "1"}
	res, err := r.Execute(context.Background(), "id", "default", req, cpp(), limits())
	if err != nil {
		t.Fatal(err)
	}
	if res.Isolation != sandbox.IsolationContainer {
		t.Errorf("isolation %q, want the sandbox's %q", res.Isolation, sandbox.IsolationContainer)
	}
	// A compile error still says where the compiler ran.
	r = New(&reportingSandbox{mode: sandbox.IsolationGVisor, failCompile: true})
	r.Isolation.Default = sandbox.IsolationGVisor
	res, err = r.Execute(context.Background(), "id", "default", req, cpp(), limits())
	if err != nil || res.Verdict != contracts.VerdictCompileError || res.Isolation != sandbox.IsolationGVisor {
		t.Errorf("verdict %s isolation %q (%v), want compile_error in gvisor", res.Verdict, res.Isolation, err)
	}
}

func TestIsolationRuntime(t *testing.T) {
	i := Isolation{GVisorRuntime: "runsc-debug", Runtimes: map[string]string{"java": "runsc", "go": "crun"}}
	for _, tc := range []struct{ mode, lang, want string }{
		{sandbox.IsolationGVisor, "java", "runsc"},       // the language's gVisor runtime
		{sandbox.IsolationGVisor, "go", "runsc-debug"},   // its runtime is not gVisor
		{sandbox.IsolationGVisor, "bash", "runsc-debug"}, // none of its own
		{sandbox.IsolationContainer, "java", ""},         // its runtime is gVisor
		{sandbox.IsolationContainer, "go", "crun"},       // its own
		{sandbox.IsolationNamespace, "go", ""},           // cells: the runner's
		{sandbox.IsolationNamespace, "java", ""},         // cells: the runner's
	} {
		if got := i.OCIRuntime(tc.mode, tc.lang); got != tc.want {
			t.Errorf("Runtime(%s, %s) = %q, want %q", tc.mode, tc.lang, got, tc.want)
		}
	}
	if got := (Isolation{}).OCIRuntime(sandbox.IsolationGVisor, "bash"); got != "runsc" {
		t.Errorf("default gVisor runtime %q, want runsc", got)
	}
	if got := (Isolation{}).Mode("t", "bash"); got != sandbox.IsolationNamespace {
		t.Errorf("default mode %q, want namespace", got)
	}
}
