package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
	"github.com/airlockrun/airlock/services/gateway"
)

// startOn runs another gateway against an existing NATS server (start makes
// a fresh server per gateway).
func startOn(t *testing.T, n *testkit.NATS, mutate func(*gateway.Config)) *env {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := gateway.DefaultConfig()
	cfg.Listener = ln
	cfg.ExecutorCacheTTL = -1
	ready := make(chan string, 1)
	cfg.OnReady = func(addr string) { ready <- addr }
	if mutate != nil {
		mutate(&cfg)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gateway.Run(ctx, cfg, n.Conn, log) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("gateway.Run: %v", err)
	case <-time.After(testkit.Patience):
		cancel()
		t.Fatal("gateway did not become ready")
	}
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(testkit.Patience):
				runErr = errors.New("gateway.Run did not return")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("gateway.Run: %v", err)
		}
	})
	e := &env{t: t, base: "http://" + addr, nats: n, topo: cfg.Topology, stop: stop}
	if e.executions, err = n.JS.KeyValue(ctx, contracts.ExecutionsBucket); err != nil {
		t.Fatal(err)
	}
	if e.executors, err = n.JS.KeyValue(ctx, contracts.ExecutorsBucket); err != nil {
		t.Fatal(err)
	}
	return e
}

// evalExecutor takes jobs off the JOBS stream one at a time (each after
// delay) and stores a completed execution whose verdict is the content of
// the job's last file: "accepted", "wrong_answer", "runtime_error", ...
type evalExecutor struct {
	mu   sync.Mutex
	jobs map[string]int // deliveries per execution id
	reqs map[string]contracts.Job
}

func (e *env) runEvalExecutor(delay time.Duration) *evalExecutor {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	// The executors' shared consumer, one job in flight at a time (set as
	// its owner would).
	one := e.topo
	one.MaxInFlight = 1
	cons, err := contracts.EnsureConsumer(ctx, e.nats.JS, contracts.JobsStream, one.ExecutorConsumerConfig())
	if err != nil {
		e.t.Fatal(err)
	}
	f := &evalExecutor{jobs: map[string]int{}, reqs: map[string]contracts.Job{}}
	go func() {
		for ctx.Err() == nil {
			batch, err := cons.Fetch(1, jetstream.FetchMaxWait(200*time.Millisecond))
			if err != nil {
				continue
			}
			for msg := range batch.Messages() {
				var job contracts.Job
				if err := json.Unmarshal(msg.Data(), &job); err != nil {
					e.t.Errorf("fake executor: %v", err)
					continue
				}
				time.Sleep(delay)
				f.mu.Lock()
				f.jobs[job.ID]++
				f.reqs[job.ID] = job
				f.mu.Unlock()
				exec := fakeResult(job)
				data, _ := json.Marshal(exec)
				if _, err := e.executions.Put(context.Background(), job.ID, data); err != nil && ctx.Err() == nil {
					e.t.Errorf("fake executor: %v", err)
				}
				_ = msg.Ack()
			}
		}
	}()
	return f
}

func fakeResult(job contracts.Job) contracts.Execution {
	files := job.Request.Files
	verdict := contracts.Verdict(strings.TrimSpace(files[len(files)-1].Content))
	now := time.Now().UTC()
	started := now.Add(-40 * time.Millisecond)
	exec := contracts.Execution{ID: job.ID, Tenant: job.Tenant, Status: contracts.StatusCompleted,
		Language: job.Request.Language, Version: job.Request.Version, Verdict: verdict,
		CreatedAt: job.CreatedAt, StartedAt: &started, FinishedAt: &now}
	for i, tc := range job.Request.Tests {
		v := contracts.VerdictAccepted
		if verdict != contracts.VerdictAccepted && exec.FailedTest == nil {
			v = verdict
			exec.FailedTest = &i
		}
		exec.Tests = append(exec.Tests, contracts.TestResult{Name: tc.Name,
			Stage: contracts.Stage{CPUTimeMS: 10, WallTimeMS: 12, MemoryKB: 1000 + int64(i), Verdict: v}})
	}
	return exec
}

func (f *evalExecutor) deliveries() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.jobs {
		out[k] = v
	}
	return out
}

func (f *evalExecutor) job(id string) (contracts.Job, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.reqs[id]
	return j, ok
}

// evalBody builds an evaluation of candidates whose (last) file content is
// their verdict in the fake executor.
func evalBody(verdicts []string, problems int, k string) string {
	var cands []string
	for i, v := range verdicts {
		prob := fmt.Sprintf("p%d", i%max(problems, 1))
		cands = append(cands, fmt.Sprintf(`{"id":"c%d","problem":%q,"files":[{"name":"solution.py","content":%q}]}`, i, prob, v))
	}
	var probs []string
	for p := range problems {
		probs = append(probs, fmt.Sprintf(`{"id":"p%d","harness":{"files":[{"name":"main.py","content":"import solution  # p%d"}],"tests":[{"name":"t1","stdin":"1"},{"name":"t2","stdin":"2","expected_output":"4"}],"limits":{"cpu_time_ms":1000}}}`, p, p))
	}
	body := `{"language":"py","candidates":[` + strings.Join(cands, ",") + `]`
	if problems > 0 {
		body += `,"problems":[` + strings.Join(probs, ",") + `]`
	}
	if k != "" {
		body += `,"k":` + k
	}
	return body + `}`
}

// waitQueueFull waits until the gateway submitting evaluation id has found
// the job queue full (it then retries until there is room), and returns the
// evaluation as it was then, without its candidates.
func (e *env) waitQueueFull(id string) contracts.Evaluation {
	e.t.Helper()
	var ev contracts.Evaluation
	if !testkit.Eventually(testkit.Patience, func() bool {
		ev = decode[contracts.Evaluation](e.t, e.do(call{path: "/v1/evaluations/" + id + "?candidates=false"}))
		return ev.Progress.QueueFullRetries > 0
	}) {
		e.t.Fatalf("the job queue never refused a candidate of %s: %+v", id, ev.Progress)
	}
	return ev
}

func (e *env) waitEvaluation(id string, timeout time.Duration) contracts.Evaluation {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := e.do(call{path: "/v1/evaluations/" + id + "?wait=true&timeout=5s"})
		if r.status != 200 && r.status != 202 {
			e.t.Fatalf("GET evaluation: %d %s", r.status, r.body)
		}
		ev := decode[contracts.Evaluation](e.t, r)
		if r.status == 200 && ev.Status != contracts.EvaluationCompleted {
			e.t.Fatalf("200 with status %q", ev.Status)
		}
		if ev.Status == contracts.EvaluationCompleted {
			if r.status != 200 {
				e.t.Errorf("completed evaluation answered %d", r.status)
			}
			return ev
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("evaluation not completed within %v: %s", timeout, r.body)
		}
	}
}

func TestEvaluation(t *testing.T) {
	e := start(t, nil)
	e.heartbeat("exec-1", "", testRuntimes())
	verdicts := []string{"accepted", "wrong_answer", "accepted", "runtime_error", "accepted", "accepted",
		"time_limit_exceeded", "accepted", "memory_limit_exceeded"}
	body := evalBody(verdicts, 2, "[1,2,5,1]")
	key := map[string][]string{"Idempotency-Key": {"eval-run-1"}}

	r := e.submit("/v1/evaluations", body, key)
	if r.status != 202 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	acc := decode[contracts.EvaluationAccepted](t, r)
	if acc.ID != contracts.EvaluationIDFromKey(contracts.DefaultTenant, "eval-run-1") || acc.Total != len(verdicts) ||
		len(acc.Candidates) != len(verdicts) || acc.Status != contracts.EvaluationSubmitting {
		t.Fatalf("accepted %s", r.body)
	}
	if loc := r.header.Get("Location"); loc != "/v1/evaluations/"+acc.ID {
		t.Errorf("Location %q", loc)
	}
	for i, c := range acc.Candidates {
		if c.Index != i || c.ID != fmt.Sprintf("c%d", i) || c.Problem != fmt.Sprintf("p%d", i%2) ||
			c.ExecutionID != contracts.EvaluationExecutionID(contracts.DefaultTenant, acc.ID, i) {
			t.Errorf("candidate %d: %+v", i, c)
		}
	}
	// A retried submission names the same evaluation and queues nothing again.
	r = e.submit("/v1/evaluations", body, key)
	if again := decode[contracts.EvaluationAccepted](t, r); r.status != 202 || again.ID != acc.ID ||
		len(again.Candidates) != len(verdicts) || again.Candidates[3].ExecutionID != acc.Candidates[3].ExecutionID {
		t.Fatalf("repeat: %d %s", r.status, r.body)
	}
	// The same key with another body is refused, not answered with the
	// first evaluation.
	other := evalBody(verdicts[:3], 2, "[1,2]")
	wantError(t, e.submit("/v1/evaluations", other, key), 422, contracts.CodeIdempotencyKeyReused, "Idempotency-Key", "")

	f := e.runEvalExecutor(0)
	ev := e.waitEvaluation(acc.ID, time.Minute)

	// Each candidate ran exactly once, as a judge-mode execution with the
	// harness's files first.
	got := f.deliveries()
	if len(got) != len(verdicts) {
		t.Errorf("%d executions ran, want %d: %v", len(got), len(verdicts), got)
	}
	for i, c := range acc.Candidates {
		if got[c.ExecutionID] != 1 {
			t.Errorf("candidate %d ran %d times", i, got[c.ExecutionID])
		}
		job, ok := f.job(c.ExecutionID)
		if !ok {
			continue
		}
		req := job.Request
		if req.Language != "python" || req.Version != "3.12.3" || len(req.Files) != 2 || req.Files[0].Name != "main.py" ||
			req.Files[0].Content != fmt.Sprintf("import solution  # p%d", i%2) || req.Files[1].Name != "solution.py" ||
			len(req.Tests) != 2 || req.Tests[1].ExpectedOutput == nil || *req.Tests[1].ExpectedOutput != "4" ||
			req.Limits.CPUTimeMS != 1000 || job.Tenant != contracts.DefaultTenant {
			t.Errorf("candidate %d: job %+v", i, job)
		}
	}

	if ev.ID != acc.ID || ev.Language != "python" || ev.Version != "3.12.3" || ev.FinishedAt == nil {
		t.Errorf("evaluation %+v", ev)
	}
	p := ev.Progress
	if p.Total != 9 || p.Submitted != 9 || p.Completed != 9 || p.Pending+p.Queued+p.Running+p.Rejected != 0 {
		t.Errorf("progress %+v", p)
	}
	s := ev.Summary
	wantBy := map[contracts.Verdict]int{"accepted": 5, "wrong_answer": 1, "runtime_error": 1, "time_limit_exceeded": 1, "memory_limit_exceeded": 1}
	if s.Total != 9 || s.Completed != 9 || s.Passed != 5 || s.Failed != 4 || fmt.Sprint(s.ByVerdict) != fmt.Sprint(wantBy) ||
		math.Abs(s.PassRate-5.0/9) > 1e-9 || s.CPUTimeMS != 9*20 || s.WallTimeMS != 9*24 {
		t.Errorf("summary %+v", s)
	}
	// p0: candidates 0,2,4,6,8 (accepted, accepted, accepted, tle, mle): n=5 c=3;
	// p1: 1,3,5,7 (wa, re, accepted, accepted): n=4 c=2.
	if fmt.Sprint(ev.PassAtK.Problems) != "[{p0 5 3} {p1 4 2}]" {
		t.Errorf("pass@k inputs %+v", ev.PassAtK.Problems)
	}
	want := map[int][2]float64{1: {(3.0/5 + 2.0/4) / 2, 2}, 2: {((1 - 1.0/10) + (1 - 1.0/6)) / 2, 2}, 5: {1, 1}}
	if len(ev.PassAtK.Estimates) != 3 {
		t.Fatalf("estimates %+v", ev.PassAtK.Estimates)
	}
	for _, est := range ev.PassAtK.Estimates {
		w := want[est.K]
		if est.Value == nil || math.Abs(*est.Value-w[0]) > 1e-9 || est.Problems != int(w[1]) {
			t.Errorf("pass@%d = %+v (value %v), want %v over %v problems", est.K, est, deref(est.Value), w[0], w[1])
		}
	}
	for i, c := range ev.Candidates {
		if c.Index != i || c.ExecutionID != acc.Candidates[i].ExecutionID || c.Status != "completed" ||
			string(c.Verdict) != verdicts[i] || c.Passed != (verdicts[i] == "accepted") || c.TestsTotal != 2 ||
			c.CPUTimeMS != 20 || c.MemoryKB != 1001 || c.DurationMS != 40 {
			t.Errorf("candidate %d: %+v", i, c)
		}
		if verdicts[i] != "accepted" && (c.FailedTest == nil || *c.FailedTest != 0 || c.FailedTestName != "t1" || c.TestsPassed != 1) {
			t.Errorf("candidate %d: failed test %+v", i, c)
		}
	}
	// ?candidates=false keeps only the aggregate.
	r = e.do(call{path: "/v1/evaluations/" + acc.ID + "?candidates=false"})
	if brief := decode[contracts.Evaluation](t, r); r.status != 200 || brief.Candidates != nil || brief.Summary.Passed != 5 {
		t.Errorf("candidates=false: %d %s", r.status, r.body)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestEvaluationErrors(t *testing.T) {
	e := start(t, nil)
	ok := `"candidates":[{"files":[{"name":"main.py","content":"print(1)"}]}]`
	// No executor yet: 503.
	wantError(t, e.submit("/v1/evaluations", `{"language":"python",`+ok+`}`, nil), 503, contracts.CodeNoExecutor, "", "")
	e.heartbeat("exec-1", "", testRuntimes())

	tests := []struct {
		name, body, code, field, contains string
		status                            int
	}{
		{"no candidates", `{"language":"python","candidates":[]}`, contracts.CodeInvalidRequest, "candidates", "1 to 10000", 422},
		{"unknown field", `{"language":"python",` + ok + `,"extra":1}`, contracts.CodeInvalidJSON, "extra", "unknown", 400},
		{"not an object", `[]`, contracts.CodeInvalidJSON, "", "object", 400},
		{"unknown language", `{"language":"cobol",` + ok + `}`, contracts.CodeUnknownLanguage, "language", "cobol", 422},
		{"bad k", `{"language":"python",` + ok + `,"k":[1,0]}`, contracts.CodeInvalidRequest, "k[1]", "k must be", 422},
		{"bad candidate file", `{"language":"python","candidates":[{"files":[{"name":"main.py","content":""}]},{"files":[{"name":"../x","content":""}]}]}`,
			contracts.CodeInvalidRequest, "candidates[1].files[0].name", "relative path", 422},
		{"no candidate files, no harness", `{"language":"python","candidates":[{"files":[]}]}`, contracts.CodeInvalidRequest, "candidates[0].files", "", 422},
		{"harness limit", `{"language":"python","harness":{"limits":{"cpu_time_ms":999999}},` + ok + `}`,
			contracts.CodeLimitTooHigh, "harness.limits.cpu_time_ms", "maximum", 422},
		{"harness file clash", `{"language":"python","harness":{"files":[{"name":"main.py","content":""}]},` + ok + `}`,
			contracts.CodeInvalidRequest, "candidates[0].files[0].name", "duplicate", 422},
		{"bad harness file", `{"language":"python","harness":{"files":[{"name":"x","content":"!","encoding":"base64"}]},` + ok + `}`,
			contracts.CodeInvalidRequest, "harness.files[0].content", "", 422},
		{"bad test", `{"language":"python","harness":{"tests":[{"name":"` + strings.Repeat("n", 200) + `"}]},` + ok + `}`,
			contracts.CodeInvalidRequest, "harness.tests[0].name", "", 422},
		{"problem not listed", `{"language":"python","problems":[{"id":"a","harness":{}}],"candidates":[{"problem":"b","files":[{"name":"main.py","content":""}]}]}`,
			contracts.CodeInvalidRequest, "candidates[0].problem", "not in problems", 422},
		{"problems and harness", `{"language":"python","harness":{},"problems":[{"id":"a","harness":{}}],` + ok + `}`,
			contracts.CodeInvalidRequest, "harness", "each problem", 422},
		{"duplicate problem", `{"language":"python","problems":[{"id":"a","harness":{}},{"id":"a","harness":{}}],` + ok + `}`,
			contracts.CodeInvalidRequest, "problems[1].id", "duplicate", 422},
		{"problem harness limit", `{"language":"python","problems":[{"id":"a","harness":{}},{"id":"b","harness":{"limits":{"memory_mb":99999}}}],"candidates":[{"problem":"b","files":[{"name":"main.py","content":""}]}]}`,
			contracts.CodeLimitTooHigh, "problems[1].harness.limits.memory_mb", "", 422},
		{"long label", `{"language":"python","candidates":[{"id":"` + strings.Repeat("x", 129) + `","files":[{"name":"main.py","content":""}]}]}`,
			contracts.CodeInvalidRequest, "candidates[0].id", "128", 422},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.submit("/v1/evaluations", tc.body, nil), tc.status, tc.code, tc.field, tc.contains)
		})
	}
	wantError(t, e.do(call{method: "POST", path: "/v1/evaluations", body: "{}", contentType: "text/plain"}), 415, contracts.CodeUnsupportedMediaType, "", "")
	wantError(t, e.submit("/v1/evaluations", `{"language":"python",`+ok+`}`, map[string][]string{"Idempotency-Key": {""}}), 400, contracts.CodeInvalidHeader, "Idempotency-Key", "")
	wantError(t, e.do(call{path: "/v1/evaluations/" + contracts.NewID()}), 404, contracts.CodeNotFound, "id", "no evaluation")
	wantError(t, e.do(call{path: "/v1/evaluations/nope"}), 404, contracts.CodeNotFound, "id", "")
	wantError(t, e.do(call{method: "GET", path: "/v1/evaluations"}), 405, contracts.CodeMethodNotAllowed, "", "")
	wantError(t, e.do(call{method: "DELETE", path: "/v1/evaluations/" + contracts.NewID()}), 405, contracts.CodeMethodNotAllowed, "", "")

	r := e.submit("/v1/evaluations", `{"language":"python",`+ok+`}`, nil)
	if r.status != 202 {
		t.Fatalf("valid evaluation: %d %s", r.status, r.body)
	}
	id := decode[contracts.EvaluationAccepted](t, r).ID
	wantError(t, e.do(call{path: "/v1/evaluations/" + id + "?wait=maybe"}), 400, contracts.CodeInvalidQuery, "wait", "")
	wantError(t, e.do(call{path: "/v1/evaluations/" + id + "?candidates=maybe"}), 400, contracts.CodeInvalidQuery, "candidates", "")
	// Without an executor the candidate stays queued: wait times out with 202.
	begin := time.Now()
	r = e.do(call{path: "/v1/evaluations/" + id + "?wait=true&timeout=1s"})
	ev := decode[contracts.Evaluation](t, r)
	if r.status != 202 || ev.Status != contracts.EvaluationRunning || ev.Progress.Queued != 1 || ev.Candidates[0].Status != "queued" ||
		ev.PassAtK.Estimates != nil || time.Since(begin) < time.Second {
		t.Errorf("wait without executor: %d %s", r.status, r.body)
	}
}

func TestEvaluationTenants(t *testing.T) {
	e := start(t, func(c *gateway.Config) {
		c.APIKeys = []gateway.APIKey{{Tenant: "alice", Key: "key-alice"}, {Tenant: "bob", Key: "key-bob"}}
	})
	e.heartbeat("exec-1", "", testRuntimes())
	alice := map[string][]string{"Authorization": {"Bearer key-alice"}, "Idempotency-Key": {"same-key"}}
	bob := map[string][]string{"Authorization": {"Bearer key-bob"}, "Idempotency-Key": {"same-key"}}
	body := evalBody([]string{"accepted", "wrong_answer"}, 0, "")
	ra := e.submit("/v1/evaluations", body, alice)
	rb := e.submit("/v1/evaluations", body, bob)
	if ra.status != 202 || rb.status != 202 {
		t.Fatalf("POST: %d %s / %d %s", ra.status, ra.body, rb.status, rb.body)
	}
	a, b := decode[contracts.EvaluationAccepted](t, ra), decode[contracts.EvaluationAccepted](t, rb)
	if a.ID == b.ID || a.Candidates[0].ExecutionID == b.Candidates[0].ExecutionID {
		t.Fatalf("two tenants share ids: %s / %s", ra.body, rb.body)
	}
	f := e.runEvalExecutor(0)
	got := decode[contracts.Evaluation](t, e.do(call{path: "/v1/evaluations/" + a.ID + "?wait=true&timeout=30s",
		headers: map[string][]string{"Authorization": {"Bearer key-alice"}}}))
	if got.Status != contracts.EvaluationCompleted || got.Summary.Passed != 1 {
		t.Errorf("alice's evaluation: %+v", got)
	}
	if job, _ := f.job(a.Candidates[0].ExecutionID); job.Tenant != "alice" {
		t.Errorf("alice's job has tenant %q", job.Tenant)
	}
	// Bob cannot see Alice's evaluation, nor its executions.
	wantError(t, e.do(call{path: "/v1/evaluations/" + a.ID, headers: map[string][]string{"Authorization": {"Bearer key-bob"}}}), 404, contracts.CodeNotFound, "id", "")
	wantError(t, e.do(call{path: "/v1/evaluations/" + a.ID + "/events", headers: map[string][]string{"Authorization": {"Bearer key-bob"}}}), 404, contracts.CodeNotFound, "id", "")
	wantError(t, e.do(call{path: "/v1/executions/" + a.Candidates[0].ExecutionID, headers: map[string][]string{"Authorization": {"Bearer key-bob"}}}), 404, contracts.CodeNotFound, "id", "")
}

// TestEvaluationQueueBound: an evaluation larger than the queue is fed in
// as the queue drains, retrying 429s, and every candidate runs once.
func TestEvaluationQueueBound(t *testing.T) {
	e := start(t, func(c *gateway.Config) { c.Topology.QueueMax = 4 })
	e.heartbeat("exec-1", "", testRuntimes())
	verdicts := make([]string, 40)
	for i := range verdicts {
		verdicts[i] = []string{"accepted", "runtime_error", "accepted", "time_limit_exceeded"}[i%4]
	}
	r := e.submit("/v1/evaluations", evalBody(verdicts, 0, "[1,10]"), nil)
	if r.status != 202 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	acc := decode[contracts.EvaluationAccepted](t, r)
	// Nothing runs yet: the gateway fills the queue and keeps retrying.
	ev := e.waitQueueFull(acc.ID)
	if ev.Status != contracts.EvaluationSubmitting || ev.Progress.Submitted > 4 || ev.Progress.Pending < 36 {
		t.Errorf("while the queue is full: %+v", ev.Progress)
	}
	f := e.runEvalExecutor(5 * time.Millisecond)
	ev = e.waitEvaluation(acc.ID, 2*time.Minute)
	if ev.Summary.Passed != 20 || ev.Summary.ByVerdict["runtime_error"] != 10 || ev.Summary.ByVerdict["time_limit_exceeded"] != 10 ||
		ev.Progress.Completed != 40 || ev.Progress.QueueFullRetries == 0 {
		t.Errorf("summary %+v progress %+v", ev.Summary, ev.Progress)
	}
	// One problem, n=40, c=20.
	if len(ev.PassAtK.Problems) != 1 || ev.PassAtK.Problems[0] != (contracts.ProblemCount{Problem: "p0", N: 40, C: 20}) {
		t.Errorf("pass@k inputs %+v", ev.PassAtK.Problems)
	}
	if est := ev.PassAtK.Estimates; len(est) != 2 || math.Abs(*est[0].Value-0.5) > 1e-9 || *est[1].Value < 0.999 {
		t.Errorf("estimates %+v", est)
	}
	for i, c := range acc.Candidates {
		if n := f.deliveries()[c.ExecutionID]; n != 1 {
			t.Errorf("candidate %d ran %d times", i, n)
		}
	}
}

// TestEvaluationGatewayRestart: a gateway stops while the evaluation is
// half-submitted (the queue is full); another gateway takes it over and
// nothing is lost or queued twice.
func TestEvaluationGatewayRestart(t *testing.T) {
	first := start(t, func(c *gateway.Config) { c.Topology.QueueMax = 3 })
	first.heartbeat("exec-1", "", testRuntimes())
	verdicts := make([]string, 15)
	for i := range verdicts {
		verdicts[i] = []string{"accepted", "wrong_answer", "accepted"}[i%3]
	}
	r := first.submit("/v1/evaluations", evalBody(verdicts, 3, ""), nil)
	if r.status != 202 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	acc := decode[contracts.EvaluationAccepted](t, r)
	first.waitQueueFull(acc.ID)
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}

	second := startOn(t, first.nats, func(c *gateway.Config) { c.Topology.QueueMax = 3 })
	f := second.runEvalExecutor(10 * time.Millisecond)
	ev := second.waitEvaluation(acc.ID, 2*time.Minute)
	if ev.Summary.Passed != 10 || ev.Summary.Failed != 5 || ev.Progress.Completed != 15 {
		t.Errorf("after the restart: summary %+v progress %+v", ev.Summary, ev.Progress)
	}
	if fmt.Sprint(ev.PassAtK.Problems) != "[{p0 5 5} {p1 5 0} {p2 5 5}]" {
		t.Errorf("pass@k inputs %+v", ev.PassAtK.Problems)
	}
	got := f.deliveries()
	for i, c := range acc.Candidates {
		if got[c.ExecutionID] != 1 {
			t.Errorf("candidate %d ran %d times", i, got[c.ExecutionID])
		}
	}
	if len(got) != 15 {
		t.Errorf("%d executions ran, want 15", len(got))
	}
}

func TestPassAtK(t *testing.T) {
	binom := func(n, k int) float64 {
		if k < 0 || k > n {
			return 0
		}
		r := 1.0
		for i := range k {
			r = r * float64(n-i) / float64(i+1)
		}
		return r
	}
	for n := 1; n <= 30; n++ {
		for c := 0; c <= n; c++ {
			for k := 1; k <= n; k++ {
				want := 1 - binom(n-c, k)/binom(n, k)
				if got := contracts.PassAtK(n, c, k); math.Abs(got-want) > 1e-9 {
					t.Fatalf("PassAtK(%d, %d, %d) = %v, want %v", n, c, k, got, want)
				}
			}
		}
	}
	if !math.IsNaN(contracts.PassAtK(3, 1, 4)) || !math.IsNaN(contracts.PassAtK(3, 1, 0)) {
		t.Error("pass@k with n < k or k < 1 must be NaN")
	}
}

// TestEvaluationStaleOwner: the gateway that holds an evaluation's
// submission stops refreshing it (as if it had crashed, with its last saved
// progress behind what it really queued); a gateway takes it over and
// nothing is queued twice.
func TestEvaluationStaleOwner(t *testing.T) {
	e := start(t, func(c *gateway.Config) { c.Topology.QueueMax = 3 })
	e.heartbeat("exec-1", "", testRuntimes())
	verdicts := make([]string, 12)
	for i := range verdicts {
		verdicts[i] = []string{"accepted", "runtime_error"}[i%2]
	}
	r := e.submit("/v1/evaluations", evalBody(verdicts, 0, ""), nil)
	if r.status != 202 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	acc := decode[contracts.EvaluationAccepted](t, r)
	e.waitQueueFull(acc.ID) // 3 queued, the rest waiting for room
	ctx := context.Background()
	kv, err := e.nats.JS.KeyValue(ctx, contracts.EvaluationsBucket)
	if err != nil {
		t.Fatal(err)
	}
	// The owner saves its progress every second: an update it overtakes
	// (a conflict) is tried again.
	var lastErr error
	if !testkit.Eventually(testkit.Patience, func() bool {
		entry, err := kv.Get(ctx, acc.ID+".p")
		if err != nil {
			t.Fatal(err)
		}
		var p map[string]any
		if err := json.Unmarshal(entry.Value(), &p); err != nil {
			t.Fatal(err)
		}
		if p["state"] != "submitting" {
			t.Fatalf("progress %s", entry.Value())
		}
		p["owner"], p["heartbeat"], p["submitted"] = "a-gateway-that-died", time.Now().Add(-time.Hour), 0
		data, _ := json.Marshal(p)
		_, lastErr = kv.Update(ctx, acc.ID+".p", data, entry.Revision())
		return lastErr == nil
	}) {
		t.Fatal(lastErr)
	}
	f := e.runEvalExecutor(10 * time.Millisecond)
	ev := e.waitEvaluation(acc.ID, 2*time.Minute)
	if ev.Summary.Passed != 6 || ev.Summary.ByVerdict["runtime_error"] != 6 {
		t.Errorf("summary %+v", ev.Summary)
	}
	got := f.deliveries()
	for i, c := range acc.Candidates {
		if got[c.ExecutionID] != 1 {
			t.Errorf("candidate %d ran %d times", i, got[c.ExecutionID])
		}
	}
	if len(got) != 12 {
		t.Errorf("%d executions ran, want 12", len(got))
	}
}
