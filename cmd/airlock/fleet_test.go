package main

// The multi-node simulation: a whole fleet as separate OS processes on
// loopback, the way Nomad runs it on EC2 — three NATS servers clustered with
// JetStream (`airlock nats`, the nats-server built into the binary), two
// gateways, two results services and three executors, everything with
// --replicas 3 and NATS_URL listing all three servers. A stream of jobs goes
// in through both gateways; mid-run one executor (while it runs a job) and
// the NATS server leading the JOBS stream are killed with SIGKILL. Every
// accepted job must end completed with exactly one terminal result. It uses
// the process helpers of fault_test.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
)

const (
	fleetJobs    = 60
	fleetAckWait = 5 * time.Second
)

// freePorts reserves n loopback ports at once and releases them for the
// processes that will listen on them.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

// fleetEvent is one status event and when the test saw it.
type fleetEvent struct {
	at time.Time
	e  contracts.Execution
}

// fleetWatch records every status event published on the RESULTS subjects.
type fleetWatch struct {
	mu     sync.Mutex
	events []fleetEvent
}

func (w *fleetWatch) snapshot() []fleetEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.events)
}

// refusals records the 5xx answers and connection errors of submissions.
type refusals struct {
	mu    sync.Mutex
	times []time.Time
	kinds map[string]int
}

func (r *refusals) add(kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kinds == nil {
		r.kinds = map[string]int{}
	}
	r.times = append(r.times, time.Now())
	r.kinds[kind]++
}

func (r *refusals) summary(start time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.times) == 0 {
		return "none"
	}
	var kinds []string
	for k, n := range r.kinds {
		kinds = append(kinds, fmt.Sprintf("%dx %q", n, k))
	}
	sort.Strings(kinds)
	return fmt.Sprintf("%d between +%v and +%v: %s", len(r.times), r.times[0].Sub(start).Round(100*time.Millisecond),
		r.times[len(r.times)-1].Sub(start).Round(100*time.Millisecond), strings.Join(kinds, "; "))
}

// fleetJob is one submission of the simulation.
type fleetJob struct {
	n        int
	id       string
	gateway  int
	want     string
	accepted bool
	retries  int
	lastErr  string
}

func fleetRequest(n int) contracts.ExecutionRequest {
	word := fmt.Sprintf("job-%d", n)
	var req contracts.ExecutionRequest
	if n%2 == 0 {
		req = src("bash", "main.sh", "sleep 2\necho "+word+"\n")
	} else {
		req = src("python", "main.py", "import time\ntime.sleep(2)\nprint('"+word+"')\n")
	}
	return roomy(req)
}

// submitRetrying posts a job with an Idempotency-Key and retries, as a
// client should, on connection errors and 5xx answers (a NATS server being
// killed makes the gateways answer 503 for a moment) until it is accepted.
func submitRetrying(job *fleetJob, base string, deadline time.Time, refused *refusals) {
	body, _ := json.Marshal(fleetRequest(job.n))
	key := fmt.Sprintf("fleet-%d-%d", time.Now().UnixNano(), job.n)
	hc := &http.Client{Timeout: 30 * time.Second}
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("POST", base+"/v1/executions", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := hc.Do(req)
		if err == nil {
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusAccepted {
				var acc contracts.Accepted
				if json.Unmarshal(data, &acc) == nil && acc.ID != "" {
					job.id, job.accepted = acc.ID, true
					return
				}
			}
			job.lastErr = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(data))
			if resp.StatusCode < 500 {
				return // refused for good: counted as not accepted
			}
			var body contracts.ErrorBody
			_ = json.Unmarshal(data, &body)
			refused.add(fmt.Sprintf("%d %s: %s", resp.StatusCode, body.Error.Code, body.Error.Message))
		} else {
			job.lastErr = err.Error()
			refused.add("connection error")
		}
		job.retries++
		time.Sleep(500 * time.Millisecond)
	}
}

// readAllEvents reads every event stored on the RESULTS stream.
func readAllEvents(t *testing.T, js jetstream.JetStream, topo contracts.Topology) []contracts.Execution {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var cons jetstream.Consumer
	var err error
	for ctx.Err() == nil {
		cons, err = js.CreateConsumer(ctx, contracts.ResultsStream, jetstream.ConsumerConfig{
			FilterSubject: topo.EventSubject(">"), AckPolicy: jetstream.AckNonePolicy,
			DeliverPolicy: jetstream.DeliverAllPolicy, InactiveThreshold: time.Minute,
		})
		if err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Fatalf("read RESULTS: %v", err)
	}
	defer func() { _ = js.DeleteConsumer(context.Background(), contracts.ResultsStream, cons.CachedInfo().Name) }()
	pending := int(cons.CachedInfo().NumPending)
	var out []contracts.Execution
	for len(out) < pending {
		batch, err := cons.Fetch(min(pending-len(out), 500), jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			t.Fatalf("read RESULTS: %v", err)
		}
		got := 0
		for m := range batch.Messages() {
			var e contracts.Execution
			if err := json.Unmarshal(m.Data(), &e); err != nil {
				t.Fatalf("event on %s: %v", m.Subject(), err)
			}
			out = append(out, e)
			got++
		}
		if got == 0 {
			t.Fatalf("read RESULTS: %d of %d events", len(out), pending)
		}
	}
	return out
}

// TestFleet is the multi-node simulation (issue 8). Run it alone with
//
//	cd cmd/airlock && CGO_ENABLED=0 go test -run TestFleet -count=1 -v .
func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("the fleet simulation takes minutes")
	}
	topo := contracts.DefaultTopology()
	f := newFleet(t, "") // skips without Docker, builds the binary
	f.topology = []string{"--ack-wait", fleetAckWait.String()}

	// Three NATS servers: own name, store and cluster port, routes to all.
	begin := time.Now()
	natsProcs, natsURL := natsCluster(t, f.bin, "fleet-nats")
	f.nats = natsURL
	nc, js := connect(t, natsURL)
	t.Logf("JetStream cluster of 3 has a meta leader after %v", time.Since(begin).Round(time.Millisecond))

	// The services, every one with --replicas 3 against all three servers.
	r3 := []string{"--replicas", "3"}
	execArgs := func(slots int) []string {
		return append([]string{"--slots", fmt.Sprint(slots), "--languages", "bash,python"}, r3...)
	}
	execIDs := []string{newExecutorID("fleet-x1"), newExecutorID("fleet-x2"), newExecutorID("fleet-x3")}
	execSlots := map[string]int{execIDs[0]: 2, execIDs[1]: 1, execIDs[2]: 2}
	removeSandboxes(t, execIDs...)
	// In the order of docs/deploy.md: the results services first (the
	// first one creates the streams and buckets), then the gateways, then
	// the executors.
	for i := 1; i <= 2; i++ {
		p := f.start(fmt.Sprintf("results-%d", i), "results", r3...)
		p.waitLog(`msg="results service started"`, 3*time.Minute)
	}
	var bases []string
	for i := 1; i <= 2; i++ {
		p := f.start(fmt.Sprintf("gateway-%d", i), "gateway", append([]string{"--listen", "127.0.0.1:0"}, r3...)...)
		m := p.waitLog(`msg="gateway listening".* addr=(\S+)`, 3*time.Minute)
		bases = append(bases, "http://"+m[1])
	}
	execs := map[string]*proc{}
	for _, id := range execIDs {
		execs[id] = f.executor(id, execArgs(execSlots[id])...)
	}
	for _, id := range execIDs {
		waitExecutorReady(execs[id])
	}
	for _, base := range bases {
		waitReadyz(t, base, 3*time.Minute)
	}
	// Everything was created with three replicas.
	for _, name := range []string{contracts.JobsStream, contracts.ResultsStream, "KV_" + contracts.ExecutionsBucket, "KV_" + contracts.ExecutorsBucket} {
		s, err := js.Stream(context.Background(), name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		if r := s.CachedInfo().Config.Replicas; r != 3 {
			t.Errorf("stream %s has %d replicas, want 3", name, r)
		}
	}
	t.Logf("fleet up after %v: 3 NATS, 2 gateways, 2 results, 3 executors (slots %d/%d/%d)",
		time.Since(begin).Round(time.Second), execSlots[execIDs[0]], execSlots[execIDs[1]], execSlots[execIDs[2]])

	// Watch the status events.
	watch := &fleetWatch{}
	sub, err := nc.Subscribe(topo.EventSubject(">"), func(m *nats.Msg) {
		var e contracts.Execution
		if json.Unmarshal(m.Data, &e) == nil {
			watch.mu.Lock()
			watch.events = append(watch.events, fleetEvent{at: time.Now(), e: e})
			watch.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// Submit the jobs at a steady pace, alternating gateways: a third now,
	// the rest once the executor is killed.
	start := time.Now()
	jobs := make([]*fleetJob, fleetJobs)
	for i := range jobs {
		jobs[i] = &fleetJob{n: i, gateway: i % 2, want: fmt.Sprintf("job-%d\n", i)}
	}
	var submitted sync.WaitGroup
	refused := &refusals{}
	submitJobs := func(from, to int) {
		for _, j := range jobs[from:to] {
			submitted.Add(1)
			go func() {
				defer submitted.Done()
				submitRetrying(j, bases[j.gateway], time.Now().Add(3*time.Minute), refused)
			}()
			time.Sleep(250 * time.Millisecond)
		}
	}
	submitJobs(0, fleetJobs/3)

	// Kill an executor that has completed a job and has just started one:
	// the job runs for seconds more, so it dies mid-job.
	var victim, victimJob string
	var killedAt time.Time
	var leftAtKill []string
	for deadline := time.Now().Add(3 * time.Minute); victim == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no executor had completed a job and started another within 3 minutes")
		}
		evs := watch.snapshot()
		done := map[string]int{}
		completed := map[string]bool{}
		for _, ev := range evs {
			if ev.e.Status == contracts.StatusCompleted {
				done[ev.e.Executor]++
				completed[ev.e.ID] = true
			}
		}
		for _, ev := range evs {
			if ev.e.Status == contracts.StatusRunning && time.Since(ev.at) < 300*time.Millisecond &&
				done[ev.e.Executor] > 0 && !completed[ev.e.ID] && execs[ev.e.Executor] != nil {
				victim, victimJob = ev.e.Executor, ev.e.ID
				break
			}
		}
	}
	execs[victim].kill()
	killedAt = time.Now()
	leftAtKill = sandboxes(t, victim)
	t.Logf("%v: killed executor %s (SIGKILL) while it ran job %s; it left %d container(s)",
		killedAt.Sub(start).Round(time.Millisecond), victim, victimJob, len(leftAtKill))

	// Then the NATS server leading the JOBS stream, while the dead
	// executor's job waits for its AckWait to run out.
	time.Sleep(time.Second)
	var natsVictim string
	for deadline := time.Now().Add(time.Minute); natsVictim == ""; time.Sleep(500 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := js.Stream(ctx, contracts.JobsStream)
		cancel()
		if err == nil && s.CachedInfo().Cluster != nil && natsProcs[s.CachedInfo().Cluster.Leader] != nil {
			natsVictim = s.CachedInfo().Cluster.Leader
		} else if time.Now().After(deadline) {
			t.Fatalf("no leader of %s: %v", contracts.JobsStream, err)
		}
	}
	consLeader := "?"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if c, err := js.Consumer(ctx, contracts.JobsStream, contracts.ExecutorConsumer); err == nil && c.CachedInfo().Cluster != nil {
		consLeader = c.CachedInfo().Cluster.Leader
	}
	cancel()
	natsProcs[natsVictim].kill()
	t.Logf("%v: killed NATS server %s (SIGKILL), leader of %s (the %s consumer's leader was %s)",
		time.Since(start).Round(time.Millisecond), natsVictim, contracts.JobsStream, contracts.ExecutorConsumer, consLeader)

	// The rest of the jobs go in while the cluster elects new leaders.
	submitJobs(fleetJobs/3, fleetJobs)
	submitted.Wait()

	// Wait for every accepted job to be stored as completed.
	kvCtx, kvCancel := context.WithTimeout(context.Background(), testkit.Patience)
	var kv jetstream.KeyValue
	for kvCtx.Err() == nil {
		if kv, err = js.KeyValue(kvCtx, contracts.ExecutionsBucket); err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	kvCancel()
	if kv == nil {
		t.Fatalf("executions bucket: %v", err)
	}
	final := map[string]contracts.Execution{}
	pending := map[string]*fleetJob{}
	for _, j := range jobs {
		if j.accepted {
			pending[j.id] = j
		}
	}
	lastState := map[string]string{}
	for deadline := time.Now().Add(10 * time.Minute); len(pending) > 0 && time.Now().Before(deadline); time.Sleep(time.Second) {
		for id := range pending {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			entry, err := kv.Get(ctx, id)
			cancel()
			if err != nil {
				lastState[id] = err.Error()
				continue
			}
			var e contracts.Execution
			if json.Unmarshal(entry.Value(), &e) == nil {
				lastState[id] = string(e.Status)
				if e.Status == contracts.StatusCompleted {
					final[id] = e
					delete(pending, id)
				}
			}
		}
	}

	// One terminal result per job on the RESULTS stream.
	events := readAllEvents(t, js, topo)
	completedEvents, runningEvents := map[string]int{}, map[string]int{}
	for _, e := range events {
		switch e.Status {
		case contracts.StatusCompleted:
			completedEvents[e.ID]++
		case contracts.StatusRunning:
			runningEvents[e.ID]++
		}
	}

	byID := map[string][]contracts.Execution{}
	for _, e := range events {
		byID[e.ID] = append(byID[e.ID], e)
	}
	perExecutor := map[string]int{}
	acceptedCount, retries := 0, 0
	var lastDone time.Time
	var heldByVictim, ranAgain []string
	for _, j := range jobs {
		retries += j.retries
		if !j.accepted {
			t.Errorf("job %d was never accepted (%d tries): %s", j.n, j.retries+1, j.lastErr)
			continue
		}
		acceptedCount++
		e, ok := final[j.id]
		if !ok {
			t.Errorf("LOST job %d (%s): last state %q", j.n, j.id, lastState[j.id])
			continue
		}
		perExecutor[e.Executor]++
		if e.FinishedAt != nil && e.FinishedAt.After(lastDone) {
			lastDone = *e.FinishedAt
		}
		if e.Verdict != contracts.VerdictAccepted || e.Run == nil || e.Run.Stdout != j.want {
			t.Errorf("job %d: want accepted with %q, got %s", j.n, j.want, dump(e))
		}
		if c := completedEvents[j.id]; c != 1 {
			t.Errorf("job %d (%s): %d completed events on RESULTS, want exactly 1", j.n, j.id, c)
		}
		// Delivered more than once? Then either every earlier delivery was
		// held by the killed executor (started there, or fetched for its
		// other slot and never started), or a live executor ran it and
		// its ack was lost.
		last := e.Attempt
		var runs []string
		for _, ev := range byID[j.id] {
			if ev.Status == contracts.StatusRunning {
				last = max(last, ev.Attempt)
				runs = append(runs, fmt.Sprintf("%s#%d", ev.Executor, ev.Attempt))
			}
		}
		if last < 2 {
			continue
		}
		var live []string
		var again time.Time
		for _, ev := range byID[j.id] {
			if ev.Status != contracts.StatusRunning {
				continue
			}
			if ev.Attempt < last && ev.Executor != victim {
				live = append(live, ev.Executor)
			}
			if ev.Attempt == 2 && ev.StartedAt != nil {
				again = *ev.StartedAt
			}
		}
		desc := fmt.Sprintf("%s: runs %s, result from %s#%d", j.id, strings.Join(runs, " "), e.Executor, e.Attempt)
		if !again.IsZero() {
			desc += fmt.Sprintf(", attempt 2 started %v after the executor was killed", again.Sub(killedAt).Round(100*time.Millisecond))
		}
		if len(live) == 0 {
			heldByVictim = append(heldByVictim, desc)
		} else {
			ranAgain = append(ranAgain, desc)
		}
	}
	if e, ok := final[victimJob]; ok && (e.Attempt < 2 || e.Executor == victim) {
		t.Errorf("the killed executor's job %s completed on %s attempt %d, want another executor on attempt >= 2", victimJob, e.Executor, e.Attempt)
	}
	for _, d := range heldByVictim {
		t.Logf("redelivered, held by the killed executor: %s", d)
	}
	for _, d := range ranAgain {
		t.Logf("redelivered although a live executor had run it (its ack was lost): %s", d)
	}
	for _, id := range execIDs {
		if perExecutor[id] == 0 {
			t.Errorf("executor %s completed no job: the jobs did not spread", id)
		}
	}

	// The queue is empty and nothing is left unacknowledged.
	for deadline := time.Now().Add(testkit.Patience); ; time.Sleep(time.Second) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := js.Stream(ctx, contracts.JobsStream)
		cancel()
		if err == nil && s.CachedInfo().State.Msgs == 0 {
			break
		}
		if time.Now().After(deadline) {
			if err == nil {
				t.Errorf("JOBS still holds %d message(s)", s.CachedInfo().State.Msgs)
			} else {
				t.Errorf("JOBS: %v", err)
			}
			break
		}
	}

	lines := []string{"fleet simulation figures:"}
	sort.Strings(execIDs)
	for _, id := range execIDs {
		note := ""
		if id == victim {
			note = " (killed mid-job)"
		}
		lines = append(lines, fmt.Sprintf("  jobs on %-22s %3d  (slots %d)%s", id, perExecutor[id], execSlots[id], note))
	}
	lines = append(lines,
		fmt.Sprintf("  submitted   %d (retried requests: %d)", fleetJobs, retries),
		fmt.Sprintf("  refusals    %s", refused.summary(start)),
		fmt.Sprintf("  accepted    %d", acceptedCount),
		fmt.Sprintf("  completed   %d (redelivered: %d held by the killed executor, %d run again after a lost ack)",
			len(final), len(heldByVictim), len(ranAgain)),
		fmt.Sprintf("  lost        %d", acceptedCount-len(final)),
		fmt.Sprintf("  time        %v (first submission to last result)", lastDone.Sub(start).Round(100*time.Millisecond)),
		fmt.Sprintf("  killed      executor %s, NATS server %s", victim, natsVictim))
	t.Log(strings.Join(lines, "\n"))

	// Gateways still serve, and the dead executor, back with its id, removes
	// the sandboxes it left.
	for _, base := range bases {
		waitReadyz(t, base, 2*time.Minute)
	}
	back := f.executor(victim, execArgs(execSlots[victim])...)
	waitExecutorReady(back)
	now := sandboxes(t, victim) // the restarted executor's own warm containers may be there
	for _, c := range leftAtKill {
		if slices.Contains(now, c) {
			t.Errorf("executor %s restarted with its id did not remove container %s it left when killed", victim, c)
		}
	}
}
