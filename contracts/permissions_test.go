package contracts_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/airlockrun/airlock/contracts"
)

// matches reports whether the NATS subject pattern p covers subject s.
func matches(p, s string) bool {
	pt, st := strings.Split(p, "."), strings.Split(s, ".")
	for i, tok := range pt {
		switch {
		case tok == ">":
			return len(st) > i
		case i >= len(st):
			return false
		case tok != "*" && tok != st[i]:
			return false
		}
	}
	return len(pt) == len(st)
}

func allowed(r contracts.SubjectRule, subject string) bool {
	return slices.ContainsFunc(r.Allow, func(p string) bool { return matches(p, subject) }) &&
		!slices.ContainsFunc(r.Deny, func(p string) bool { return matches(p, subject) })
}

// TestPermissions checks the rules of docs/security.md on the permission
// sets themselves (cmd/airlock's TestNATSRoles checks them on a server).
func TestPermissions(t *testing.T) {
	topo := contracts.DefaultTopology()
	perm := func(r contracts.Role, tenant string) contracts.Permissions {
		p, err := topo.Permissions(r, tenant)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	writeExec := "$KV.executions.abc"
	for _, r := range []contracts.Role{contracts.RoleGateway, contracts.RoleExecutor, contracts.RoleClient} {
		if allowed(perm(r, "acme").Publish, writeExec) {
			t.Errorf("%s may write the executions bucket", r)
		}
	}
	if !allowed(perm(contracts.RoleResults, "").Publish, writeExec) {
		t.Error("results may not write the executions bucket")
	}
	ex := perm(contracts.RoleExecutor, "")
	if !slices.Equal(ex.Subscribe.Allow, []string{"_INBOX.executor.>", contracts.ExecutorMaxDeliveriesAdvisory}) {
		t.Errorf("executor subscribes to %v, want its inbox and the max-deliveries advisory of its consumer only", ex.Subscribe.Allow)
	}
	for _, s := range []string{"$JS.API.DIRECT.GET.KV_executions.$KV.executions.abc", "$JS.API.CONSUMER.CREATE.KV_executions.x.$KV.executions.>",
		"$JS.API.STREAM.MSG.GET.KV_executions", "airlock.jobs.acme", "$JS.API.STREAM.PURGE.JOBS", "$JS.API.CONSUMER.CREATE.RESULTS.results",
		"$JS.API.STREAM.MSG.DELETE.RESULTS", "$JS.API.STREAM.DELETE.JOBS", "$JS.API.STREAM.MSG.GET.KV_evaluations",
		"$JS.API.STREAM.MSG.GET.RESULTS", "$JS.API.DIRECT.GET.RESULTS", "$JS.API.DIRECT.GET.RESULTS.$KV.executions.abc"} {
		if allowed(ex.Publish, s) {
			t.Errorf("executor may publish to %s", s)
		}
	}
	for _, s := range []string{"$JS.API.CONSUMER.MSG.NEXT.JOBS.executors", "$JS.ACK.JOBS.executors.1.2.3.4.5.6.7", "airlock.events.abc", "$KV.executors.node-1",
		"$JS.API.DIRECT.GET.RESULTS.airlock.events.abc", "$JS.API.STREAM.MSG.GET.JOBS", "$JS.API.STREAM.MSG.DELETE.JOBS",
		"$JS.API.CONSUMER.CREATE.KV_executors.x.$KV.executors.>", "$JS.FC.KV_executors.x"} {
		if !allowed(ex.Publish, s) {
			t.Errorf("executor may not publish to %s", s)
		}
	}
	// The gateway's waiters share one subscription to the executions
	// bucket's writes; it reserves idempotency keys; no other service
	// identity can read the executions' writes that way.
	gw := perm(contracts.RoleGateway, "")
	if !allowed(gw.Subscribe, "$KV.executions.abc") || !allowed(gw.Publish, "$KV.idempotency.acme.execution.abc") ||
		!allowed(gw.Publish, "$JS.API.STREAM.CREATE.KV_idempotency") || !allowed(gw.Publish, "$JS.API.DIRECT.GET.KV_idempotency.$KV.idempotency.acme.execution.abc") {
		t.Errorf("gateway cannot wait through the executions bucket or reserve idempotency keys: %+v", gw)
	}
	for _, r := range []contracts.Role{contracts.RoleExecutor, contracts.RoleResults, contracts.RoleClient} {
		if p := perm(r, "acme"); allowed(p.Subscribe, "$KV.executions.abc") || allowed(p.Publish, "$KV.idempotency.acme.execution.abc") {
			t.Errorf("%s may subscribe to the executions' writes or write an idempotency key", r)
		}
	}
	// The problems store: the gateway reads and writes it, an executor
	// only reads it.
	for _, c := range []struct {
		role    contracts.Role
		subject string
		want    bool
	}{
		{contracts.RoleGateway, "$O.problems.C.abc", true}, {contracts.RoleGateway, "$O.problems.M.abc", true},
		{contracts.RoleGateway, "$JS.API.STREAM.PURGE.OBJ_problems", true}, {contracts.RoleGateway, "$JS.API.STREAM.CREATE.OBJ_problems", true},
		{contracts.RoleExecutor, "$JS.API.STREAM.INFO.OBJ_problems", true}, {contracts.RoleExecutor, "$JS.API.DIRECT.GET.OBJ_problems", true},
		{contracts.RoleExecutor, "$JS.API.CONSUMER.CREATE.OBJ_problems.x.$O.problems.C.abc", true},
		{contracts.RoleExecutor, "$O.problems.C.abc", false}, {contracts.RoleExecutor, "$O.problems.M.abc", false},
		{contracts.RoleExecutor, "$JS.API.STREAM.PURGE.OBJ_problems", false}, {contracts.RoleExecutor, "$JS.API.STREAM.DELETE.OBJ_problems", false},
		{contracts.RoleExecutor, "$JS.API.STREAM.CREATE.OBJ_problems", false}, {contracts.RoleExecutor, "$JS.API.STREAM.UPDATE.OBJ_problems", false},
		{contracts.RoleResults, "$JS.API.DIRECT.GET.OBJ_problems", false}, {contracts.RoleClient, "$JS.API.DIRECT.GET.OBJ_problems", false},
		{contracts.RoleClient, "airlock.api.problem.acme", true}, {contracts.RoleClient, "airlock.api.problem.beta", false},
		{contracts.RoleClient, "airlock.api.problem", false}, {contracts.RoleExecutor, "airlock.api.problem.acme", false},
	} {
		if got := allowed(perm(c.role, "acme").Publish, c.subject); got != c.want {
			t.Errorf("%s may publish to %s: %v, want %v", c.role, c.subject, got, c.want)
		}
	}
	cl := perm(contracts.RoleClient, "acme")
	if !allowed(cl.Publish, "airlock.api.execute.acme") || allowed(cl.Publish, "airlock.api.execute.beta") ||
		allowed(cl.Publish, "airlock.api.execute") || allowed(cl.Subscribe, "_INBOX.tenant.beta.x") || !allowed(cl.Subscribe, "_INBOX.tenant.acme.x") {
		t.Errorf("client of acme: %+v", cl)
	}
	if _, err := topo.Permissions(contracts.RoleClient, "a.b"); err == nil {
		t.Error("a tenant with a dot got permissions")
	}
	if _, err := topo.Permissions("nobody", ""); err == nil {
		t.Error("an unknown role got permissions")
	}
}

func TestTenantFromSubjects(t *testing.T) {
	topo := contracts.DefaultTopology()
	for subject, want := range map[string]string{"airlock.jobs.acme": "acme", "airlock.jobs.a.b": "", "other.jobs.acme": "", "airlock.jobs.": ""} {
		if got, ok := topo.TenantOfJobSubject(subject); got != want || ok != (want != "") {
			t.Errorf("TenantOfJobSubject(%q) = %q, %v", subject, got, ok)
		}
	}
	if got, ok := topo.TenantOfExecuteSubject(topo.ExecuteSubject("acme")); !ok || got != "acme" {
		t.Errorf("TenantOfExecuteSubject = %q, %v", got, ok)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                           "nats://127.0.0.1:4222",
		"nats://alice:s3cret@h1:4222,tls://tok3n@h2:4222": "nats://REDACTED@h1:4222,tls://REDACTED@h2:4222",
		"nats://a:b@[::1:4222":                            "REDACTED",
	} {
		got := contracts.RedactURL(in)
		if got != want || strings.Contains(got, "s3cret") || strings.Contains(got, "tok3n") {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAuthenticated(t *testing.T) {
	for c, want := range map[contracts.NATSConn]bool{
		{URL: "nats://127.0.0.1:4222"}:                 false,
		{URL: "nats://127.0.0.1:4222", CA: "ca.pem"}:   false,
		{URL: "nats://a:4222", NkeySeed: "x.nk"}:       true,
		{URL: "nats://a:4222", Creds: "x.creds"}:       true,
		{URL: "nats://a:4222,nats://user:pass@b:4222"}: true,
		{URL: "nats://s3cret-token@a:4222"}:            true,
	} {
		if got := c.Authenticated(); got != want {
			t.Errorf("%+v: Authenticated() = %v", c, got)
		}
	}
}
