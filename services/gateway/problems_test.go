package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/gateway"
)

// TestProblemEndpoints: PUT, GET and DELETE /v1/problems/{id} per tenant,
// their errors, and a submission that names a problem queued as a job
// that carries the problem's id and version and no test data.
func TestProblemEndpoints(t *testing.T) {
	e := start(t, func(c *gateway.Config) {
		withKeys(c)
		c.MaxProblemBodyBytes = 1 << 20
		c.Policy.MaxProblemBytes = 1000
	})
	e.heartbeat("exec-1", "", testRuntimes())
	alice, bob := bearer(aliceKey), bearer(bobKey)
	put := func(id, body string, h map[string][]string) response {
		return e.do(call{method: http.MethodPut, path: "/v1/problems/" + id, body: body, contentType: "application/json", headers: h})
	}
	pkg := `{"tests":[{"name":"a","stdin":"1 2","expected_output":"3","points":2},{"stdin":"5 5","expected_output":"10"}],` +
		`"checker":{"language":"python","files":[{"name":"check.py","content":"import sys\n"}]},"limits":{"cpu_time_ms":1500}}`
	r := put("sum", pkg, alice)
	if r.status != 201 || r.header.Get("Location") != "/v1/problems/sum" {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	m := decode[contracts.ProblemManifest](t, r)
	if len(m.Tests) != 2 || m.MaxScore != 3 || m.Checker == nil || m.Checker.Files[0].SHA256 != contracts.SHA256Hex([]byte("import sys\n")) ||
		m.Tests[0].Answer.SHA256 != contracts.SHA256Hex([]byte("3")) || strings.Contains(string(r.body), "1 2") {
		t.Errorf("manifest: %s", r.body)
	}
	if again := put("sum", pkg, alice); again.status != 200 || string(again.body) != string(r.body) {
		t.Errorf("PUT again: %d %s", again.status, again.body)
	}
	if got := e.do(call{path: "/v1/problems/sum", headers: alice}); got.status != 200 || string(got.body) != string(r.body) {
		t.Errorf("GET: %d %s", got.status, got.body)
	}
	wantError(t, e.do(call{path: "/v1/problems/sum", headers: bob}), 404, contracts.CodeNotFound, "id", "")
	wantError(t, e.do(call{method: http.MethodDelete, path: "/v1/problems/sum", headers: bob}), 404, contracts.CodeNotFound, "id", "")
	wantError(t, put("sum", `{"tests":[{"stdin":"`+strings.Repeat("x", 1001)+`"}]}`, alice), 422, contracts.CodeInvalidRequest, "tests", "the maximum is 1000")
	wantError(t, put("sum", `{"tests":[{"stdin":"`+strings.Repeat("x", 1<<20)+`"}]}`, alice), 413, contracts.CodeBodyTooLarge, "", "")
	wantError(t, put("sum", `{"tests":[{}],"checker":{"language":"cobol","files":[{"name":"c.cob"}]}}`, alice), 422, contracts.CodeUnknownLanguage, "checker.language", "")
	wantError(t, put("sum", `{"tests":[{}],"colour":1}`, alice), 400, contracts.CodeInvalidJSON, "colour", "")
	wantError(t, put("a/b", `{"tests":[{}]}`, alice), 404, contracts.CodeNotFound, "", "")
	wantError(t, put("-x", `{"tests":[{}]}`, alice), 422, contracts.CodeInvalidRequest, "id", "")
	wantError(t, e.do(call{method: http.MethodPut, path: "/v1/problems/sum", body: pkg, contentType: "text/plain", headers: alice}), 415, contracts.CodeUnsupportedMediaType, "", "")

	// A submission naming it: the job carries the reference only.
	wantError(t, e.submit("/v1/executions", `{"language":"python","files":[{"name":"main.py","content":""}],"problem":"sum"}`, bob),
		422, contracts.CodeUnknownProblem, "problem", "")
	wantError(t, e.submit("/v1/executions", `{"language":"python","files":[{"name":"main.py","content":""}],"problem":"sum","compare":"exact"}`, alice),
		422, contracts.CodeInvalidRequest, "compare", "")
	s := e.submit("/v1/executions", `{"language":"python","files":[{"name":"main.py","content":"print(3)"}],"problem":"sum"}`, alice)
	if s.status != 202 {
		t.Fatalf("submit: %d %s", s.status, s.body)
	}
	ctx := context.Background()
	jobs, err := e.nats.JS.Stream(ctx, contracts.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := jobs.GetLastMsgForSubject(ctx, e.topo.JobSubject("alice"))
	if err != nil {
		t.Fatal(err)
	}
	var job contracts.Job
	if err := json.Unmarshal(msg.Data, &job); err != nil {
		t.Fatal(err)
	}
	if job.Request.Problem != "sum" || job.Request.ProblemVersion != m.Version || job.Request.Tests != nil || job.Request.Checker != nil ||
		job.Request.Limits.CPUTimeMS != 1500 || strings.Contains(string(msg.Data), "5 5") {
		t.Errorf("job: %s", msg.Data)
	}

	if d := e.do(call{method: http.MethodDelete, path: "/v1/problems/sum", headers: alice}); d.status != 204 {
		t.Fatalf("DELETE: %d %s", d.status, d.body)
	}
	wantError(t, e.do(call{path: "/v1/problems/sum", headers: alice}), 404, contracts.CodeNotFound, "id", "")
	wantError(t, e.do(call{method: http.MethodPost, path: "/v1/problems/sum", body: "{}", headers: alice}), 405, contracts.CodeMethodNotAllowed, "", "")
}
