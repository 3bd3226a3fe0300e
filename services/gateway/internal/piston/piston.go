// Package piston serves the Piston v2 API (engineer-man/piston 3.x,
// api/src/api/v2.js and api/src/job.js): POST /api/v2/execute runs a
// program synchronously and GET /api/v2/runtimes lists the runtimes.
// Requests are translated into ExecutionRequests and go through the same
// bus client as /v1 (web.Core.Submit and Wait); results are translated
// back. docs/compat.md lists every difference from Piston.
package piston

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/services/gateway/internal/compat"
	"github.com/airlockrun/airlock/services/gateway/internal/web"
)

// pistonRuntime is an entry of GET /api/v2/runtimes.
type pistonRuntime struct {
	Language string   `json:"language"`
	Version  string   `json:"version"`
	Aliases  []string `json:"aliases"`
	Runtime  string   `json:"runtime,omitempty"`
}

// pistonStage is the result of a compile or run stage.
type pistonStage struct {
	Stdout   string  `json:"stdout"`
	Stderr   string  `json:"stderr"`
	Output   string  `json:"output"`
	Code     *int    `json:"code"`
	Signal   *string `json:"signal"`
	Message  *string `json:"message"`
	Status   *string `json:"status"`
	Memory   *int64  `json:"memory"`
	CPUTime  *int64  `json:"cpu_time"`
	WallTime *int64  `json:"wall_time"`
}

// pistonResult is the answer of POST /api/v2/execute.
type pistonResult struct {
	Language string       `json:"language"`
	Version  string       `json:"version"`
	Run      *pistonStage `json:"run"`
	Compile  *pistonStage `json:"compile,omitempty"`
}

// pistonError is every Piston error body.
type pistonError struct {
	Message string `json:"message"`
}

func writePistonError(w http.ResponseWriter, status int, msg string) {
	web.WriteJSON(w, status, pistonError{Message: msg})
}

// writePistonHTTPError translates a native error: validation errors are
// Piston's 400s, the rest keep their status (and Retry-After).
func writePistonHTTPError(w http.ResponseWriter, herr *web.Error) {
	if herr.RetryAfter != "" {
		w.Header().Set("Retry-After", herr.RetryAfter)
	}
	status, msg := herr.Status, herr.Message
	if herr.Field != "" {
		msg = herr.Field + ": " + msg
	}
	if status == http.StatusUnprocessableEntity {
		status = http.StatusBadRequest
	}
	writePistonError(w, status, msg)
}

// pistonMethodNotAllowed answers 405 in Piston's error shape.
func pistonMethodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writePistonError(w, http.StatusMethodNotAllowed,
			fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
	}
}

// handlePistonRuntimes serves GET /api/v2/runtimes: one entry per live
// runtime, as GET /v1/runtimes lists them.
func (a *API) handlePistonRuntimes(w http.ResponseWriter, r *http.Request) {
	runtimes, err := a.Client.LiveRuntimes(r.Context())
	if err != nil {
		a.pistonFail(w, r, err)
		return
	}
	out := []pistonRuntime{}
	for _, rt := range runtimes {
		out = append(out, pistonRuntime{Language: rt.Language, Version: rt.Version, Aliases: rt.Aliases})
	}
	web.WriteJSON(w, http.StatusOK, out)
}

// pistonLimits are Piston's request limits: name, unit conversion and the
// field of contracts.Limits it sets. The order is Piston's check order.
var pistonLimits = []struct {
	name string
	// max is the configured maximum in Piston's unit (ms or bytes).
	max func(contracts.LimitSet) int64
	// set stores a value given in Piston's unit.
	set func(*contracts.Limits, int64)
	// min is the least value accepted, in Piston's unit (0: none).
	min int64
}{
	{"compile_memory_limit", func(m contracts.LimitSet) int64 { return m.CompileMemoryMB << 20 },
		func(l *contracts.Limits, v int64) { l.CompileMemoryMB = ceilDiv(v, 1<<20) }, contracts.MinMemoryMB << 20},
	{"run_memory_limit", func(m contracts.LimitSet) int64 { return m.MemoryMB << 20 },
		func(l *contracts.Limits, v int64) { l.MemoryMB = ceilDiv(v, 1<<20) }, contracts.MinMemoryMB << 20},
	{"compile_timeout", func(m contracts.LimitSet) int64 { return m.CompileWallTimeMS },
		func(l *contracts.Limits, v int64) { l.CompileWallTimeMS = v }, 0},
	{"run_timeout", func(m contracts.LimitSet) int64 { return m.WallTimeMS },
		func(l *contracts.Limits, v int64) { l.WallTimeMS = v }, 0},
	{"compile_cpu_time", func(m contracts.LimitSet) int64 { return m.CompileCPUTimeMS },
		func(l *contracts.Limits, v int64) { l.CompileCPUTimeMS = v }, 0},
	{"run_cpu_time", func(m contracts.LimitSet) int64 { return m.CPUTimeMS },
		func(l *contracts.Limits, v int64) { l.CPUTimeMS = v }, 0},
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// isJSONContentType is Piston's check: the Content-Type starts with
// application/json.
func isJSONContentType(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "application/json") {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// jsFalsy reports whether a JSON value is falsy in JavaScript.
func jsFalsy(raw json.RawMessage) bool {
	switch s := string(bytes.TrimSpace(raw)); s {
	case "", "null", "false", `""`, "0":
		return true
	default:
		var f float64
		if json.Unmarshal(raw, &f) == nil && f == 0 {
			return true
		}
	}
	return false
}

// handlePistonExecute serves POST /api/v2/execute.
func (a *API) handlePistonExecute(w http.ResponseWriter, r *http.Request) {
	body, herr := a.ReadRaw(w, r)
	if herr != nil {
		writePistonHTTPError(w, herr)
		return
	}
	var fields map[string]json.RawMessage
	objErr := json.Unmarshal(body, &fields)
	if !isJSONContentType(r) && (objErr != nil || fields == nil) {
		// Piston refuses every other Content-Type. Airlock also takes a JSON
		// object sent as text/plain: that is what the npm piston-client sends.
		writePistonError(w, http.StatusUnsupportedMediaType, "requests must be of type application/json")
		return
	}
	if objErr != nil {
		if !json.Valid(body) {
			msg := "the request body is not valid JSON"
			var se *json.SyntaxError
			if err := json.Unmarshal(body, new(any)); errors.As(err, &se) {
				msg = fmt.Sprintf("the request body is not valid JSON (byte %d: %s)", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
			}
			writePistonError(w, http.StatusBadRequest, msg)
			return
		}
		fields = map[string]json.RawMessage{} // a JSON array, string, ...: nothing is given
	}
	c := a.For(r)
	req, rt, order, msg, err := pistonRequest(fields, func() ([]contracts.Runtime, error) { return web.Runtimes(r.Context(), c) })
	if err != nil {
		a.pistonFail(w, r, err)
		return
	}
	if msg != "" {
		writePistonError(w, http.StatusBadRequest, msg)
		return
	}
	key, herr := web.IdempotencyKey(r.Header)
	if herr != nil {
		writePistonHTTPError(w, herr)
		return
	}
	sub, err := a.Submit(r.Context(), c, req, client.SubmitOptions{IdempotencyKey: key})
	if err != nil {
		var ve *contracts.ValidationError
		if errors.As(err, &ve) {
			ve.Field = pistonFileField(ve.Field, order)
		}
		a.pistonFail(w, r, err)
		return
	}
	exec, done, err := a.Wait(r.Context(), c, sub.ID, a.MaxWaitTimeout, client.WaitOptions{})
	switch {
	case err != nil:
		a.pistonFail(w, r, err)
	case done:
		web.WriteJSON(w, http.StatusOK, pistonResultOf(&exec, rt))
	default:
		writePistonError(w, http.StatusGatewayTimeout, fmt.Sprintf(
			"the execution did not finish within %s; GET /v1/executions/%s has its state", a.MaxWaitTimeout, sub.ID))
	}
}

// pistonFail answers a client error in Piston's shape (nothing when the
// client has gone).
func (a *API) pistonFail(w http.ResponseWriter, r *http.Request, err error) {
	if herr := web.Failure(a.Log, r, err); herr != nil {
		writePistonHTTPError(w, herr)
	}
}

// pistonRequest translates a Piston request body, checking it in Piston's
// order with Piston's messages (the runtimes are read once the body's
// shape is checked). A non-empty msg is the error to answer; err is the
// runtimes' error. order[i] is the index in the request of req.Files[i].
func pistonRequest(fields map[string]json.RawMessage, runtimesOf func() ([]contracts.Runtime, error)) (req *contracts.ExecutionRequest, rt *contracts.Runtime, order []int, msg string, err error) {
	bad := func(m string) (*contracts.ExecutionRequest, *contracts.Runtime, []int, string, error) {
		return nil, nil, nil, m, nil
	}
	var language, version string
	if json.Unmarshal(fields["language"], &language) != nil || language == "" {
		return bad("language is required as a string")
	}
	if json.Unmarshal(fields["version"], &version) != nil || version == "" {
		return bad("version is required as a string")
	}
	var rawFiles []json.RawMessage
	if json.Unmarshal(fields["files"], &rawFiles) != nil || rawFiles == nil {
		return bad("files is required as an array")
	}
	type pistonFile struct {
		Name     json.RawMessage `json:"name"`
		Content  json.RawMessage `json:"content"`
		Encoding json.RawMessage `json:"encoding"`
	}
	files := make([]pistonFile, len(rawFiles))
	contents := make([]string, len(rawFiles))
	for i, raw := range rawFiles {
		if json.Unmarshal(raw, &files[i]) != nil || json.Unmarshal(files[i].Content, &contents[i]) != nil ||
			bytes.Equal(bytes.TrimSpace(files[i].Content), []byte("null")) {
			return bad(fmt.Sprintf("files[%d].content is required as a string", i))
		}
	}

	runtimes, err := runtimesOf()
	if err != nil {
		return nil, nil, nil, "", err
	}
	rt = pistonFindRuntime(runtimes, language, version)
	if rt == nil {
		return bad(fmt.Sprintf("%s-%s runtime is unknown", language, version))
	}

	// Encodings: utf8 (the default, also for an unknown value), base64, hex.
	encodings := make([]string, len(files))
	anyUTF8 := false
	for i, f := range files {
		var enc string
		_ = json.Unmarshal(f.Encoding, &enc)
		switch enc {
		case "base64", "hex":
		default:
			enc = "utf8"
			anyUTF8 = true
		}
		encodings[i] = enc
	}
	if !anyUTF8 {
		return bad("files must include at least one utf8 encoded file")
	}

	req = &contracts.ExecutionRequest{Language: rt.Language, Version: rt.Version}
	for _, lim := range pistonLimits {
		raw, ok := fields[lim.name]
		if !ok || jsFalsy(raw) {
			continue
		}
		var v float64
		if json.Unmarshal(raw, &v) != nil {
			return bad(fmt.Sprintf("If specified, %s must be a number", lim.name))
		}
		if v == -1 { // "no limit" in Piston: the configured (default) limit here
			continue
		}
		if maximum := lim.max(rt.Maximums); maximum > 0 && v > float64(maximum) {
			return bad(fmt.Sprintf("%s cannot exceed the configured limit of %d", lim.name, maximum))
		}
		if v < 0 {
			return bad(fmt.Sprintf("%s must be non-negative", lim.name))
		}
		if v < float64(lim.min) {
			return bad(fmt.Sprintf("%s must be at least %d", lim.name, lim.min))
		}
		lim.set(&req.Limits, int64(math.Ceil(v)))
	}

	if raw, ok := fields["stdin"]; ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		if json.Unmarshal(raw, &req.Stdin) != nil {
			return bad("stdin must be a string")
		}
	}
	// Piston gives the program its stdin with a trailing newline.
	if !strings.HasSuffix(req.Stdin, "\n") {
		req.Stdin += "\n"
	}
	if raw, ok := fields["args"]; ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		if json.Unmarshal(raw, &req.Args) != nil {
			return bad("args must be an array of strings")
		}
	}

	// The first utf8 file is the main file and goes first; a file without a
	// name is called file<i>.code, except the main file, which gets the
	// runtime's entry file name (Airlock derives the command from it).
	main := -1
	names := make([]string, len(files))
	taken := map[string]bool{}
	for i, f := range files {
		if len(f.Name) > 0 && !bytes.Equal(bytes.TrimSpace(f.Name), []byte("null")) {
			if json.Unmarshal(f.Name, &names[i]) != nil {
				return bad(fmt.Sprintf("files[%d].name must be a string", i))
			}
		}
		taken[names[i]] = names[i] != ""
		if main < 0 && encodings[i] == "utf8" {
			main = i
		}
	}
	for i := range files {
		if names[i] != "" {
			continue
		}
		names[i] = fmt.Sprintf("file%d.code", i)
		if i == main && rt.EntryFile != "" && !taken[rt.EntryFile] {
			names[i] = rt.EntryFile
		}
		taken[names[i]] = true
	}
	order = append([]int{main}, make([]int, 0, len(files)-1)...)
	for i := range files {
		if i != main {
			order = append(order, i)
		}
	}
	for _, i := range order {
		f := contracts.File{Name: names[i], Content: contents[i]}
		switch encodings[i] {
		case "base64":
			f.Content, f.Encoding = base64.StdEncoding.EncodeToString(compat.DecodeBase64Lenient(contents[i])), "base64"
		case "hex":
			data, err := hex.DecodeString(strings.TrimSpace(contents[i]))
			if err != nil {
				return bad(fmt.Sprintf("files[%d].content is not valid hex", i))
			}
			f.Content, f.Encoding = base64.StdEncoding.EncodeToString(data), "base64"
		default:
			if !utf8.ValidString(contents[i]) {
				f.Content, f.Encoding = base64.StdEncoding.EncodeToString([]byte(contents[i])), "base64"
			}
		}
		req.Files = append(req.Files, f)
	}
	return req, rt, order, "", nil
}

// pistonFileField turns "files[i]..." of the translated request back into
// the index the client sent (the main file was moved first).
func pistonFileField(field string, order []int) string {
	rest, ok := strings.CutPrefix(field, "files[")
	if !ok {
		return field
	}
	num, tail, ok := strings.Cut(rest, "]")
	i, err := strconv.Atoi(num)
	if !ok || err != nil || i < 0 || i >= len(order) {
		return field
	}
	return fmt.Sprintf("files[%d]%s", order[i], tail)
}

// pistonFindRuntime picks, like Piston, the newest runtime whose language or
// alias is language and whose version satisfies the SemVer range version:
// the first, since the client lists each language's newest version first.
func pistonFindRuntime(runtimes []contracts.Runtime, language, version string) *contracts.Runtime {
	language = strings.ToLower(strings.TrimSpace(language))
	for i := range runtimes {
		rt := &runtimes[i]
		if (rt.Language == language || slices.Contains(rt.Aliases, language)) && semverSatisfies(rt.Version, version) {
			return rt
		}
	}
	return nil
}

// pistonResultOf translates a completed execution.
func pistonResultOf(exec *contracts.Execution, rt *contracts.Runtime) pistonResult {
	res := pistonResult{Language: exec.Language, Version: exec.Version}
	if res.Language == "" {
		res.Language, res.Version = rt.Language, rt.Version
	}
	if exec.Compile != nil {
		res.Compile = pistonStageOf(exec.Compile, exec.Compile.Verdict, exec.Limits, true)
	}
	switch {
	case exec.Run != nil:
		res.Run = pistonStageOf(exec.Run, exec.Run.Verdict, exec.Limits, false)
	case exec.Verdict == contracts.VerdictCompileError && res.Compile != nil:
		// As Piston: when the program was not run, run is the compile stage.
		c := *res.Compile
		res.Run = &c
	case len(exec.Tests) > 0: // not produced by this API; show the first test
		st := exec.Tests[0].Stage
		res.Run = pistonStageOf(&st, st.Verdict, exec.Limits, false)
	default:
		res.Run = pistonInternal(exec)
	}
	return res
}

// pistonInternal is the run stage of an execution that did not run: Piston's
// XX (internal error) status with Airlock's message.
func pistonInternal(exec *contracts.Execution) *pistonStage {
	msg := exec.Message
	if msg == "" {
		msg = "internal error: the program was not run"
	}
	return &pistonStage{Message: &msg, Status: compat.Ptr("XX")}
}

// pistonStageOf translates one stage. Piston's statuses are isolate's (RE
// non-zero exit, SG killed by a signal, TO timeout, XX internal) plus OL/EL
// (stdout/stderr too long); on TO, OL and EL the signal is SIGKILL and the
// code null.
func pistonStageOf(st *contracts.Stage, verdict contracts.Verdict, limits *contracts.LimitSet, compile bool) *pistonStage {
	out := &pistonStage{
		Stdout:   st.Stdout,
		Stderr:   st.Stderr,
		Output:   st.Stdout + st.Stderr,
		Memory:   compat.Ptr(st.MemoryKB * 1024),
		CPUTime:  compat.Ptr(st.CPUTimeMS),
		WallTime: compat.Ptr(st.WallTimeMS),
	}
	killed := func(status, msg string) {
		out.Signal, out.Status, out.Message = compat.Ptr("SIGKILL"), compat.Ptr(status), compat.Ptr(msg)
	}
	switch verdict {
	case contracts.VerdictTimeLimitExceeded:
		msg := "Time limit exceeded"
		if compat.WallTimeout(st, limits, compile) {
			msg = "Time limit exceeded (wall clock)"
		}
		killed("TO", msg)
	case contracts.VerdictOutputLimitExceeded:
		if len(st.Stderr) > len(st.Stdout) {
			killed("EL", "stderr length exceeded")
		} else {
			killed("OL", "stdout length exceeded")
		}
	case contracts.VerdictMemoryLimitExceeded:
		killed("SG", "Memory limit exceeded")
	case contracts.VerdictInternalError:
		out.Status = compat.Ptr("XX")
	default:
		switch {
		case st.Signal != "":
			out.Signal, out.Status = compat.Ptr(st.Signal), compat.Ptr("SG")
			if n := compat.SignalNumber(st); n > 0 {
				out.Message = compat.Ptr(fmt.Sprintf("Caught fatal signal %d", n))
			}
		case st.ExitCode != 0:
			out.Code, out.Status = compat.Ptr(st.ExitCode), compat.Ptr("RE")
			out.Message = compat.Ptr(fmt.Sprintf("Exited with error status %d", st.ExitCode))
		default:
			out.Code = compat.Ptr(0)
		}
	}
	return out
}

// API serves the Piston v2 endpoints.
type API struct{ *web.Core }

// Register adds the Piston v2 endpoints to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v2/execute", a.handlePistonExecute)
	mux.HandleFunc("/api/v2/execute", pistonMethodNotAllowed("POST"))
	mux.HandleFunc("GET /api/v2/runtimes", a.handlePistonRuntimes)
	mux.HandleFunc("/api/v2/runtimes", pistonMethodNotAllowed("GET, HEAD"))
}
