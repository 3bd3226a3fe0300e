package gateway_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
	"github.com/airlockrun/airlock/services/gateway"
	"github.com/airlockrun/airlock/services/gateway/internal/callback"
)

// receiver records callbacks; it fails the first `fail` deliveries.
type receiver struct {
	mu     sync.Mutex
	fail   int
	bodies [][]byte
	sigs   []string
	srv    *httptest.Server
}

func newReceiver(t *testing.T, fail int) *receiver {
	r := &receiver{fail: fail}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.fail > 0 {
			r.fail--
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		r.bodies = append(r.bodies, body)
		r.sigs = append(r.sigs, req.Header.Get("Airlock-Signature"))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

// verify checks a signature the way a receiver would.
func verify(secret, header string, body []byte) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	want := hex.EncodeToString(mac.Sum(nil))
	return ts != "" && hmac.Equal([]byte(sig), []byte(want))
}

// complete publishes the executor's completed event for an execution.
func (e *env) complete(id, callbackURL, tenant string) {
	e.t.Helper()
	ex := completed(id)
	ex.CallbackURL, ex.Tenant = callbackURL, tenant
	data, _ := json.Marshal(ex)
	sealer, err := contracts.LoadResultSealer(context.Background(), e.nats.JS)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.nats.JS.PublishMsg(context.Background(), e.topo.EventMsg(id, sealer.Token(id), data)); err != nil {
		e.t.Fatal(err)
	}
}

func TestCallbacksDelivered(t *testing.T) {
	rcv := newReceiver(t, 1)
	e := start(t, func(c *gateway.Config) {
		c.CallbackSecret = "global-secret"
		c.CallbackAllow = mustCallbackAllow(t, "127.0.0.0/8:*")
		c.APIKeys = []gateway.APIKey{{Tenant: "alice", Key: aliceKey, CallbackSecret: "alice-secret"}, {Tenant: "bob", Key: bobKey}}
	})
	e.heartbeat("exec-1", "", testRuntimes())
	body := `{"language":"python","files":[{"name":"main.py","content":"print(1)"}],"callback_url":"` + rcv.srv.URL + `/hook"}`
	ids := map[string]string{}
	for tenant, key := range map[string]string{"alice": aliceKey, "bob": bobKey} {
		r := e.submit("/v1/executions", body, bearer(key))
		if r.status != 202 {
			t.Fatalf("%s: %d %s", tenant, r.status, r.body)
		}
		ids[tenant] = decode[contracts.Accepted](t, r).ID
		e.complete(ids[tenant], rcv.srv.URL+"/hook", tenant)
	}
	if !testkit.Eventually(testkit.Patience, func() bool { return rcv.count() >= 2 }) {
		t.Fatalf("%d callbacks delivered, want 2 (one after a failed attempt)", rcv.count())
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for i, b := range rcv.bodies {
		var ex contracts.Execution
		if err := json.Unmarshal(b, &ex); err != nil || ex.Status != contracts.StatusCompleted {
			t.Fatalf("callback body %q", b)
		}
		secret := map[string]string{"alice": "alice-secret", "bob": "global-secret"}[ex.Tenant]
		if !verify(secret, rcv.sigs[i], b) {
			t.Errorf("%s: signature %q does not verify with the tenant's secret", ex.Tenant, rcv.sigs[i])
		}
		if verify("wrong", rcv.sigs[i], b) {
			t.Error("a wrong secret verifies")
		}
	}
}

func mustCallbackAllow(t *testing.T, s string) []gateway.CallbackRule {
	t.Helper()
	rules, err := gateway.ParseCallbackAllow(s)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// TestCallbackAllowPerTenant: a tenant's rule opens nothing to another
// tenant, and a rule without ports does not open the receiver's port.
func TestCallbackAllowPerTenant(t *testing.T) {
	rcv := newReceiver(t, 0)
	port := rcv.srv.URL[strings.LastIndex(rcv.srv.URL, ":")+1:]
	e := start(t, func(c *gateway.Config) {
		c.CallbackSecret = "s"
		c.CallbackAllow = mustCallbackAllow(t, "alice@127.0.0.0/8:"+port+",::1/128")
		withKeys(c)
	})
	e.heartbeat("exec-1", "", testRuntimes())
	submit := func(key, url string) response {
		return e.submit("/v1/executions", fmt.Sprintf(`{"language":"python","files":[{"name":"main.py","content":""}],"callback_url":%q}`, url), bearer(key))
	}
	if r := submit(aliceKey, rcv.srv.URL+"/hook"); r.status != 202 {
		t.Errorf("alice, her own range: %d %s", r.status, r.body)
	}
	wantError(t, submit(bobKey, rcv.srv.URL+"/hook"), 422, contracts.CodeInvalidRequest, "callback_url", "internal address")
	wantError(t, submit(aliceKey, "http://[::1]:"+port+"/hook"), 422, contracts.CodeInvalidRequest, "callback_url", "internal address")
	if r := submit(bobKey, "http://[::1]/hook"); r.status != 202 {
		t.Errorf("bob, a rule for every tenant on port 80: %d %s", r.status, r.body)
	}
}

func TestCallbacksBlocked(t *testing.T) {
	rcv := newReceiver(t, 0)
	e := start(t, func(c *gateway.Config) { c.CallbackSecret = "s" })
	e.heartbeat("exec-1", "", testRuntimes())
	port := rcv.srv.URL[strings.LastIndex(rcv.srv.URL, ":")+1:]
	for _, u := range []string{rcv.srv.URL, "http://169.254.169.254/latest/meta-data", "http://[::1]:" + port, "http://10.0.0.7/x"} {
		body := fmt.Sprintf(`{"language":"python","files":[{"name":"main.py","content":""}],"callback_url":%q}`, u)
		wantError(t, e.submit("/v1/executions", body, nil), 422, contracts.CodeInvalidRequest, "callback_url", "internal address")
	}
	// A host name is checked when the delivery connects: localhost resolves
	// to loopback and is refused then.
	u := "http://localhost:" + port + "/hook"
	r := e.submit("/v1/executions", `{"language":"python","files":[{"name":"main.py","content":""}],"callback_url":"`+u+`"}`, nil)
	if r.status != 202 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	id := decode[contracts.Accepted](t, r).ID
	e.complete(id, u, "")
	// Wait until the delivery worker has settled the completed event (for
	// good: a blocked callback is not retried).
	ctx := context.Background()
	st, err := e.nats.JS.Stream(ctx, contracts.ResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := st.GetLastMsgForSubject(ctx, e.topo.EventSubject(id))
	if err != nil {
		t.Fatal(err)
	}
	var info *jetstream.ConsumerInfo
	if !testkit.Eventually(testkit.Patience, func() bool {
		cons, err := st.Consumer(ctx, callback.ConsumerName)
		if err == nil {
			info, err = cons.Info(ctx)
		}
		return err == nil && info.AckFloor.Stream >= ev.Sequence
	}) {
		t.Fatalf("the callback of %s was never settled: %+v", id, info)
	}
	if rcv.count() != 0 {
		t.Fatal("a callback reached a loopback address")
	}
	wantError(t, e.submit("/v1/executions", `{"language":"python","files":[{"name":"main.py","content":""}],"callback_url":"ftp://x"}`, nil),
		422, contracts.CodeInvalidRequest, "callback_url", "http")
}

func TestCallbacksNeedASecret(t *testing.T) {
	e := start(t, nil)
	e.heartbeat("exec-1", "", testRuntimes())
	wantError(t, e.submit("/v1/executions", `{"language":"python","files":[{"name":"main.py","content":""}],"callback_url":"https://example.com/h"}`, nil),
		422, contracts.CodeInvalidRequest, "callback_url", "AIRLOCK_CALLBACK_SECRET")
}
