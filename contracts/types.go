// Package contracts holds Airlock's wire types: the HTTP and NATS JSON shapes,
// the subjects, stream and bucket names, the error codes and the validation
// rules. It has no business logic; every service depends on it and services
// never import each other.
package contracts

import "time"

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
}

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
)

// Execution is the state of one submitted execution, as stored in the
// `executions` bucket and returned by GET /v1/executions/{id}.
type Execution struct {
	ID       string  `json:"id"`
	Status   Status  `json:"status"`
	Language string  `json:"language,omitempty"`
	Version  string  `json:"version,omitempty"`
	Verdict  Verdict `json:"verdict,omitempty"`
	// Message explains an internal_error, or what the stages cannot show (a
	// process limit reached). It never contains program output.
	Message string `json:"message,omitempty"`
	// Compile is present for compiled languages once compilation ran.
	Compile *Stage `json:"compile,omitempty"`
	// Run is absent when compilation failed.
	Run *Stage `json:"run,omitempty"`
	// Limits are the limits the executor applied.
	Limits     *LimitSet  `json:"limits,omitempty"`
	Executor   string     `json:"executor,omitempty"`
	Attempt    int        `json:"attempt,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Terminal reports whether the execution has finished.
func (e *Execution) Terminal() bool { return e.Status == StatusCompleted }

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
}

// Job is the message on the JOBS stream: one execution to run.
type Job struct {
	ID        string           `json:"id"`
	Request   ExecutionRequest `json:"request"`
	CreatedAt time.Time        `json:"created_at"`
}

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
}

// Accepted is the answer to an asynchronous submission.
type Accepted struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
}
