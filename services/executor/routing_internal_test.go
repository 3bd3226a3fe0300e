package executor

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/internal/testkit"
	"github.com/airlockrun/airlock/services/executor/internal/catalog"
	"github.com/airlockrun/airlock/services/executor/internal/runner"
)

var bash51 = func() contracts.Runtime { rt := bashRuntime; rt.Version = "5.1"; return rt }()

// pinnedJob is a job of tenant acme for bash at version.
func pinnedJob(t *testing.T, version string) (string, []byte) {
	t.Helper()
	id := contracts.NewID()
	data, err := json.Marshal(contracts.Job{ID: id, Tenant: "acme", CreatedAt: time.Now().UTC(), Request: contracts.ExecutionRequest{
		Language: "bash", Version: version, Files: []contracts.File{{Name: "main.sh", Content: "echo hi"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return id, data
}

// TestPassIsNotAnAttempt: an executor that does not serve a job's version,
// while another executor announces it, passes the job back (a delayed Nak,
// not run, a queued event saying what it waits for); passed on many
// deliveries it is still on its first attempt when the executor that
// serves it runs it.
func TestPassIsNotAnAttempt(t *testing.T) {
	bus := &fakeBus{}
	run := &fakeRunner{run: accepted}
	l := newTestLifecycle(t, 3, run, bus) // serves bash 5.2
	other := newTestLifecycle(t, 3, run, bus)
	other.id, other.langs = "other", []served{{lang: &catalog.Language{Name: "bash"}, runtime: bash51}}
	l.router = newRouter("test", &staticFleet{infos: []contracts.ExecutorInfo{{ID: "other", Runtimes: []contracts.Runtime{bash51}}}}, time.Minute)
	id, data := pinnedJob(t, "5.1")
	ctx := context.Background()
	for n := uint64(1); n <= 5; n++ {
		m := deliver(ctx, l, data, n)
		if got := m.ended(t); got != "nak-delay" {
			t.Fatalf("delivery %d to an executor without bash 5.1 ended %q, want nak-delay", n, got)
		}
		if want := passDelay(int(n), l.passFirst, l.passMax); m.naks[0] != want {
			t.Errorf("delivery %d passed with delay %s, want %s", n, m.naks[0], want)
		}
	}
	if run.runs.Load() != 0 {
		t.Fatalf("a passed job ran %d times", run.runs.Load())
	}
	// The queued event first (published for the gateway, whose own would
	// come as a duplicate), then one pass per delivery.
	queued := bus.of(id, contracts.StatusQueued)
	if len(queued) != 6 || queued[0].Message != "" || !strings.Contains(queued[5].Message, "waiting for an executor that serves bash 5.1 (executor test does not)") {
		t.Fatalf("queued events %+v, want the queued event and 5 passes saying what the job waits for", queued)
	}
	if got := deliver(ctx, other, data, 6).ended(t); got != "ack" {
		t.Fatalf("the delivery to the executor with bash 5.1 ended %q, want ack", got)
	}
	done := bus.of(id, contracts.StatusCompleted)
	if len(done) != 1 || done[0].Verdict != contracts.VerdictAccepted || done[0].Attempt != 1 || done[0].Executor != "other" || done[0].Version != "5.1" {
		t.Fatalf("stored %+v, want accepted on attempt 1 by executor other, bash 5.1", done)
	}
}

// TestUnservedJobEnds: a job whose version no executor announces is passed
// back for the grace (an executor restarting comes back within it), then
// ends as internal_error whose message names the runtime, with a confirmed
// Term. An executor that announces it within the grace keeps the job
// waiting.
func TestUnservedJobEnds(t *testing.T) {
	bus := &fakeBus{}
	run := &fakeRunner{run: accepted}
	l := newTestLifecycle(t, 3, run, bus)
	fleet := &staticFleet{}
	grace := 200 * time.Millisecond
	l.router = newRouter("test", fleet, grace)
	id, data := pinnedJob(t, "5.1")
	ctx := context.Background()
	m := deliver(ctx, l, data, 1)
	if got := m.ended(t); got != "nak-delay" || m.naks[0] != l.passMax {
		t.Fatalf("the first delivery of an unserved job ended %q %v, want nak-delay of %s", got, m.naks, l.passMax)
	}
	// The executor that serves it restarts within the grace: the job waits on.
	time.Sleep(grace)
	fleet.set(contracts.ExecutorInfo{ID: "other", Runtimes: []contracts.Runtime{bash51}})
	if got := deliver(ctx, l, data, 2).ended(t); got != "nak-delay" {
		t.Fatalf("a job served again within the grace ended %q, want nak-delay", got)
	}
	// It goes for good: the grace starts afresh, then the job ends.
	fleet.set()
	if got := deliver(ctx, l, data, 3).ended(t); got != "nak-delay" {
		t.Fatalf("a job unserved again ended %q at once, want nak-delay for the grace", got)
	}
	time.Sleep(grace)
	last := &fakeMsg{data: data, delivery: 4, termFails: 1}
	l.handle(ctx, last)
	if got := last.ended(t); got != "term" {
		t.Fatalf("a job unserved past the grace ended %q, want term", got)
	}
	done := bus.of(id, contracts.StatusCompleted)
	if len(done) != 1 || done[0].Verdict != contracts.VerdictInternalError || !strings.Contains(done[0].Message, "no executor serves bash 5.1: none has announced it for") {
		t.Fatalf("stored %+v, want internal_error naming bash 5.1", done)
	}
	if run.runs.Load() != 0 {
		t.Errorf("the unserved job ran %d times", run.runs.Load())
	}
}

// TestPassAtLastDelivery: on the last delivery the server will make, an
// executor that does not serve the job ends it (a Nak would leave it in the
// work queue for good).
func TestPassAtLastDelivery(t *testing.T) {
	bus := &fakeBus{}
	l := newTestLifecycle(t, 3, &fakeRunner{run: accepted}, bus)
	l.router = newRouter("test", &staticFleet{infos: []contracts.ExecutorInfo{{ID: "other", Runtimes: []contracts.Runtime{bash51}}}}, time.Minute)
	id, data := pinnedJob(t, "5.1")
	ctx := context.Background()
	// Passed on every delivery before (the last pass recorded).
	_ = bus.Publish(ctx, contracts.Execution{ID: id, Status: contracts.StatusQueued, Attempt: 1}, passMsgID(id, l.maxDeliver-1))
	if got := deliver(ctx, l, data, uint64(l.maxDeliver)).ended(t); got != "term" {
		t.Fatalf("the last delivery ended %q, want term", got)
	}
	done := bus.of(id, contracts.StatusCompleted)
	if len(done) != 1 || !strings.Contains(done[0].Message, "no executor that serves bash 5.1 took the job in") {
		t.Fatalf("stored %+v, want internal_error saying no executor with bash 5.1 took it", done)
	}
}

// TestNeedsOfJudge: a judged job needs its checker's and interactor's
// runtimes too; an executor serves it only with all of them.
func TestNeedsOfJudge(t *testing.T) {
	req := contracts.ExecutionRequest{Language: "bash", Version: "5.1",
		Checker:    &contracts.JudgeProgram{Language: "python", Version: "3.12"},
		Interactor: &contracts.JudgeProgram{Language: "bash"}}
	needs := needsOf(req)
	if got := describe(needs); got != "bash 5.1 with python 3.12 with bash" {
		t.Fatalf("needs %q", got)
	}
	python := contracts.Runtime{Language: "python", Version: "3.12.4"}
	if servesAll([]contracts.Runtime{bash51}, needs) {
		t.Error("bash 5.1 alone serves a job with a python checker")
	}
	if !servesAll([]contracts.Runtime{bashRuntime, bash51, python}, needs) {
		t.Error("bash 5.1 and python 3.12 do not serve the job")
	}
	if servesAll([]contracts.Runtime{bashRuntime, python}, needs) {
		t.Error("bash 5.2 serves a job pinned to bash 5.1")
	}
}

// TestRoutingTwoVersions runs two executors on the real embedded NATS
// server, one serving bash 5.1 and one bash 5.2, over the shared consumer,
// RESULTS, the executors bucket and the client's Submit (only the sandbox
// is faked): every job completes once, each on an executor that serves it,
// none ends internal_error. A job pinned to a version neither serves ends,
// after the grace, as internal_error naming it; JOBS ends empty.
func TestRoutingTwoVersions(t *testing.T) {
	n := testkit.StartNATS(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	topo := contracts.DefaultTopology()
	if err := topo.Ensure(ctx, n.JS); err != nil {
		t.Fatal(err)
	}
	cc := topo.ExecutorConsumerConfig()
	cons, err := contracts.EnsureConsumer(ctx, n.JS, contracts.JobsStream, cc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := n.JS.KeyValue(ctx, contracts.ExecutorsBucket)
	if err != nil {
		t.Fatal(err)
	}
	bus, err := newNATSBus(ctx, n.JS, topo, n.Conn.MaxPayload())
	if err != nil {
		t.Fatal(err)
	}
	grace := 2 * time.Second
	runtimeOf := map[string]contracts.Runtime{"node-51": bash51, "node-52": bashRuntime}
	var runs atomic.Int32
	for id, rt := range runtimeOf {
		run := &fakeRunner{run: func(ctx context.Context) (runner.Result, error) {
			runs.Add(1)
			time.Sleep(20 * time.Millisecond) // both executors busy at times
			return accepted(ctx)
		}}
		l := newTestLifecycle(t, 3, run, bus)
		l.id, l.maxDeliver = id, cc.MaxDeliver
		l.langs = []served{{lang: &catalog.Language{Name: "bash"}, runtime: rt}}
		var busy atomic.Int32
		l.health = newHealth(Config{ID: id, Slots: 2, HeartbeatInterval: time.Second}, l.langs, &busy, l.metrics, nil, l.log)
		l.router = newRouter(id, &kvFleet{kv: kv, log: l.log}, grace)
		wg.Go(func() { l.health.heartbeat(ctx, kv) })
		for range 2 {
			wg.Go(func() { l.slot(ctx, ctx, cons, n.Conn, &busy, false) })
		}
	}

	// The passes, as the executors record them on RESULTS.
	var passes atomic.Int32
	sub, err := n.Conn.Subscribe(topo.EventSubject("*"), func(m *nats.Msg) {
		if strings.Contains(m.Header.Get(jetstream.MsgIDHeader), ":pass:") {
			passes.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	c, err := client.New(ctx, n.Conn, client.Options{Topology: topo, Tenant: "acme", ExecutorCacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !testkit.Eventually(10*time.Second, func() bool { rts, _ := c.Runtimes(ctx); return len(rts) == 2 }) {
		t.Fatal("the two executors did not announce themselves")
	}
	sealer, err := contracts.LoadResultSealer(ctx, n.JS)
	if err != nil {
		t.Fatal(err)
	}
	type sent struct{ id, version string } // version "": any
	var jobs []sent
	submit := func(version string) {
		req := contracts.ExecutionRequest{Language: "bash", Version: version, Files: []contracts.File{{Name: "main.sh", Content: "echo hi"}}}
		s, err := c.Submit(ctx, &req, client.SubmitOptions{})
		if err != nil {
			t.Fatalf("submit bash %q: %v", version, err)
		}
		jobs = append(jobs, sent{s.ID, req.Version}) // Submit resolves a missing version to the newest
	}
	// A job straight onto JOBS, as an internal service may publish one:
	// its version stays as given.
	raw := func(version string) string {
		id := contracts.NewID()
		job := contracts.Job{ID: id, Tenant: "acme", CreatedAt: time.Now().UTC(), ResultToken: sealer.Token(id),
			Request: contracts.ExecutionRequest{Language: "bash", Version: version, Files: []contracts.File{{Name: "main.sh", Content: "echo hi"}}}}
		if _, err := client.Enqueue(ctx, n.JS, topo, job, n.Conn.MaxPayload()); err != nil {
			t.Fatal(err)
		}
		return id
	}
	for i := range 20 {
		submit([]string{"5.1", "5.2"}[i%2])
	}
	for range 4 {
		submit("")
	}
	for range 4 {
		jobs = append(jobs, sent{raw(""), ""})
	}
	unserved := raw("4.4")

	results := map[string]contracts.Execution{}
	last := func(id string) (contracts.Execution, bool) {
		ev, err := bus.Last(ctx, id, sealer.Token(id))
		if err != nil || ev == nil || !ev.Exec.Terminal() {
			return contracts.Execution{}, false
		}
		return ev.Exec, true
	}
	testkit.Eventually(60*time.Second, func() bool {
		for _, j := range jobs {
			if _, ok := results[j.id]; !ok {
				if e, ok := last(j.id); ok {
					results[j.id] = e
				}
			}
		}
		return len(results) == len(jobs)
	})
	perExecutor := map[string]int{}
	internal := 0
	for _, j := range jobs {
		e, ok := results[j.id]
		if !ok {
			t.Errorf("job %s (bash %q) did not complete", j.id, j.version)
			continue
		}
		perExecutor[e.Executor]++
		if e.Verdict == contracts.VerdictInternalError {
			internal++
		}
		served := runtimeOf[e.Executor]
		if e.Verdict != contracts.VerdictAccepted || e.Version != served.Version || (j.version != "" && j.version != served.Version) || e.Attempt != 1 {
			t.Errorf("job %s (bash %q): %s %q on %s (serves %s), attempt %d", j.id, j.version, e.Verdict, e.Message, e.Executor, served.Version, e.Attempt)
		}
	}
	var u contracts.Execution
	testkit.Eventually(30*time.Second, func() bool { var ok bool; u, ok = last(unserved); return ok })
	if u.Verdict != contracts.VerdictInternalError || !strings.Contains(u.Message, "no executor serves bash 4.4") {
		t.Errorf("the job for bash 4.4 ended %s %q, want internal_error naming bash 4.4", u.Verdict, u.Message)
	}
	var left uint64
	testkit.Eventually(10*time.Second, func() bool {
		s, err := n.JS.Stream(ctx, contracts.JobsStream)
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		if err != nil {
			return false
		}
		left = info.State.Msgs
		return left == 0
	})
	t.Logf("routing: submitted %d, completed %d, per executor %v, internal_error %d, runs %d, passes %d; the unserved bash 4.4 job: %s %q; JOBS left %d",
		len(jobs), len(results), perExecutor, internal, runs.Load(), passes.Load(), u.Verdict, u.Message, left)
	if internal != 0 || int(runs.Load()) != len(jobs) || left != 0 || perExecutor["node-51"] == 0 || perExecutor["node-52"] == 0 || passes.Load() == 0 {
		t.Errorf("want internal_error 0, one run per job (%d), both executors used, jobs passed and JOBS empty", len(jobs))
	}
}
