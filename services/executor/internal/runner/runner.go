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
	"github.com/airlockrun/airlock/services/executor/sandboxinit"
)

// Sandbox runs one stage; *sandbox.Launcher is the real one.
type Sandbox interface {
	// Run runs the stage to completion. It returns an error only for
	// infrastructure faults; the program's failures are in the Outcome.
	Run(ctx context.Context, spec sandbox.Spec) (sandbox.Outcome, error)
}

var _ Sandbox = (*sandbox.Launcher)(nil)

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
	// Languages finds a served language by name and version (a checker's);
	// nil serves none.
	Languages func(language, version string) (*catalog.Language, contracts.Runtime)
	// Problems reads version of problem id of tenant from the problems
	// store (client.LoadProblem); nil reads none. See Problem.
	Problems func(ctx context.Context, tenant, id, version string) (*contracts.ProblemPackage, error)

	checkers *compileCache
	problems *lru[*contracts.ProblemPackage]
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

// OCIRuntime is the OCI runtime of language's stages in mode: always a gVisor
// one for gvisor; for container the language's own runtime, if it has one
// that is not gVisor; otherwise "" (the sandbox runner's).
func (i Isolation) OCIRuntime(mode, language string) string {
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
func New(sb Sandbox) *Runner {
	return &Runner{sb: sb, ArtifactMax: 64 << 20, checkers: newCompileCache(checkerCacheBytes),
		problems: newLRU(problemCacheBytes, packageSize)}
}

// Result is the outcome of an execution.
type Result struct {
	Verdict contracts.Verdict
	// Message explains what the stage fields cannot (a process limit reached).
	Message string
	Compile *contracts.Stage
	Run     *contracts.Stage
	// Tests, FailedTest, Score and MaxScore are set in judge mode.
	Tests           []contracts.TestResult
	FailedTest      *int
	Score, MaxScore *float64
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
	rt := r.Isolation.OCIRuntime(mode, lang.Name)
	res := Result{Isolation: mode}
	ran := func(out sandbox.Outcome) {
		if out.Isolation != "" {
			res.Isolation = out.Isolation
		}
	}
	if lang.Compiled() {
		spec := sandbox.Spec{
			JobID: id, Stage: "compile", Image: lang.Image,
			Isolation: mode, OCIRuntime: rt, Tenant: tenant,
			Argv: lang.Expand(lang.Compile, names), Env: lang.FullEnv, Files: files,
			CPUTime:     ms(limits.CompileCPUTimeMS),
			WallTime:    ms(limits.CompileWallTimeMS),
			MemoryBytes: limits.CompileMemoryMB << 20,
			Processes:   max(limits.Processes, 128),
			OutputBytes: limits.OutputBytes,
			Collect:     true, CollectMax: r.ArtifactMax,
		}
		st, built, err := r.compile(ctx, spec, ran)
		if err != nil {
			return Result{}, err
		}
		res.Compile = &st
		if st.Verdict != contracts.VerdictAccepted {
			res.Verdict = contracts.VerdictCompileError
			return res, nil
		}
		files = built
	}
	runSpec := func(stdin string, args []string) sandbox.Spec {
		spec := sandbox.Spec{
			JobID: id, Stage: "run", Image: lang.Image,
			Isolation: mode, OCIRuntime: rt, Tenant: tenant,
			Argv: append(lang.Expand(lang.Run, names), args...), Env: lang.FullEnv,
			Files: files, Stdin: []byte(stdin),
			CPUTime:     ms(limits.CPUTimeMS),
			WallTime:    ms(limits.WallTimeMS),
			MemoryBytes: limits.MemoryMB << 20,
			Processes:   limits.Processes,
			OutputBytes: limits.OutputBytes,
		}
		if len(req.OutputFiles) > 0 {
			spec.OutputFiles, spec.CollectMax = req.OutputFiles, sandboxinit.OutputFilesTarMax(limits.OutputBytes, len(req.OutputFiles))
		}
		return spec
	}
	// finish turns a run's outcome into its stage.
	finish := func(spec sandbox.Spec, out sandbox.Outcome) (contracts.Stage, error) {
		ran(out)
		if out.InitError != "" {
			return contracts.Stage{}, fmt.Errorf("%w: run: %s", ErrSandbox, out.InitError)
		}
		st := stage(out, spec)
		if len(spec.OutputFiles) > 0 {
			var err error
			if st.Files, err = outputFiles(out.Artifacts, spec.OutputFiles); err != nil {
				return contracts.Stage{}, fmt.Errorf("%w: run: %v", ErrSandbox, err)
			}
		}
		return st, nil
	}
	run := func(stdin string, args []string) (contracts.Stage, sandbox.Outcome, error) {
		spec := runSpec(stdin, args)
		out, err := r.sb.Run(ctx, spec)
		if err != nil {
			return contracts.Stage{}, out, err
		}
		st, err := finish(spec, out)
		return st, out, err
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
		var maxScore float64
		for _, tc := range req.Tests {
			maxScore += tc.TestPoints()
		}
		res.Score, res.MaxScore = new(float64), &maxScore
		var chk, inter *checker
		for _, j := range []struct {
			role string
			p    *contracts.JudgeProgram
			c    **checker
		}{{"checker", req.Checker, &chk}, {"interactor", req.Interactor, &inter}} {
			if j.p == nil {
				continue
			}
			c, v, msg, err := r.prepareChecker(ctx, id, tenant, mode, j.role, *j.p, ran)
			if err != nil {
				return Result{}, err
			}
			if c == nil {
				res.Verdict, res.Message = v, msg
				return res, nil
			}
			*j.c = c
		}
		// Each test runs in a fresh sandbox: nothing one test writes (files,
		// /tmp, /dev/shm, IPC, processes) exists when the next one starts.
		res.Tests = make([]contracts.TestResult, len(req.Tests))
		for i, tc := range req.Tests {
			tr := &res.Tests[i]
			tr.Name = tc.Name
			if res.FailedTest != nil && req.StopOnFirstFailure {
				tr.Skipped = true
				tr.Verdict = contracts.VerdictSkipped
				continue
			}
			args := req.Args
			if tc.Args != nil {
				args = tc.Args
			}
			if inter != nil {
				v, err := r.interact(ctx, id, tenant, inter, chk, tc, runSpec(tc.Stdin, args), finish, ran)
				if err != nil {
					return Result{}, fmt.Errorf("test %d: %w", i, err)
				}
				tr.Stage, tr.Interactor, tr.PointsAwarded, tr.CheckerMessage = v.program, &v.interactor, v.Points, v.Message
				tr.Verdict = v.Verdict
				pidsHit = pidsHit || v.pidsHit
				*res.Score += tr.PointsAwarded
				if tr.Verdict != contracts.VerdictAccepted && res.FailedTest == nil {
					idx := i
					res.FailedTest = &idx
				}
				continue
			}
			st, out, err := run(tc.Stdin, args)
			if err != nil {
				return Result{}, fmt.Errorf("test %d: %w", i, err)
			}
			pidsHit = pidsHit || out.ProcessLimitHit
			switch {
			case chk == nil:
				check(&st, tc.ExpectedOutput)
				if st.Verdict == contracts.VerdictAccepted {
					tr.PointsAwarded = tc.TestPoints()
				}
			case st.Verdict == contracts.VerdictAccepted:
				// The run ended normally: the checker decides.
				v, err := r.runChecker(ctx, id, tenant, chk, tc, st.Stdout, ran)
				if err != nil {
					return Result{}, fmt.Errorf("test %d: checker: %w", i, err)
				}
				st.Verdict, tr.PointsAwarded, tr.CheckerMessage = v.Verdict, v.Points, v.Message
			}
			tr.Stage = st
			*res.Score += tr.PointsAwarded
			if st.Verdict != contracts.VerdictAccepted && res.FailedTest == nil {
				idx := i
				res.FailedTest = &idx
			}
		}
		res.Verdict = executionVerdict(res.Tests)
	}
	if pidsHit {
		res.Message = fmt.Sprintf("the program reached its limit of %d processes and threads", limits.Processes)
	}
	return res, nil
}

// executionVerdict is the verdict of a judge-mode execution: judge_error if
// any test's is (the problem is broken, so no other verdict means
// anything); else the verdict of the first test not accepted (partial
// included); else accepted.
func executionVerdict(tests []contracts.TestResult) contracts.Verdict {
	if slices.ContainsFunc(tests, func(t contracts.TestResult) bool { return t.Verdict == contracts.VerdictJudgeError }) {
		return contracts.VerdictJudgeError
	}
	for _, t := range tests {
		if t.Verdict != contracts.VerdictAccepted {
			return t.Verdict
		}
	}
	return contracts.VerdictAccepted
}

// compile runs a compile stage and returns its stage (compile_error when
// the build failed) and, when it succeeded, the build's /work as a tar.
func (r *Runner) compile(ctx context.Context, spec sandbox.Spec, ran func(sandbox.Outcome)) (contracts.Stage, []byte, error) {
	out, err := r.sb.Run(ctx, spec)
	if err != nil {
		return contracts.Stage{}, nil, err
	}
	ran(out)
	st := stage(out, spec)
	switch {
	case out.InitError != "" && out.ExitCode != 0:
		// The compiler could not be started: the image is broken.
		return contracts.Stage{}, nil, fmt.Errorf("%w: %s: %s", ErrSandbox, spec.Stage, out.InitError)
	case out.InitError != "":
		// The build ran but its output could not be collected (too big).
		st.Stderr += "\n" + out.InitError
		st.Verdict = contracts.VerdictCompileError
	case st.Verdict == contracts.VerdictRuntimeError:
		st.Verdict = contracts.VerdictCompileError
	}
	if st.Verdict != contracts.VerdictAccepted {
		return st, nil, nil
	}
	return st, out.Artifacts, nil
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
		st.Signal = signalName(o.Signal)
	}
	return st
}

// signalName names signal n ("SIGSEGV"), or numbers it ("SIG77").
func signalName(n int) string {
	if name := unix.SignalName(unix.Signal(n)); name != "" {
		return name
	}
	return fmt.Sprintf("SIG%d", n)
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
