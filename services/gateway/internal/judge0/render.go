package judge0

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/gateway/internal/compat"
)

// judge0Outcome is what an Execution says in Judge0's terms.
type judge0Outcome struct {
	status                       int
	stdout, stderr, compile, msg *string
	time, wallTime               *string
	memory                       *int64
	exitCode, exitSignal         *int
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// judge0Seconds formats milliseconds as Judge0's decimal seconds ("0.012", "5.0").
func judge0Seconds(ms int64) string {
	s := strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// judge0Time formats a time as Rails does in JSON.
func judge0Time(t *time.Time) *string {
	if t == nil || t.IsZero() {
		return nil
	}
	s := t.UTC().Format("2006-01-02T15:04:05.000Z")
	return &s
}

// judge0OutcomeOf maps an execution's state and verdict onto Judge0's
// statuses, following isolate_job.rb: compile errors have only
// compile_output; a program killed by a signal has exit_code 0 and
// exit_signal n; a time limit is 5; memory limit (which Judge0 has no status
// for) is 12 "Runtime Error (Other)" with message "Memory limit exceeded";
// the output limit is 8 "Runtime Error (SIGXFSZ)", as Judge0's file size
// limit on the output files.
func judge0OutcomeOf(exec *contracts.Execution) judge0Outcome {
	var o judge0Outcome
	switch exec.Status {
	case contracts.StatusQueued:
		o.status = j0InQueue
		return o
	case contracts.StatusRunning:
		o.status = j0Processing
		return o
	}
	if exec.Compile != nil {
		o.compile = nonEmpty(exec.Compile.Stdout + exec.Compile.Stderr)
	}
	if exec.Verdict == contracts.VerdictCompileError {
		o.status = j0CompileError
		if exec.Compile != nil && exec.Compile.Verdict == contracts.VerdictTimeLimitExceeded {
			o.compile = compat.Ptr("Compilation time limit exceeded.")
		}
		return o
	}
	st := exec.Run
	if st == nil && len(exec.Tests) > 0 { // judge mode: not produced by this API
		i := 0
		if exec.FailedTest != nil && *exec.FailedTest < len(exec.Tests) {
			i = *exec.FailedTest
		}
		st = &exec.Tests[i].Stage
	}
	if exec.Verdict == contracts.VerdictInternalError || st == nil {
		o.status = j0InternalError
		o.msg = nonEmpty(exec.Message)
		if o.msg == nil {
			o.msg = compat.Ptr("internal error: the program was not run")
		}
		if st == nil {
			return o
		}
	}
	o.stdout, o.stderr = nonEmpty(st.Stdout), nonEmpty(st.Stderr)
	o.time, o.wallTime = compat.Ptr(judge0Seconds(st.CPUTimeMS)), compat.Ptr(judge0Seconds(st.WallTimeMS))
	o.memory = compat.Ptr(st.MemoryKB)
	if sig := compat.SignalNumber(st); sig > 0 {
		o.exitCode, o.exitSignal = compat.Ptr(0), compat.Ptr(sig)
	} else {
		o.exitCode = compat.Ptr(st.ExitCode)
	}
	if o.status == j0InternalError {
		return o
	}
	switch exec.Verdict {
	case contracts.VerdictAccepted:
		o.status = j0Accepted
	case contracts.VerdictWrongAnswer:
		o.status = j0WrongAnswer
	case contracts.VerdictTimeLimitExceeded:
		o.status = j0TimeLimit
		o.msg = compat.Ptr("Time limit exceeded")
		if compat.WallTimeout(st, exec.Limits, false) {
			o.msg = compat.Ptr("Time limit exceeded (wall clock)")
		}
	case contracts.VerdictMemoryLimitExceeded:
		o.status = j0RuntimeOther
		o.msg = compat.Ptr("Memory limit exceeded")
	case contracts.VerdictOutputLimitExceeded:
		o.status = j0SIGXFSZ
		o.exitCode, o.exitSignal = compat.Ptr(0), compat.Ptr(25)
		o.msg = compat.Ptr("Output limit exceeded")
	default: // runtime_error
		switch sig := compat.SignalNumber(st); {
		case sig > 0:
			switch sig {
			case 11:
				o.status = j0SIGSEGV
			case 25:
				o.status = j0SIGXFSZ
			case 8:
				o.status = j0SIGFPE
			case 6:
				o.status = j0SIGABRT
			default:
				o.status = j0RuntimeOther
			}
			o.msg = compat.Ptr(fmt.Sprintf("Caught fatal signal %d", sig))
		default:
			o.status = j0NZEC
			o.msg = compat.Ptr(fmt.Sprintf("Exited with error status %d", st.ExitCode))
		}
	}
	return o
}

// judge0NeutralHost is the execution_host shown to tenants: node names are
// for the operator only.
const judge0NeutralHost = "airlock"

// judge0Render renders a submission with the given fields; execution_host
// names the executor only when operator is set.
func judge0Render(exec *contracts.Execution, fields []string, b64 bool, runtimes []contracts.Runtime, operator bool) orderedObject {
	o := judge0OutcomeOf(exec)
	enc := func(s *string) any {
		if s == nil {
			return nil
		}
		if b64 {
			return compat.EncodeBase64Lines([]byte(*s))
		}
		return *s
	}
	var langID, lang any
	if id, format := judge0IDOf(exec.Language, runtimes); id != 0 {
		langID = id
		lang = orderedObject{{"id", id}, {"name", fmt.Sprintf(format, exec.Version)}}
	}
	var cpuLimit, wallLimit, memLimit, procs, runs, extra any
	if l := exec.Limits; l != nil {
		cpuLimit, wallLimit = judge0Seconds(l.CPUTimeMS), judge0Seconds(l.WallTimeMS)
		memLimit, procs = l.MemoryMB*1024, l.Processes
		runs, extra = 1, "0.0"
	}
	updated := exec.FinishedAt
	if updated == nil {
		updated = exec.StartedAt
	}
	if updated == nil {
		updated = &exec.CreatedAt
	}
	var host any
	if exec.Executor != "" {
		host = judge0NeutralHost
		if operator {
			host = exec.Executor
		}
	}
	value := func(f string) any {
		switch f {
		case "token":
			return exec.ID
		case "language_id":
			return langID
		case "language":
			return lang
		case "stdout":
			return enc(o.stdout)
		case "stderr":
			return enc(o.stderr)
		case "compile_output":
			return enc(o.compile)
		case "message":
			return enc(o.msg)
		case "status_id":
			return o.status
		case "status":
			return orderedObject{{"id", o.status}, {"description", judge0Statuses[o.status-1].Description}}
		case "time":
			return derefOrNil(o.time)
		case "wall_time":
			return derefOrNil(o.wallTime)
		case "memory":
			if o.memory == nil {
				return nil
			}
			return *o.memory
		case "exit_code":
			if o.exitCode == nil {
				return nil
			}
			return *o.exitCode
		case "exit_signal":
			if o.exitSignal == nil {
				return nil
			}
			return *o.exitSignal
		case "created_at", "queued_at":
			return derefOrNil(judge0Time(&exec.CreatedAt))
		case "started_at":
			return derefOrNil(judge0Time(exec.StartedAt))
		case "finished_at":
			return derefOrNil(judge0Time(exec.FinishedAt))
		case "updated_at":
			return derefOrNil(judge0Time(updated))
		case "execution_host":
			return host
		case "cpu_time_limit":
			return cpuLimit
		case "wall_time_limit":
			return wallLimit
		case "memory_limit":
			return memLimit
		case "max_processes_and_or_threads":
			return procs
		case "number_of_runs":
			return runs
		case "cpu_extra_time":
			return extra
		case "enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit",
			"redirect_stderr_to_stdout", "enable_network":
			return false
		}
		// source_code, stdin, expected_output, stack_limit, max_file_size,
		// compiler_options, command_line_arguments, callback_url,
		// additional_files, queue_host: not kept by Airlock.
		return nil
	}
	out := make(orderedObject, 0, len(fields))
	for _, f := range fields {
		out = append(out, orderedField{f, value(f)})
	}
	return out
}

func derefOrNil(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}
