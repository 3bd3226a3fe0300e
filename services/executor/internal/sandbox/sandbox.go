// Package sandbox runs one stage of an execution (compile or run) in a fresh,
// locked-down Docker container and measures it from outside.
//
// Every container gets: no network (NetworkDisabled and network mode none),
// memory == memory+swap, one CPU, a pids limit, ulimits (nofile, fsize, core
// 0, stack, cpu), a read-only root, sized tmpfs for /work and /tmp, all
// capabilities dropped, no-new-privileges, a non-root user, private IPC, no
// log driver, and labels naming the job and the executor. The executor's
// timer kills it with SIGKILL at the wall limit; it is removed on every path.
package sandbox

import (
	"io"
	"time"
)

// Labels put on every sandbox container.
const (
	LabelManaged  = "run.airlock.managed"
	LabelExecutor = "run.airlock.executor"
	LabelJob      = "run.airlock.job"
	LabelStage    = "run.airlock.stage"
	LabelTenant   = "run.airlock.tenant"
)

// Isolation modes: how a stage is sandboxed.
const (
	// IsolationContainer: a fresh container per stage (runc).
	IsolationContainer = "container"
	// IsolationNamespace: a fresh set of namespaces and a cgroup of its own
	// per stage, inside a long-lived locked-down container of the stage's
	// image and tenant (a cell).
	IsolationNamespace = "namespace"
	// IsolationGVisor: a fresh container per stage under gVisor (runsc).
	IsolationGVisor = "gvisor"
)

// Isolations lists the modes, the default first.
var Isolations = []string{IsolationNamespace, IsolationContainer, IsolationGVisor}

// User is the uid:gid every sandboxed program runs as (nobody:nogroup).
const User = "65534:65534"

// Spec is one stage to run.
type Spec struct {
	JobID string
	Stage string // "compile" or "run"
	Image string
	// OCIRuntime overrides the runner's OCI runtime for this stage ("runsc").
	OCIRuntime string
	// Isolation overrides the runner's isolation mode for this stage.
	Isolation string
	// Tenant owns the stage: cells are never shared across tenants.
	Tenant string
	Argv   []string
	Env    []string
	// Files is a tar archive unpacked into /work before the program starts.
	Files []byte
	Stdin []byte
	// StdinStream, when set, is the program's stdin as it comes (Stdin is
	// then unused): relayed in frames until it ends or the program does.
	StdinStream io.Reader
	// StdoutTee, when set, is given the program's stdout as it arrives:
	// only bytes within the output cap, never a marker. It must not block
	// or keep the slice.
	StdoutTee func([]byte)

	CPUTime     time.Duration
	WallTime    time.Duration
	MemoryBytes int64
	Processes   int64
	OutputBytes int64

	// Collect returns a tar of /work after a successful run (compile stages).
	Collect    bool
	CollectMax int64
	// OutputFiles returns a tar of these files of /work after the run,
	// however it ended (regular files only, no link followed, at most
	// CollectMax bytes of tar), when Collect is not set.
	OutputFiles []string
}

// Outcome is what was measured. Only the executor's timer, the engine and the
// cgroup decide the fields that lead to a verdict.
type Outcome struct {
	// Isolation is the mode the stage ran in; Sandbox names the container
	// it ran in (a cell's, in namespace mode).
	Isolation string
	Sandbox   string

	Stdout    []byte
	Stderr    []byte
	ExitCode  int
	Signal    int
	InitError string // the program could not be started, or its build collected

	CPUTime         time.Duration // cgroup CPU accounting
	WallTime        time.Duration // executor's clock
	MemoryPeakBytes int64         // cgroup peak usage

	TimedOut       bool // the wall limit was reached
	CPUExceeded    bool // the cgroup's CPU time passed the limit and we killed it
	OOMKilled      bool // the kernel's OOM killer fired in the container
	OutputExceeded bool // stdout+stderr passed the cap (Stdout/Stderr are truncated)
	// ProcessLimitHit: a fork or thread creation was refused at the pids limit.
	ProcessLimitHit bool
	// InitLost: the container ended without the init's report (the init was
	// killed, for example by the OOM killer); the measurements are the last
	// ones taken while it ran.
	InitLost bool
	// Artifacts is the tar that Collect or OutputFiles asked for.
	Artifacts []byte
}
