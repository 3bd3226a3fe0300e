package gateway_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/airlockrun/airlock/contracts"
)

// TestNATSEndpoint: the NATS request/reply endpoint submits and waits through
// the bus client for the tenant of its subject (or of the Airlock-Tenant
// header on the unauthenticated endpoint), and answers the client's errors
// as service errors with the HTTP status as the code.
func TestNATSEndpoint(t *testing.T) {
	e := start(t, nil)
	e.heartbeat("exec-1", "", testRuntimes())
	e.startFakeExecutor(func(job contracts.Job) contracts.Execution {
		return contracts.Execution{Tenant: job.Tenant, Verdict: contracts.VerdictAccepted,
			Run: &contracts.Stage{Stdout: "hi\n"}}
	})
	request := func(subject, tenant, body string) *nats.Msg {
		t.Helper()
		msg := nats.NewMsg(subject)
		msg.Data = []byte(body)
		if tenant != "" {
			msg.Header.Set("Airlock-Tenant", tenant)
		}
		reply, err := e.nats.Conn.RequestMsg(msg, 10*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
		return reply
	}
	for _, tc := range []struct{ subject, header, tenant string }{
		{e.topo.ExecuteSubject("acme"), "", "acme"},
		{e.topo.Prefix + ".api.execute", "bob", "bob"},
		{e.topo.Prefix + ".api.execute", "", contracts.DefaultTenant},
	} {
		reply := request(tc.subject, tc.header, helloPy)
		if code := reply.Header.Get("Nats-Service-Error-Code"); code != "" {
			t.Fatalf("%s: service error %s: %s", tc.subject, code, reply.Data)
		}
		var exec contracts.Execution
		if err := json.Unmarshal(reply.Data, &exec); err != nil {
			t.Fatal(err)
		}
		if exec.Status != contracts.StatusCompleted || exec.Tenant != tc.tenant || exec.Run == nil || exec.Run.Stdout != "hi\n" {
			t.Errorf("%s: %+v, want the completed execution of %s", tc.subject, exec, tc.tenant)
		}
	}
	for _, tc := range []struct{ body, header, status, code string }{
		{`{"language":`, "", "400", contracts.CodeInvalidJSON},
		{`{"language":"cobol","files":[{"name":"a.cob","content":"x"}]}`, "", "422", contracts.CodeUnknownLanguage},
		{helloPy, "not a tenant!", "400", contracts.CodeInvalidHeader},
	} {
		reply := request(e.topo.Prefix+".api.execute", tc.header, tc.body)
		var body contracts.ErrorBody
		_ = json.Unmarshal(reply.Data, &body)
		if got := reply.Header.Get("Nats-Service-Error-Code"); got != tc.status || body.Error.Code != tc.code {
			t.Errorf("%s: service error %q %s, want %s %s", tc.body, got, reply.Data, tc.status, tc.code)
		}
	}
}
