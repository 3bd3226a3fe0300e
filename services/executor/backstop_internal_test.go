package executor

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
	"github.com/airlockrun/airlock/services/results"
)

// failingBus is RESULTS through JetStream, except that while down is set
// every terminal result is refused.
type failingBus struct {
	eventBus
	down    atomic.Bool
	refused atomic.Int32
}

func (b *failingBus) Publish(ctx context.Context, exec contracts.Execution, msgID string) error {
	if exec.Terminal() && b.down.Load() {
		b.refused.Add(1)
		return errors.New("nats: timeout")
	}
	return b.eventBus.Publish(ctx, exec, msgID)
}

// TestStuckJobEndsStored is the stuck-job case against the real embedded
// server: a job on its last delivery whose executor cannot store the
// internal_error (RESULTS refuses it) and then stops hands the job back; the
// server then has no delivery left, and a work-queue stream would keep the
// message for good with the execution shown running. The MAX_DELIVERIES
// advisory reaches another executor's backstop, which stores internal_error
// and removes the message: JOBS ends empty, the job is never run again, and
// the executions bucket (what GET /v1/executions/{id} answers from, written
// by the real results service) no longer shows the job running.
func TestStuckJobEndsStored(t *testing.T) {
	n := testkit.StartNATS(t, "")
	ctx := context.Background()
	topo := contracts.DefaultTopology()
	if err := topo.Ensure(ctx, n.JS); err != nil {
		t.Fatal(err)
	}
	cc := topo.WithConsumer(16, time.Second, 1).ExecutorConsumerConfig()
	cons, err := contracts.EnsureConsumer(ctx, n.JS, contracts.JobsStream, cc)
	if err != nil {
		t.Fatal(err)
	}
	real, err := newNATSBus(ctx, n.JS, topo, n.Conn.MaxPayload())
	if err != nil {
		t.Fatal(err)
	}
	bus := &failingBus{eventBus: real}
	bus.down.Store(true)
	run := &fakeRunner{run: accepted}
	a := newTestLifecycle(t, 1, run, bus)
	a.maxDeliver = cc.MaxDeliver

	// The results service, storing what RESULTS holds into the executions
	// bucket; it stores only events sealed with the job's result token.
	rctx, stopResults := context.WithCancel(ctx)
	resultsDone := make(chan error, 1)
	go func() { resultsDone <- results.Run(rctx, results.Config{Topology: topo}, n.Conn, nil) }()
	defer func() { stopResults(); <-resultsDone }()
	sealer, err := contracts.LoadResultSealer(ctx, n.JS)
	if err != nil {
		t.Fatal(err)
	}
	id, data := newJob(t)
	var job contracts.Job
	if err := json.Unmarshal(data, &job); err != nil {
		t.Fatal(err)
	}
	job.ResultToken = sealer.Token(id)
	if data, err = json.Marshal(job); err != nil {
		t.Fatal(err)
	}
	if _, err := n.JS.Publish(ctx, topo.JobSubject("acme"), data); err != nil {
		t.Fatal(err)
	}
	// An earlier executor started the job and died: the execution shows
	// running.
	started := time.Now().UTC()
	runningEvent, _ := json.Marshal(contracts.Execution{ID: id, Tenant: "acme", Language: "bash", Status: contracts.StatusRunning,
		Attempt: 1, CreatedAt: job.CreatedAt, StartedAt: &started})
	if _, err := n.JS.PublishMsg(ctx, topo.EventMsg(id, job.ResultToken, runningEvent)); err != nil {
		t.Fatal(err)
	}
	executions, err := n.JS.KeyValue(ctx, contracts.ExecutionsBucket)
	if err != nil {
		t.Fatal(err)
	}
	stored := func() contracts.Execution {
		var e contracts.Execution
		if entry, err := executions.Get(ctx, id); err == nil {
			_ = json.Unmarshal(entry.Value(), &e)
		}
		return e
	}
	if !testkit.Eventually(testkit.Patience, func() bool { return stored().Status == contracts.StatusRunning }) {
		t.Fatalf("the execution was not stored running: %+v", stored())
	}
	fetch := func(wait time.Duration) jetstream.Msg {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(wait))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			return m
		}
		return nil
	}
	// Every delivery but the last died with its executor before it ran.
	for i := 1; i < cc.MaxDeliver; i++ {
		m := fetch(5 * time.Second)
		if m == nil {
			t.Fatalf("delivery %d did not come", i)
		}
		if err := m.Nak(); err != nil {
			t.Fatal(err)
		}
	}
	last := fetch(5 * time.Second)
	if meta, err := last.Metadata(); err != nil || int(meta.NumDelivered) != cc.MaxDeliver {
		t.Fatalf("last delivery: %+v, %v; want delivery %d", meta, err, cc.MaxDeliver)
	}
	// The last delivery gives up (no attempt left), cannot store its
	// internal_error, and its executor stops.
	jobCtx, stop := context.WithCancel(ctx)
	handled := make(chan struct{})
	go func() { defer close(handled); a.handle(jobCtx, natsDelivery{msg: last, nc: n.Conn}) }()
	if !testkit.Eventually(testkit.Patience, func() bool { return bus.refused.Load() >= 3 }) {
		t.Fatal("the executor did not try to store the result")
	}
	stop()
	<-handled
	if run.runs.Load() != 0 {
		t.Fatalf("the job ran %d times, want 0 (no attempt left)", run.runs.Load())
	}

	// Another executor: its backstop and its slot asking for jobs.
	bus.down.Store(false)
	b := newTestLifecycle(t, 1, run, real)
	stopBackstop, err := startBackstop(ctx, n.Conn, n.JS, b)
	if err != nil {
		t.Fatal(err)
	}
	defer stopBackstop()
	jobs, err := n.JS.Stream(ctx, contracts.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	empty := testkit.Eventually(testkit.Patience, func() bool {
		if m := fetch(200 * time.Millisecond); m != nil {
			t.Fatalf("the job was delivered again past MaxDeliver: %s", m.Data())
		}
		info, err := jobs.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
	info, _ := jobs.Info(ctx)
	t.Logf("messages left in JOBS: %d", info.State.Msgs)
	if !empty {
		t.Fatal("JOBS still holds the job after its last delivery")
	}
	results, err := n.JS.Stream(ctx, contracts.ResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := results.GetLastMsgForSubject(ctx, topo.EventSubject(id))
	if err != nil {
		t.Fatal(err)
	}
	var e contracts.Execution
	if err := json.Unmarshal(msg.Data, &e); err != nil {
		t.Fatal(err)
	}
	t.Logf("stored: %s %s (%s)", e.Status, e.Verdict, e.Message)
	if e.Status != contracts.StatusCompleted || e.Verdict != contracts.VerdictInternalError {
		t.Errorf("the execution's last event is %s %s, want completed internal_error", e.Status, e.Verdict)
	}
	if run.runs.Load() != 0 {
		t.Errorf("the job ran %d times", run.runs.Load())
	}
	// What GET answers: the stored execution is no longer running.
	if !testkit.Eventually(testkit.Patience, func() bool { return stored().Status == contracts.StatusCompleted }) {
		t.Fatalf("the executions bucket still shows %s for a job no longer queued or in flight", stored().Status)
	}
	got := stored()
	t.Logf("executions bucket (GET): %s %s (%s)", got.Status, got.Verdict, got.Message)
	if got.Verdict != contracts.VerdictInternalError {
		t.Errorf("stored verdict %s, want internal_error", got.Verdict)
	}
}
