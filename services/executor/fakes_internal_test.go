package executor

import (
	"context"
	"encoding/json"
	"errors"
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

func (b *fakeBus) Last(_ context.Context, id, _ string) (*event, error) {
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
		router: newRouter("test", &staticFleet{}, time.Minute), passFirst: 10 * time.Millisecond, passMax: 40 * time.Millisecond,
	}
}

// staticFleet is the executors bucket as set by the test.
type staticFleet struct {
	mu    sync.Mutex
	infos []contracts.ExecutorInfo
}

func (f *staticFleet) executors(context.Context) ([]contracts.ExecutorInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.infos, nil
}

func (f *staticFleet) set(infos ...contracts.ExecutorInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.infos = infos
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
