// Package runner turns one execution request into stages: it compiles once
// (for compiled languages) and runs the build in a fresh sandbox (once, or
// once per test in judge mode), and maps what the sandbox measured to
// verdicts.
package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/executor/internal/catalog"
	"github.com/airlockrun/airlock/services/executor/internal/judge"
	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
)

// Sandbox runs one stage; *sandbox.Runner is the real one.
type Sandbox interface {
	// Run runs the stage to completion. It returns an error only for
	// infrastructure faults; the program's failures are in the Outcome.
	Run(ctx context.Context, spec sandbox.Spec) (sandbox.Outcome, error)
}

var _ Sandbox = (*sandbox.Runner)(nil)

// ErrSandbox marks a fault of the sandbox itself (image, init, engine): the
// execution becomes internal_error, never a verdict against the program.
var ErrSandbox = errors.New("sandbox fault")

// Runner executes requests.
type Runner struct {
	sb Sandbox
	// ArtifactMax bounds what a compile stage may hand to the run stage.
	ArtifactMax int64
	// Isolation chooses each execution's isolation mode and the OCI
	// runtime of its stages.
	Isolation Isolation
}

// Isolation is the operator's choice of isolation modes
// (sandbox.Isolations), each map keyed by canonical language name or tenant.
type Isolation struct {
	// Default is the mode no override names ("" = namespace).
	Default string
	// Languages overrides Default per language.
	Languages map[string]string
	// Tenants overrides Languages and Default per tenant.
	Tenants map[string]string
	// Runtimes is a language's own OCI runtime: a gVisor one ("runsc...")
	// for its gvisor stages, another for its container stages.
	Runtimes map[string]string
	// GVisorRuntime is the OCI runtime of the other gvisor stages ("" =
	// "runsc").
	GVisorRuntime string
}

// Mode is the isolation mode of an execution of language for tenant: the
// tenant's override, else the language's, else the default.
func (i Isolation) Mode(tenant, language string) string {
	if m := i.Tenants[tenant]; m != "" {
		return m
	}
	if m := i.Languages[language]; m != "" {
		return m
	}
	return cmp.Or(i.Default, sandbox.IsolationNamespace)
}

// Reaches reports whether some execution of language runs in mode: for
// every tenant without an override, or for one with an override of mode.
func (i Isolation) Reaches(mode, language string) bool {
	return i.Mode("", language) == mode || slices.Contains(slices.Collect(maps.Values(i.Tenants)), mode)
}

// Runtime is the OCI runtime of language's stages in mode: always a gVisor
// one for gvisor; for container the language's own runtime, if it has one
// that is not gVisor; otherwise "" (the sandbox runner's).
func (i Isolation) Runtime(mode, language string) string {
	own := i.Runtimes[language]
	switch mode {
	case sandbox.IsolationGVisor:
		if sandbox.IsGVisor(own) {
			return own
		}
		return cmp.Or(i.GVisorRuntime, "runsc")
	case sandbox.IsolationContainer:
		if !sandbox.IsGVisor(own) {
			return own
		}
	}
	return ""
}

// New returns a Runner over sb.
func New(sb Sandbox) *Runner { return &Runner{sb: sb, ArtifactMax: 64 << 20} }

// Result is the outcome of an execution.
type Result struct {
	Verdict contracts.Verdict
	// Message explains what the stage fields cannot (a process limit reached).
	Message string
	Compile *contracts.Stage
	Run     *contracts.Stage
	// Tests and FailedTest are set in judge mode.
	Tests      []contracts.TestResult
	FailedTest *int
	// Isolation is the mode the stages ran in, as the sandbox reported it
	// (the mode asked for when it reported none).
	Isolation string
}

// Execute compiles (if needed) and runs req for tenant, every stage in the
// isolation mode r.Isolation chooses. limits must already be resolved and
// clamped.
func (r *Runner) Execute(ctx context.Context, id, tenant string, req contracts.ExecutionRequest, lang *catalog.Language, limits contracts.LimitSet) (Result, error) {
	names := make([]string, 0, len(req.Files))
	contents := make(map[string][]byte, len(req.Files))
	for _, f := range req.Files {
		data, err := contracts.DecodeFile(f)
		if err != nil {
			return Result{}, fmt.Errorf("decode %s: %w", f.Name, err)
		}
		names = append(names, f.Name)
		contents[f.Name] = data
	}
	files, err := sandbox.TarFiles(contents, names)
	if err != nil {
		return Result{}, err
	}
	mode := r.Isolation.Mode(tenant, lang.Name)
	rt := r.Isolation.Runtime(mode, lang.Name)
	res := Result{Isolation: mode}
	ran := func(out sandbox.Outcome) {
		if out.Isolation != "" {
			res.Isolation = out.Isolation
		}
	}
	if lang.Compiled() {
		spec := sandbox.Spec{
			JobID: id, Stage: "compile", Image: lang.Image,
			Isolation: mode, Runtime: rt, Tenant: tenant,
			Argv: lang.Expand(lang.Compile, names), Env: lang.FullEnv, Files: files,
			CPUTime:     ms(limits.CompileCPUTimeMS),
			WallTime:    ms(limits.CompileWallTimeMS),
			MemoryBytes: limits.CompileMemoryMB << 20,
			Processes:   max(limits.Processes, 128),
			OutputBytes: limits.OutputBytes,
			Collect:     true, CollectMax: r.ArtifactMax,
		}
		out, err := r.sb.Run(ctx, spec)
		if err != nil {
			return Result{}, err
		}
		ran(out)
		st := stage(out, spec)
		switch {
		case out.InitError != "" && out.ExitCode != 0:
			// The compiler could not be started: the image is broken.
			return Result{}, fmt.Errorf("%w: compile: %s", ErrSandbox, out.InitError)
		case out.InitError != "":
			// The build ran but its output could not be collected (too big).
			st.Stderr += "\n" + out.InitError
			st.Verdict = contracts.VerdictCompileError
		case st.Verdict == contracts.VerdictRuntimeError:
			st.Verdict = contracts.VerdictCompileError
		}
		res.Compile = &st
		if st.Verdict != contracts.VerdictAccepted {
			res.Verdict = contracts.VerdictCompileError
			return res, nil
		}
		files = out.Artifacts
	}
	run := func(stdin string, args []string) (contracts.Stage, sandbox.Outcome, error) {
		spec := sandbox.Spec{
			JobID: id, Stage: "run", Image: lang.Image,
			Isolation: mode, Runtime: rt, Tenant: tenant,
			Argv: append(lang.Expand(lang.Run, names), args...), Env: lang.FullEnv,
			Files: files, Stdin: []byte(stdin),
			CPUTime:     ms(limits.CPUTimeMS),
			WallTime:    ms(limits.WallTimeMS),
			MemoryBytes: limits.MemoryMB << 20,
			Processes:   limits.Processes,
			OutputBytes: limits.OutputBytes,
		}
		out, err := r.sb.Run(ctx, spec)
		if err != nil {
			return contracts.Stage{}, out, err
		}
		ran(out)
		if out.InitError != "" {
			return contracts.Stage{}, out, fmt.Errorf("%w: run: %s", ErrSandbox, out.InitError)
		}
		return stage(out, spec), out, nil
	}
	check := func(st *contracts.Stage, expected *string) {
		if expected != nil && st.Verdict == contracts.VerdictAccepted &&
			!judge.Equal(req.Compare, st.Stdout, *expected, req.AbsTolerance, req.RelTolerance) {
			st.Verdict = contracts.VerdictWrongAnswer
		}
	}
	var pidsHit bool
	if len(req.Tests) == 0 {
		st, out, err := run(req.Stdin, req.Args)
		if err != nil {
			return Result{}, err
		}
		check(&st, req.ExpectedOutput)
		res.Run, res.Verdict, pidsHit = &st, st.Verdict, out.ProcessLimitHit
	} else {
		// Each test runs in a fresh sandbox: nothing one test writes (files,
		// /tmp, /dev/shm, IPC, processes) exists when the next one starts.
		res.Verdict = contracts.VerdictAccepted
		res.Tests = make([]contracts.TestResult, len(req.Tests))
		for i, tc := range req.Tests {
			res.Tests[i].Name = tc.Name
			if res.FailedTest != nil && req.StopOnFirstFailure {
				res.Tests[i].Skipped = true
				res.Tests[i].Verdict = contracts.VerdictSkipped
				continue
			}
			args := req.Args
			if tc.Args != nil {
				args = tc.Args
			}
			st, out, err := run(tc.Stdin, args)
			if err != nil {
				return Result{}, fmt.Errorf("test %d: %w", i, err)
			}
			check(&st, tc.ExpectedOutput)
			res.Tests[i].Stage = st
			pidsHit = pidsHit || out.ProcessLimitHit
			if st.Verdict != contracts.VerdictAccepted && res.FailedTest == nil {
				idx := i
				res.FailedTest, res.Verdict = &idx, st.Verdict
			}
		}
	}
	if pidsHit {
		res.Message = fmt.Sprintf("the program reached its limit of %d processes and threads", limits.Processes)
	}
	return res, nil
}

func ms(v int64) time.Duration { return time.Duration(v) * time.Millisecond }

func stage(o sandbox.Outcome, spec sandbox.Spec) contracts.Stage {
	st := contracts.Stage{
		Stdout:     string(o.Stdout),
		Stderr:     string(o.Stderr),
		ExitCode:   o.ExitCode,
		CPUTimeMS:  o.CPUTime.Milliseconds(),
		WallTimeMS: o.WallTime.Milliseconds(),
		MemoryKB:   o.MemoryPeakBytes / 1024,
		Truncated:  o.OutputExceeded,
		Verdict:    Verdict(o, spec.CPUTime),
	}
	if o.Signal != 0 {
		st.Signal = unix.SignalName(unix.Signal(o.Signal))
		if st.Signal == "" {
			st.Signal = fmt.Sprintf("SIG%d", o.Signal)
		}
	}
	return st
}

// Verdict maps a measured outcome to a verdict. Every input comes from a
// trusted source: the output cap and the wall timer are the executor's, OOM
// kills and CPU time are the kernel's (cgroup), and the exit status is the
// init's report of wait4. Nothing the program printed is consulted.
func Verdict(o sandbox.Outcome, cpuLimit time.Duration) contracts.Verdict {
	switch {
	case o.OutputExceeded:
		return contracts.VerdictOutputLimitExceeded
	case o.OOMKilled:
		return contracts.VerdictMemoryLimitExceeded
	case o.TimedOut:
		return contracts.VerdictTimeLimitExceeded
	case o.CPUExceeded || o.CPUTime > cpuLimit || o.Signal == int(unix.SIGXCPU):
		return contracts.VerdictTimeLimitExceeded
	case o.Signal != 0 || o.ExitCode != 0:
		return contracts.VerdictRuntimeError
	}
	return contracts.VerdictAccepted
}
