package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	vconfig "github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/gateway"
)

// conformance checks real answers of a running stack against the OpenAPI
// document the gateway serves at /openapi.json, with libopenapi-validator in
// strict mode: a status the document does not list for the operation, a
// missing required field, a field of another type or an undeclared field
// (a renamed one) fails the test.
type conformance struct {
	t         *testing.T
	base      string
	key       string
	validator validator.Validator
	// loose is not strict: for /openapi.json, whose body is checked against
	// the OpenAPI 3.1 schema by ValidateDocument instead.
	loose     validator.Validator
	errorBody *base.Schema

	covered map[string][]int // "METHOD /template" -> statuses seen
	answers map[oaAnswerKey]oaAnswer
}

type oaAnswerKey struct {
	op     string
	status int
}

// oaAnswer is a real exchange that passed validation, kept for the drift check.
type oaAnswer struct {
	x      oaExchange
	newReq func() *http.Request
	status int
	header http.Header
	body   []byte
}

// oaExchange is one request of the conformance test.
type oaExchange struct {
	method, path string
	// op is the operation as the document names it ("GET /v1/executions/{id}");
	// empty for a path or method the document does not have (404, 405).
	op     string
	body   []byte
	header map[string]string
	// noKey sends no API key; invalidRequest marks a request that breaks the
	// document on purpose (only the answer is validated then).
	noKey, invalidRequest bool
}

func (c *conformance) do(x oaExchange) (int, http.Header, []byte) {
	t := c.t
	t.Helper()
	newReq := func(url string) *http.Request {
		var body io.Reader
		if x.body != nil {
			body = bytes.NewReader(x.body)
		}
		req, err := http.NewRequest(x.method, url, body)
		if err != nil {
			t.Fatal(err)
		}
		if x.body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if !x.noKey {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		for k, v := range x.header {
			req.Header.Set(k, v)
		}
		return req
	}
	resp, err := http.DefaultClient.Do(newReq(c.base + x.path))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.check(x, func() *http.Request { return newReq(c.base + x.path) }, resp.StatusCode, resp.Header, data)
	return resp.StatusCode, resp.Header, data
}

// check validates one answer against the document.
func (c *conformance) check(x oaExchange, newReq func() *http.Request, status int, header http.Header, data []byte) bool {
	t := c.t
	t.Helper()
	if x.op == "" {
		// Not an operation of the document: every such answer is an ErrorBody.
		ok, errs := schema_validation.NewSchemaValidator().ValidateSchemaBytes(c.errorBody, data)
		if !ok {
			t.Errorf("%s %s: %d %s is not an ErrorBody:\n%s", x.method, x.path, status, data, oaDescribe(errs))
		}
		return ok
	}
	c.covered[x.op] = append(c.covered[x.op], status)
	ok, errs := c.validate(x, newReq(), status, header, data)
	if ok && x.op != "GET /openapi.json" {
		c.answers[oaAnswerKey{x.op, status}] = oaAnswer{x: x, newReq: newReq, status: status, header: header, body: data}
	}
	if !ok {
		t.Errorf("%s %s: answer %d does not match the OpenAPI document:\n%s\nbody: %s", x.method, x.path, status, oaDescribe(errs), oaTruncate(data, 2000))
	}
	return ok
}

// validate checks one answer to x against the document.
func (c *conformance) validate(x oaExchange, req *http.Request, status int, header http.Header, data []byte) (bool, []*liberrors.ValidationError) {
	resp := &http.Response{StatusCode: status, Header: header, Request: req,
		Body: io.NopCloser(bytes.NewReader(data)), ContentLength: int64(len(data))}
	v := c.validator
	if x.op == "GET /openapi.json" {
		v = c.loose
	}
	if x.invalidRequest {
		return v.ValidateHttpResponse(req, resp)
	}
	return v.ValidateHttpRequestResponse(req, resp)
}

func oaDescribe(errs []*liberrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "  - %s: %s", e.Message, e.Reason)
		for _, f := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n      %s: %s", f.FieldPath, f.Reason)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func oaTruncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

func oaJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOpenAPIConformance sends every kind of request the native API knows to
// a real stack (embedded NATS, gateway, executor with containers, results)
// and validates each answer, status and body, against /openapi.json.
func TestOpenAPIConformance(t *testing.T) {
	const key = "conformance-key"
	s := startDev(t, func(c *config) {
		c.Executor.Languages = []string{"python", "c++"}
		c.Gateway.APIKeys = []gateway.APIKey{{Tenant: "conformance", Key: key}}
		c.Gateway.MaxBodyBytes = 1 << 20
		c.Gateway.MaxProblemBodyBytes = 1 << 20
	})

	// The document itself: served without changes, a valid OpenAPI 3.1 document.
	code, hdr, docBytes := request(t, "GET", s.URL+"/openapi.json", nil, map[string]string{"X-Api-Key": key})
	if code != 200 || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json = %d %s: %s", code, hdr.Get("Content-Type"), oaTruncate(docBytes, 300))
	}
	doc, err := libopenapi.NewDocument(docBytes)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc, vconfig.WithStrictMode(), vconfig.WithFormatAssertions(),
		vconfig.WithStrictIgnoredHeadersExtra("X-Content-Type-Options", "Allow"))
	if len(errs) > 0 {
		t.Fatalf("build the validator: %v", errs)
	}
	loose, errs := validator.NewValidator(doc, vconfig.WithFormatAssertions())
	if len(errs) > 0 {
		t.Fatalf("build the validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		t.Fatalf("/openapi.json is not a valid OpenAPI document:\n%s", oaDescribe(verrs))
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	if model.Model.Version != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", model.Model.Version)
	}
	c := &conformance{t: t, base: s.URL, key: key, validator: v, loose: loose, covered: map[string][]int{}, answers: map[oaAnswerKey]oaAnswer{},
		errorBody: model.Model.Components.Schemas.GetOrZero("ErrorBody").Schema()}

	c.do(oaExchange{method: "GET", path: "/openapi.json", op: "GET /openapi.json"})
	c.do(oaExchange{method: "GET", path: "/healthz", op: "GET /healthz", noKey: true})
	c.do(oaExchange{method: "GET", path: "/readyz", op: "GET /readyz", noKey: true})
	c.do(oaExchange{method: "GET", path: "/v1/runtimes", op: "GET /v1/runtimes"})

	t.Run("authentication", func(t *testing.T) {
		if code, _, _ := c.do(oaExchange{method: "GET", path: "/v1/runtimes", op: "GET /v1/runtimes", noKey: true, invalidRequest: true}); code != 401 {
			t.Errorf("without a key: %d, want 401", code)
		}
		if code, _, _ := c.do(oaExchange{method: "GET", path: "/v1/runtimes", op: "GET /v1/runtimes", noKey: true,
			header: map[string]string{"X-Api-Key": "wrong"}}); code != 403 {
			t.Errorf("with a wrong key: %d, want 403", code)
		}
	})

	submit := func(path string, req any, header map[string]string) (int, http.Header, []byte) {
		t.Helper()
		op := "POST " + strings.SplitN(path, "?", 2)[0]
		return c.do(oaExchange{method: "POST", path: path, op: op, body: oaJSON(t, req), header: header})
	}
	// await long-polls GET /v1/executions/{id} until the execution is
	// completed, validating every answer on the way (202s and 404s too).
	await := func(id string) (int, []byte) {
		t.Helper()
		return awaitExecution(t, "/v1/executions/"+id, func(path string) (int, []byte) {
			code, _, data := c.do(oaExchange{method: "GET", path: path, op: "GET /v1/executions/{id}"})
			return code, data
		})
	}
	decode := func(data []byte) contracts.Execution {
		t.Helper()
		var e contracts.Execution
		if err := json.Unmarshal(data, &e); err != nil {
			t.Fatalf("%v: %s", err, data)
		}
		return e
	}

	t.Run("executions", func(t *testing.T) {
		// Asynchronous submission, then a long poll and a plain read.
		code, hdr, data := submit("/v1/executions", src("python", "main.py", "print('async')\n"), nil)
		if code != 202 || hdr.Get("Location") == "" {
			t.Fatalf("submit: %d %s", code, data)
		}
		id := decode(data).ID
		if code, data := await(id); code != 200 {
			t.Fatalf("wait: %d %s", code, data)
		}
		c.do(oaExchange{method: "GET", path: "/v1/executions/" + id, op: "GET /v1/executions/{id}"})

		// A wait that times out: 202 with the state so far, then 202 again
		// from a short long poll, then 200. The program sleeps far longer
		// than both waits, however slow the machine.
		code, _, data = submit("/v1/executions?wait=true&timeout=1s", roomy(src("python", "main.py", "import time\ntime.sleep(20)\n")), nil)
		if code != 202 {
			t.Fatalf("submit and wait 1s for a 20 s program: %d %s", code, data)
		}
		slow := decode(data).ID
		if code, _, data := c.do(oaExchange{method: "GET", path: "/v1/executions/" + slow + "?wait=1&timeout=1", op: "GET /v1/executions/{id}"}); code != 202 {
			t.Errorf("short long poll: %d %s", code, data)
		}

		// Synchronous runs: compiled with stdin and args, expected output, compile error.
		cpp := src("c++", "main.cpp", "#include <iostream>\nint main(int c, char** v){std::string s; std::cin >> s; std::cout << s << ' ' << v[1] << '\\n'; std::cerr << \"note\\n\";}\n")
		cpp.Stdin, cpp.Args = "hello\n", []string{"arg"}
		if code, _, data := submit("/v1/execute?timeout=5m", roomy(cpp), map[string]string{"Idempotency-Key": "conformance-cpp"}); code != 200 || decode(data).Compile == nil {
			t.Errorf("c++: %d %s", code, data)
		}
		wrong := withExpected(src("python", "main.py", "print(41)\n"), "42")
		if code, _, data := submit("/v1/execute?timeout=5m", roomy(wrong), nil); code != 200 || decode(data).Verdict != contracts.VerdictWrongAnswer {
			t.Errorf("expected output: %d %s", code, data)
		}
		broken := withLimits(src("c++", "main.cpp", "int main() { return missing; }\n"), contracts.Limits{CPUTimeMS: 500, MemoryMB: 128})
		if code, _, data := submit("/v1/execute?timeout=5m", broken, nil); code != 200 || decode(data).Verdict != contracts.VerdictCompileError {
			t.Errorf("compile error: %d %s", code, data)
		}

		// Judge mode with compare float and a test with its own args.
		floats := src("c++", "main.cpp", "#include <cstdio>\nint main(){double x; std::scanf(\"%lf\", &x); std::printf(\"%.7f\\n\", x / 3);}\n")
		floats.Compare, floats.AbsTolerance, floats.RelTolerance = contracts.CompareFloat, 1e-5, 1e-5
		floats.Tests = []contracts.TestCase{{Stdin: "1", ExpectedOutput: ptr("0.333333")}, {Stdin: "2", Args: []string{"x"}}}
		if code, _, data := submit("/v1/execute?timeout=5m", roomy(floats), nil); code != 200 || decode(data).Verdict != contracts.VerdictAccepted {
			t.Errorf("judge float: %d %s", code, data)
		}

		// Judge mode with a checker and points: score, max_score,
		// points_awarded, checker_message and a partial test.
		scored := src("python", "main.py", "print(input())\n")
		scored.Tests = []contracts.TestCase{{Stdin: "full", Points: ptrTo(2.0)}, {Stdin: "half", Points: ptrTo(3.0)}}
		scored.Checker = &contracts.JudgeProgram{Language: "python", Files: []contracts.File{{Name: "check.py", Content: "import sys\n" +
			"if open(sys.argv[2]).read().strip() == 'half':\n    sys.stderr.write('points 1.5 half\\n'); sys.exit(7)\n"}}}
		if code, _, data := submit("/v1/execute?timeout=5m", scored, nil); code != 200 || decode(data).Verdict != contracts.VerdictPartial ||
			*decode(data).Score != 3.5 || *decode(data).MaxScore != 5 {
			t.Errorf("judge with a checker: %d %s", code, data)
		}

		// An interactive test: the interactor's stage and output files.
		talk := src("python", "main.py", "print(int(input()) * 2, flush=True)\n")
		talk.Tests = []contracts.TestCase{{Stdin: "21"}}
		talk.Interactor = &contracts.JudgeProgram{Language: "python", Files: []contracts.File{{Name: "i.py", Content: "import sys\n" +
			"print(21, flush=True)\nok = input() == '42'\nopen(sys.argv[2], 'w').write('ok' if ok else 'no')\nsys.exit(0 if ok else 1)\n"}}}
		if code, _, data := submit("/v1/execute?timeout=5m", talk, nil); code != 200 || decode(data).Verdict != contracts.VerdictAccepted ||
			decode(data).Tests[0].Interactor == nil {
			t.Errorf("interactive: %d %s", code, data)
		}

		// Judge mode: per-test results, failed_test, a skipped test (kept last
		// of the 200s of POST /v1/execute for the drift check).
		judge := src("python", "main.py", "n = int(input())\nassert n != 3\nprint(n * 2)\n")
		judge.Compare, judge.StopOnFirstFailure = contracts.CompareTokens, true
		for i, want := range []string{"2", "5", "6", "8"} {
			judge.Tests = append(judge.Tests, contracts.TestCase{Name: fmt.Sprintf("t%d", i+1), Stdin: fmt.Sprint(i + 1), ExpectedOutput: ptr(want)})
		}
		code, _, judged := submit("/v1/execute?timeout=5m", roomy(judge), nil)
		if e := decode(judged); code != 200 || e.Verdict != contracts.VerdictWrongAnswer || e.FailedTest == nil || !e.Tests[2].Skipped {
			t.Errorf("judge: %d %s", code, judged)
		}
		// internal_error with a message: a job no executor serves, published on NATS.
		bad := contracts.NewID()
		job, _ := json.Marshal(contracts.Job{ID: bad, Tenant: "conformance", CreatedAt: time.Now().UTC(), Request: src("cobol-85", "main.cob", ""), ResultToken: resultToken(t, s, bad)})
		if _, err := s.JS.Publish(context.Background(), contracts.DefaultTopology().JobSubject("conformance"), job, jetstream.WithMsgID(bad)); err != nil {
			t.Fatal(err)
		}
		// Airlock knows its id once the executor has taken it (nothing went
		// through the gateway): until then a GET answers 404.
		if code, data := await(bad); code != 200 || decode(data).Message == "" {
			t.Errorf("internal error: %d %s", code, data)
		}

		// Batch and list.
		batch := map[string]any{"executions": []any{roomy(src("python", "main.py", "print(1)\n")), src("nope", "main.x", "")}}
		code, _, data = c.do(oaExchange{method: "POST", path: "/v1/executions/batch", op: "POST /v1/executions/batch", body: oaJSON(t, batch),
			header: map[string]string{"Idempotency-Key": "conformance-batch"}})
		var br contracts.BatchResponse
		_ = json.Unmarshal(data, &br)
		if code != 200 || len(br.Executions) != 2 || br.Executions[1].Error == nil {
			t.Fatalf("batch: %d %s", code, data)
		}
		ids := strings.Join([]string{br.Executions[0].ID, slow, contracts.NewID(), "not-an-id"}, ",")
		if code, _, data := c.do(oaExchange{method: "GET", path: "/v1/executions?ids=" + ids, op: "GET /v1/executions"}); code != 200 {
			t.Errorf("list: %d %s", code, data)
		}
		if code, data := await(slow); code != 200 {
			t.Errorf("slow one: %d %s", code, data)
		}
		if code, _, data := submit("/v1/executions?wait=true&timeout=5m", roomy(src("python", "main.py", "print('waited')\n")), nil); code != 200 {
			t.Errorf("submit with wait: %d %s", code, data)
		}
	})

	t.Run("evaluations", func(t *testing.T) {
		evaluate := func(req contracts.EvaluationRequest, header map[string]string) contracts.EvaluationAccepted {
			t.Helper()
			code, hdr, data := submit("/v1/evaluations", req, header)
			var acc contracts.EvaluationAccepted
			if err := json.Unmarshal(data, &acc); err != nil || code != 202 || hdr.Get("Location") != "/v1/evaluations/"+acc.ID {
				t.Fatalf("submit evaluation: %d (Location %q) %s", code, hdr.Get("Location"), data)
			}
			return acc
		}
		get := func(id, query string) (int, contracts.Evaluation, []byte) {
			t.Helper()
			code, _, data := c.do(oaExchange{method: "GET", path: "/v1/evaluations/" + id + query, op: "GET /v1/evaluations/{id}"})
			var e contracts.Evaluation
			if err := json.Unmarshal(data, &e); err != nil {
				t.Fatalf("%v: %s", err, data)
			}
			return code, e, data
		}
		solution := func(label, body string) contracts.Candidate {
			return contracts.Candidate{ID: label, Problem: "add", Files: []contracts.File{{Name: "solution.py", Content: "def add(a, b):\n" + body}}}
		}

		// A slow candidate (far slower than the short poll, however slow the
		// machine) with a harness of limits only: a short long poll answers 202.
		slow := evaluate(contracts.EvaluationRequest{Language: "python", Harness: &contracts.Harness{Limits: roomyLimits(contracts.Limits{})},
			Candidates: []contracts.Candidate{{Files: []contracts.File{{Name: "main.py", Content: "import time\ntime.sleep(20)\n"}}}}}, nil)
		if code, e, data := get(slow.ID, "?wait=1&timeout=1"); code != 202 || e.Status == contracts.EvaluationCompleted {
			t.Errorf("short long poll: %d %s", code, data)
		}

		// One harness (its file imports the candidate) with two tests, three
		// candidates: accepted, wrong_answer, runtime_error.
		req := contracts.EvaluationRequest{Language: "python", K: []int{2, 1},
			Harness: &contracts.Harness{
				Files:  []contracts.File{{Name: "main.py", Content: "from solution import add\na, b = map(int, input().split())\nprint(add(a, b))\n"}},
				Limits: roomyLimits(contracts.Limits{MemoryMB: 128}),
				Tests:  []contracts.TestCase{{Name: "small", Stdin: "2 3", ExpectedOutput: ptr("5")}, {Name: "negative", Stdin: "10 -4", ExpectedOutput: ptr("6")}},
			},
			Candidates: []contracts.Candidate{
				solution("add/0", "    return a + b\n"),
				solution("add/1", "    return abs(a) + abs(b)\n"),
				solution("add/2", "    raise ValueError(a)\n"),
			}}
		acc := evaluate(req, map[string]string{"Idempotency-Key": "conformance-eval"})
		if acc.Total != 3 || len(acc.Candidates) != 3 {
			t.Fatalf("accepted: %+v", acc)
		}
		// A repeat with the same key is the same evaluation.
		if again := evaluate(req, map[string]string{"Idempotency-Key": "conformance-eval"}); again.ID != acc.ID || again.Candidates[2].ExecutionID != acc.Candidates[2].ExecutionID {
			t.Errorf("repeat: %+v, want the ids of %+v", again, acc)
		}
		if code, e, data := get(acc.ID, "?candidates=false"); code != 200 || e.Candidates != nil || e.Progress.Total != 3 {
			t.Errorf("without candidates: %d %s", code, data)
		}
		if code, e, data := get(slow.ID, "?wait=true&timeout=5m"); code != 200 || e.Status != contracts.EvaluationCompleted || e.Summary.Passed != 1 {
			t.Errorf("slow evaluation: %d %s", code, data)
		}
		code, e, data := get(acc.ID, "?wait=true&timeout=5m")
		verdicts := map[contracts.Verdict]int{contracts.VerdictAccepted: 1, contracts.VerdictWrongAnswer: 1, contracts.VerdictRuntimeError: 1}
		if code != 200 || e.Status != contracts.EvaluationCompleted || len(e.Candidates) != 3 || !maps.Equal(e.Summary.ByVerdict, verdicts) ||
			len(e.PassAtK.Estimates) != 2 || e.Candidates[1].FailedTestName != "negative" || e.Candidates[1].TestsPassed != 1 {
			t.Errorf("evaluation: %d %s", code, data)
		}

		// A benchmark format, and the events stream in both media types.
		bench := evaluate2(t, submit, map[string]any{"format": "humaneval",
			"problems": []map[string]any{{"task_id": "Mini/0", "prompt": "def add(a, b):\n", "entry_point": "add",
				"test": "def check(candidate):\n    assert candidate(2, 3) == 5\n"}},
			"samples": []map[string]any{{"task_id": "Mini/0", "completion": "    return a + b\n"}, {"task_id": "Mini/0", "completion": "    return a * b\n"}}})
		if code, e, data := get(bench.ID, "?wait=true&timeout=5m"); code != 200 || e.Summary.Passed != 1 || e.Candidates[1].Result != "failed: AssertionError" {
			t.Errorf("humaneval evaluation: %d %s", code, data)
		}
		for _, accept := range []string{"text/event-stream", "application/x-ndjson"} {
			code, hdr, data := c.do(oaExchange{method: "GET", path: "/v1/evaluations/" + bench.ID + "/events", op: "GET /v1/evaluations/{id}/events",
				header: map[string]string{"Accept": accept}})
			if code != 200 || hdr.Get("Content-Type") != accept || !strings.Contains(string(data), "summary") {
				t.Errorf("events (%s): %d %s", accept, code, data)
			}
		}
		if code, _, _ := c.do(oaExchange{method: "GET", path: "/v1/evaluations/" + contracts.NewID() + "/events", op: "GET /v1/evaluations/{id}/events"}); code != 404 {
			t.Errorf("events of an unknown evaluation: %d", code)
		}
	})

	t.Run("problems", func(t *testing.T) {
		put := func(id, ctype string, body []byte, invalid bool) (int, []byte) {
			t.Helper()
			code, _, data := c.do(oaExchange{method: "PUT", path: "/v1/problems/" + id, op: "PUT /v1/problems/{id}", body: body,
				header: map[string]string{"Content-Type": ctype}, invalidRequest: invalid})
			return code, data
		}
		pkg := contracts.ProblemPackage{Compare: contracts.CompareTokens, Limits: roomyLimits(contracts.Limits{}),
			Tests: []contracts.TestCase{{Name: "one", Stdin: "1", ExpectedOutput: ptr("2"), Points: ptrTo(2.0)}, {Stdin: "5", ExpectedOutput: ptr("10")}}}
		if code, data := put("double", "application/json", oaJSON(t, pkg), false); code != 201 {
			t.Fatalf("PUT: %d %s", code, data)
		}
		if code, data := put("double", "application/json", oaJSON(t, pkg), false); code != 200 {
			t.Errorf("PUT again: %d %s", code, data)
		}
		if code, _, data := c.do(oaExchange{method: "GET", path: "/v1/problems/double", op: "GET /v1/problems/{id}"}); code != 200 {
			t.Errorf("GET: %d %s", code, data)
		}
		req := map[string]any{"language": "python", "files": []contracts.File{{Name: "main.py", Content: "print(int(input()) * 2)\n"}}, "problem": "double"}
		if code, _, data := submit("/v1/execute?timeout=5m", req, nil); code != 200 || decode(data).Verdict != contracts.VerdictAccepted || *decode(data).Score != 3 {
			t.Errorf("submission naming the problem: %d %s", code, data)
		}
		req["problem"] = "missing"
		if code, _, data := c.do(oaExchange{method: "POST", path: "/v1/executions", op: "POST /v1/executions", body: oaJSON(t, req)}); code != 422 {
			t.Errorf("unknown problem: %d %s", code, data)
		}
		if code, data := put("empty", "application/json", []byte(`{"tests":[]}`), true); code != 422 {
			t.Errorf("PUT without tests: %d %s", code, data)
		}
		if code, data := put("big", "application/json", oaJSON(t, contracts.ProblemPackage{Tests: []contracts.TestCase{{Stdin: strings.Repeat("x", 2<<20)}}}), false); code != 413 {
			t.Errorf("PUT too large: %d %s", code, data)
		}
		if code, data := put("plain", "text/plain", []byte(`{}`), true); code != 415 {
			t.Errorf("PUT text/plain: %d %s", code, data)
		}
		if code, data := put("bad!id", "application/json", []byte(`{"tests":[{"stdin":""}]}`), true); code != 422 {
			t.Errorf("PUT with a bad id: %d %s", code, data)
		}
		if code, data := put("double", "application/json", []byte(`{"tests":`), true); code != 400 {
			t.Errorf("PUT malformed: %d %s", code, data)
		}
		if code, _, data := c.do(oaExchange{method: "DELETE", path: "/v1/problems/double", op: "DELETE /v1/problems/{id}"}); code != 204 {
			t.Errorf("DELETE: %d %s", code, data)
		}
		for _, m := range []string{"GET", "DELETE"} {
			if code, _, data := c.do(oaExchange{method: m, path: "/v1/problems/double", op: m + " /v1/problems/{id}"}); code != 404 {
				t.Errorf("%s after DELETE: %d %s", m, code, data)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		post := func(path, op, ctype string, body []byte, header map[string]string) int {
			t.Helper()
			h := map[string]string{"Content-Type": ctype}
			for k, v := range header {
				h[k] = v
			}
			code, _, _ := c.do(oaExchange{method: "POST", path: path, op: op, body: body, header: h, invalidRequest: true})
			return code
		}
		ok := oaJSON(t, src("python", "main.py", "print(1)\n"))
		big := oaJSON(t, src("python", "main.py", strings.Repeat("#", 2<<20)))
		cases := []struct {
			name, path, op, ctype string
			body                  []byte
			header                map[string]string
			want                  int
		}{
			{"malformed json", "/v1/executions", "POST /v1/executions", "application/json", []byte(`{"language":`), nil, 400},
			{"unknown field", "/v1/execute", "POST /v1/execute", "application/json", []byte(`{"language":"python","files":[],"colour":1}`), nil, 400},
			{"bad wait", "/v1/executions?wait=maybe", "POST /v1/executions", "application/json", ok, nil, 400},
			{"bad timeout", "/v1/execute?timeout=-5", "POST /v1/execute", "application/json", ok, nil, 400},
			{"bad idempotency key", "/v1/executions", "POST /v1/executions", "application/json", ok, map[string]string{"Idempotency-Key": strings.Repeat("k", 300)}, 400},
			{"wrong content type", "/v1/executions", "POST /v1/executions", "text/plain", ok, nil, 415},
			{"too large", "/v1/executions", "POST /v1/executions", "application/json", big, nil, 413},
			{"path traversal", "/v1/executions", "POST /v1/executions", "application/json", []byte(`{"language":"python","files":[{"name":"../x","content":""}]}`), nil, 422},
			{"unknown language", "/v1/execute", "POST /v1/execute", "application/json", []byte(`{"language":"cobol","files":[{"name":"a.cob","content":""}]}`), nil, 422},
			{"limit too high", "/v1/executions", "POST /v1/executions", "application/json", []byte(`{"language":"python","files":[{"name":"main.py","content":""}],"limits":{"memory_mb":999999}}`), nil, 422},
			{"empty batch", "/v1/executions/batch", "POST /v1/executions/batch", "application/json", []byte(`{"executions":[]}`), nil, 422},
			{"batch not an object", "/v1/executions/batch", "POST /v1/executions/batch", "application/json", []byte(`[]`), nil, 400},
			{"batch wrong content type", "/v1/executions/batch", "POST /v1/executions/batch", "text/plain", []byte(`{}`), nil, 415},
			{"evaluation without candidates", "/v1/evaluations", "POST /v1/evaluations", "application/json", []byte(`{"language":"python","candidates":[]}`), nil, 422},
			{"evaluation with a bad file name", "/v1/evaluations", "POST /v1/evaluations", "application/json", []byte(`{"language":"python","candidates":[{"files":[{"name":"main.py","content":""}]},{"files":[{"name":"../x.py","content":""}]}]}`), nil, 422},
			{"evaluation unknown field", "/v1/evaluations", "POST /v1/evaluations", "application/json", []byte(`{"language":"python","candidates":[],"samples":3}`), nil, 400},
			{"evaluation wrong content type", "/v1/evaluations", "POST /v1/evaluations", "text/plain", []byte(`{}`), nil, 415},
		}
		for _, tc := range cases {
			if code := post(tc.path, tc.op, tc.ctype, tc.body, tc.header); code != tc.want {
				t.Errorf("%s: %d, want %d", tc.name, code, tc.want)
			}
		}
		gets := []struct{ path, op string }{
			{"/v1/executions/" + contracts.NewID(), "GET /v1/executions/{id}"},
			{"/v1/executions/" + contracts.NewID() + "?wait=true&timeout=2s", "GET /v1/executions/{id}"},
			{"/v1/executions/not-an-id", "GET /v1/executions/{id}"},
			{"/v1/evaluations/" + contracts.NewID() + "?wait=true&timeout=2s", "GET /v1/evaluations/{id}"},
			{"/v1/evaluations/not-an-id", "GET /v1/evaluations/{id}"},
		}
		for _, g := range gets {
			if code, _, _ := c.do(oaExchange{method: "GET", path: g.path, op: g.op, invalidRequest: true}); code != 404 {
				t.Errorf("GET %s: %d, want 404", g.path, code)
			}
		}
		if code, _, _ := c.do(oaExchange{method: "GET", path: "/v1/executions", op: "GET /v1/executions", invalidRequest: true}); code != 400 {
			t.Errorf("list without ids: %d, want 400", code)
		}
		if code, _, _ := c.do(oaExchange{method: "GET", path: "/v1/executions/" + contracts.NewID() + "?timeout=soon", op: "GET /v1/executions/{id}", invalidRequest: true}); code != 400 {
			t.Errorf("bad timeout on GET: %d, want 400", code)
		}
		if code, _, _ := c.do(oaExchange{method: "GET", path: "/v1/evaluations/" + contracts.NewID() + "?candidates=some", op: "GET /v1/evaluations/{id}", invalidRequest: true}); code != 400 {
			t.Errorf("bad candidates on GET: %d, want 400", code)
		}
		// Outside the document's operations: unknown path and wrong method.
		if code, _, _ := c.do(oaExchange{method: "GET", path: "/v2/nothing"}); code != 404 {
			t.Errorf("unknown path: %d, want 404", code)
		}
		for _, m := range []string{"DELETE /v1/runtimes", "PUT /openapi.json", "GET /v1/execute", "PATCH /v1/executions/" + contracts.NewID()} {
			method, path, _ := strings.Cut(m, " ")
			if code, hdr, _ := c.do(oaExchange{method: method, path: path}); code != 405 || hdr.Get("Allow") == "" {
				t.Errorf("%s: %d (Allow %q), want 405 with Allow", m, code, hdr.Get("Allow"))
			}
		}
	})

	// The validation is strict enough to notice a renamed field, a changed
	// type, a missing required field or an unknown enum value in real answers.
	t.Run("the check catches drift", func(t *testing.T) {
		type key = oaAnswerKey
		obj := func(v any, path ...any) map[string]any {
			for _, p := range path {
				switch p := p.(type) {
				case string:
					v = v.(map[string]any)[p]
				case int:
					v = v.([]any)[p]
				}
			}
			return v.(map[string]any)
		}
		rename := func(m map[string]any, from, to string) { m[to] = m[from]; delete(m, from) }
		cases := []struct {
			name   string
			answer key
			mutate func(any)
		}{
			{"renamed test field", key{"POST /v1/execute", 200}, func(b any) { rename(obj(b, "tests", 0), "cpu_time_ms", "cpu_ms") }},
			{"renamed optional field", key{"POST /v1/execute", 200}, func(b any) { rename(obj(b), "verdict", "result") }},
			{"added field", key{"POST /v1/execute", 200}, func(b any) { obj(b)["grade"] = 1 }},
			{"type changed", key{"POST /v1/execute", 200}, func(b any) { obj(b, "tests", 0)["exit_code"] = "0" }},
			{"integer became fractional", key{"POST /v1/execute", 200}, func(b any) { obj(b, "limits")["memory_mb"] = 1.5 }},
			{"unknown verdict", key{"POST /v1/execute", 200}, func(b any) { obj(b)["verdict"] = "partially_accepted" }},
			{"missing created_at", key{"POST /v1/execute", 200}, func(b any) { delete(obj(b), "created_at") }},
			{"bad time", key{"POST /v1/execute", 200}, func(b any) { obj(b)["created_at"] = "yesterday" }},
			{"accepted with an extra field", key{"POST /v1/executions", 202}, func(b any) { obj(b)["queue"] = "jobs" }},
			{"accepted with another status", key{"POST /v1/executions", 202}, func(b any) { obj(b)["status"] = "pending" }},
			{"runtime field renamed", key{"GET /v1/runtimes", 200}, func(b any) { rename(obj(b, "runtimes", 0), "default_limits", "defaults") }},
			{"runtime field type", key{"GET /v1/runtimes", 200}, func(b any) { obj(b, "runtimes", 0)["compiled"] = "no" }},
			{"batch entry renamed", key{"POST /v1/executions/batch", 200}, func(b any) { rename(obj(b, "executions", 0), "id", "execution_id") }},
			{"list entry renamed", key{"GET /v1/executions", 200}, func(b any) { rename(obj(b, "executions", 0), "execution", "exec") }},
			{"error code renamed", key{"POST /v1/executions", 422}, func(b any) { rename(obj(b, "error"), "code", "error_code") }},
			{"unknown error code", key{"POST /v1/executions", 422}, func(b any) { obj(b, "error")["code"] = "oops" }},
			{"readiness type", key{"GET /readyz", 200}, func(b any) { obj(b)["ready"] = "yes" }},
			{"evaluation candidate renamed", key{"GET /v1/evaluations/{id}", 200}, func(b any) { rename(obj(b, "candidates", 0), "execution_id", "execution") }},
			{"unknown evaluation status", key{"GET /v1/evaluations/{id}", 200}, func(b any) { obj(b)["status"] = "done" }},
			{"count of an unknown verdict", key{"GET /v1/evaluations/{id}", 200}, func(b any) { obj(b, "summary", "by_verdict")["partially_accepted"] = 1 }},
			{"missing progress count", key{"GET /v1/evaluations/{id}", 200}, func(b any) { delete(obj(b, "progress"), "queue_full_retries") }},
			{"accepted evaluation renamed", key{"POST /v1/evaluations", 202}, func(b any) { rename(obj(b, "candidates", 0), "index", "position") }},
			{"problem test renamed", key{"GET /v1/problems/{id}", 200}, func(b any) { rename(obj(b, "tests", 0), "input", "stdin") }},
			{"problem version not a hash", key{"PUT /v1/problems/{id}", 201}, func(b any) { obj(b)["version"] = "v1" }},
		}
		for _, tc := range cases {
			a, ok := c.answers[tc.answer]
			if !ok {
				t.Errorf("%s: no real %d answer of %s was recorded", tc.name, tc.answer.status, tc.answer.op)
				continue
			}
			if ok, errs := c.validate(a.x, a.newReq(), a.status, a.header, a.body); !ok {
				t.Fatalf("%s: the unchanged answer fails: %s", tc.name, oaDescribe(errs))
			}
			var b any
			if err := json.Unmarshal(a.body, &b); err != nil {
				t.Fatal(err)
			}
			tc.mutate(b)
			body := oaJSON(t, b)
			if ok, _ := c.validate(a.x, a.newReq(), a.status, a.header, body); ok {
				t.Errorf("%s: the changed answer passed validation: %s", tc.name, oaTruncate(body, 400))
			}
		}
	})

	// Every operation of the document was called and answered with a 2xx.
	var raw struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(docBytes, &raw); err != nil {
		t.Fatal(err)
	}
	for path, item := range raw.Paths {
		for method := range item {
			op := strings.ToUpper(method) + " " + path
			seen := c.covered[op]
			if !slices.ContainsFunc(seen, func(s int) bool { return s >= 200 && s < 300 }) {
				t.Errorf("operation %s was never answered with a 2xx (statuses seen: %v)", op, seen)
			}
		}
	}
	var summary []string
	for op, st := range c.covered {
		slices.Sort(st)
		summary = append(summary, fmt.Sprintf("%s %v", op, slices.Compact(st)))
	}
	sort.Strings(summary)
	t.Logf("statuses validated:\n  %s", strings.Join(summary, "\n  "))
}

// evaluate2 posts an evaluation in a benchmark format and returns the 202.
func evaluate2(t *testing.T, submit func(string, any, map[string]string) (int, http.Header, []byte), body any) contracts.EvaluationAccepted {
	t.Helper()
	code, _, data := submit("/v1/evaluations", body, nil)
	var acc contracts.EvaluationAccepted
	if err := json.Unmarshal(data, &acc); err != nil || code != 202 {
		t.Fatalf("submit: %d %s", code, data)
	}
	return acc
}
