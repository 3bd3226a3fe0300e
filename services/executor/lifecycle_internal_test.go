package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/executor/internal/catalog"
	"github.com/airlockrun/airlock/services/executor/internal/runner"
	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
)

// fakeMsg is one delivery of a job. It records how the lifecycle ended it.
type fakeMsg struct {
	data      []byte
	delivery  uint64
	termFails int // the first Term requests that get no confirmation

	mu         sync.Mutex
	inProgress int
	naks       []time.Duration // one per Nak: 0 for Nak, the delay for NakWithDelay
	acks       int
	terms      []string
	termTries  int
	onProgress func(n int)
}

var _ Delivery = (*fakeMsg)(nil)

func (m *fakeMsg) Data() []byte    { return m.data }
func (m *fakeMsg) Subject() string { return "airlock.jobs.acme" }
func (m *fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{NumDelivered: m.delivery, Timestamp: time.Now()}, nil
}

func (m *fakeMsg) InProgress() error {
	m.mu.Lock()
	m.inProgress++
	n, f := m.inProgress, m.onProgress
	m.mu.Unlock()
	if f != nil {
		f(n)
	}
	return nil
}
func (m *fakeMsg) Nak() error { return m.NakWithDelay(0) }
func (m *fakeMsg) NakWithDelay(d time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.naks = append(m.naks, d)
	return nil
}
func (m *fakeMsg) DoubleAck(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.acks++
	return nil
}
func (m *fakeMsg) Term(_ context.Context, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.termTries++
	if m.termTries <= m.termFails {
		return errors.New("no reply from the server")
	}
	m.terms = append(m.terms, reason)
	return nil
}

func (m *fakeMsg) progress() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.inProgress
}

// ended says how the delivery ended: "ack", "term", "nak", "nak-delay" or
// "" (not at all), and fails on more than one ending.
func (m *fakeMsg) ended(t *testing.T) string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for range m.acks {
		out = append(out, "ack")
	}
	for range m.terms {
		out = append(out, "term")
	}
	for _, d := range m.naks {
		if d > 0 {
			out = append(out, "nak-delay")
		} else {
			out = append(out, "nak")
		}
	}
	if len(out) > 1 {
		t.Errorf("delivery %d ended %d times: %v", m.delivery, len(out), out)
	}
	return strings.Join(out, ",")
}

// fakeRunner runs jobs with run; it counts the runs.
type fakeRunner struct {
	runs atomic.Int32
	run  func(ctx context.Context) (runner.Result, error)
}

func (r *fakeRunner) Execute(ctx context.Context, _, _ string, _ contracts.ExecutionRequest, _ *catalog.Language, _ contracts.LimitSet) (runner.Result, error) {
	r.runs.Add(1)
	return r.run(ctx)
}

// fakeBus keeps the events in memory, de-duplicated by message id like
// RESULTS; fail, when set, may refuse a publication.
type fakeBus struct {
	mu     sync.Mutex
	events []event
	seen   map[string]bool
	fail   func(exec contracts.Execution, msgID string) error
}

func (b *fakeBus) Publish(_ context.Context, exec contracts.Execution, msgID string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		if err := b.fail(exec, msgID); err != nil {
			return err
		}
	}
	if b.seen == nil {
		b.seen = map[string]bool{}
	}
	if !b.seen[msgID] {
		b.seen[msgID] = true
		b.events = append(b.events, event{Exec: exec, MsgID: msgID})
	}
	return nil
}

func (b *fakeBus) PublishAsync(exec contracts.Execution, msgID string) func() error {
	err := b.Publish(context.Background(), exec, msgID)
	return func() error { return err }
}

func (b *fakeBus) Last(_ context.Context, id string) (*event, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.events) - 1; i >= 0; i-- {
		if b.events[i].Exec.ID == id {
			ev := b.events[i]
			return &ev, nil
		}
	}
	return nil, nil
}

// of returns the events of id with the given status.
func (b *fakeBus) of(id string, status contracts.Status) []contracts.Execution {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []contracts.Execution
	for _, e := range b.events {
		if e.Exec.ID == id && e.Exec.Status == status {
			out = append(out, e.Exec)
		}
	}
	return out
}

// refusingBus refuses the first n terminal results it is given; refused
// counts the refusals and then the publications.
func refusingBus(n int32) (bus *fakeBus, refused *atomic.Int32) {
	refused = new(atomic.Int32)
	return &fakeBus{fail: func(exec contracts.Execution, _ string) error {
		if exec.Terminal() && refused.Add(1) <= n {
			return errors.New("nats: timeout")
		}
		return nil
	}}, refused
}

var bashRuntime = contracts.Runtime{
	Language: "bash", Version: "5.2", EntryFile: "main.sh",
	Defaults: contracts.LimitSet{CPUTimeMS: 1000, WallTimeMS: 3000, MemoryMB: 128, Processes: 32, OutputBytes: 1 << 16},
	Maximums: contracts.LimitSet{CPUTimeMS: 10000, WallTimeMS: 30000, MemoryMB: 512, Processes: 64, OutputBytes: 1 << 20},
}

// newTestLifecycle is a lifecycle over fakes: short AckWait (a heartbeat
// every 30 ms) and short publish retries.
func newTestLifecycle(t *testing.T, maxAttempts int, run *fakeRunner, bus eventBus) *lifecycle {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	var busy atomic.Int32
	m := newMetrics(nil, "test", 1, func() float64 { return 0 })
	h := newHealth(Config{ID: "test", Slots: 1, HeartbeatInterval: time.Second}, nil, &busy, m, nil, log)
	return &lifecycle{
		id: "test", maxAttempts: maxAttempts, maxDeliver: maxAttempts + 1 + contracts.ExecutorHandBacks, ackWait: 90 * time.Millisecond,
		topo: contracts.DefaultTopology(), validator: contracts.NewValidator(contracts.DefaultPolicy()),
		langs:  []served{{lang: &catalog.Language{Name: "bash"}, runtime: bashRuntime}},
		runner: run, bus: bus, health: h, metrics: m, log: log,
		retryFirst: 10 * time.Millisecond, retryMax: 40 * time.Millisecond,
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// newJob is a job of tenant acme, as the gateway publishes it.
func newJob(t *testing.T) (string, []byte) {
	t.Helper()
	id := contracts.NewID()
	data, err := json.Marshal(contracts.Job{ID: id, Tenant: "acme", CreatedAt: time.Now().UTC(), Request: contracts.ExecutionRequest{
		Language: "bash", Files: []contracts.File{{Name: "main.sh", Content: "echo hi"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return id, data
}

func accepted(context.Context) (runner.Result, error) {
	return runner.Result{Verdict: contracts.VerdictAccepted, Run: &contracts.Stage{Stdout: "hi\n"}}, nil
}

// deliver hands delivery n of the job to the lifecycle and returns it once
// handled.
func deliver(ctx context.Context, l *lifecycle, data []byte, n uint64) *fakeMsg {
	m := &fakeMsg{data: data, delivery: n}
	l.handle(ctx, m)
	return m
}

// TestAttemptsPerDelivery: a sandbox fault Naks with a delay on every
// attempt but the last; the last records internal_error and a confirmed
// Term (retried until confirmed); each delivery is one attempt; a delivery
// past the attempts only records internal_error.
func TestAttemptsPerDelivery(t *testing.T) {
	bus := &fakeBus{}
	run := &fakeRunner{run: func(context.Context) (runner.Result, error) { return runner.Result{}, errors.New("container vanished") }}
	l := newTestLifecycle(t, 3, run, bus)
	id, data := newJob(t)
	ctx := context.Background()
	for n := uint64(1); n <= 2; n++ {
		if got := deliver(ctx, l, data, n).ended(t); got != "nak-delay" {
			t.Errorf("delivery %d of a sandbox fault ended %q, want nak-delay", n, got)
		}
	}
	last := &fakeMsg{data: data, delivery: 3, termFails: 2}
	l.handle(ctx, last)
	if got := last.ended(t); got != "term" {
		t.Fatalf("the last attempt ended %q, want term", got)
	}
	if last.termTries != 3 {
		t.Errorf("Term sent %d times, want 3 (until the server confirmed it)", last.termTries)
	}
	done := bus.of(id, contracts.StatusCompleted)
	if len(done) != 1 || done[0].Verdict != contracts.VerdictInternalError || done[0].Attempt != 3 {
		t.Fatalf("stored results %+v, want one internal_error of attempt 3", done)
	}
	var attempts []int
	for _, e := range bus.of(id, contracts.StatusRunning) {
		attempts = append(attempts, e.Attempt)
	}
	if fmt.Sprint(attempts) != "[1 2 3]" || run.runs.Load() != 3 {
		t.Errorf("running events of attempts %v and %d runs, want [1 2 3] and 3", attempts, run.runs.Load())
	}

	// Delivered again (the Term was lost): the result is stored, the job is
	// acked and not run.
	if got := deliver(ctx, l, data, 4).ended(t); got != "ack" || run.runs.Load() != 3 {
		t.Errorf("a delivery after the stored result ended %q after %d runs, want ack and no run", got, run.runs.Load())
	}

	// A job whose every attempt died with its executor (no result, no
	// hand-back): the delivery after the last attempt gives up.
	id2, data2 := newJob(t)
	for n := 1; n <= 3; n++ {
		_ = bus.Publish(ctx, contracts.Execution{ID: id2, Status: contracts.StatusRunning, Attempt: n}, runningMsgID(id2, n))
	}
	if got := deliver(ctx, l, data2, 4).ended(t); got != "term" || run.runs.Load() != 3 {
		t.Fatalf("the delivery after 3 crashed attempts ended %q after %d more runs, want term and none", got, run.runs.Load()-3)
	}
	if done := bus.of(id2, contracts.StatusCompleted); len(done) != 1 || !strings.Contains(done[0].Message, "all 3 attempts") {
		t.Errorf("stored %+v, want internal_error after all 3 attempts", done)
	}
}

// TestEngineFaultHoldsNextDelivery: an engine fault Naks with a delay and
// marks the executor unhealthy; a delivery that arrives meanwhile is held in
// progress (not Nak'ed, not run, no attempt burned) and runs as the next
// attempt once the engine answers.
func TestEngineFaultHoldsNextDelivery(t *testing.T) {
	bus := &fakeBus{}
	var fault atomic.Bool
	fault.Store(true)
	run := &fakeRunner{run: func(ctx context.Context) (runner.Result, error) {
		if fault.Load() {
			return runner.Result{}, fmt.Errorf("create container: %w", sandbox.ErrEngine)
		}
		return accepted(ctx)
	}}
	l := newTestLifecycle(t, 2, run, bus)
	id, data := newJob(t)
	ctx := context.Background()
	if got := deliver(ctx, l, data, 1).ended(t); got != "nak-delay" {
		t.Fatalf("an engine fault ended %q, want nak-delay", got)
	}
	if l.health.problem.Load() == nil {
		t.Fatal("an engine fault left the executor healthy")
	}
	fault.Store(false)
	held := make(chan struct{})
	m := &fakeMsg{data: data, delivery: 2, onProgress: func(n int) {
		if n == 5 {
			close(held)
		}
	}}
	done := make(chan struct{})
	go func() { defer close(done); l.handle(ctx, m) }()
	<-held // five heartbeats while the engine is down
	if got, runs := m.ended(t), run.runs.Load(); got != "" || runs != 1 {
		t.Fatalf("a held job ended %q after %d runs, want held and 1 run", got, runs)
	}
	l.health.setProblem("")
	<-done
	if got := m.ended(t); got != "ack" {
		t.Fatalf("the held job ended %q once the engine was back, want ack", got)
	}
	if res := bus.of(id, contracts.StatusCompleted); len(res) != 1 || res[0].Verdict != contracts.VerdictAccepted || res[0].Attempt != 2 {
		t.Errorf("stored %+v, want accepted on attempt 2", res)
	}
}

// TestHandBackBurnsNoAttempt: a job interrupted by the shutdown, and one
// held through an engine outage until the shutdown, are handed back (Nak
// at once) after a hand-back event; the next delivery does not count them,
// so a job with one attempt still runs.
func TestHandBackBurnsNoAttempt(t *testing.T) {
	bus := &fakeBus{}
	started := make(chan struct{}, 1)
	var interrupt atomic.Bool
	interrupt.Store(true)
	run := &fakeRunner{run: func(ctx context.Context) (runner.Result, error) {
		if interrupt.Load() {
			started <- struct{}{}
			<-ctx.Done()
			return runner.Result{}, ctx.Err()
		}
		return accepted(ctx)
	}}
	l := newTestLifecycle(t, 1, run, bus)
	id, data := newJob(t)

	// Delivery 1: interrupted by the shutdown while running.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	if got := deliver(ctx, l, data, 1).ended(t); got != "nak" {
		t.Fatalf("a job interrupted by shutdown ended %q, want nak", got)
	}
	// Delivery 2: held through an engine outage until the shutdown.
	l.health.setProblem("docker engine does not answer")
	ctx, cancel = context.WithCancel(context.Background())
	m := &fakeMsg{data: data, delivery: 2, onProgress: func(n int) {
		if n == 3 {
			cancel()
		}
	}}
	l.handle(ctx, m)
	if got := m.ended(t); got != "nak" {
		t.Fatalf("a held job at shutdown ended %q, want nak", got)
	}
	l.health.setProblem("")
	// Delivery 3 is still the first attempt.
	interrupt.Store(false)
	if got := deliver(context.Background(), l, data, 3).ended(t); got != "ack" {
		t.Fatalf("the delivery after two hand-backs ended %q, want ack", got)
	}
	res := bus.of(id, contracts.StatusCompleted)
	if len(res) != 1 || res[0].Verdict != contracts.VerdictAccepted || res[0].Attempt != 1 {
		t.Errorf("stored %+v, want accepted on attempt 1", res)
	}
	if n := len(bus.of(id, contracts.StatusQueued)); n != 2 {
		t.Errorf("%d hand-back events, want 2", n)
	}
}

// TestResultKeptWhileResultsDown: RESULTS refuses the computed result for a
// while: the job stays in progress (heartbeats go on while the result is
// published), the result is stored once RESULTS answers, and the job is
// acked, never run again nor handed back.
func TestResultKeptWhileResultsDown(t *testing.T) {
	bus, refused := refusingBus(20)
	run := &fakeRunner{run: accepted}
	l := newTestLifecycle(t, 3, run, bus)
	id, data := newJob(t)
	var beatsWhilePublishing atomic.Int32
	m := &fakeMsg{data: data, delivery: 1}
	m.onProgress = func(int) {
		if n := refused.Load(); n > 0 && n <= 20 {
			beatsWhilePublishing.Add(1)
		}
	}
	l.handle(context.Background(), m)
	if got := m.ended(t); got != "ack" {
		t.Fatalf("the job ended %q, want ack", got)
	}
	if n := beatsWhilePublishing.Load(); n < 2 {
		t.Errorf("%d heartbeats while its result was being published, want the job kept in progress", n)
	}
	if res := bus.of(id, contracts.StatusCompleted); len(res) != 1 || res[0].Verdict != contracts.VerdictAccepted || run.runs.Load() != 1 {
		t.Errorf("stored %+v after %d runs, want the first run's accepted result", res, run.runs.Load())
	}
}

// TestLastAttemptStoresInternalError: on the last attempt RESULTS refuses
// the internal_error for a while: it is retried until stored, then the job
// is terminated; the job is never Nak'ed into a delivery that would leave
// it stuck in JOBS.
func TestLastAttemptStoresInternalError(t *testing.T) {
	bus, _ := refusingBus(12)
	run := &fakeRunner{run: func(context.Context) (runner.Result, error) { return runner.Result{}, runner.ErrSandbox }}
	l := newTestLifecycle(t, 1, run, bus)
	id, data := newJob(t)
	if got := deliver(context.Background(), l, data, 1).ended(t); got != "term" {
		t.Fatalf("the last attempt ended %q, want term", got)
	}
	if res := bus.of(id, contracts.StatusCompleted); len(res) != 1 || res[0].Verdict != contracts.VerdictInternalError {
		t.Errorf("stored %+v, want internal_error", res)
	}
}
