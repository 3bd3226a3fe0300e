package gateway_test

import (
	"testing"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/gateway"
)

const (
	aliceKey = "alice-secret-key-0123456789"
	bobKey   = "bob-secret-key-0123456789ab"
)

func withKeys(c *gateway.Config) {
	c.APIKeys = []gateway.APIKey{{Tenant: "alice", Key: aliceKey}, {Tenant: "bob", Key: bobKey}}
}

func bearer(key string) map[string][]string {
	return map[string][]string{"Authorization": {"Bearer " + key}}
}

func TestAPIKeys(t *testing.T) {
	e := start(t, withKeys)
	e.heartbeat("exec-1", "", testRuntimes())

	wantError(t, e.submit("/v1/executions", helloPy, nil), 401, contracts.CodeUnauthorized, "", "API key is required")
	wantError(t, e.submit("/v1/executions", helloPy, bearer("not-a-key")), 403, contracts.CodeForbidden, "", "not valid")
	wantError(t, e.do(call{path: "/v1/runtimes"}), 401, contracts.CodeUnauthorized, "", "")
	if r := e.do(call{path: "/healthz"}); r.status != 200 {
		t.Errorf("healthz needs no key: %d", r.status)
	}
	if r := e.do(call{path: "/readyz"}); r.status != 200 {
		t.Errorf("readyz needs no key: %d %s", r.status, r.body)
	}

	// Both header forms work; each tenant sees only its own executions.
	r := e.submit("/v1/executions", helloPy, bearer(aliceKey))
	if r.status != 202 {
		t.Fatalf("alice submit: %d %s", r.status, r.body)
	}
	id := decode[contracts.Accepted](t, r).ID
	if r := e.do(call{path: "/v1/executions/" + id, headers: map[string][]string{"X-Api-Key": {aliceKey}}}); r.status != 200 {
		t.Errorf("alice reads her execution: %d %s", r.status, r.body)
	} else if got := decode[contracts.Execution](t, r); got.Tenant != "alice" {
		t.Errorf("tenant %q", got.Tenant)
	}
	wantError(t, e.do(call{path: "/v1/executions/" + id, headers: bearer(bobKey)}), 404, contracts.CodeNotFound, "id", "")
	wantError(t, e.do(call{path: "/v1/executions/" + id + "?wait=true&timeout=1s", headers: bearer(bobKey)}), 404, contracts.CodeNotFound, "id", "")
	list := decode[contracts.ExecutionList](t, e.do(call{path: "/v1/executions?ids=" + id, headers: bearer(bobKey)}))
	if list.Executions[0].Execution != nil {
		t.Error("bob listed alice's execution")
	}
	// After the results service stores it, still hidden.
	done := completed(id)
	done.Tenant = "alice"
	e.putExecution(done)
	wantError(t, e.do(call{path: "/v1/executions/" + id, headers: bearer(bobKey)}), 404, contracts.CodeNotFound, "id", "")

	// The same Idempotency-Key names different executions for different tenants.
	key := func(k string) map[string][]string { h := bearer(k); h["Idempotency-Key"] = []string{"same"}; return h }
	a := decode[contracts.Accepted](t, e.submit("/v1/executions", helloPy, key(aliceKey))).ID
	b := decode[contracts.Accepted](t, e.submit("/v1/executions", helloPy, key(bobKey))).ID
	if a == b || a != contracts.IDFromKey("alice", "same") {
		t.Errorf("idempotent ids: alice %s bob %s", a, b)
	}
}

func TestTenantQueueCap(t *testing.T) {
	e := start(t, func(c *gateway.Config) {
		withKeys(c)
		c.Topology.TenantQueueMax = 2
	})
	e.heartbeat("exec-1", "", testRuntimes())
	for i := 0; i < 2; i++ {
		if r := e.submit("/v1/executions", helloPy, bearer(aliceKey)); r.status != 202 {
			t.Fatalf("alice %d: %d %s", i, r.status, r.body)
		}
	}
	r := e.submit("/v1/executions", helloPy, bearer(aliceKey))
	wantError(t, r, 429, contracts.CodeTenantQueueFull, "", "per-key maximum")
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	// Bob is not affected by Alice filling her share.
	if r := e.submit("/v1/executions", helloPy, bearer(bobKey)); r.status != 202 {
		t.Fatalf("bob: %d %s", r.status, r.body)
	}
}

func TestRateLimit(t *testing.T) {
	e := start(t, func(c *gateway.Config) {
		withKeys(c)
		c.RateLimit, c.RateBurst = 0.01, 3
	})
	e.heartbeat("exec-1", "", testRuntimes())
	for i := 0; i < 3; i++ {
		if r := e.submit("/v1/executions", helloPy, bearer(aliceKey)); r.status != 202 {
			t.Fatalf("alice %d: %d %s", i, r.status, r.body)
		}
	}
	r := e.submit("/v1/executions", helloPy, bearer(aliceKey))
	wantError(t, r, 429, contracts.CodeRateLimited, "", "too many")
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	if r := e.submit("/v1/executions", helloPy, bearer(bobKey)); r.status != 202 {
		t.Errorf("bob has his own budget: %d", r.status)
	}
	// Reads are not limited.
	if r := e.do(call{path: "/v1/runtimes", headers: bearer(aliceKey)}); r.status != 200 {
		t.Errorf("runtimes: %d", r.status)
	}
}
