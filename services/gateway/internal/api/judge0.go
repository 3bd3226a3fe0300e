package api

// The Judge0 CE API subset judges use (judge0/judge0 1.13: config/routes.rb,
// app/controllers/submissions_controller.rb, app/models/submission.rb,
// app/serializers/submission_serializer.rb, app/jobs/isolate_job.rb):
// submissions (single and batch, ?wait=, ?base64_encoded=, ?fields=),
// languages and statuses. Submissions are translated into ExecutionRequests
// and go through the same admission as /v1; tokens are execution ids, and a
// submission is rendered from its Execution alone (the gateway keeps no
// other state). docs/compat.md lists every difference from Judge0.

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
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

// ---- errors and small JSON helpers -----------------------------------------

type judge0Error struct {
	Error string `json:"error"`
}

func writeJudge0Error(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, judge0Error{Error: msg})
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
func judge0ErrorOf(herr *httpError) (int, any) {
	switch herr.code {
	case contracts.CodeQueueFull, contracts.CodeTenantQueueFull:
		return http.StatusServiceUnavailable, judge0Error{Error: "queue is full"}
	}
	if herr.status == http.StatusUnprocessableEntity {
		var errs judge0Errors
		errs.add(judge0Field(herr.field), herr.message)
		return herr.status, &errs
	}
	return herr.status, judge0Error{Error: herr.message}
}

func writeJudge0HTTPError(w http.ResponseWriter, herr *httpError) {
	if herr.retryAfter != "" {
		w.Header().Set("Retry-After", herr.retryAfter)
	}
	status, body := judge0ErrorOf(herr)
	writeJSON(w, status, body)
}

// judge0MethodNotAllowed answers 405 in Judge0's error shape.
func judge0MethodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeJudge0Error(w, http.StatusMethodNotAllowed,
			fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
	}
}

// ---- query parameters ------------------------------------------------------

// judge0Fields reads ?fields= like Fields::Base: comma-separated attribute
// names (not trimmed), "*" for all; unknown names are an error; none valid
// means the defaults.
func judge0Fields(q url.Values) ([]string, string) {
	raw := q.Get("fields")
	var names, invalid []string
	for _, f := range rubySplit(raw, ",") {
		if f == "*" {
			return judge0AllFields, ""
		}
		if slices.Contains(judge0AllFields, f) {
			names = append(names, f)
		} else {
			invalid = append(invalid, f)
		}
	}
	if len(invalid) > 0 {
		return nil, "invalid fields: [" + strings.Join(invalid, ", ") + "]"
	}
	if len(names) == 0 {
		return judge0DefaultFields, ""
	}
	// The serializer answers in its own attribute order.
	var ordered []string
	for _, f := range judge0AllFields {
		if slices.Contains(names, f) {
			ordered = append(ordered, f)
		}
	}
	return ordered, ""
}

// rubySplit is Ruby's String#split(sep): trailing empty strings are dropped.
func rubySplit(s, sep string) []string {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, sep)
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

// ---- rendering a submission ------------------------------------------------

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
			o.compile = compatPtr("Compilation time limit exceeded.")
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
			o.msg = compatPtr("internal error: the program was not run")
		}
		if st == nil {
			return o
		}
	}
	o.stdout, o.stderr = nonEmpty(st.Stdout), nonEmpty(st.Stderr)
	o.time, o.wallTime = compatPtr(judge0Seconds(st.CPUTimeMS)), compatPtr(judge0Seconds(st.WallTimeMS))
	o.memory = compatPtr(st.MemoryKB)
	if sig := signalNumber(st); sig > 0 {
		o.exitCode, o.exitSignal = compatPtr(0), compatPtr(sig)
	} else {
		o.exitCode = compatPtr(st.ExitCode)
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
		o.msg = compatPtr("Time limit exceeded")
		if wallTimeout(st, exec.Limits, false) {
			o.msg = compatPtr("Time limit exceeded (wall clock)")
		}
	case contracts.VerdictMemoryLimitExceeded:
		o.status = j0RuntimeOther
		o.msg = compatPtr("Memory limit exceeded")
	case contracts.VerdictOutputLimitExceeded:
		o.status = j0SIGXFSZ
		o.exitCode, o.exitSignal = compatPtr(0), compatPtr(25)
		o.msg = compatPtr("Output limit exceeded")
	default: // runtime_error
		switch sig := signalNumber(st); {
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
			o.msg = compatPtr(fmt.Sprintf("Caught fatal signal %d", sig))
		default:
			o.status = j0NZEC
			o.msg = compatPtr(fmt.Sprintf("Exited with error status %d", st.ExitCode))
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
			return encodeBase64Lines([]byte(*s))
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

// ---- reading a submission --------------------------------------------------

// judge0Params reads the body: a JSON object, or form fields (Rails reads
// both). A body that is neither is a 400.
func (a *API) judge0Params(w http.ResponseWriter, r *http.Request) (map[string]any, *httpError) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data" {
		r.Body = http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes)
		var err error
		if mt == "multipart/form-data" {
			err = r.ParseMultipartForm(a.opts.MaxBodyBytes)
		} else {
			err = r.ParseForm()
		}
		if err != nil {
			if herr := asBodyTooLarge(err); herr != nil {
				return nil, herr
			}
			return nil, invalidJSON("", "could not read the form: "+err.Error())
		}
		p := map[string]any{}
		for k, v := range r.PostForm {
			if len(v) > 0 {
				p[k] = v[len(v)-1]
			}
		}
		return p, nil
	}
	body, herr := a.readRawBody(w, r)
	if herr != nil {
		return nil, herr
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, invalidJSON("", "the request body is not valid JSON: "+strings.TrimPrefix(err.Error(), "json: "))
	}
	p, ok := v.(map[string]any)
	if !ok {
		return nil, invalidJSON("", "the request body must be a JSON object")
	}
	return p, nil
}

// judge0String reads a text attribute: strings, numbers and booleans as
// their text; null, absent, arrays and objects (which Rails' permit drops)
// as absent.
func judge0String(p map[string]any, key string) (string, bool) {
	switch v := p[key].(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// judge0Number reads a numeric attribute. present is false for absent, null
// and "" (Rails then applies the default); ok is false for a value that is
// not a number.
func judge0Number(p map[string]any, key string) (v float64, present, ok bool) {
	switch x := p[key].(type) {
	case nil:
		return 0, false, true
	case json.Number:
		f, err := x.Float64()
		return f, true, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
	case string:
		if strings.TrimSpace(x) == "" {
			return 0, false, true
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, true, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
	}
	if _, isMap := p[key].(map[string]any); isMap {
		return 0, false, true
	}
	if _, isList := p[key].([]any); isList {
		return 0, false, true
	}
	return 0, true, false
}

// judge0Bool casts like ActiveModel::Type::Boolean: absent, null and "" are
// absent; false, 0, "0", "f", "false", "off" (any case) are false; anything
// else is true.
func judge0Bool(p map[string]any, key string) (v, present bool) {
	switch x := p[key].(type) {
	case nil:
		return false, false
	case bool:
		return x, true
	case json.Number:
		return x.String() != "0", true
	case string:
		switch strings.ToLower(x) {
		case "":
			return false, false
		case "0", "f", "false", "off":
			return false, true
		}
		return true, true
	}
	return false, false
}

func isBlank(s string) bool { return strings.TrimFunc(s, unicode.IsSpace) == "" }

// rubyNumber formats a bound as Ruby prints it in a validation message.
func rubyNumber(v float64, float bool) string {
	if !float {
		return strconv.FormatInt(int64(v), 10)
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// judge0Request translates a submission into an ExecutionRequest, with
// Judge0's validations and messages.
func (a *API) judge0Request(p map[string]any, b64 bool, runtimes []contracts.Runtime) (*contracts.ExecutionRequest, *judge0Errors) {
	errs := &judge0Errors{}
	decode := func(key string) (string, bool) {
		s, ok := judge0String(p, key)
		if ok && b64 {
			s = string(decodeBase64Lenient(s))
		}
		return s, ok
	}
	source, hasSource := decode("source_code")
	if !hasSource || isBlank(source) {
		errs.add("source_code", "can't be blank")
	}
	langNum, hasLang, langOK := judge0Number(p, "language_id")
	var rt *contracts.Runtime
	var lang *judge0Language
	if !hasLang || !langOK {
		errs.add("language_id", "can't be blank")
	} else if lang = judge0LanguageByID(int(langNum)); lang != nil {
		rt, _ = lang.resolve(runtimes)
	}
	var maxs *contracts.LimitSet
	if rt != nil {
		maxs = &rt.Maximums
	}

	// numericality: value, lower bound (inclusive or not), upper bound.
	number := func(key string, lo float64, loInclusive bool, hi float64, hiFloat bool) (float64, bool) {
		v, present, ok := judge0Number(p, key)
		if !present {
			return 0, false
		}
		if !ok {
			errs.add(key, "is not a number")
			return 0, false
		}
		switch {
		case loInclusive && v < lo:
			errs.add(key, "must be greater than or equal to "+rubyNumber(lo, false))
		case !loInclusive && v <= lo:
			errs.add(key, "must be greater than "+rubyNumber(lo, false))
		case hi > 0 && v > hi:
			errs.add(key, "must be less than or equal to "+rubyNumber(hi, hiFloat))
		default:
			return v, true
		}
		return 0, false
	}
	var maxCPU, maxWall, maxMem, maxProcs float64
	if maxs != nil {
		maxCPU, maxWall = float64(maxs.CPUTimeMS)/1000, float64(maxs.WallTimeMS)/1000
		maxMem, maxProcs = float64(maxs.MemoryMB*1024), float64(maxs.Processes)
	}
	number("number_of_runs", 0, false, j0MaxNumberOfRuns, false)
	cpu, hasCPU := number("cpu_time_limit", 0, true, maxCPU, true)
	number("cpu_extra_time", 0, true, j0MaxCPUExtraTime, true)
	wall, hasWall := number("wall_time_limit", j0MinWallTimeLimitS, true, maxWall, true)
	mem, hasMem := number("memory_limit", j0MinMemoryLimitKB, true, maxMem, false)
	number("stack_limit", 0, true, j0MaxStackLimit, false)
	procs, hasProcs := number("max_processes_and_or_threads", 0, false, maxProcs, false)
	for _, key := range []string{"enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit"} {
		if v, _ := judge0Bool(p, key); v {
			errs.add(key, "this option cannot be enabled")
		}
	}
	number("max_file_size", 0, true, j0MaxMaxFileSize, false)
	compilerOptions, _ := judge0String(p, "compiler_options")
	cmdline, _ := judge0String(p, "command_line_arguments")
	if utf8.RuneCountInString(compilerOptions) > j0MaxOptionLength {
		errs.add("compiler_options", fmt.Sprintf("is too long (maximum is %d characters)", j0MaxOptionLength))
	}
	if utf8.RuneCountInString(cmdline) > j0MaxOptionLength {
		errs.add("command_line_arguments", fmt.Sprintf("is too long (maximum is %d characters)", j0MaxOptionLength))
	}
	if hasLang && langOK && rt == nil {
		if id := int(langNum); id >= judge0FirstArchived && id <= judge0LastArchived {
			// db/languages/archived.rb
			errs.add("language_id", fmt.Sprintf("language with id %d is archived and cannot be used anymore", id))
		} else {
			errs.add("language_id", fmt.Sprintf("language with id %s doesn't exist", rubyNumber(langNum, false)))
		}
	}
	if !isBlank(compilerOptions) {
		errs.add("compiler_options", "setting compiler options is not allowed")
	}
	if cb, _ := judge0String(p, "callback_url"); !isBlank(cb) {
		errs.add("callback_url", "setting callback is not allowed")
	}
	if v, _ := judge0Bool(p, "enable_network"); v {
		errs.add("enable_network", "enabling network is not allowed")
	}
	if v, _ := judge0Bool(p, "redirect_stderr_to_stdout"); v {
		errs.add("redirect_stderr_to_stdout", "redirecting stderr to stdout is not supported")
	}
	var extra []contracts.File
	if s, ok := judge0String(p, "additional_files"); ok && !isBlank(s) {
		var msg string
		extra, msg = judge0Unzip(decodeBase64Lenient(s), a.client.Policy().MaxSourceBytes)
		if msg != "" {
			errs.add("additional_files", msg)
		}
	}
	if !errs.empty() {
		return nil, errs
	}

	entry := rt.EntryFile
	if entry == "" {
		entry = lang.source
	}
	req := &contracts.ExecutionRequest{Language: rt.Language, Version: rt.Version, Compare: contracts.CompareTrim}
	main := contracts.File{Name: entry, Content: source}
	if !utf8.ValidString(source) {
		main.Content, main.Encoding = base64.StdEncoding.EncodeToString([]byte(source)), "base64"
	}
	req.Files = append(req.Files, main)
	for _, f := range extra {
		if f.Name != entry { // unzip -n: the source file is never overwritten
			req.Files = append(req.Files, f)
		}
	}
	req.Stdin, _ = decode("stdin")
	if eo, ok := decode("expected_output"); ok {
		req.ExpectedOutput = &eo
	}
	req.Args = judge0Args(cmdline)
	if hasCPU && cpu > 0 {
		req.Limits.CPUTimeMS = int64(math.Ceil(cpu * 1000))
	}
	if hasWall {
		req.Limits.WallTimeMS = int64(math.Ceil(wall * 1000))
	}
	if hasMem {
		req.Limits.MemoryMB = int64(math.Ceil(mem / 1024))
	}
	if hasProcs {
		req.Limits.Processes = int64(procs)
	}
	return req, nil
}

// judge0Args splits command_line_arguments as the bash script Judge0 runs
// it in would: Judge0 first removes $&;<>|` and then the shell splits words
// at blanks, honouring quotes and backslashes. Globs are not expanded.
func judge0Args(s string) []string {
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune("$&;<>|`", r) {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	var args []string
	var cur strings.Builder
	inWord := false
	quote := rune(0)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteRune(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(rs) && strings.ContainsRune("\"\\", rs[i+1]):
				i++
				cur.WriteRune(rs[i])
			default:
				cur.WriteRune(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\':
			if i+1 < len(rs) {
				i++
				cur.WriteRune(rs[i])
			}
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args
}

// judge0Unzip reads additional_files (a zip archive) into files: regular
// files only, at most limit bytes in total.
func judge0Unzip(data []byte, limit int64) ([]contracts.File, string) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, "must be a base64 encoded zip archive: " + err.Error()
	}
	var files []contracts.File
	var total int64
	for _, zf := range zr.File {
		if zf.FileInfo().IsDir() || !zf.Mode().IsRegular() {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return nil, fmt.Sprintf("cannot read %s from the zip archive: %v", zf.Name, err)
		}
		content, err := io.ReadAll(io.LimitReader(rc, limit-total+1))
		_ = rc.Close()
		if err != nil {
			return nil, fmt.Sprintf("cannot read %s from the zip archive: %v", zf.Name, err)
		}
		total += int64(len(content))
		if total > limit {
			return nil, fmt.Sprintf("the files in the zip archive are larger than %d bytes", limit)
		}
		files = append(files, contracts.File{Name: strings.TrimPrefix(zf.Name, "./"),
			Content: base64.StdEncoding.EncodeToString(content), Encoding: "base64"})
	}
	return files, ""
}

// ---- handlers --------------------------------------------------------------

// judge0Runtimes reads the runtimes for rendering (language ids and names);
// a failure only loses the language fields.
func judge0Runtimes(r *http.Request, c *client.Client) []contracts.Runtime {
	runtimes, _ := c.Runtimes(r.Context())
	return runtimes
}

// judge0Fail answers a client error in Judge0's shape (nothing when the
// client has gone).
func (a *API) judge0Fail(w http.ResponseWriter, r *http.Request, err error) {
	if herr := failure(a.log, r, err); herr != nil {
		writeJudge0HTTPError(w, herr)
	}
}

// handleJudge0Create serves POST /submissions.
func (a *API) handleJudge0Create(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	wait := q.Get("wait") == "true"
	b64 := q.Get("base64_encoded") == "true"
	fields, bad := judge0Fields(q)
	if bad != "" {
		writeJudge0Error(w, http.StatusBadRequest, bad)
		return
	}
	key, herr := idempotencyKey(r.Header)
	if herr != nil {
		writeJudge0HTTPError(w, herr)
		return
	}
	p, herr := a.judge0Params(w, r)
	if herr != nil {
		writeJudge0HTTPError(w, herr)
		return
	}
	c := a.client.As(tenantOf(r.Context()))
	runtimes, err := runtimesFor(r.Context(), c)
	if err != nil {
		a.judge0Fail(w, r, err)
		return
	}
	req, errs := a.judge0Request(p, b64, runtimes)
	if errs != nil {
		writeJSON(w, http.StatusUnprocessableEntity, errs)
		return
	}
	sub, err := a.submit(r.Context(), c, req, client.SubmitOptions{IdempotencyKey: key})
	if err != nil {
		a.judge0Fail(w, r, err)
		return
	}
	if !wait {
		writeJSON(w, http.StatusCreated, orderedObject{{"token", sub.ID}})
		return
	}
	exec, _, err := a.waitFor(r.Context(), c, sub.ID, a.opts.MaxWaitTimeout, client.WaitOptions{})
	if err != nil {
		a.judge0Fail(w, r, err)
		return
	}
	if exec.ID == "" { // nothing recorded yet: still in the queue
		exec = contracts.Execution{ID: sub.ID, Status: contracts.StatusQueued, Language: req.Language,
			Version: req.Version, CreatedAt: time.Now().UTC()}
	}
	writeJSON(w, http.StatusCreated, judge0Render(&exec, fields, b64, runtimes, isOperator(r.Context())))
}

// handleJudge0Get serves GET /submissions/{token}.
func (a *API) handleJudge0Get(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fields, bad := judge0Fields(q)
	if bad != "" {
		writeJudge0Error(w, http.StatusBadRequest, bad)
		return
	}
	c := a.client.As(tenantOf(r.Context()))
	exec, err := c.Get(r.Context(), r.PathValue("token"))
	switch {
	case errors.Is(err, client.ErrNotFound):
		writeJSON(w, http.StatusNotFound, orderedObject{{"error", "Not Found"}})
		return
	case err != nil:
		a.judge0Fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, judge0Render(&exec, fields, q.Get("base64_encoded") == "true", judge0Runtimes(r, c), isOperator(r.Context())))
}

// judge0BatchSizeError checks the number of entries of a batch.
func (a *API) judge0BatchSizeError(n int) string {
	switch {
	case n > a.opts.MaxBatch:
		return fmt.Sprintf("number of submissions in a batch should be less than or equal to %d", a.opts.MaxBatch)
	case n == 0:
		return "there should be at least one submission in a batch"
	}
	return ""
}

// handleJudge0BatchCreate serves POST /submissions/batch: each entry is
// validated and queued on its own; the answer has a {token} or the errors of
// each entry, and is 201 when at least one was queued (else 422). With an
// Idempotency-Key, entry i gets the id of the key "<key>#<i>".
func (a *API) handleJudge0BatchCreate(w http.ResponseWriter, r *http.Request) {
	b64 := r.URL.Query().Get("base64_encoded") == "true"
	key, herr := idempotencyKey(r.Header)
	if herr != nil {
		writeJudge0HTTPError(w, herr)
		return
	}
	p, herr := a.judge0Params(w, r)
	if herr != nil {
		writeJudge0HTTPError(w, herr)
		return
	}
	var items []any
	switch v := p["submissions"].(type) {
	case []any:
		items = v
	case map[string]any:
		items = make([]any, len(v)) // Rails counts a hash's keys; none is a submission
	}
	if msg := a.judge0BatchSizeError(len(items)); msg != "" {
		writeJudge0Error(w, http.StatusBadRequest, msg)
		return
	}
	if herr := checkBatchKey(key, len(items)); herr != nil {
		writeJudge0HTTPError(w, herr)
		return
	}
	c := a.client.As(tenantOf(r.Context()))
	runtimes, err := runtimesFor(r.Context(), c)
	if err != nil {
		a.judge0Fail(w, r, err)
		return
	}
	out := make([]any, len(items))
	queued := false
	for i, item := range items {
		params, _ := item.(map[string]any)
		if params == nil {
			params = map[string]any{}
		}
		req, errs := a.judge0Request(params, b64, runtimes)
		if errs != nil {
			out[i] = errs
			continue
		}
		sub, err := a.submit(r.Context(), c, req, client.SubmitOptions{IdempotencyKey: batchKey(key, i)})
		if err != nil {
			if failure(a.log, r, err) == nil {
				return
			}
			_, body := judge0ErrorOf(errorOf(err))
			out[i] = body
			continue
		}
		out[i] = orderedObject{{"token", sub.ID}}
		queued = true
	}
	status := http.StatusCreated
	if !queued {
		status = http.StatusUnprocessableEntity
	}
	writeJSON(w, status, out)
}

// handleJudge0BatchGet serves GET /submissions/batch?tokens=a,b,c (or a
// tokens header): {"submissions": [...]} in the order asked, null for a
// token nobody knows.
func (a *API) handleJudge0BatchGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fields, bad := judge0Fields(q)
	if bad != "" {
		writeJudge0Error(w, http.StatusBadRequest, bad)
		return
	}
	raw := r.Header.Get("tokens")
	if raw == "" {
		raw = q.Get("tokens")
	}
	tokens := rubySplit(strings.TrimSpace(raw), ",")
	if msg := a.judge0BatchSizeError(len(tokens)); msg != "" {
		writeJudge0Error(w, http.StatusBadRequest, msg)
		return
	}
	b64 := q.Get("base64_encoded") == "true"
	c := a.client.As(tenantOf(r.Context()))
	runtimes := judge0Runtimes(r, c)
	out := make([]any, len(tokens))
	for i, token := range tokens {
		exec, err := c.Get(r.Context(), token)
		switch {
		case errors.Is(err, client.ErrNotFound):
			continue
		case err != nil:
			a.judge0Fail(w, r, err)
			return
		}
		out[i] = judge0Render(&exec, fields, b64, runtimes, isOperator(r.Context()))
	}
	writeJSON(w, http.StatusOK, orderedObject{{"submissions", out}})
}

// handleJudge0Languages serves GET /languages: [{id, name}] of the served
// languages, sorted by name; /languages/all adds is_archived.
func (a *API) handleJudge0Languages(all bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		runtimes, err := a.client.LiveRuntimes(r.Context())
		if err != nil {
			a.judge0Fail(w, r, err)
			return
		}
		out := []orderedObject{}
		for _, l := range judge0ListLanguages(runtimes) {
			o := orderedObject{{"id", l.lang.id}, {"name", l.lang.name(l.rt)}}
			if all {
				o = append(o, orderedField{"is_archived", false})
			}
			out = append(out, o)
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// handleJudge0Language serves GET /languages/{id}: any served id, listed or
// not, with its source file; Airlock has no compile_cmd or run_cmd to show.
func (a *API) handleJudge0Language(w http.ResponseWriter, r *http.Request) {
	runtimes, err := a.client.LiveRuntimes(r.Context())
	if err != nil {
		a.judge0Fail(w, r, err)
		return
	}
	id, err := strconv.Atoi(r.PathValue("id"))
	var l *judge0Language
	var rt *contracts.Runtime
	listed := false
	if err == nil {
		if l = judge0LanguageByID(id); l != nil {
			rt, listed = l.resolve(runtimes)
		}
	}
	if rt == nil {
		writeJSON(w, http.StatusNotFound, orderedObject{{"error", "Not Found"}})
		return
	}
	name := l.name(rt)
	if !listed { // an alternative id: named after what really runs it
		if _, format := judge0IDOf(rt.Language, runtimes); format != "" {
			name = fmt.Sprintf(format, rt.Version)
		}
	}
	source := rt.EntryFile
	if source == "" {
		source = l.source
	}
	writeJSON(w, http.StatusOK, orderedObject{{"id", l.id}, {"name", name}, {"is_archived", false},
		{"source_file", source}, {"compile_cmd", nil}, {"run_cmd", nil}})
}

// handleJudge0Statuses serves GET /statuses.
func (a *API) handleJudge0Statuses(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, judge0Statuses)
}

// handleJudge0About serves GET /about and GET /version.
func (a *API) handleJudge0About(version bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if version {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, judge0CompatVersion)
			return
		}
		writeJSON(w, http.StatusOK, orderedObject{{"version", judge0CompatVersion},
			{"homepage", "https://github.com/airlockrun/airlock"}, {"source_code", "https://github.com/airlockrun/airlock"},
			{"maintainer", "Airlock (Judge0-compatible API)"}})
	}
}

// judge0CompatVersion is the Judge0 version whose API this imitates.
const judge0CompatVersion = "1.13.1"

// handleJudge0Auth serves POST /authenticate and /authorize: Judge0 answers
// 200 when the token is right; here the API key middleware already decided.
func (a *API) handleJudge0Auth(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusOK)
}

// handleJudge0Forbidden serves GET /submissions (listing) and DELETE
// /submissions/{token}, which a stock Judge0 only allows with an
// authorization token: Airlock has neither.
func (a *API) handleJudge0Forbidden(w http.ResponseWriter, r *http.Request) {
	writeJudge0Error(w, http.StatusForbidden, fmt.Sprintf("%s %s is not supported", r.Method, r.URL.Path))
}

// registerJudge0 adds the Judge0 endpoints to mux. Judge0 (Rails) also
// answers its collection paths with a trailing slash.
func (a *API) registerJudge0(mux *http.ServeMux) {
	for _, p := range []string{"/submissions", "/submissions/{$}"} {
		mux.HandleFunc("POST "+p, a.handleJudge0Create)
		mux.HandleFunc("GET "+p, a.handleJudge0Forbidden)
		mux.HandleFunc(p, judge0MethodNotAllowed("GET, HEAD, POST"))
	}
	mux.HandleFunc("POST /submissions/batch", a.handleJudge0BatchCreate)
	mux.HandleFunc("GET /submissions/batch", a.handleJudge0BatchGet)
	mux.HandleFunc("GET /submissions/{token}", a.handleJudge0Get)
	mux.HandleFunc("/submissions/{token}", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.PathValue("token") == "batch":
			judge0MethodNotAllowed("GET, HEAD, POST")(w, r)
		case r.Method == http.MethodDelete:
			a.handleJudge0Forbidden(w, r)
		default:
			judge0MethodNotAllowed("GET, HEAD")(w, r)
		}
	})
	for _, p := range []string{"/languages", "/languages/{$}"} {
		mux.HandleFunc("GET "+p, a.handleJudge0Languages(false))
		mux.HandleFunc(p, judge0MethodNotAllowed("GET, HEAD"))
	}
	mux.HandleFunc("GET /languages/all", a.handleJudge0Languages(true))
	mux.HandleFunc("GET /languages/{id}", a.handleJudge0Language)
	mux.HandleFunc("/languages/{id}", judge0MethodNotAllowed("GET, HEAD"))
	for _, p := range []string{"/statuses", "/statuses/{$}"} {
		mux.HandleFunc("GET "+p, a.handleJudge0Statuses)
		mux.HandleFunc(p, judge0MethodNotAllowed("GET, HEAD"))
	}
	mux.HandleFunc("GET /about", a.handleJudge0About(false))
	mux.HandleFunc("GET /version", a.handleJudge0About(true))
	mux.HandleFunc("POST /authenticate", a.handleJudge0Auth)
	mux.HandleFunc("POST /authorize", a.handleJudge0Auth)
}
