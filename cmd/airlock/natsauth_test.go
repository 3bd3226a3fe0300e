package main

// The least-privilege identities (contracts.Topology.Permissions, written by
// ensureNATSAuth) against a real nats-server: the services work with their
// own identity and nothing more (no permission violation in their logs),
// and every attack of docs/security.md's threat model is refused by the
// server, whose error is printed. TestNATSRoles runs it on one embedded
// server; TestFleetSecure (fleet_secure_test.go) on a TLS cluster of three.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/internal/testkit"
	"github.com/airlockrun/airlock/services/gateway"
	"github.com/airlockrun/airlock/services/results"
)

// busIdentities are the generated identities by name.
type busIdentities map[string]natsIdentity

func genIdentities(t *testing.T, dir string, topo contracts.Topology, tenants ...string) busIdentities {
	t.Helper()
	list, err := ensureNATSAuth(dir, topo, tenants)
	if err != nil {
		t.Fatal(err)
	}
	ids := busIdentities{}
	for _, id := range list {
		ids[id.Name] = id
	}
	return ids
}

// conn is how a test connects as one identity (base carries the URL and TLS).
func (ids busIdentities) conn(base contracts.NATSConn, name string) contracts.NATSConn {
	id := ids[name]
	base.NkeySeed = id.Seed
	base.InboxPrefix = contracts.InboxPrefix(id.Role, id.Tenant)
	return base
}

// asyncErrors connects c and collects the server's asynchronous errors
// (permission violations) of that connection.
func asyncErrors(t *testing.T, c contracts.NATSConn, name string) (*nats.Conn, chan error) {
	t.Helper()
	errs := make(chan error, 64)
	opts, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	opts = append(opts, nats.Name(name), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	nc, err := nats.Connect(c.URL, opts...)
	if err != nil {
		t.Fatalf("connect as %s: %v", name, err)
	}
	t.Cleanup(nc.Close)
	return nc, errs
}

// refused waits for the permission violation on subject and prints it.
func refused(t *testing.T, errs chan error, what, subject string) {
	t.Helper()
	deadline := time.After(testkit.Patience)
	for {
		select {
		case err := <-errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `"`+subject+`"`) {
				t.Logf("REFUSED %s: %v", what, err)
				return
			}
			t.Logf("(%s: another error: %v)", what, err)
		case <-deadline:
			t.Fatalf("%s: the server reported no permission violation on %s", what, subject)
		}
	}
}

// violations records the "nats error" log lines of in-process services.
type violations struct {
	*violationLog
	attrs []slog.Attr
}

type violationLog struct {
	mu    sync.Mutex
	lines []string
	next  slog.Handler
}

func (v *violations) Enabled(ctx context.Context, l slog.Level) bool { return true }
func (v *violations) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "nats error" {
		var b strings.Builder
		for _, a := range v.attrs {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		}
		r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
		v.mu.Lock()
		v.lines = append(v.lines, b.String())
		v.mu.Unlock()
	}
	if v.next.Enabled(ctx, r.Level) {
		return v.next.WithAttrs(v.attrs).Handle(ctx, r)
	}
	return nil
}
func (v *violations) WithAttrs(a []slog.Attr) slog.Handler {
	return &violations{v.violationLog, append(append([]slog.Attr(nil), v.attrs...), a...)}
}
func (v *violations) WithGroup(string) slog.Handler { return v }

func (v *violations) list() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.lines...)
}

// simExecutor does on the bus, with the executor's identity, what
// services/executor does: look the streams up, create the shared consumer,
// beat, take a job, publish running and completed events, keep the job
// alive and ack it. Its runtime is a stand-in, so no Docker is needed.
func simExecutor(t *testing.T, c contracts.NATSConn, topo contracts.Topology) chan error {
	t.Helper()
	nc, errs := asyncErrors(t, c, "sim-executor")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	as := contracts.As(contracts.RoleExecutor)
	if err := topo.Ensure(ctx, js, as); err != nil {
		t.Fatalf("executor: ensure: %v", err)
	}
	cons, err := contracts.EnsureConsumer(ctx, js, contracts.JobsStream, topo.ExecutorConsumerConfig(), as)
	if err != nil {
		t.Fatalf("executor: create consumer: %v", err)
	}
	kv, err := js.KeyValue(ctx, contracts.ExecutorsBucket)
	if err != nil {
		t.Fatalf("executor: bucket: %v", err)
	}
	limits := contracts.LimitSet{CPUTimeMS: 1000, WallTimeMS: 5000, MemoryMB: 128, Processes: 16, OutputBytes: 1 << 16}
	info := contracts.ExecutorInfo{ID: "sim", Slots: 1, StartedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC(),
		Runtimes: []contracts.Runtime{{Language: "bash", Aliases: []string{}, Version: "5", EntryFile: "main.sh", Defaults: limits, Maximums: limits}}}
	beat, _ := json.Marshal(info)
	if _, err := kv.Put(ctx, info.ID, beat); err != nil {
		t.Fatalf("executor: heartbeat: %v", err)
	}
	// Routing by runtime: which executors announce a job's runtime.
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	infos, err := contracts.ReadExecutors(rctx, kv, slog.New(slog.DiscardHandler))
	rcancel()
	if err != nil || len(infos) != 1 {
		t.Errorf("executor: read the executors bucket: %d heartbeats, %v", len(infos), err)
	}
	// The backstop: the max-deliveries advisory, shared in a queue group.
	if _, err := nc.QueueSubscribe(contracts.ExecutorMaxDeliveriesAdvisory, contracts.ExecutorConsumer, func(*nats.Msg) {}); err != nil {
		t.Fatalf("executor: subscribe to the advisory: %v", err)
	}
	jobs, err := js.Stream(ctx, contracts.JobsStream)
	if err != nil {
		t.Fatalf("executor: jobs stream: %v", err)
	}
	results, err := js.Stream(ctx, contracts.ResultsStream)
	if err != nil {
		t.Fatalf("executor: results stream: %v", err)
	}
	publish := func(e contracts.Execution, token, msgID string) error {
		data, _ := json.Marshal(e)
		_, err := js.PublishMsg(ctx, topo.EventMsg(e.ID, token, data), jetstream.WithMsgID(msgID))
		return err
	}
	// fail reports the executor's own errors; once the test is over (ctx
	// cancelled at clean-up, possibly mid-message) they are the clean-up's.
	fail := func(format string, args ...any) {
		if ctx.Err() == nil {
			t.Errorf(format, args...)
		}
	}
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			batch, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
			if err != nil {
				continue
			}
			for msg := range batch.Messages() {
				var job contracts.Job
				_ = json.Unmarshal(msg.Data(), &job)
				tenant, _ := topo.TenantOfJobSubject(msg.Subject())
				// The job's last event (if any: the gateway's queued one) and the
				// job read back by its stream sequence, as the backstop does.
				if _, err := results.GetLastMsgForSubject(ctx, topo.EventSubject(job.ID)); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
					fail("executor: read the job's last event: %v", err)
				}
				meta, err := msg.Metadata()
				if err != nil {
					fail("executor: metadata: %v", err)
					continue
				}
				if _, err := jobs.GetMsg(ctx, meta.Sequence.Stream); err != nil {
					fail("executor: read the job by its sequence: %v", err)
				}
				now := time.Now().UTC()
				e := contracts.Execution{ID: job.ID, Tenant: tenant, Language: job.Request.Language, Version: "5",
					Executor: info.ID, Attempt: 1, CreatedAt: job.CreatedAt, StartedAt: &now, Status: contracts.StatusRunning,
					CallbackURL: job.Request.CallbackURL}
				if err := publish(e, job.ResultToken, job.ID+":running:1"); err != nil {
					fail("executor: publish running: %v", err)
				}
				_ = msg.InProgress()
				e.Status, e.Verdict, e.FinishedAt = contracts.StatusCompleted, contracts.VerdictAccepted, &now
				e.Run = &contracts.Stage{Stdout: "ok\n"}
				if err := publish(e, job.ResultToken, job.ID+":done"); err != nil {
					fail("executor: publish result: %v", err)
				}
				if err := msg.DoubleAck(ctx); err != nil {
					fail("executor: ack: %v", err)
				}
				// The backstop's delete (the job is gone already: the
				// server answers, it does not refuse).
				if err := jobs.DeleteMsg(ctx, meta.Sequence.Stream); err != nil && !errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) {
					fail("executor: delete a job: %v", err)
				}
			}
		}
	}()
	return errs
}

// submitAs sends req to tenant's NATS endpoint subject as identity c.
func submitAs(t *testing.T, c contracts.NATSConn, topo contracts.Topology, tenant string) contracts.Execution {
	t.Helper()
	nc, _ := asyncErrors(t, c, "client")
	data, _ := json.Marshal(contracts.ExecutionRequest{Language: "bash", Files: []contracts.File{{Name: "main.sh", Content: "echo ok"}}})
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	msg := nats.NewMsg(topo.ExecuteSubject(tenant))
	msg.Data = data
	msg.Header.Set("Airlock-Timeout", "4m")
	reply, err := nc.RequestMsgWithContext(ctx, msg)
	if err != nil {
		t.Fatalf("submit as %s: %v", tenant, err)
	}
	if code := reply.Header.Get("Nats-Service-Error-Code"); code != "" {
		t.Fatalf("submit as %s: service error %s: %s %s", tenant, code, reply.Header.Get("Nats-Service-Error"), reply.Data)
	}
	var exec contracts.Execution
	if err := json.Unmarshal(reply.Data, &exec); err != nil {
		t.Fatalf("decode reply: %v", err)
	}
	return exec
}

// attackBus tries, as an attacker holding one identity or none, everything
// the threat model says the server refuses, and fails unless each is.
func attackBus(t *testing.T, ids busIdentities, base contracts.NATSConn, topo contracts.Topology, victimID string) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()

	// No credentials (TLS is fine, identity missing).
	anon := base
	opts, _ := anon.Options()
	if nc, err := nats.Connect(anon.URL, append(opts, nats.MaxReconnects(0))...); err == nil {
		nc.Close()
		t.Fatal("connect without credentials: accepted")
	} else {
		t.Logf("REFUSED connect without credentials: %v", err)
	}

	// A compromised executor.
	nc, errs := asyncErrors(t, ids.conn(base, "executor"), "attacker-executor")
	js, _ := jetstream.New(nc)
	if kv, err := js.KeyValue(ctx, contracts.ExecutionsBucket); err != nil {
		t.Logf("(executor cannot even open the executions bucket: %v)", err)
	} else {
		go func() {
			gctx, gcancel := context.WithTimeout(ctx, 5*time.Second)
			defer gcancel()
			_, _ = kv.Get(gctx, victimID)
		}()
		refused(t, errs, "executor reads the executions bucket (get)", "$JS.API.DIRECT.GET.KV_executions.$KV.executions."+victimID)
	}
	_, _ = nc.Subscribe("$KV."+contracts.ExecutionsBucket+".>", func(*nats.Msg) {})
	refused(t, errs, "executor subscribes to the executions bucket's updates", "$KV.executions.>")
	_, _ = nc.Subscribe(topo.EventSubject(">"), func(*nats.Msg) {})
	refused(t, errs, "executor subscribes to every tenant's results", topo.EventSubject(">"))
	_, _ = nc.Subscribe("_INBOX.>", func(*nats.Msg) {})
	refused(t, errs, "executor subscribes to the replies of others", "_INBOX.>")
	_ = nc.Publish("$KV."+contracts.ExecutionsBucket+"."+victimID, []byte(`{"status":"completed"}`))
	refused(t, errs, "executor writes the executions bucket", "$KV.executions."+victimID)
	_ = nc.Publish(topo.JobSubject("acme"), []byte(`{}`))
	refused(t, errs, "executor submits a job as tenant acme", topo.JobSubject("acme"))
	_ = nc.Publish("$JS.API.STREAM.PURGE."+contracts.JobsStream, nil)
	refused(t, errs, "executor purges the job queue", "$JS.API.STREAM.PURGE."+contracts.JobsStream)
	keyGet := "$JS.API.DIRECT.GET.KV_" + contracts.KeysBucket + ".$KV." + contracts.KeysBucket + ".result-token"
	_ = nc.Publish(keyGet, nil)
	refused(t, errs, "executor reads the result-token key", keyGet)
	_ = nc.Publish("$JS.API.STREAM.MSG.GET."+contracts.ResultsStream, []byte(`{"seq":1}`))
	refused(t, errs, "executor reads results by sequence", "$JS.API.STREAM.MSG.GET."+contracts.ResultsStream)
	_ = nc.Publish("$JS.API.DIRECT.GET."+contracts.ResultsStream, []byte(`{"seq":1}`))
	refused(t, errs, "executor reads results by sequence (direct)", "$JS.API.DIRECT.GET."+contracts.ResultsStream)

	// An internal client of tenant acme.
	nc, errs = asyncErrors(t, ids.conn(base, "client-acme"), "attacker-client")
	_ = nc.Publish(topo.ExecuteSubject("beta"), []byte(`{}`))
	refused(t, errs, "client of acme submits as tenant beta", topo.ExecuteSubject("beta"))
	_ = nc.PublishMsg(&nats.Msg{Subject: topo.Prefix + ".api.execute", Header: nats.Header{"Airlock-Tenant": {"beta"}}, Data: []byte(`{}`)})
	refused(t, errs, "client of acme submits with an Airlock-Tenant: beta header", topo.Prefix+".api.execute")
	_ = nc.Publish(topo.JobSubject("beta"), []byte(`{}`))
	refused(t, errs, "client of acme publishes a job on beta's subject", topo.JobSubject("beta"))
	forged, _ := json.Marshal(contracts.Execution{ID: victimID, Tenant: "beta", Status: contracts.StatusCompleted, Verdict: contracts.VerdictAccepted})
	_ = nc.Publish(topo.EventSubject(victimID), forged)
	refused(t, errs, "client of acme publishes a forged terminal result", topo.EventSubject(victimID))
	_, _ = nc.Subscribe("_INBOX.tenant.beta.>", func(*nats.Msg) {})
	refused(t, errs, "client of acme subscribes to tenant beta's replies", "_INBOX.tenant.beta.>")
	_, _ = nc.Subscribe(topo.EventSubject(">"), func(*nats.Msg) {})
	refused(t, errs, "client of acme subscribes to every tenant's results", topo.EventSubject(">"))
	_ = nc.Publish("$JS.API.DIRECT.GET.KV_executions.$KV.executions."+victimID, nil)
	refused(t, errs, "client of acme reads the executions bucket", "$JS.API.DIRECT.GET.KV_executions.$KV.executions."+victimID)

	// The gateway, though trusted with the topology, cannot write results.
	nc, errs = asyncErrors(t, ids.conn(base, "gateway"), "attacker-gateway")
	_ = nc.Publish("$KV."+contracts.ExecutionsBucket+"."+victimID, forged)
	refused(t, errs, "gateway writes the executions bucket", "$KV.executions."+victimID)
}

// forgeResult: a compromised executor publishes a terminal result, with a
// callback, for a job it never held. The server lets it (an executor may
// publish every event subject); the results service refuses to store it
// and the gateway refuses to POST it, because it lacks the job's result
// token. A real job run afterwards orders the check: the results service
// and the callbacks handle RESULTS in order. With callbacks nil (a gateway
// without a receiver) only the store is checked.
func forgeResult(t *testing.T, ids busIdentities, base contracts.NATSConn, topo contracts.Topology, gatewayURL, callbackURL string, callbacks chan string) {
	t.Helper()
	nc, _ := asyncErrors(t, ids.conn(base, "executor"), "forging-executor")
	js, _ := jetstream.New(nc)
	forged := contracts.Execution{ID: contracts.NewID(), Status: contracts.StatusCompleted, Verdict: contracts.VerdictAccepted,
		CallbackURL: callbackURL + "/forged", Run: &contracts.Stage{Stdout: "forged\n"}}
	data, _ := json.Marshal(forged)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	for _, token := range []string{"", "not-the-token"} {
		if _, err := js.PublishMsg(ctx, topo.EventMsg(forged.ID, token, data)); err != nil {
			t.Fatalf("the forged result was not even published: %v", err)
		}
	}
	later := submitAs(t, ids.conn(base, "client-acme"), topo, "acme")
	if later.Status != contracts.StatusCompleted {
		t.Fatalf("the job after the forgery: %s", dump(later))
	}
	resp, err := http.Get(gatewayURL + "/v1/executions/" + forged.ID)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a forged result was stored: GET answered %d %s", resp.StatusCode, body)
	}
	for {
		select {
		case b := <-callbacks:
			if strings.Contains(b, forged.ID) {
				t.Fatalf("a forged result was POSTed to its callback: %s", b)
			}
			continue
		default:
		}
		break
	}
	checked := "no callback POSTed"
	if callbacks == nil {
		checked = "callbacks not checked here"
	}
	t.Logf("REFUSED executor publishes a forged terminal result for a job it never held (no result token): not stored (GET %d), %s", resp.StatusCode, checked)
}

// TestNATSRoles runs the gateway and the results service in process, each
// with its own generated identity, on an embedded nats-server configured
// with the generated accounts; an executor's bus traffic is simulated with
// the executor's identity. A client of tenant acme runs a job through the
// NATS endpoint; then every attack is refused.
func TestNATSRoles(t *testing.T) {
	topo := contracts.DefaultTopology()
	dir := t.TempDir()
	ids := genIdentities(t, filepath.Join(dir, "auth"), topo, "acme", "beta")
	ns := startAuthNATS(t, dir, nil)
	base := contracts.NATSConn{URL: ns.ClientURL()}
	runBusServices(t, ids, base, topo)
}

// startAuthNATS starts an embedded server configured with the accounts
// generated into dir/auth, its store in dir/js; set may change its options.
func startAuthNATS(t *testing.T, dir string, set func(*server.Options)) *server.Server {
	t.Helper()
	opts := &server.Options{ServerName: "auth", JetStream: true, StoreDir: filepath.Join(dir, "js"),
		Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true}
	if err := opts.ProcessConfigFile(filepath.Join(dir, "auth", natsAuthConf)); err != nil {
		t.Fatal(err)
	}
	if set != nil {
		set(opts)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(time.Minute) {
		t.Fatal("nats did not start")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// runBusServices runs the results service and a gateway in process with
// their identities, a simulated executor, one job of tenant acme through
// the NATS endpoint, and then the attacks.
func runBusServices(t *testing.T, ids busIdentities, base contracts.NATSConn, topo contracts.Topology) {
	v := &violations{violationLog: &violationLog{next: testLogger(t).Handler()}}
	log := slog.New(v)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	run := func(name string, f func(*nats.Conn) error) {
		nc, err := ids.conn(base, name).Connect("airlock-"+name, log.With("service", name))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer nc.Close()
			if err := f(nc); err != nil && ctx.Err() == nil {
				t.Errorf("%s: %v", name, err)
			}
		}()
	}
	rcfg := results.DefaultConfig()
	rcfg.Topology = topo
	run("results", func(nc *nats.Conn) error { return results.Run(ctx, rcfg, nc, log.With("service", "results")) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gcfg := gateway.DefaultConfig()
	gcfg.Topology, gcfg.Listener, gcfg.NATSTenantFromSubjectOnly = topo, ln, true
	// Callbacks to a loopback receiver: the gateway's callbacks consumer.
	callbacks := make(chan string, 8)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case callbacks <- string(b):
		default:
		}
	}))
	t.Cleanup(recv.Close)
	gcfg.CallbackSecret = "a-secret-of-some-length"
	allow, err := gateway.ParseCallbackAllow("127.0.0.0/8:*") // the receiver's port is random
	if err != nil {
		t.Fatal(err)
	}
	gcfg.CallbackAllow = allow
	ready := make(chan struct{})
	gcfg.OnReady = func(string) { close(ready) }
	run("gateway", func(nc *nats.Conn) error { return gateway.Run(ctx, gcfg, nc, log.With("service", "gateway")) })
	select {
	case <-ready:
	case <-time.After(testkit.Patience):
		t.Fatal("the gateway did not start")
	}
	execErrs := simExecutor(t, ids.conn(base, "executor"), topo)

	exec := submitAs(t, ids.conn(base, "client-acme"), topo, "acme")
	if exec.Status != contracts.StatusCompleted || exec.Tenant != "acme" || exec.Run == nil || exec.Run.Stdout != "ok\n" {
		t.Fatalf("the job of acme ended %s for tenant %q: %s", exec.Status, exec.Tenant, dump(exec))
	}
	t.Logf("job %s of tenant acme: %s, %s", exec.ID, exec.Status, exec.Verdict)
	httpPaths(t, "http://"+ln.Addr().String(), recv.URL, callbacks)
	busClientPaths(t, ids.conn(base, "gateway"), topo, log)
	problemPaths(t, ids, base, topo, log)

	attackBus(t, ids, base, topo, exec.ID)
	forgeResult(t, ids, base, topo, "http://"+ln.Addr().String(), recv.URL, callbacks)

	select {
	case err := <-execErrs:
		t.Errorf("the executor's own traffic was refused: %v", err)
	default:
	}
	if l := v.list(); len(l) > 0 {
		t.Errorf("the services' own traffic was refused:\n%s", strings.Join(l, "\n"))
	}
}

// httpPaths uses the gateway's HTTP paths that touch the bus (submit and
// wait, read, runtimes, fleet, readiness, metrics, evaluations, callbacks),
// so that any permission they lack shows in the gateway's log.
func httpPaths(t *testing.T, base, callbackURL string, callbacks chan string) {
	t.Helper()
	hc := &http.Client{Timeout: testkit.Patience}
	call := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := call("POST", "/v1/execute", `{"language":"bash","files":[{"name":"main.sh","content":"echo ok"}],"callback_url":"`+callbackURL+`"}`)
	var exec contracts.Execution
	if code != 200 || json.Unmarshal([]byte(body), &exec) != nil || exec.Status != contracts.StatusCompleted {
		t.Fatalf("POST /v1/execute: %d %s", code, body)
	}
	select {
	case <-callbacks:
	case <-time.After(testkit.Patience):
		t.Fatal("no callback")
	}
	for _, path := range []string{"/v1/executions/" + exec.ID, "/v1/runtimes", "/v1/fleet", "/metrics", "/readyz"} {
		if code, body := call("GET", path, ""); code != 200 {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
	code, body = call("POST", "/v1/evaluations", `{"language":"bash","candidates":[{"id":"c0","files":[{"name":"main.sh","content":"echo ok"}]}]}`)
	var acc contracts.EvaluationAccepted
	if code != 202 || json.Unmarshal([]byte(body), &acc) != nil {
		t.Fatalf("POST /v1/evaluations: %d %s", code, body)
	}
	deadline := time.Now().Add(testkit.Patience)
	for {
		code, body = call("GET", "/v1/evaluations/"+acc.ID+"?wait=true&timeout=30s", "")
		if code == 200 {
			break
		}
		if code != 202 || time.Now().After(deadline) {
			t.Fatalf("GET /v1/evaluations/%s: %d %s", acc.ID, code, body)
		}
	}
}

// busClientPaths uses the bus client's paths with the gateway's identity:
// a submission with an idempotency key (its reservation), its repeat, and
// a wait through the shared subscription to the executions bucket, so that
// any permission they lack shows in log.
func busClientPaths(t *testing.T, c contracts.NATSConn, topo contracts.Topology, log *slog.Logger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	nc, err := c.Connect("airlock-gateway-client", log.With("service", "gateway-client"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	cl, err := client.New(ctx, nc, client.Options{Topology: topo, Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := contracts.ExecutionRequest{Language: "bash", Files: []contracts.File{{Name: "main.sh", Content: "echo ok"}}}
	sub, err := cl.Submit(ctx, &req, client.SubmitOptions{IdempotencyKey: "roles-test"})
	if err != nil {
		t.Fatalf("bus client submit: %v", err)
	}
	exec, err := cl.Wait(ctx, sub.ID, client.WaitOptions{})
	if err != nil || exec.Status != contracts.StatusCompleted {
		t.Fatalf("bus client wait: %s, %v", exec.Status, err)
	}
	again := contracts.ExecutionRequest{Language: "bash", Files: []contracts.File{{Name: "main.sh", Content: "echo ok"}}}
	if dup, err := cl.Submit(ctx, &again, client.SubmitOptions{IdempotencyKey: "roles-test"}); err != nil || dup.ID != sub.ID || !dup.Duplicate {
		t.Fatalf("bus client repeat: %+v, %v", dup, err)
	}
}

// problemPaths stores a problem package with the gateway's identity (the
// bus client's PutProblem), reads it back in full with the executor's (the
// executor's own path: the store opened read-only, client.LoadProblem), and
// deletes it with the gateway's; the executor may not write, purge or
// delete in the store and a tenant's client may not read it.
func problemPaths(t *testing.T, ids busIdentities, base contracts.NATSConn, topo contracts.Topology, log *slog.Logger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	gnc, err := ids.conn(base, "gateway").Connect("airlock-gateway-problems", log.With("service", "gateway-problems"))
	if err != nil {
		t.Fatal(err)
	}
	defer gnc.Close()
	cl, err := client.New(ctx, gnc, client.Options{Topology: topo, Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pkg := contracts.ProblemPackage{Tests: []contracts.TestCase{
		{Stdin: "1\n", ExpectedOutput: ptr("2")}, {Stdin: strings.Repeat("7", 300_000), ExpectedOutput: ptr("3")}}}
	stored, err := cl.PutProblem(ctx, "roles", &pkg)
	if err != nil || !stored.Created {
		t.Fatalf("gateway stores a problem: %+v, %v", stored, err)
	}
	if m, err := cl.Problem(ctx, "roles"); err != nil || m.Version != stored.Manifest.Version {
		t.Fatalf("gateway reads the problem: %v", err)
	}

	enc, errs := asyncErrors(t, ids.conn(base, "executor"), "executor-problems")
	ejs, _ := jetstream.New(enc)
	obs, err := ejs.ObjectStore(ctx, contracts.ProblemsStore)
	if err != nil {
		t.Fatalf("executor opens the problems store: %v", err)
	}
	got, err := client.LoadProblem(ctx, obs, "acme", "roles", stored.Manifest.Version)
	if err != nil || len(got.Tests) != 2 || got.Tests[1].Stdin != pkg.Tests[1].Stdin || *got.Tests[0].ExpectedOutput != "2" {
		t.Fatalf("executor reads the package: %v", err)
	}
	if _, err := client.LoadProblem(ctx, obs, "beta", "roles", stored.Manifest.Version); !errors.Is(err, client.ErrProblemNotFound) {
		t.Errorf("the package of acme read as beta's: %v", err)
	}
	_ = enc.Publish("$O."+contracts.ProblemsStore+".M.eA", []byte(`{}`))
	refused(t, errs, "executor writes an object's meta", "$O."+contracts.ProblemsStore+".M.eA")
	_ = enc.Publish("$O."+contracts.ProblemsStore+".C.x", []byte(`x`))
	refused(t, errs, "executor writes an object's chunk", "$O."+contracts.ProblemsStore+".C.x")
	_ = enc.Publish("$JS.API.STREAM.PURGE.OBJ_"+contracts.ProblemsStore, nil)
	refused(t, errs, "executor purges the problems store", "$JS.API.STREAM.PURGE.OBJ_"+contracts.ProblemsStore)
	_ = enc.Publish("$JS.API.STREAM.DELETE.OBJ_"+contracts.ProblemsStore, nil)
	refused(t, errs, "executor deletes the problems store", "$JS.API.STREAM.DELETE.OBJ_"+contracts.ProblemsStore)

	cnc, cerrs := asyncErrors(t, ids.conn(base, "client-acme"), "client-problems")
	_ = cnc.Publish("$JS.API.DIRECT.GET.OBJ_"+contracts.ProblemsStore, []byte(`{"last_by_subj":"$O.problems.M.x"}`))
	refused(t, cerrs, "client of acme reads the problems store", "$JS.API.DIRECT.GET.OBJ_"+contracts.ProblemsStore)
	_ = cnc.Publish(topo.ProblemSubject("beta"), []byte(`{"op":"get","id":"roles"}`))
	refused(t, cerrs, "client of acme reads a problem of tenant beta", topo.ProblemSubject("beta"))
	// The NATS endpoint of problem packages, as the client of acme: the
	// gateway serves it with its own identity.
	ask := func(pr contracts.ProblemRequest) *nats.Msg {
		t.Helper()
		data, _ := json.Marshal(pr)
		msg, err := cnc.Request(topo.ProblemSubject("acme"), data, time.Minute)
		if err != nil {
			t.Fatalf("problem request %s: %v", pr.Op, err)
		}
		return msg
	}
	var viaNATS contracts.ProblemManifest
	if msg := ask(contracts.ProblemRequest{Op: contracts.ProblemGet, ID: "roles"}); json.Unmarshal(msg.Data, &viaNATS) != nil || viaNATS.Version != stored.Manifest.Version {
		t.Errorf("get over the NATS endpoint: %s %s", msg.Header, msg.Data)
	}
	if msg := ask(contracts.ProblemRequest{Op: contracts.ProblemPut, ID: "via-nats", Package: &pkg}); msg.Header.Get("Nats-Service-Error-Code") != "" {
		t.Errorf("put over the NATS endpoint: %s %s", msg.Header, msg.Data)
	}
	if msg := ask(contracts.ProblemRequest{Op: contracts.ProblemDelete, ID: "via-nats"}); msg.Header.Get("Nats-Service-Error-Code") != "" || string(msg.Data) != "{}" {
		t.Errorf("delete over the NATS endpoint: %s %s", msg.Header, msg.Data)
	}
	if msg := ask(contracts.ProblemRequest{Op: contracts.ProblemGet, ID: "via-nats"}); msg.Header.Get("Nats-Service-Error-Code") != "404" {
		t.Errorf("get of a deleted problem over the NATS endpoint: %s %s", msg.Header, msg.Data)
	}

	if err := cl.DeleteProblem(ctx, "roles"); err != nil {
		t.Fatalf("gateway deletes the problem: %v", err)
	}
	if _, err := client.LoadProblem(ctx, obs, "acme", "roles", stored.Manifest.Version); !errors.Is(err, client.ErrProblemNotFound) {
		t.Errorf("the executor still reads a deleted package: %v", err)
	}
}

// TestNATSAuthFiles: the generated seeds are private and kept across runs.
func TestNATSAuthFiles(t *testing.T) {
	dir := t.TempDir()
	topo := contracts.DefaultTopology()
	first := genIdentities(t, dir, topo, "acme")
	again := genIdentities(t, dir, topo, "acme")
	for name, id := range first {
		if again[name].Public != id.Public {
			t.Errorf("%s: a second run made a new key", name)
		}
		st, err := os.Stat(id.Seed)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: seed file %v mode %v", name, err, st.Mode())
		}
	}
	if _, err := natsIdentities([]string{"a.b"}); err == nil {
		t.Error("a tenant with a dot was accepted")
	}
}

// TestDevNATSAuth: `airlock dev --nats-auth` refuses a client without an
// identity on its listening port and lets each service connect as itself;
// without the flag it stays open (the zero-configuration default).
func TestDevNATSAuth(t *testing.T) {
	for _, auth := range []bool{true, false} {
		args := []string{"--data-dir", t.TempDir(), "--nats-listen", "127.0.0.1:0"}
		if auth {
			args = append(args, "--nats-auth")
		}
		cfg, err := parseConfig("dev", args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
		ns, connect, err := startDevNATS(ctx, cfg, testLogger(t))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		// The store holds the account's limit, whatever the free disk here.
		if got, want := ns.JetStreamConfig().MaxStore, accountMaxFile(cfg.Topology); got != want {
			t.Errorf("embedded store of %d bytes, want the account's limit, %d", got, want)
		}
		nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(0))
		if auth == (err == nil) {
			t.Errorf("auth %v: a client without an identity: %v", auth, err)
		}
		if nc != nil {
			nc.Close()
		}
		if auth && !cfg.Gateway.NATSTenantFromSubjectOnly {
			t.Error("with authentication the gateway must serve the per-tenant endpoint only")
		}
		for _, role := range contracts.ServiceRoles {
			nc, err := connect(role)
			if err != nil {
				t.Errorf("auth %v: %s: %v", auth, role, err)
				continue
			}
			js, _ := jetstream.New(nc)
			if _, err := js.Stream(context.Background(), contracts.JobsStream); auth && err != nil {
				t.Errorf("%s: the operator did not create the streams: %v", role, err)
			}
			nc.Close()
		}
		ns.Shutdown()
		ns.WaitForShutdown()
	}
}

// TestNATSAccountLimits: the generated accounts give Airlock's account
// JetStream limits that hold the topology's bounds at three replicas, and
// refuse a stream without a MaxBytes.
func TestNATSAccountLimits(t *testing.T) {
	topo := contracts.DefaultTopology()
	dir := t.TempDir()
	ids := genIdentities(t, filepath.Join(dir, "auth"), topo)
	// A store larger than the account's limit, whatever the disk here.
	ns := startAuthNATS(t, dir, func(o *server.Options) { o.JetStreamMaxStore = 1 << 40 })
	nc, err := ids.conn(contracts.NATSConn{URL: ns.ClientURL()}, string(contracts.RoleOperator)).Connect("limits", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := topo.Ensure(ctx, js); err != nil {
		t.Fatalf("the topology does not fit the account's limits: %v", err)
	}
	if _, err := topo.EnsureEvaluations(ctx, js); err != nil {
		t.Fatalf("the evaluations bucket does not fit the account's limits: %v", err)
	}
	if _, err := topo.EnsureProblems(ctx, js); err != nil {
		t.Fatalf("the problems store does not fit the account's limits: %v", err)
	}
	info, err := js.AccountInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lim := info.Limits; lim.MaxStore < 3*topo.StoreBytes() || lim.MaxMemory <= 0 || !lim.MaxBytesRequired {
		t.Errorf("account limits %+v: want max_file at least %d (three replicas of the bounds), a memory bound and max_bytes_required",
			lim, 3*topo.StoreBytes())
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "UNBOUNDED", Subjects: []string{topo.Prefix + ".unbounded.>"}})
	if err == nil {
		t.Error("the account took a stream without MaxBytes")
	}
	t.Logf("a stream without MaxBytes: %v", err)
}
