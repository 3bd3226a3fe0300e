package gateway_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/gateway"
)

const operatorKey = "operator-secret-key-0123456789"

// leaks reports the first of the secrets (node names, engine errors) found in body.
func leaks(body []byte, secrets ...string) string {
	for _, s := range secrets {
		if bytes.Contains(body, []byte(s)) {
			return s
		}
	}
	return ""
}

// TestReadyzHidesDetails: without the operator key /readyz says only ready
// or not; node names and engine errors are the operator's.
func TestReadyzHidesDetails(t *testing.T) {
	e := start(t, func(c *gateway.Config) { withKeys(c); c.OperatorKey = operatorKey })
	e.heartbeat("node-secret-7", "docker engine: Cannot connect to unix:///run/docker.sock", testRuntimes())

	for name, headers := range map[string]map[string][]string{
		"no key": nil, "tenant key": bearer(aliceKey), "wrong key": bearer("not-the-operator-key-0123"),
	} {
		r := e.do(call{path: "/readyz", headers: headers})
		if r.status != 503 {
			t.Fatalf("%s: status %d %s", name, r.status, r.body)
		}
		var body map[string]any
		if err := json.Unmarshal(r.body, &body); err != nil || len(body) != 2 || body["status"] != "not_ready" || body["ready"] != false {
			t.Errorf("%s: body %s, want only status not_ready and ready false", name, r.body)
		}
		if s := leaks(r.body, "node-secret-7", "docker", "executors", "nats"); s != "" {
			t.Errorf("%s: /readyz shows %q: %s", name, s, r.body)
		}
	}
	r := e.do(call{path: "/readyz", headers: bearer(operatorKey)})
	if r.status != 503 || leaks(r.body, "node-secret-7: docker engine: Cannot connect") == "" {
		t.Errorf("operator: %d %s, want the executor's problem", r.status, r.body)
	}

	e.heartbeat("node-secret-8", "", testRuntimes())
	r = e.do(call{path: "/readyz"})
	if r.status != 200 || string(bytes.TrimSpace(r.body)) != `{"status":"ready","ready":true}` {
		t.Errorf("ready, no key: %d %s", r.status, r.body)
	}
}

// TestFleetHidesNodeNames: /v1/fleet shows tenants pseudonyms and a
// neutral problem; the operator key sees the nodes.
func TestFleetHidesNodeNames(t *testing.T) {
	e := start(t, func(c *gateway.Config) { withKeys(c); c.OperatorKey = operatorKey })
	e.heartbeat("node-secret-7", "docker engine: Cannot connect to unix:///run/docker.sock", testRuntimes())
	e.heartbeat("node-secret-8", "", testRuntimes())

	type fleet struct {
		Executors []contracts.ExecutorInfo `json:"executors"`
	}
	r := e.do(call{path: "/v1/fleet", headers: bearer(aliceKey)})
	if r.status != 200 {
		t.Fatalf("tenant: %d %s", r.status, r.body)
	}
	if s := leaks(r.body, "node-secret", "docker", "unix://"); s != "" {
		t.Errorf("tenant sees %q: %s", s, r.body)
	}
	tenantView := decode[fleet](t, r).Executors
	if len(tenantView) != 2 || tenantView[0].ID == tenantView[1].ID {
		t.Errorf("tenant view: want two distinct executors: %s", r.body)
	}
	again := decode[fleet](t, e.do(call{path: "/v1/fleet", headers: bearer(bobKey)})).Executors
	ids := map[string]bool{}
	for _, x := range again {
		ids[x.ID] = true
	}
	for _, x := range tenantView {
		if !ids[x.ID] {
			t.Errorf("pseudonym %s is not stable between requests: %v", x.ID, again)
		}
	}

	r = e.do(call{path: "/v1/fleet", headers: bearer(operatorKey)})
	if r.status != 200 || leaks(r.body, "node-secret-7") == "" || leaks(r.body, "Cannot connect") == "" {
		t.Errorf("operator: %d %s, want node names and the problem", r.status, r.body)
	}
	// The operator key names no tenant: it opens nothing else.
	wantError(t, e.do(call{path: "/v1/runtimes", headers: bearer(operatorKey)}), 403, contracts.CodeForbidden, "", "")
}

// TestJudge0ExecutionHostHidden: execution_host is neutral for tenants.
func TestJudge0ExecutionHostHidden(t *testing.T) {
	e := start(t, func(c *gateway.Config) { c.OperatorKey = operatorKey })
	e.heartbeat("node-secret-8", "", testRuntimes())
	now := time.Now().UTC()
	id := "zzzzzzzzzzzzzzzzzzzzzzzzz2"
	e.putExecution(contracts.Execution{ID: id, Status: contracts.StatusRunning, Language: "python", Version: "3.12.3",
		Executor: "node-secret-8", CreatedAt: now, StartedAt: &now})
	path := "/submissions/" + id + "?fields=execution_host"
	if r := e.do(call{path: path}); string(bytes.TrimSpace(r.body)) != `{"execution_host":"airlock"}` {
		t.Errorf("tenant: %d %s", r.status, r.body)
	}
	if r := e.do(call{path: path, headers: bearer(operatorKey)}); string(bytes.TrimSpace(r.body)) != `{"execution_host":"node-secret-8"}` {
		t.Errorf("operator: %d %s", r.status, r.body)
	}
}

// TestOperatorKeyOfATenant: the operator key may also be a tenant's key
// (the browser tests use one key for both); it keeps its tenant access.
func TestOperatorKeyOfATenant(t *testing.T) {
	e := start(t, func(c *gateway.Config) { withKeys(c); c.OperatorKey = aliceKey })
	e.heartbeat("node-secret-8", "", testRuntimes())
	if r := e.do(call{path: "/v1/fleet", headers: bearer(aliceKey)}); leaks(r.body, "node-secret-8") == "" {
		t.Errorf("alice, also the operator: %d %s", r.status, r.body)
	}
	if r := e.do(call{path: "/v1/fleet", headers: bearer(bobKey)}); r.status != 200 || leaks(r.body, "node-secret-8") != "" {
		t.Errorf("bob: %d %s", r.status, r.body)
	}
	if r := e.submit("/v1/executions", helloPy, bearer(aliceKey)); r.status != 202 {
		t.Errorf("alice submits: %d %s", r.status, r.body)
	}
}
