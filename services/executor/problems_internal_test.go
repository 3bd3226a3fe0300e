package executor

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/services/executor/internal/catalog"
	"github.com/airlockrun/airlock/services/executor/internal/runner"
)

// fakeProblems serves packages by "tenant/id/version"; a missing one is
// client.ErrProblemNotFound, one in failing a store fault.
type fakeProblems struct {
	packages map[string]*contracts.ProblemPackage
	failing  map[string]bool
}

func (f *fakeProblems) Problem(_ context.Context, tenant, id, version string) (*contracts.ProblemPackage, error) {
	key := tenant + "/" + id + "/" + version
	if f.failing[key] {
		return nil, errors.New("the store did not answer")
	}
	if p := f.packages[key]; p != nil {
		return p, nil
	}
	return nil, client.ErrProblemNotFound
}

// requestRunner records the requests it runs.
type requestRunner struct {
	mu   sync.Mutex
	reqs []contracts.ExecutionRequest
}

func (r *requestRunner) Execute(_ context.Context, _, _ string, req contracts.ExecutionRequest, _ *catalog.Language, limits contracts.LimitSet) (runner.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	return runner.Result{Verdict: contracts.VerdictAccepted}, nil
}

// TestJobNamesAProblem: a job that names a problem runs with the package's
// tests, checker and default limits (its own limits win); a version no
// longer stored ends internal_error without a run; a store that does not
// answer hands the job back for another attempt.
func TestJobNamesAProblem(t *testing.T) {
	answer := "2"
	pkg := &contracts.ProblemPackage{Compare: contracts.CompareTokens, Limits: contracts.Limits{CPUTimeMS: 900, MemoryMB: 64},
		Tests:   []contracts.TestCase{{Stdin: "1", ExpectedOutput: &answer}, {Stdin: "5"}},
		Checker: &contracts.JudgeProgram{Language: "bash", Files: []contracts.File{{Name: "check.sh"}}}}
	version := strings.Repeat("a", 64)
	problems := &fakeProblems{packages: map[string]*contracts.ProblemPackage{"acme/p/" + version: pkg},
		failing: map[string]bool{"acme/p/" + strings.Repeat("c", 64): true}}
	bus := &fakeBus{}
	l := newTestLifecycle(t, 3, &fakeRunner{run: accepted}, bus)
	run := &requestRunner{}
	l.runner, l.problems = run, problems
	job := func(v string) (string, []byte) {
		id := contracts.NewID()
		data, _ := json.Marshal(contracts.Job{ID: id, Tenant: "acme", CreatedAt: time.Now().UTC(), Request: contracts.ExecutionRequest{
			Language: "bash", Files: []contracts.File{{Name: "main.sh"}}, Problem: "p", ProblemVersion: v, Limits: contracts.Limits{MemoryMB: 128}}})
		return id, data
	}

	id, data := job(version)
	if got := deliver(context.Background(), l, data, 1).ended(t); got != "ack" {
		t.Fatalf("a job of a stored package ended %q", got)
	}
	if len(run.reqs) != 1 {
		t.Fatalf("%d runs, want 1", len(run.reqs))
	}
	got := run.reqs[0]
	if len(got.Tests) != 2 || got.Checker == nil || got.Compare != contracts.CompareTokens || got.Limits.CPUTimeMS != 900 || got.Limits.MemoryMB != 128 {
		t.Errorf("the request run: %+v", got)
	}
	if res := bus.of(id, contracts.StatusCompleted); len(res) != 1 || res[0].Verdict != contracts.VerdictAccepted {
		t.Errorf("stored %+v", res)
	}

	id, data = job(strings.Repeat("b", 64))
	deliver(context.Background(), l, data, 1)
	if res := bus.of(id, contracts.StatusCompleted); len(res) != 1 || res[0].Verdict != contracts.VerdictInternalError ||
		!strings.Contains(res[0].Message, "is no longer stored") || len(run.reqs) != 1 {
		t.Errorf("a version no longer stored: %+v after %d runs", res, len(run.reqs))
	}

	_, data = job(strings.Repeat("c", 64))
	if got := deliver(context.Background(), l, data, 1).ended(t); got != "nak-delay" || len(run.reqs) != 1 {
		t.Errorf("a store fault on the first attempt ended %q, want nak-delay", got)
	}
}
