// Package contracts holds Airlock's wire types: the HTTP and NATS JSON shapes,
// the subjects, stream and bucket names, the error codes and the validation
// rules. It has no business logic; every service depends on it and services
// never import each other.
package contracts

import (
	"encoding/json"
	"time"
)

// ExecutionRequest is what a client submits: source files, input and limits.
// The same JSON travels over HTTP (POST /v1/executions) and inside a Job on NATS.
type ExecutionRequest struct {
	// Language is a runtime name or alias from GET /v1/runtimes.
	Language string `json:"language" validate:"required,max=64,token"`
	// Version optionally pins the runtime's version; empty means any.
	Version string `json:"version,omitempty" validate:"max=64"`
	// Files are written into the sandbox's work directory; the first is the entry file.
	Files []File `json:"files" validate:"required,min=1,dive"`
	// Stdin is given to the program's standard input.
	Stdin string `json:"stdin,omitempty"`
	// Args are appended to the program's command line (never through a shell).
	Args []string `json:"args,omitempty" validate:"max=128,dive,max=4096,nonul"`
	// Limits override the language's defaults; zero means "the default".
	Limits Limits `json:"limits"`

	// ExpectedOutput, when set on a request without Tests, is compared with
	// the run's stdout: a mismatch is wrong_answer.
	ExpectedOutput *string `json:"expected_output,omitempty"`
	// Tests turn the request into judge mode: the program is compiled once,
	// then run once per test, each in a fresh sandbox. Each test reads its
	// own stdin (the request's Stdin is not used); a test without args (absent
	// or empty) gets the request's Args.
	Tests []TestCase `json:"tests,omitempty" validate:"omitempty,dive"`
	// StopOnFirstFailure skips the tests after the first one that fails.
	StopOnFirstFailure bool `json:"stop_on_first_failure,omitempty"`
	// CallbackURL, when set, receives the finished Execution as a signed POST
	// (see docs/api.md "Callbacks"); http or https only.
	CallbackURL string `json:"callback_url,omitempty" validate:"omitempty,max=2048,url,startswith=http"`
	// Compare is how outputs are compared: exact, trim (default), tokens or float.
	Compare CompareMode `json:"compare,omitempty" validate:"omitempty,oneof=exact trim tokens float"`
	// AbsTolerance and RelTolerance apply to compare "float"; when both are
	// zero, 1e-6 each is used.
	AbsTolerance float64 `json:"abs_tolerance,omitempty" validate:"gte=0"`
	RelTolerance float64 `json:"rel_tolerance,omitempty" validate:"gte=0"`
	// Checker, when set, judges each test whose run ended normally instead
	// of Compare (docs/judge.md "Checkers"). It needs Tests.
	Checker *JudgeProgram `json:"checker,omitempty"`
	// Interactor, when set, runs beside the program on each test, the two
	// talking through their stdin and stdout (docs/judge.md
	// "Interactors"). It needs Tests.
	Interactor *JudgeProgram `json:"interactor,omitempty"`
	// OutputFiles names files the program writes in /work that come back
	// on each run stage as Stage.Files.
	OutputFiles []string `json:"output_files,omitempty" validate:"max=16,dive,filename"`
	// Problem names a stored problem package of the tenant (PUT
	// /v1/problems/{id}): the request then takes its tests, checker,
	// interactor, compare mode and default limits from it, and sets none
	// of them itself.
	Problem string `json:"problem,omitempty" validate:"omitempty,problemid"`
	// ProblemVersion pins the package's version (ProblemManifest.Version).
	// Submit sets it to the current version when it is empty, so that the
	// job on the bus keeps meaning the package it was submitted with.
	ProblemVersion string `json:"problem_version,omitempty" validate:"omitempty,problemversion"`
}

// JudgeProgram is a program that judges the tests of an execution (a
// checker). It is compiled once per execution, or taken from the
// executor's cache of compiled checkers.
type JudgeProgram struct {
	// Language and Version name a served runtime, as on a request.
	Language string `json:"language" validate:"required,max=64,token"`
	Version  string `json:"version,omitempty" validate:"max=64"`
	// Files are its sources; the first is the entry file. The names
	// input.txt, output.txt and answer.txt are the test's and are refused.
	Files []File `json:"files" validate:"required,min=1,dive"`
	// Limits override the judge defaults (JudgeDefaults); zero means the
	// default. They are bounded by the runtime's maximums.
	Limits Limits `json:"limits"`
}

// TestCase is one test of a judge-mode request.
type TestCase struct {
	Name string `json:"name,omitempty" validate:"max=128"`
	// Stdin is the test's standard input.
	Stdin string `json:"stdin"`
	// Args, when set, replace the request's args for this test.
	Args []string `json:"args,omitempty" validate:"max=128,dive,max=4096,nonul"`
	// ExpectedOutput, when set, is compared with the test's stdout (or is the
	// checker's answer.txt).
	ExpectedOutput *string `json:"expected_output,omitempty"`
	// Points is what the test is worth (default 1): all of it when the test
	// is accepted, what the checker awards when partial, else 0.
	Points *float64 `json:"points,omitempty" validate:"omitempty,gte=0,lte=1000000000"`
}

// TestPoints is what a test is worth: its Points, else 1.
func (tc TestCase) TestPoints() float64 {
	if tc.Points == nil {
		return 1
	}
	return *tc.Points
}

// CompareMode names an output comparison.
type CompareMode string

// The comparison modes.
const (
	// CompareExact compares bytes.
	CompareExact CompareMode = "exact"
	// CompareTrim ignores trailing whitespace on each line and trailing
	// blank lines, and treats \r\n as \n. It is the default.
	CompareTrim CompareMode = "trim"
	// CompareTokens compares whitespace-separated tokens.
	CompareTokens CompareMode = "tokens"
	// CompareFloat compares tokens; tokens that are both numbers are equal
	// within the absolute or relative tolerance.
	CompareFloat CompareMode = "float"
)

// File is one source file.
type File struct {
	// Name is a plain relative path: no "..", no leading "/", no NUL or control
	// characters, no component starting with "-".
	Name string `json:"name" validate:"required,max=255,filename"`
	// Content is the file's text, or its bytes in base64 when Encoding is "base64".
	Content string `json:"content"`
	// Encoding is "utf8" (the default) or "base64".
	Encoding string `json:"encoding,omitempty" validate:"omitempty,oneof=utf8 base64"`
}

// Limits are the optional per-request resource limits. Zero means the language default.
type Limits struct {
	CPUTimeMS         int64 `json:"cpu_time_ms,omitempty" validate:"gte=0"`
	WallTimeMS        int64 `json:"wall_time_ms,omitempty" validate:"gte=0"`
	MemoryMB          int64 `json:"memory_mb,omitempty" validate:"gte=0"`
	Processes         int64 `json:"processes,omitempty" validate:"gte=0"`
	OutputBytes       int64 `json:"output_bytes,omitempty" validate:"gte=0"`
	CompileCPUTimeMS  int64 `json:"compile_cpu_time_ms,omitempty" validate:"gte=0"`
	CompileWallTimeMS int64 `json:"compile_wall_time_ms,omitempty" validate:"gte=0"`
	CompileMemoryMB   int64 `json:"compile_memory_mb,omitempty" validate:"gte=0"`
}

// Status is where an execution is in its life.
type Status string

// The statuses, in the only order an execution moves through them.
const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusCompleted Status = "completed"
)

// Rank orders statuses so that a state only moves forward: a late or repeated
// event with a lower or equal rank never replaces a stored one.
func (s Status) Rank() int {
	switch s {
	case StatusQueued:
		return 1
	case StatusRunning:
		return 2
	case StatusCompleted:
		return 3
	}
	return 0
}

// Verdict is the outcome of an execution or of one stage.
type Verdict string

// The verdicts.
const (
	VerdictAccepted            Verdict = "accepted"
	VerdictWrongAnswer         Verdict = "wrong_answer"
	VerdictCompileError        Verdict = "compile_error"
	VerdictRuntimeError        Verdict = "runtime_error"
	VerdictTimeLimitExceeded   Verdict = "time_limit_exceeded"
	VerdictMemoryLimitExceeded Verdict = "memory_limit_exceeded"
	VerdictOutputLimitExceeded Verdict = "output_limit_exceeded"
	VerdictInternalError       Verdict = "internal_error"
	// VerdictSkipped marks a test not run because an earlier one failed and
	// the request asked to stop on the first failure.
	VerdictSkipped Verdict = "skipped"
	// VerdictPresentationError: the checker found the output's form wrong
	// (testlib exit code 2, or 8: unexpected end of file).
	VerdictPresentationError Verdict = "presentation_error"
	// VerdictPartial: the checker awarded part of the test's points (exit
	// code 7).
	VerdictPartial Verdict = "partial"
	// VerdictJudgeError: the checker or the problem is broken, not the
	// program (exit code 3, any other code, or the checker failed to
	// compile or run within its limits).
	VerdictJudgeError Verdict = "judge_error"
)

// Execution is the state of one submitted execution, as stored in the
// `executions` bucket and returned by GET /v1/executions/{id}.
type Execution struct {
	ID string `json:"id"`
	// Tenant owns the execution; other tenants cannot read it.
	Tenant   string  `json:"tenant,omitempty"`
	Status   Status  `json:"status"`
	Language string  `json:"language,omitempty"`
	Version  string  `json:"version,omitempty"`
	Verdict  Verdict `json:"verdict,omitempty"`
	// Message explains an internal_error, or what the stages cannot show (a
	// process limit reached). It never contains program output.
	Message string `json:"message,omitempty"`
	// Compile is present for compiled languages once compilation ran.
	Compile *Stage `json:"compile,omitempty"`
	// Run is absent when compilation failed, and in judge mode (see Tests).
	Run *Stage `json:"run,omitempty"`
	// Tests holds one result per test of a judge-mode request, in order.
	Tests []TestResult `json:"tests,omitempty"`
	// FailedTest is the index of the first test that was not accepted.
	FailedTest *int `json:"failed_test,omitempty"`
	// Score is the sum of the points the tests were awarded and MaxScore the
	// sum of their points; both are set in judge mode only.
	Score    *float64 `json:"score,omitempty"`
	MaxScore *float64 `json:"max_score,omitempty"`
	// Limits are the limits the executor applied.
	Limits *LimitSet `json:"limits,omitempty"`
	// Isolation is how the stages were sandboxed (from running on):
	// "namespace", "container" or "gvisor", as the operator configured for
	// the language and tenant.
	Isolation string `json:"isolation,omitempty"`
	// CallbackURL is copied from the request; the gateway delivers the
	// completed execution there.
	CallbackURL string `json:"callback_url,omitempty"`
	// ResultToken is the job's result token, which the executor holds in
	// memory and sends in the ResultTokenHeader of each event; it is never
	// encoded into an execution.
	ResultToken string `json:"-"`
	// CallbackStatus is the outcome of the callback once it is known:
	// CallbackDelivered, or CallbackFailed when every attempt failed or the
	// address was refused. Absent while a delivery is pending and without a
	// callback_url. Only a completed execution has one.
	CallbackStatus string `json:"callback_status,omitempty"`
	// CallbackError classifies the last error of a failed callback (see
	// CallbackStatus): "http_<status>", "timeout", "connection", "blocked" or
	// "refused". It never contains what the receiver answered.
	CallbackError string     `json:"callback_error,omitempty"`
	Executor      string     `json:"executor,omitempty"`
	Attempt       int        `json:"attempt,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
}

// The values of Execution.CallbackStatus.
const (
	CallbackDelivered = "delivered"
	CallbackFailed    = "failed"
)

// CallbackRank orders callback outcomes so that a recorded one only moves
// forward: none, then failed, then delivered (a later successful delivery,
// of a repeated event, outranks an earlier failure; nothing undoes one).
func CallbackRank(status string) int {
	switch status {
	case CallbackFailed:
		return 1
	case CallbackDelivered:
		return 2
	}
	return 0
}

// Terminal reports whether the execution has finished.
func (e *Execution) Terminal() bool { return e.Status == StatusCompleted }

// VisibleTo is the one tenant rule: an execution is visible to its owner
// only, and an execution stored without a tenant belongs to DefaultTenant.
func (e *Execution) VisibleTo(tenant string) bool {
	owner := e.Tenant
	if owner == "" {
		owner = DefaultTenant
	}
	return owner == tenant
}

// Stage is the measured outcome of one step (compile or run).
type Stage struct {
	Stdout     string  `json:"stdout"`
	Stderr     string  `json:"stderr"`
	ExitCode   int     `json:"exit_code"`
	Signal     string  `json:"signal"`
	CPUTimeMS  int64   `json:"cpu_time_ms"`
	WallTimeMS int64   `json:"wall_time_ms"`
	MemoryKB   int64   `json:"memory_kb"`
	Truncated  bool    `json:"truncated"`
	Verdict    Verdict `json:"verdict"`
	// Files are the request's output_files the run left in /work (run
	// stages only).
	Files []OutputFile `json:"files,omitempty"`
}

// OutputFile is one of the request's output_files as the program left it.
type OutputFile struct {
	Name string `json:"name"`
	// Content is the file's text, or its bytes in base64 when Encoding is
	// "base64" (the bytes are not valid UTF-8).
	Content  string `json:"content"`
	Encoding string `json:"encoding"`
}

// TestResult is the outcome of one test: a run stage, its name, what it
// scored, the checker's message, and whether it was skipped.
type TestResult struct {
	Name string `json:"name,omitempty"`
	Stage
	// PointsAwarded is the test's points when accepted, the checker's
	// points when partial, else 0.
	PointsAwarded float64 `json:"points_awarded"`
	// CheckerMessage is the checker's stderr (or the interactor's when no
	// checker judged the test), at most 4 KiB.
	CheckerMessage string `json:"checker_message,omitempty"`
	// Interactor is the interactor's stage on an interactive test.
	Interactor *Stage `json:"interactor,omitempty"`
	Skipped    bool   `json:"skipped,omitempty"`
}

// Job is the message on the JOBS stream: one execution to run.
type Job struct {
	ID string `json:"id"`
	// Tenant is the API key's tenant (DefaultTenant without keys).
	Tenant    string           `json:"tenant,omitempty"`
	Request   ExecutionRequest `json:"request"`
	CreatedAt time.Time        `json:"created_at"`
	// ResultToken is the job's result token (ResultSealer): the executor
	// that takes the job sends it with every event it publishes for it.
	ResultToken string `json:"result_token,omitempty"`
}

// Queued is the job's first event (status queued), which the gateway
// publishes with the message id QueuedMsgID right after the job. An
// executor that passes the job on its first delivery publishes it first
// itself, so that a gateway's that comes late is dropped as a duplicate
// instead of landing after the pass (whose next delivery would count one
// attempt too many).
func (j Job) Queued() Execution {
	return Execution{ID: j.ID, Tenant: j.Tenant, Status: StatusQueued,
		Language: j.Request.Language, Version: j.Request.Version, CreatedAt: j.CreatedAt}
}

// QueuedMsgID is the message id of a job's queued event.
func QueuedMsgID(id string) string { return id + ":queued" }

// LimitSet is a fully resolved set of limits (every field set).
type LimitSet struct {
	CPUTimeMS         int64 `json:"cpu_time_ms"`
	WallTimeMS        int64 `json:"wall_time_ms"`
	MemoryMB          int64 `json:"memory_mb"`
	Processes         int64 `json:"processes"`
	OutputBytes       int64 `json:"output_bytes"`
	CompileCPUTimeMS  int64 `json:"compile_cpu_time_ms"`
	CompileWallTimeMS int64 `json:"compile_wall_time_ms"`
	CompileMemoryMB   int64 `json:"compile_memory_mb"`
}

// Runtime describes one language an executor serves.
type Runtime struct {
	Language  string   `json:"language"`
	Aliases   []string `json:"aliases"`
	Version   string   `json:"version"`
	Compiled  bool     `json:"compiled"`
	EntryFile string   `json:"entry_file"`
	Defaults  LimitSet `json:"default_limits"`
	Maximums  LimitSet `json:"max_limits"`
}

// ExecutorInfo is an executor's heartbeat, stored under its node id in the
// `executors` bucket; the entry expires when the executor stops beating.
type ExecutorInfo struct {
	ID        string    `json:"id"`
	Slots     int       `json:"slots"`
	Busy      int       `json:"busy"`
	Runtimes  []Runtime `json:"runtimes"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Problem is set when the executor cannot take work (for example the
	// Docker engine does not answer).
	Problem string `json:"problem,omitempty"`
	// Completed counts the executions this executor finished since it
	// started, by verdict (the console derives rates from it).
	Completed map[Verdict]int64 `json:"completed,omitempty"`
	// LatencyP50MS and LatencyP99MS are over its last executions (start of
	// the run to the stored result).
	LatencyP50MS int64 `json:"latency_p50_ms"`
	LatencyP99MS int64 `json:"latency_p99_ms"`
	// WarmPool is the number of idle pre-started sandboxes per image.
	WarmPool map[string]int `json:"warm_pool,omitempty"`
}

// Accepted is the answer to an asynchronous submission.
type Accepted struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
}

// BatchRequest is the body of POST /v1/executions/batch.
type BatchRequest struct {
	Executions []json.RawMessage `json:"executions"`
}

// BatchEntry is one answer of a batch: the id of the queued execution, or
// the error that kept it out of the queue.
type BatchEntry struct {
	ID     string       `json:"id,omitempty"`
	Status Status       `json:"status,omitempty"`
	Error  *ErrorDetail `json:"error,omitempty"`
}

// BatchResponse answers POST /v1/executions/batch, one entry per request in order.
type BatchResponse struct {
	Executions []BatchEntry `json:"executions"`
}

// ExecutionOrError is one answer of GET /v1/executions?ids=...: the
// execution, or why there is none (for example not_found).
type ExecutionOrError struct {
	ID        string       `json:"id"`
	Execution *Execution   `json:"execution,omitempty"`
	Error     *ErrorDetail `json:"error,omitempty"`
}

// ExecutionList answers GET /v1/executions?ids=..., in the order asked.
type ExecutionList struct {
	Executions []ExecutionOrError `json:"executions"`
}
