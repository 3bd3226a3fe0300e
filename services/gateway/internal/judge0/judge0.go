// Package judge0 serves the Judge0 CE API subset judges use (judge0/judge0
// 1.13: config/routes.rb, app/controllers/submissions_controller.rb,
// app/models/submission.rb, app/serializers/submission_serializer.rb,
// app/jobs/isolate_job.rb): submissions (single and batch, ?wait=,
// ?base64_encoded=, ?fields=), languages and statuses. Submissions are
// translated into ExecutionRequests and go through the same bus client as
// /v1 (web.Core.Submit and Wait); tokens are execution ids, and a
// submission is rendered from its Execution alone (the gateway keeps no
// other state). docs/compat.md lists every difference from Judge0.
package judge0

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/gateway/internal/web"
)

// judge0Status is an entry of GET /statuses (app/enumerations/status.rb).
type judge0Status struct {
	ID          int    `json:"id"`
	Description string `json:"description"`
}

// Judge0's status ids.
const (
	j0InQueue       = 1
	j0Processing    = 2
	j0Accepted      = 3
	j0WrongAnswer   = 4
	j0TimeLimit     = 5
	j0CompileError  = 6
	j0SIGSEGV       = 7
	j0SIGXFSZ       = 8
	j0SIGFPE        = 9
	j0SIGABRT       = 10
	j0NZEC          = 11
	j0RuntimeOther  = 12
	j0InternalError = 13
)

var judge0Statuses = []judge0Status{
	{1, "In Queue"}, {2, "Processing"}, {3, "Accepted"}, {4, "Wrong Answer"},
	{5, "Time Limit Exceeded"}, {6, "Compilation Error"}, {7, "Runtime Error (SIGSEGV)"},
	{8, "Runtime Error (SIGXFSZ)"}, {9, "Runtime Error (SIGFPE)"}, {10, "Runtime Error (SIGABRT)"},
	{11, "Runtime Error (NZEC)"}, {12, "Runtime Error (Other)"}, {13, "Internal Error"},
	{14, "Exec Format Error"},
}

// judge0AllFields are the submission's attributes in Judge0's order (the
// submissions columns, then status and language); fields=* selects them all.
var judge0AllFields = []string{
	"source_code", "language_id", "stdin", "expected_output", "stdout", "status_id", "created_at",
	"finished_at", "time", "memory", "stderr", "token", "number_of_runs", "cpu_time_limit",
	"cpu_extra_time", "wall_time_limit", "memory_limit", "stack_limit", "max_processes_and_or_threads",
	"enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit",
	"max_file_size", "compile_output", "exit_code", "exit_signal", "message", "wall_time",
	"compiler_options", "command_line_arguments", "redirect_stderr_to_stdout", "callback_url",
	"additional_files", "enable_network", "started_at", "queued_at", "updated_at", "queue_host",
	"execution_host", "status", "language",
}

// judge0DefaultFields are answered without ?fields=.
var judge0DefaultFields = []string{"token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status"}

// Judge0's fixed bounds (app/helpers/config.rb defaults) for the fields that
// Airlock validates but does not apply.
const (
	j0MaxCPUExtraTime   = 5.0
	j0MaxStackLimit     = 128000
	j0MaxMaxFileSize    = 4096
	j0MaxNumberOfRuns   = 20
	j0MaxOptionLength   = 512
	j0MinMemoryLimitKB  = contracts.MinMemoryMB * 1024
	j0MinWallTimeLimitS = 1
)

type judge0Error struct {
	Error string `json:"error"`
}

func writeJudge0Error(w http.ResponseWriter, status int, msg string) {
	web.WriteJSON(w, status, judge0Error{Error: msg})
}

// orderedObject is a JSON object that keeps its keys' order.
type orderedObject []orderedField

type orderedField struct {
	key   string
	value any
}

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	buf.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(f.key); err != nil {
			return nil, err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
		buf.WriteByte(':')
		if err := enc.Encode(f.value); err != nil {
			return nil, err
		}
		buf.Truncate(buf.Len() - 1)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// judge0Errors are Rails' validation errors: field → messages, in the order
// the validations run.
type judge0Errors struct {
	keys []string
	msgs map[string][]string
}

func (e *judge0Errors) add(field, msg string) {
	if e.msgs == nil {
		e.msgs = map[string][]string{}
	}
	if _, ok := e.msgs[field]; !ok {
		e.keys = append(e.keys, field)
	}
	e.msgs[field] = append(e.msgs[field], msg)
}

func (e *judge0Errors) empty() bool { return len(e.keys) == 0 }

func (e *judge0Errors) MarshalJSON() ([]byte, error) {
	o := make(orderedObject, 0, len(e.keys))
	for _, k := range e.keys {
		o = append(o, orderedField{k, e.msgs[k]})
	}
	return o.MarshalJSON()
}

// judge0Field maps a native error field to the Judge0 attribute to blame.
func judge0Field(field string) string {
	switch {
	case field == "language" || field == "version":
		return "language_id"
	case strings.HasPrefix(field, "files[0]") || field == "files":
		return "source_code"
	case strings.HasPrefix(field, "files["):
		return "additional_files"
	case field == "stdin" || field == "expected_output":
		return field
	case strings.HasPrefix(field, "args"):
		return "command_line_arguments"
	case field == "limits.cpu_time_ms":
		return "cpu_time_limit"
	case field == "limits.wall_time_ms":
		return "wall_time_limit"
	case field == "limits.memory_mb":
		return "memory_limit"
	case field == "limits.processes":
		return "max_processes_and_or_threads"
	}
	return "base"
}

// judge0ErrorOf translates a native error into Judge0's status and body: a
// 422 becomes a field → messages hash, a full queue Judge0's 503.
func judge0ErrorOf(herr *web.Error) (int, any) {
	switch herr.Code {
	case contracts.CodeQueueFull, contracts.CodeTenantQueueFull:
		return http.StatusServiceUnavailable, judge0Error{Error: "queue is full"}
	}
	if herr.Status == http.StatusUnprocessableEntity {
		var errs judge0Errors
		errs.add(judge0Field(herr.Field), herr.Message)
		return herr.Status, &errs
	}
	return herr.Status, judge0Error{Error: herr.Message}
}

func writeJudge0HTTPError(w http.ResponseWriter, herr *web.Error) {
	if herr.RetryAfter != "" {
		w.Header().Set("Retry-After", herr.RetryAfter)
	}
	status, body := judge0ErrorOf(herr)
	web.WriteJSON(w, status, body)
}

// judge0MethodNotAllowed answers 405 in Judge0's error shape.
func judge0MethodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeJudge0Error(w, http.StatusMethodNotAllowed,
			fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
	}
}
