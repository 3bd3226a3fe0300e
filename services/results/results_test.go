package results_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
	"github.com/airlockrun/airlock/services/results"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// deadline bounds every poll; it is generous because test machines are noisy.
const deadline = 60 * time.Second

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// start runs the service until the test ends or the returned stop is called;
// stop cancels it and waits for Run to return.
func start(t *testing.T, nc *nats.Conn, cfg results.Config) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	log := testLogger(t)
	go func() { done <- results.Run(ctx, cfg, nc, log) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v, want nil", err)
				}
			case <-time.After(deadline):
				t.Errorf("Run did not return within %v of cancel", deadline)
			}
		})
	}
	t.Cleanup(stop)
	waitConsumer(t, nc)
	return stop
}

func connect(t *testing.T, n *testkit.NATS) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(n.Server.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func jsFor(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return js
}

// waitConsumer waits until the durable consumer exists (Run has started).
func waitConsumer(t *testing.T, nc *nats.Conn) {
	t.Helper()
	js := jsFor(t, nc)
	poll(t, "results consumer to exist", func() bool {
		_, err := js.Consumer(t.Context(), contracts.ResultsStream, contracts.ResultsConsumer)
		return err == nil
	})
}

func poll(t *testing.T, what string, ok func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !ok() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", deadline, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitIdle waits until the consumer has delivered and settled every event.
// waitIdle waits until every event in RESULTS so far was handled: the
// consumer's ack floor reached the stream's last message. A consumer's own
// pending count alone is not enough: the server tells a consumer of a new
// message asynchronously, so right after a publish it can still read 0.
func waitIdle(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	stream, err := js.Stream(t.Context(), contracts.ResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	last := stream.CachedInfo().State.LastSeq
	poll(t, "every event to be handled", func() bool {
		c, err := js.Consumer(t.Context(), contracts.ResultsStream, contracts.ResultsConsumer)
		if err != nil {
			return false
		}
		info, err := c.Info(t.Context())
		return err == nil && info.AckFloor.Stream >= last && info.NumPending == 0 && info.NumAckPending == 0
	})
}

func event(id string, status contracts.Status, stdout string) contracts.Execution {
	ex := contracts.Execution{ID: id, Status: status, Language: "python", CreatedAt: time.Unix(1700000000, 0).UTC()}
	if status != contracts.StatusQueued {
		ex.Executor = "exec-1"
	}
	if status == contracts.StatusCompleted {
		ex.Verdict = contracts.VerdictAccepted
		ex.Run = &contracts.Stage{Stdout: stdout, Verdict: contracts.VerdictAccepted}
	}
	return ex
}

// publish publishes an event as its job's executor does: with the job's
// result token.
func publish(t testing.TB, js jetstream.JetStream, ex contracts.Execution) {
	publishSealed(t, js, ex, sealer(t, js).Token(ex.ID))
}

func publishSealed(t testing.TB, js jetstream.JetStream, ex contracts.Execution, token string) {
	data, err := json.Marshal(ex)
	if err != nil {
		t.Errorf("marshal: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if _, err := js.PublishMsg(ctx, contracts.DefaultTopology().EventMsg(ex.ID, token, data)); err != nil {
		t.Errorf("publish event of %s: %v", ex.ID, err)
	}
}

// sealer is the fleet's result sealer (the key the results service uses).
func sealer(t testing.TB, js jetstream.JetStream) *contracts.ResultSealer {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	s, err := contracts.LoadResultSealer(ctx, js)
	if err != nil {
		t.Fatalf("result sealer: %v", err)
	}
	return s
}

func publishRaw(t testing.TB, js jetstream.JetStream, subject string, data []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if _, err := js.Publish(ctx, subject, data); err != nil {
		t.Errorf("publish %s: %v", subject, err)
	}
}

// stored returns the execution under id, or nil when there is none.
func stored(t *testing.T, kv jetstream.KeyValue, id string) *contracts.Execution {
	t.Helper()
	e, err := kv.Get(t.Context(), id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	var ex contracts.Execution
	if err := json.Unmarshal(e.Value(), &ex); err != nil {
		t.Fatalf("decode %s: %v", id, err)
	}
	return &ex
}

func bucket(t *testing.T, js jetstream.JetStream) jetstream.KeyValue {
	t.Helper()
	kv, err := js.KeyValue(t.Context(), contracts.ExecutionsBucket)
	if err != nil {
		t.Fatalf("bucket: %v", err)
	}
	return kv
}

func stdout(ex *contracts.Execution) string {
	if ex == nil || ex.Run == nil {
		return ""
	}
	return ex.Run.Stdout
}

// waitCompleted waits until id is stored as completed with the given stdout.
func waitCompleted(t *testing.T, kv jetstream.KeyValue, id, want string) {
	t.Helper()
	poll(t, fmt.Sprintf("%s to be completed with %q", id, want), func() bool {
		ex := stored(t, kv, id)
		return ex != nil && ex.Status == contracts.StatusCompleted && stdout(ex) == want
	})
}

func TestForwardOnlyWrites(t *testing.T) {
	n := testkit.StartNATS(t, "")
	start(t, n.Conn, results.DefaultConfig())
	kv := bucket(t, n.JS)

	tests := []struct {
		name       string
		events     []contracts.Status
		stdouts    []string // per event; only completed events carry one
		wantStatus contracts.Status
		wantStdout string
	}{
		{
			name:       "in order",
			events:     []contracts.Status{contracts.StatusQueued, contracts.StatusRunning, contracts.StatusCompleted},
			stdouts:    []string{"", "", "done"},
			wantStatus: contracts.StatusCompleted, wantStdout: "done",
		},
		{
			name:       "out of order",
			events:     []contracts.Status{contracts.StatusCompleted, contracts.StatusRunning, contracts.StatusQueued},
			stdouts:    []string{"done", "", ""},
			wantStatus: contracts.StatusCompleted, wantStdout: "done",
		},
		{
			name:       "duplicate completed keeps the first",
			events:     []contracts.Status{contracts.StatusQueued, contracts.StatusCompleted, contracts.StatusCompleted, contracts.StatusRunning, contracts.StatusCompleted},
			stdouts:    []string{"", "first", "second", "", "third"},
			wantStatus: contracts.StatusCompleted, wantStdout: "first",
		},
		{
			name:       "no queued event",
			events:     []contracts.Status{contracts.StatusRunning, contracts.StatusCompleted},
			stdouts:    []string{"", "done"},
			wantStatus: contracts.StatusCompleted, wantStdout: "done",
		},
		{
			name:       "running only",
			events:     []contracts.Status{contracts.StatusRunning, contracts.StatusQueued, contracts.StatusRunning},
			stdouts:    []string{"", "", ""},
			wantStatus: contracts.StatusRunning,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := contracts.NewID()
			for i, st := range tc.events {
				publish(t, n.JS, event(id, st, tc.stdouts[i]))
			}
			waitIdle(t, n.JS)
			got := stored(t, kv, id)
			if got == nil {
				t.Fatalf("%s not stored", id)
			}
			if got.Status != tc.wantStatus || stdout(got) != tc.wantStdout {
				t.Errorf("stored status %q stdout %q, want %q %q", got.Status, stdout(got), tc.wantStatus, tc.wantStdout)
			}
		})
	}
}

func TestBadEventsDoNotBlock(t *testing.T) {
	n := testkit.StartNATS(t, "")
	start(t, n.Conn, results.DefaultConfig())
	kv := bucket(t, n.JS)
	topo := contracts.DefaultTopology()

	publishRaw(t, n.JS, topo.EventSubject("garbage"), []byte("{not json"))
	bad, _ := json.Marshal(event("NOT-AN-ID", contracts.StatusCompleted, "x"))
	publishRaw(t, n.JS, topo.EventSubject("badid"), bad)
	unknown := contracts.NewID()
	publish(t, n.JS, event(unknown, "exploded", ""))
	// Forged results: no token, another execution's token, and the
	// right token on another execution's subject.
	victim := contracts.NewID()
	publish(t, n.JS, event(victim, contracts.StatusRunning, ""))
	other := contracts.NewID()
	forged, _ := json.Marshal(event(victim, contracts.StatusCompleted, "forged"))
	publishRaw(t, n.JS, topo.EventSubject(victim), forged)
	publishSealed(t, n.JS, event(victim, contracts.StatusCompleted, "forged"), sealer(t, n.JS).Token(other))
	publishRaw(t, n.JS, topo.EventSubject(other), forged)
	good := contracts.NewID()
	publish(t, n.JS, event(good, contracts.StatusCompleted, "ok"))

	waitCompleted(t, kv, good, "ok")
	waitIdle(t, n.JS)
	if ex := stored(t, kv, unknown); ex != nil {
		t.Errorf("event with unknown status was stored: %+v", ex)
	}
	keys, err := kv.ListKeys(t.Context())
	if err != nil {
		t.Fatalf("list keys: %v", err)
	}
	var all []string
	for k := range keys.Keys() {
		all = append(all, k)
	}
	slices.Sort(all)
	want := []string{good, victim}
	slices.Sort(want)
	if !slices.Equal(all, want) {
		t.Errorf("keys = %v, want %v", all, want)
	}
	if ex := stored(t, kv, victim); ex == nil || ex.Status != contracts.StatusRunning {
		t.Errorf("a forged result was stored: %+v", ex)
	}
}

// publishAll publishes queued, running and completed for each id from
// several goroutines; with shuffle the three events of an id go out in a
// random order. after, when set, is called once half the events are out.
func publishAll(t *testing.T, js jetstream.JetStream, ids []string, shuffle bool, after func()) {
	var (
		wg    sync.WaitGroup
		sent  sync.WaitGroup
		work  = make(chan string)
		half  = len(ids) / 2
		count int
		mu    sync.Mutex
	)
	sent.Add(1)
	var halfOnce sync.Once
	for range 16 {
		wg.Go(func() {
			for id := range work {
				evs := []contracts.Execution{
					event(id, contracts.StatusQueued, ""),
					event(id, contracts.StatusRunning, ""),
					event(id, contracts.StatusCompleted, "out-"+id),
				}
				if shuffle {
					rand.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
				}
				for _, ev := range evs {
					publish(t, js, ev)
				}
				mu.Lock()
				count++
				reached := count >= half
				mu.Unlock()
				if reached {
					halfOnce.Do(sent.Done)
				}
			}
		})
	}
	go func() {
		sent.Wait()
		if after != nil {
			after()
		}
	}()
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	sent.Wait()
}

func newIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = contracts.NewID()
	}
	return ids
}

func TestRestartWhilePublishing(t *testing.T) {
	n := testkit.StartNATS(t, "")
	cfg := results.DefaultConfig()
	// A message in flight when the first instance unsubscribes comes back
	// only after AckWait; keep that short so the test does not wait 30s.
	cfg.AckWait = 3 * time.Second
	stop := start(t, connect(t, n), cfg)
	kv := bucket(t, n.JS)

	ids := newIDs(120)
	stopped := make(chan struct{})
	publishAll(t, n.JS, ids, false, func() { stop(); close(stopped) })
	<-stopped

	// Some events are stored already; the rest wait in the stream.
	start(t, connect(t, n), cfg)
	for _, id := range ids {
		waitCompleted(t, kv, id, "out-"+id)
	}
}

func TestConcurrentInstances(t *testing.T) {
	n := testkit.StartNATS(t, "")
	cfg := results.DefaultConfig()
	start(t, connect(t, n), cfg)
	start(t, connect(t, n), cfg)
	kv := bucket(t, n.JS)

	ids := newIDs(200)
	publishAll(t, n.JS, ids, true, nil)
	for _, id := range ids {
		waitCompleted(t, kv, id, "out-"+id)
	}
	waitIdle(t, n.JS)
	for _, id := range ids {
		if ex := stored(t, kv, id); ex == nil || ex.Status != contracts.StatusCompleted || stdout(ex) != "out-"+id {
			t.Errorf("%s: stored %+v, want completed out-%s", id, ex, id)
		}
	}
}

func TestRunFailsWithoutTopologyPrefix(t *testing.T) {
	n := testkit.StartNATS(t, "")
	cfg := results.DefaultConfig()
	cfg.Topology.Prefix = ""
	if err := results.Run(t.Context(), cfg, n.Conn, testLogger(t)); err == nil {
		t.Fatal("Run with an empty prefix returned nil, want an error")
	}
}
