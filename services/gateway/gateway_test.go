package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
	"github.com/airlockrun/airlock/services/gateway"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// env is a running gateway on an embedded NATS server.
type env struct {
	t          *testing.T
	base       string
	nats       *testkit.NATS
	topo       contracts.Topology
	executions jetstream.KeyValue
	executors  jetstream.KeyValue
	stop       func() error
}

// start runs the real gateway.Run on 127.0.0.1:0 against a fresh NATS
// server (startOn, in eval_test.go, takes a given one).
func start(t *testing.T, mutate func(*gateway.Config)) *env {
	t.Helper()
	return startOn(t, testkit.StartNATS(t, ""), mutate)
}

// testRuntimes are the runtimes of the simulated executor.
func testRuntimes() []contracts.Runtime {
	return []contracts.Runtime{
		{
			Language: "python", Aliases: []string{"py", "python3"}, Version: "3.12.3", EntryFile: "main.py",
			Defaults: contracts.LimitSet{CPUTimeMS: 2000, WallTimeMS: 5000, MemoryMB: 256, Processes: 64, OutputBytes: 65536},
			Maximums: contracts.LimitSet{CPUTimeMS: 10000, WallTimeMS: 20000, MemoryMB: 1024, Processes: 256, OutputBytes: 1 << 20},
		},
		{
			Language: "c", Aliases: []string{"gcc"}, Version: "13.2.0", Compiled: true, EntryFile: "main.c",
			Defaults: contracts.LimitSet{CPUTimeMS: 2000, WallTimeMS: 5000, MemoryMB: 256, Processes: 64, OutputBytes: 65536,
				CompileCPUTimeMS: 10000, CompileWallTimeMS: 20000, CompileMemoryMB: 512},
			Maximums: contracts.LimitSet{CPUTimeMS: 10000, WallTimeMS: 20000, MemoryMB: 1024, Processes: 256, OutputBytes: 1 << 20,
				CompileCPUTimeMS: 30000, CompileWallTimeMS: 60000, CompileMemoryMB: 2048},
		},
	}
}

// heartbeat writes an executor heartbeat into the executors bucket, as a live
// executor would.
func (e *env) heartbeat(id, problem string, runtimes []contracts.Runtime) {
	e.t.Helper()
	now := time.Now().UTC()
	data, err := json.Marshal(contracts.ExecutorInfo{ID: id, Slots: 4, Runtimes: runtimes,
		StartedAt: now, UpdatedAt: now, Problem: problem})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.executors.Put(context.Background(), id, data); err != nil {
		e.t.Fatal(err)
	}
}

// putExecution writes an execution into the executions bucket, as the
// results service would.
func (e *env) putExecution(exec contracts.Execution) {
	e.t.Helper()
	data, err := json.Marshal(exec)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.executions.Put(context.Background(), exec.ID, data); err != nil {
		e.t.Fatal(err)
	}
}

// call is one HTTP request.
type call struct {
	method      string
	path        string
	body        string
	contentType string // default application/json when body is set; "-" for none
	headers     map[string][]string
}

// response is a read HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(c call) response {
	e.t.Helper()
	if c.method == "" {
		c.method = http.MethodGet
		if c.body != "" {
			c.method = http.MethodPost
		}
	}
	req, err := http.NewRequest(c.method, e.base+c.path, strings.NewReader(c.body))
	if err != nil {
		e.t.Fatal(err)
	}
	switch {
	case c.contentType == "-":
	case c.contentType != "":
		req.Header.Set("Content-Type", c.contentType)
	case c.method == http.MethodPost:
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.headers {
		req.Header[k] = v
	}
	if h := c.headers["Host"]; len(h) > 0 {
		req.Host = h[0] // the client sends req.Host, not a Host header
	}
	// A failure bound, never reached by an answer the test waits for.
	client := &http.Client{Timeout: testkit.Patience}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// submit posts body to path and returns the response.
func (e *env) submit(path, body string, headers map[string][]string) response {
	e.t.Helper()
	return e.do(call{method: http.MethodPost, path: path, body: body, headers: headers})
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %T from %d %q: %v", v, r.status, r.body, err)
	}
	return v
}

// wantError checks an ErrorBody answer.
func wantError(t *testing.T, r response, status int, code, field, contains string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	eb := decode[contracts.ErrorBody](t, r)
	if eb.Error.Code != code {
		t.Errorf("code %q, want %q (message %q)", eb.Error.Code, code, eb.Error.Message)
	}
	if field != "*" && eb.Error.Field != field {
		t.Errorf("field %q, want %q (message %q)", eb.Error.Field, field, eb.Error.Message)
	}
	if eb.Error.Message == "" {
		t.Error("empty error message")
	}
	if !strings.Contains(eb.Error.Message, contains) {
		t.Errorf("message %q does not contain %q", eb.Error.Message, contains)
	}
}

// helloPy is a valid request.
const helloPy = `{"language":"python","files":[{"name":"main.py","content":"print('hi')"}]}`

func withFiles(files string) string {
	return `{"language":"python","files":` + files + `}`
}

func TestSubmitErrors(t *testing.T) {
	e := start(t, func(c *gateway.Config) { c.MaxBodyBytes = 4 << 20 })
	e.heartbeat("exec-1", "", testRuntimes())

	tests := []struct {
		name        string
		path        string
		body        string
		contentType string
		headers     map[string][]string
		status      int
		code        string
		field       string // "*": any
		contains    string
	}{
		// 415
		{name: "no content type", body: helloPy, contentType: "-", status: 415, code: contracts.CodeUnsupportedMediaType},
		{name: "text/plain", body: helloPy, contentType: "text/plain", status: 415, code: contracts.CodeUnsupportedMediaType, contains: "text/plain"},
		{name: "bad media type", body: helloPy, contentType: "application/json; =", status: 415, code: contracts.CodeUnsupportedMediaType},
		// 400 invalid_json
		{name: "empty body", body: "", status: 400, code: contracts.CodeInvalidJSON, contains: "empty"},
		{name: "truncated", body: `{"language":`, status: 400, code: contracts.CodeInvalidJSON},
		{name: "malformed", body: `{language: python}`, status: 400, code: contracts.CodeInvalidJSON, contains: "malformed"},
		{name: "unknown field", body: `{"language":"python","files":[],"bogus":1}`, status: 400, code: contracts.CodeInvalidJSON, field: "bogus", contains: "bogus"},
		{name: "unknown nested field", body: withFiles(`[{"name":"a.py","content":"","mode":1}]`), status: 400, code: contracts.CodeInvalidJSON, field: "mode"},
		{name: "trailing object", body: helloPy + ` {}`, status: 400, code: contracts.CodeInvalidJSON, contains: "after"},
		{name: "trailing garbage", body: helloPy + ` x`, status: 400, code: contracts.CodeInvalidJSON, contains: "after"},
		{name: "wrong type language", body: `{"language":5,"files":[]}`, status: 400, code: contracts.CodeInvalidJSON, field: "language", contains: "string"},
		{name: "wrong type files", body: `{"language":"python","files":"main.py"}`, status: 400, code: contracts.CodeInvalidJSON, field: "files", contains: "array"},
		{name: "wrong type nested", body: withFiles(`[{"name":7,"content":""}]`), status: 400, code: contracts.CodeInvalidJSON, field: "*", contains: "string"},
		{name: "wrong type limit", body: `{"language":"python","files":[],"limits":{"cpu_time_ms":"1s"}}`, status: 400, code: contracts.CodeInvalidJSON, field: "limits.cpu_time_ms", contains: "integer"},
		{name: "limit overflow", body: `{"language":"python","files":[],"limits":{"cpu_time_ms":1e30}}`, status: 400, code: contracts.CodeInvalidJSON, field: "limits.cpu_time_ms"},
		{name: "array body", body: `[]`, status: 400, code: contracts.CodeInvalidJSON, contains: "object"},
		{name: "null body", body: `null`, status: 400, code: contracts.CodeInvalidJSON, contains: "object"},
		// 413
		{name: "body too large", body: withFiles(`[{"name":"a.py","content":"` + strings.Repeat("x", 5<<20) + `"}]`), status: 413, code: contracts.CodeBodyTooLarge, contains: "4194304"},
		{name: "job over NATS max payload", body: withFiles(`[{"name":"a.py","content":"` + strings.Repeat("x", 1500<<10) + `"}]`), status: 413, code: contracts.CodeJobTooLarge, contains: "message bus"},
		// 422 invalid_request
		{name: "missing language", body: `{"files":[{"name":"a.py","content":""}]}`, status: 422, code: contracts.CodeInvalidRequest, field: "language"},
		{name: "bad language token", body: `{"language":"py thon","files":[{"name":"a.py","content":""}]}`, status: 422, code: contracts.CodeInvalidRequest, field: "language"},
		{name: "no files", body: withFiles(`[]`), status: 422, code: contracts.CodeInvalidRequest, field: "files"},
		{name: "files missing", body: `{"language":"python"}`, status: 422, code: contracts.CodeInvalidRequest, field: "files"},
		{name: "name dotdot", body: withFiles(`[{"name":"../x","content":""}]`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "name absolute", body: withFiles(`[{"name":"/abs","content":""}]`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "name dash", body: withFiles(`[{"name":"-o","content":""}]`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "name NUL", body: withFiles(`[{"name":"a\u0000b","content":""}]`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "name empty", body: withFiles(`[{"name":"","content":""}]`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "bad encoding", body: withFiles(`[{"name":"a.py","content":"","encoding":"utf16"}]`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].encoding"},
		{name: "bad base64", body: withFiles(`[{"name":"a.py","content":"!!!","encoding":"base64"}]`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].content", contains: "base64"},
		{name: "duplicate names", body: withFiles(`[{"name":"a.py","content":""},{"name":"a.py","content":""}]`), status: 422, code: contracts.CodeInvalidRequest, field: "files[1].name", contains: "duplicate"},
		{name: "negative limit", body: `{"language":"python","files":[{"name":"a.py","content":""}],"limits":{"memory_mb":-1}}`, status: 422, code: contracts.CodeInvalidRequest, field: "limits.memory_mb", contains: "negative"},
		// 422 unknown_language / limit_too_high
		{name: "unknown language", body: `{"language":"cobol","files":[{"name":"a.cob","content":""}]}`, status: 422, code: contracts.CodeUnknownLanguage, field: "language", contains: "cobol"},
		{name: "unknown version", body: `{"language":"python","version":"2","files":[{"name":"a.py","content":""}]}`, status: 422, code: contracts.CodeUnknownLanguage, field: "version", contains: "3.12.3"},
		{name: "limit over max", body: `{"language":"python","files":[{"name":"a.py","content":""}],"limits":{"cpu_time_ms":10001}}`, status: 422, code: contracts.CodeLimitTooHigh, field: "limits.cpu_time_ms", contains: "10000"},
		{name: "memory under the floor", body: `{"language":"python","files":[{"name":"a.py","content":""}],"limits":{"memory_mb":1}}`, status: 422, code: contracts.CodeInvalidRequest, field: "limits.memory_mb", contains: "minimum is 16"},
		{name: "compile memory under the floor", body: `{"language":"c","files":[{"name":"main.c","content":""}],"limits":{"compile_memory_mb":15}}`, status: 422, code: contracts.CodeInvalidRequest, field: "limits.compile_memory_mb", contains: "minimum is 16"},
		{name: "compile limit over max", body: `{"language":"c","files":[{"name":"main.c","content":""}],"limits":{"compile_memory_mb":4096}}`, status: 422, code: contracts.CodeLimitTooHigh, field: "limits.compile_memory_mb", contains: "2048"},
		// 400 Idempotency-Key
		{name: "key too long", body: helloPy, headers: map[string][]string{"Idempotency-Key": {strings.Repeat("k", 256)}}, status: 400, code: contracts.CodeInvalidHeader, field: "Idempotency-Key", contains: "255"},
		{name: "key empty", body: helloPy, headers: map[string][]string{"Idempotency-Key": {""}}, status: 400, code: contracts.CodeInvalidHeader, field: "Idempotency-Key"},
		{name: "key non-ASCII", body: helloPy, headers: map[string][]string{"Idempotency-Key": {"ключ"}}, status: 400, code: contracts.CodeInvalidHeader, field: "Idempotency-Key", contains: "ASCII"},
		{name: "key tab", body: helloPy, headers: map[string][]string{"Idempotency-Key": {"a\tb"}}, status: 400, code: contracts.CodeInvalidHeader, field: "Idempotency-Key"},
		{name: "key twice", body: helloPy, headers: map[string][]string{"Idempotency-Key": {"a", "b"}}, status: 400, code: contracts.CodeInvalidHeader, field: "Idempotency-Key"},
		// 400 invalid_query
		{name: "bad wait", path: "/v1/executions?wait=maybe", body: helloPy, status: 400, code: contracts.CodeInvalidQuery, field: "wait"},
		{name: "bad timeout", path: "/v1/executions?wait=true&timeout=soon", body: helloPy, status: 400, code: contracts.CodeInvalidQuery, field: "timeout"},
		{name: "zero timeout", path: "/v1/execute?timeout=0", body: helloPy, status: 400, code: contracts.CodeInvalidQuery, field: "timeout"},
		{name: "negative timeout", path: "/v1/execute?timeout=-1s", body: helloPy, status: 400, code: contracts.CodeInvalidQuery, field: "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/v1/executions"
			}
			r := e.do(call{method: http.MethodPost, path: path, body: tc.body, contentType: tc.contentType, headers: tc.headers})
			wantError(t, r, tc.status, tc.code, tc.field, tc.contains)
		})
	}

	// Nothing of the above was queued.
	info, err := e.nats.JS.Stream(context.Background(), contracts.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != 0 {
		t.Errorf("JOBS holds %d messages after only bad requests", n)
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	e := start(t, nil)
	e.heartbeat("exec-1", "", testRuntimes())
	unknown := contracts.NewID()
	tests := []struct {
		name   string
		method string
		path   string
		status int
		code   string
		allow  string
	}{
		{name: "short id", method: "GET", path: "/v1/executions/abc", status: 404, code: contracts.CodeNotFound},
		{name: "upper-case id", method: "GET", path: "/v1/executions/" + strings.ToUpper(unknown), status: 404, code: contracts.CodeNotFound},
		{name: "long id", method: "GET", path: "/v1/executions/" + unknown + "a", status: 404, code: contracts.CodeNotFound},
		{name: "wildcard id", method: "GET", path: "/v1/executions/*", status: 404, code: contracts.CodeNotFound},
		{name: "subject-like id", method: "GET", path: "/v1/executions/a.b.%3E", status: 404, code: contracts.CodeNotFound},
		{name: "bad id waiting", method: "GET", path: "/v1/executions/abc?wait=true", status: 404, code: contracts.CodeNotFound},
		{name: "unknown id", method: "GET", path: "/v1/executions/" + unknown, status: 404, code: contracts.CodeNotFound},
		{name: "unknown path", method: "GET", path: "/v1/nothing", status: 404, code: contracts.CodeNotFound},
		{name: "below id", method: "GET", path: "/v1/executions/" + unknown + "/logs", status: 404, code: contracts.CodeNotFound},
		{name: "DELETE executions", method: "DELETE", path: "/v1/executions", status: 405, code: contracts.CodeMethodNotAllowed, allow: "GET, HEAD, POST"},
		{name: "GET batch", method: "GET", path: "/v1/executions/batch", status: 405, code: contracts.CodeMethodNotAllowed, allow: "POST"},
		{name: "GET execute", method: "GET", path: "/v1/execute", status: 405, code: contracts.CodeMethodNotAllowed, allow: "POST"},
		{name: "PUT execution", method: "PUT", path: "/v1/executions/" + unknown, status: 405, code: contracts.CodeMethodNotAllowed, allow: "GET, HEAD"},
		{name: "POST runtimes", method: "POST", path: "/v1/runtimes", status: 405, code: contracts.CodeMethodNotAllowed, allow: "GET, HEAD"},
		{name: "POST healthz", method: "POST", path: "/healthz", status: 405, code: contracts.CodeMethodNotAllowed, allow: "GET, HEAD"},
		{name: "DELETE readyz", method: "DELETE", path: "/readyz", status: 405, code: contracts.CodeMethodNotAllowed, allow: "GET, HEAD"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(call{method: tc.method, path: tc.path, contentType: "-"})
			wantError(t, r, tc.status, tc.code, "*", "")
			if got := r.header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
		})
	}
}

func TestNoExecutorThenReady(t *testing.T) {
	e := start(t, func(c *gateway.Config) { c.OperatorKey = operatorKey })
	ready := func() (int, map[string]string) {
		r := e.do(call{path: "/readyz", headers: bearer(operatorKey)})
		body := decode[struct {
			Ready  bool              `json:"ready"`
			Checks map[string]string `json:"checks"`
		}](t, r)
		if body.Ready != (r.status == 200) {
			t.Errorf("ready %v with status %d", body.Ready, r.status)
		}
		return r.status, body.Checks
	}

	if s, checks := ready(); s != 503 || checks["executors"] != "none" || checks["nats"] != "ok" ||
		checks["streams"] != "ok" || checks["buckets"] != "ok" {
		t.Fatalf("readyz without executors: %d %v", s, checks)
	}
	r := e.submit("/v1/executions", helloPy, nil)
	wantError(t, r, 503, contracts.CodeNoExecutor, "", "no executor is running")
	if got := decode[map[string][]contracts.Runtime](t, e.do(call{path: "/v1/runtimes"}))["runtimes"]; len(got) != 0 {
		t.Errorf("runtimes without executors: %v", got)
	}

	// An executor that cannot take work now makes the gateway not ready and
	// is not listed, but jobs for it are queued: they wait for it to recover.
	e.heartbeat("exec-sick", "docker engine does not answer", testRuntimes())
	if s, checks := ready(); s != 503 || !strings.Contains(checks["executors"], "none") ||
		!strings.Contains(checks["executors"], "exec-sick: docker engine does not answer") {
		t.Fatalf("readyz with a sick executor: %d %v", s, checks)
	}
	if got := decode[map[string][]contracts.Runtime](t, e.do(call{path: "/v1/runtimes"}))["runtimes"]; len(got) != 0 {
		t.Errorf("runtimes of a sick executor listed: %v", got)
	}
	if r := e.submit("/v1/executions", helloPy, nil); r.status != 202 {
		t.Fatalf("submit while the only executor is sick: %d %s", r.status, r.body)
	}

	e.heartbeat("exec-1", "", testRuntimes())
	if s, checks := ready(); s != 200 || !strings.HasPrefix(checks["executors"], "1 live") {
		t.Fatalf("readyz with an executor: %d %v", s, checks)
	}
	if r := e.submit("/v1/executions", helloPy, nil); r.status != 202 {
		t.Fatalf("submit with an executor: %d %s", r.status, r.body)
	}
	if r := e.do(call{path: "/healthz"}); r.status != 200 || decode[map[string]string](t, r)["status"] != "ok" {
		t.Errorf("healthz: %d %s", r.status, r.body)
	}
}

func TestQueueFull(t *testing.T) {
	e := start(t, func(c *gateway.Config) { c.Topology.QueueMax = 2 })
	e.heartbeat("exec-1", "", testRuntimes())
	for i := range 2 {
		if r := e.submit("/v1/executions", helloPy, nil); r.status != 202 {
			t.Fatalf("submit %d: %d %s", i, r.status, r.body)
		}
	}
	r := e.submit("/v1/executions", helloPy, nil)
	wantError(t, r, 429, contracts.CodeQueueFull, "", "full")
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
}

// TestQueueFullByBytes: a JOBS stream at its byte bound (QueueMaxBytes) is
// a full queue: 429 queue_full with Retry-After, like the message bound.
func TestQueueFullByBytes(t *testing.T) {
	e := start(t, func(c *gateway.Config) { c.Topology.QueueMaxBytes = 8 << 10 })
	r := e.submitUntilRefused(2<<10, 10)
	wantError(t, r, 429, contracts.CodeQueueFull, "", "full")
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
}

// submitUntilRefused submits jobs with a file of size bytes until one is
// not accepted, at most n times, and returns the last answer.
func (e *env) submitUntilRefused(size, n int) response {
	e.t.Helper()
	e.heartbeat("exec-1", "", testRuntimes())
	body := withFiles(`[{"name":"main.py","content":"` + strings.Repeat("x", size) + `"}]`)
	var r response
	for range n {
		if r = e.submit("/v1/executions", body, nil); r.status != 202 {
			break
		}
	}
	return r
}

// TestStoreUnavailable: when the NATS server's JetStream store is used up
// (here a 64 KiB store and unbounded streams), a submission is answered 503
// store_unavailable with Retry-After: not queue_full (the queue has room)
// and not a 500.
func TestStoreUnavailable(t *testing.T) {
	n := testkit.StartNATSWith(t, "", func(o *server.Options) { o.JetStreamMaxStore = 64 << 10 })
	e := startOn(t, n, func(c *gateway.Config) {
		c.Topology.QueueMaxBytes, c.Topology.ResultsMaxBytes = -1, -1
		c.Topology.ExecutionsMaxBytes, c.Topology.ExecutorsMaxBytes, c.Topology.EvaluationsMaxBytes = -1, -1, -1
		c.Topology.ProblemsMaxBytes = -1
	})
	r := e.submitUntilRefused(8<<10, 50)
	wantError(t, r, 503, contracts.CodeStoreUnavailable, "", "store")
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
}

func TestSubmitQueuesJob(t *testing.T) {
	e := start(t, nil)
	e.heartbeat("exec-1", "", testRuntimes())
	ctx := context.Background()
	body := `{"language":" PY ","version":"3.12","files":[{"name":"main.py","content":"print(input())"}],"stdin":"hi","limits":{"cpu_time_ms":3000}}`
	r := e.do(call{method: "POST", path: "/v1/executions", body: body, contentType: "application/json; charset=utf-8"})
	if r.status != 202 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	acc := decode[contracts.Accepted](t, r)
	if !contracts.ValidID(acc.ID) || acc.Status != contracts.StatusQueued {
		t.Fatalf("accepted %+v", acc)
	}
	if loc := r.header.Get("Location"); loc != "/v1/executions/"+acc.ID {
		t.Errorf("Location %q", loc)
	}

	jobs, err := e.nats.JS.Stream(ctx, contracts.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := jobs.GetLastMsgForSubject(ctx, e.topo.JobSubject(""))
	if err != nil {
		t.Fatalf("job on JOBS: %v", err)
	}
	if got := msg.Header.Get(jetstream.MsgIDHeader); got != acc.ID {
		t.Errorf("Nats-Msg-Id %q, want %q", got, acc.ID)
	}
	var job contracts.Job
	if err := json.Unmarshal(msg.Data, &job); err != nil {
		t.Fatal(err)
	}
	if job.ID != acc.ID || job.Request.Language != "python" || job.Request.Version != "3.12.3" ||
		job.Request.Stdin != "hi" || job.Request.Limits.CPUTimeMS != 3000 || len(job.Request.Files) != 1 ||
		job.Request.Files[0].Content != "print(input())" || job.CreatedAt.IsZero() || job.CreatedAt.Location() != time.UTC {
		t.Errorf("job %+v", job)
	}

	results, err := e.nats.JS.Stream(ctx, contracts.ResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := results.GetLastMsgForSubject(ctx, e.topo.EventSubject(acc.ID))
	if err != nil {
		t.Fatalf("queued event on RESULTS: %v", err)
	}
	if got := ev.Header.Get(jetstream.MsgIDHeader); got != acc.ID+":queued" {
		t.Errorf("event Nats-Msg-Id %q", got)
	}
	var exec contracts.Execution
	if err := json.Unmarshal(ev.Data, &exec); err != nil {
		t.Fatal(err)
	}
	if exec.ID != acc.ID || exec.Status != contracts.StatusQueued || exec.Language != "python" ||
		exec.Version != "3.12.3" || !exec.CreatedAt.Equal(job.CreatedAt) {
		t.Errorf("queued event %+v", exec)
	}
}

func TestIdempotencyKey(t *testing.T) {
	e := start(t, nil)
	e.heartbeat("exec-1", "", testRuntimes())
	ctx := context.Background()
	key := map[string][]string{"Idempotency-Key": {"order-42 retry"}}
	want := contracts.IDFromKey(contracts.DefaultTenant, "order-42 retry")
	for i := range 2 {
		r := e.submit("/v1/executions", helloPy, key)
		if r.status != 202 {
			t.Fatalf("submit %d: %d %s", i, r.status, r.body)
		}
		if got := decode[contracts.Accepted](t, r).ID; got != want {
			t.Fatalf("submit %d: id %q, want %q", i, got, want)
		}
	}
	for _, s := range []struct{ stream, subject string }{
		{contracts.JobsStream, e.topo.JobSubject("")},
		{contracts.ResultsStream, e.topo.EventSubject(want)},
	} {
		st, err := e.nats.JS.Stream(ctx, s.stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(s.subject))
		if err != nil {
			t.Fatal(err)
		}
		if n := info.State.Subjects[s.subject]; n != 1 {
			t.Errorf("%s holds %d messages on %s, want 1", s.stream, n, s.subject)
		}
	}
	// The same key with another body is refused: it names the first request.
	other := strings.Replace(helloPy, "print", "print(2) or print", 1)
	wantError(t, e.submit("/v1/executions", other, key), 422, contracts.CodeIdempotencyKeyReused, "Idempotency-Key", "")
	// Another key is another execution.
	r := e.submit("/v1/executions", helloPy, map[string][]string{"Idempotency-Key": {"order-43"}})
	if got := decode[contracts.Accepted](t, r).ID; got == want || got != contracts.IDFromKey(contracts.DefaultTenant, "order-43") {
		t.Errorf("other key: id %q", got)
	}
}

func TestGetExecution(t *testing.T) {
	e := start(t, nil)
	e.heartbeat("exec-1", "", testRuntimes())
	acc := decode[contracts.Accepted](t, e.submit("/v1/executions", helloPy, nil))

	// Before the results service stores anything, the RESULTS stream answers.
	r := e.do(call{path: "/v1/executions/" + acc.ID})
	if r.status != 200 {
		t.Fatalf("GET before KV: %d %s", r.status, r.body)
	}
	if got := decode[contracts.Execution](t, r); got.ID != acc.ID || got.Status != contracts.StatusQueued || got.Language != "python" {
		t.Errorf("GET before KV: %+v", got)
	}

	started := time.Now().UTC()
	e.putExecution(contracts.Execution{ID: acc.ID, Status: contracts.StatusRunning, Language: "python",
		Version: "3.12.3", Executor: "exec-1", CreatedAt: started, StartedAt: &started})
	r = e.do(call{path: "/v1/executions/" + acc.ID})
	if got := decode[contracts.Execution](t, r); r.status != 200 || got.Status != contracts.StatusRunning || got.Executor != "exec-1" {
		t.Errorf("GET from KV: %d %+v", r.status, got)
	}
}

// completed is a finished execution as the results service stores it.
func completed(id string) contracts.Execution {
	now := time.Now().UTC()
	return contracts.Execution{ID: id, Status: contracts.StatusCompleted, Language: "python", Version: "3.12.3",
		Verdict: contracts.VerdictAccepted, Run: &contracts.Stage{Stdout: "hi\n", Verdict: contracts.VerdictAccepted},
		CreatedAt: now, StartedAt: &now, FinishedAt: &now}
}

// completeWhenQueued writes the completed execution once its queued event is
// on the RESULTS stream, that is while the submission waits.
func (e *env) completeWhenQueued(id string, running bool) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx := context.Background()
		st, err := e.nats.JS.Stream(ctx, contracts.ResultsStream)
		if err != nil {
			e.t.Error(err)
			return
		}
		if !testkit.Eventually(testkit.Patience, func() bool {
			_, err := st.GetLastMsgForSubject(ctx, e.topo.EventSubject(id))
			return err == nil
		}) {
			e.t.Error("queued event never appeared")
			return
		}
		time.Sleep(50 * time.Millisecond)
		if running {
			now := time.Now().UTC()
			data, _ := json.Marshal(contracts.Execution{ID: id, Status: contracts.StatusRunning, CreatedAt: now, StartedAt: &now})
			if _, err := e.executions.Put(ctx, id, data); err != nil {
				e.t.Error(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		data, _ := json.Marshal(completed(id))
		if _, err := e.executions.Put(ctx, id, data); err != nil {
			e.t.Error(err)
		}
	}()
	return done
}

func TestWait(t *testing.T) {
	e := start(t, nil)
	e.heartbeat("exec-1", "", testRuntimes())
	// A gateway whose waits are capped at 2 s: a request for an hour gets an
	// answer at all only through the cap (the client gives up after
	// testkit.Patience).
	capped := start(t, func(c *gateway.Config) { c.MaxWaitTimeout = 2 * time.Second })
	capped.heartbeat("exec-1", "", testRuntimes())

	// min is how long a wait that times out must have lasted; no test
	// bounds how long an answer may take. noWait: the answer is the bare
	// Accepted of a submission that did not wait (a wait that timed out
	// answers with the execution as stored so far).
	tests := []struct {
		name     string
		env      *env
		path     string
		complete bool
		status   int
		min      time.Duration
		noWait   bool
	}{
		{name: "wait completes", path: "/v1/executions?wait=true&timeout=2m", complete: true, status: 200},
		{name: "wait=1 completes", path: "/v1/executions?wait=1&timeout=120", complete: true, status: 200},
		{name: "wait times out", path: "/v1/executions?wait=true&timeout=300ms", status: 202, min: 300 * time.Millisecond},
		{name: "execute completes", path: "/v1/execute", complete: true, status: 200},
		{name: "execute times out", path: "/v1/execute?timeout=300ms", status: 202, min: 300 * time.Millisecond},
		{name: "timeout capped", env: capped, path: "/v1/execute?timeout=1h", status: 202, min: 2 * time.Second},
		{name: "wait=false", path: "/v1/executions?wait=false", status: 202, noWait: true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := e
			if tc.env != nil {
				e = tc.env
			}
			key := fmt.Sprintf("wait-%d", i)
			id := contracts.IDFromKey(contracts.DefaultTenant, key)
			var done <-chan struct{}
			if tc.complete {
				done = e.completeWhenQueued(id, i%2 == 0)
			}
			begin := time.Now()
			r := e.submit(tc.path, helloPy, map[string][]string{"Idempotency-Key": {key}})
			took := time.Since(begin)
			if done != nil {
				<-done
			}
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if took < tc.min {
				t.Errorf("answered after %v, before the %v wait was over", took, tc.min)
			}
			if loc := r.header.Get("Location"); loc != "/v1/executions/"+id {
				t.Errorf("Location %q", loc)
			}
			got := decode[contracts.Execution](t, r)
			if got.ID != id {
				t.Errorf("id %q, want %q", got.ID, id)
			}
			if tc.status == 200 && (got.Status != contracts.StatusCompleted || got.Run == nil || got.Run.Stdout != "hi\n") {
				t.Errorf("completed execution %+v", got)
			}
			if tc.status == 202 && got.Status != contracts.StatusQueued {
				t.Errorf("status %q, want queued", got.Status)
			}
			if fields := decode[map[string]any](t, r); tc.noWait != (len(fields) == 2) {
				t.Errorf("answer %s: want the bare id and status only when the submission did not wait (%v)", r.body, tc.noWait)
			}
		})
	}
}

func TestGetWait(t *testing.T) {
	e := start(t, func(c *gateway.Config) { c.MaxWaitTimeout = time.Hour })
	e.heartbeat("exec-1", "", testRuntimes())
	submit := func() string {
		t.Helper()
		r := e.submit("/v1/executions", helloPy, nil)
		if r.status != 202 {
			t.Fatalf("submit: %d %s", r.status, r.body)
		}
		return decode[contracts.Accepted](t, r).ID
	}

	t.Run("already completed", func(t *testing.T) {
		id := submit()
		e.putExecution(completed(id))
		// 200: the wait saw the completion (a wait that had missed it would
		// end in a 202 after its timeout).
		r := e.do(call{path: "/v1/executions/" + id + "?wait=true&timeout=2m"})
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
	t.Run("completes while waiting", func(t *testing.T) {
		id := submit()
		done := e.completeWhenQueued(id, true)
		r := e.do(call{path: "/v1/executions/" + id + "?wait=yes&timeout=120"})
		<-done
		if got := decode[contracts.Execution](t, r); r.status != 200 || got.Status != contracts.StatusCompleted {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
	t.Run("times out with latest state", func(t *testing.T) {
		id := submit()
		now := time.Now().UTC()
		e.putExecution(contracts.Execution{ID: id, Status: contracts.StatusRunning, Executor: "exec-1", CreatedAt: now, StartedAt: &now})
		r := e.do(call{path: "/v1/executions/" + id + "?wait=true&timeout=300ms"})
		if got := decode[contracts.Execution](t, r); r.status != 202 || got.Status != contracts.StatusRunning || got.Executor != "exec-1" {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
	t.Run("times out before KV", func(t *testing.T) {
		id := submit()
		r := e.do(call{path: "/v1/executions/" + id + "?wait=true&timeout=300ms"})
		if got := decode[contracts.Execution](t, r); r.status != 202 || got.Status != contracts.StatusQueued || got.ID != id {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
	t.Run("unknown id does not wait", func(t *testing.T) {
		// A wait of an hour: an answer at all (the client gives up after
		// testkit.Patience) means the gateway did not wait for it.
		r := e.do(call{path: "/v1/executions/" + contracts.NewID() + "?wait=true&timeout=1h"})
		wantError(t, r, 404, contracts.CodeNotFound, "*", "")
	})
	t.Run("bad timeout", func(t *testing.T) {
		r := e.do(call{path: "/v1/executions/" + contracts.NewID() + "?wait=true&timeout=10x"})
		wantError(t, r, 400, contracts.CodeInvalidQuery, "timeout", "")
	})
}

func TestShutdownEndsWaits(t *testing.T) {
	e := start(t, func(c *gateway.Config) { c.ShutdownTimeout = 10 * time.Second })
	e.heartbeat("exec-1", "", testRuntimes())
	got := make(chan response, 1)
	go func() {
		req, _ := http.NewRequest("POST", e.base+"/v1/execute?timeout=1m", strings.NewReader(helloPy))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- response{status: -1, body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- response{status: resp.StatusCode, body: b}
	}()
	// Let the request reach its wait: it watches the execution before it
	// queues the job, and waits once it has.
	e.waitQueued(1)
	// A wait the shutdown did not end would hold the server past its
	// ShutdownTimeout: Run would fail.
	if err := e.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	r := <-got
	if r.status != 202 {
		t.Fatalf("waiting request got %d: %s", r.status, r.body)
	}
}

func TestRuntimes(t *testing.T) {
	e := start(t, nil)
	py313 := testRuntimes()[0]
	py313.Version = "3.13.0"
	e.heartbeat("exec-a", "", testRuntimes())
	e.heartbeat("exec-b", "", []contracts.Runtime{testRuntimes()[0], py313})
	e.heartbeat("exec-c", "broken", []contracts.Runtime{{Language: "rust", Version: "1.80.0"}})

	r := e.do(call{path: "/v1/runtimes"})
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var got []string
	for _, rt := range decode[map[string][]contracts.Runtime](t, r)["runtimes"] {
		got = append(got, rt.Language+" "+rt.Version)
	}
	want := []string{"c 13.2.0", "python 3.13.0", "python 3.12.3"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("runtimes %v, want %v", got, want)
	}
	if !bytes.Contains(r.body, []byte(`"default_limits"`)) {
		t.Errorf("runtime JSON lacks default_limits: %s", r.body)
	}

	// Without a version the newest is chosen; a version prefix picks the older.
	for _, tc := range []struct{ version, want string }{{"", "3.13.0"}, {"3.12", "3.12.3"}, {"3", "3.13.0"}} {
		body := fmt.Sprintf(`{"language":"python","version":%q,"files":[{"name":"a.py","content":""}]}`, tc.version)
		r := e.do(call{method: "POST", path: "/v1/execute?timeout=100ms", body: body})
		if got := decode[contracts.Execution](t, r); r.status != 202 || got.Version != tc.want {
			t.Errorf("version %q: %d %s, want %s", tc.version, r.status, r.body, tc.want)
		}
	}
}
