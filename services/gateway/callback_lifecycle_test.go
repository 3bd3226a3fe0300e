package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
	"github.com/airlockrun/airlock/services/gateway"
	"github.com/airlockrun/airlock/services/gateway/internal/callback"
	"github.com/airlockrun/airlock/services/results"
)

// callbackInfo reads the shared callbacks consumer.
func (e *env) callbackInfo() (*jetstream.ConsumerInfo, error) {
	cons, err := e.nats.JS.Consumer(context.Background(), contracts.ResultsStream, callback.ConsumerName)
	if err != nil {
		return nil, err
	}
	return cons.Info(context.Background())
}

// TestCallbacksSlowReceiversHoldOnlyTheirSlots: with every delivery slot
// taken by a receiver that does not answer, the events of executions
// without a callback are still acknowledged as they arrive.
func TestCallbacksSlowReceiversHoldOnlyTheirSlots(t *testing.T) {
	const slots = 2
	var (
		mu      sync.Mutex
		arrived int
	)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived++
		mu.Unlock()
		<-release
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) }) // before slow.Close, which waits for the handlers
	e := start(t, func(c *gateway.Config) {
		c.CallbackSecret = "s"
		c.CallbackAllow = mustCallbackAllow(t, "127.0.0.0/8:*")
		c.CallbackSlots = slots
		c.CallbackTimeout = 2 * testkit.Patience // longer than the test waits: the slow receivers hold their slots throughout
	})
	for range slots {
		e.complete(contracts.NewID(), slow.URL+"/hook", "")
	}
	if !testkit.Eventually(testkit.Patience, func() bool { mu.Lock(); defer mu.Unlock(); return arrived == slots }) {
		t.Fatalf("%d deliveries reached the slow receiver, want %d", arrived, slots)
	}
	for range 3 * slots * 16 {
		e.complete(contracts.NewID(), "", "")
	}
	var info *jetstream.ConsumerInfo
	if !testkit.Eventually(testkit.Patience, func() bool {
		var err error
		info, err = e.callbackInfo()
		return err == nil && info.NumPending == 0 && info.NumAckPending == slots
	}) {
		t.Fatalf("events without a callback wait behind slow receivers: %d not delivered, %d unacknowledged (want 0 and %d)",
			info.NumPending, info.NumAckPending, slots)
	}
}

// TestCallbackConsumerStartsAtPresent: a new callbacks consumer does not
// replay the completed events already in RESULTS; an existing one keeps its
// position across gateway restarts.
func TestCallbackConsumerStartsAtPresent(t *testing.T) {
	rcv := newReceiver(t, 0)
	n := testkit.StartNATS(t, "")
	topo := contracts.DefaultTopology()
	if err := topo.Ensure(t.Context(), n.JS); err != nil {
		t.Fatal(err)
	}
	publish := func(id string) {
		t.Helper()
		ex := completed(id)
		ex.CallbackURL = rcv.srv.URL + "/hook"
		data, _ := json.Marshal(ex)
		sealer, err := contracts.LoadResultSealer(context.Background(), n.JS)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.JS.PublishMsg(context.Background(), topo.EventMsg(id, sealer.Token(id), data)); err != nil {
			t.Fatal(err)
		}
	}
	old := contracts.NewID()
	publish(old) // before any gateway, so before the consumer
	mutate := func(c *gateway.Config) {
		c.CallbackSecret = "s"
		c.CallbackAllow = mustCallbackAllow(t, "127.0.0.0/8:*")
	}
	e := startOn(t, n, mutate)
	ids := []string{contracts.NewID()}
	publish(ids[0])
	if !testkit.Eventually(testkit.Patience, func() bool { return rcv.count() >= 1 }) {
		t.Fatal("the callback of an execution completed after the gateway started was not delivered")
	}
	if err := e.stop(); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, contracts.NewID())
	publish(ids[1]) // while no gateway runs: the existing consumer delivers it later
	startOn(t, n, mutate)
	if !testkit.Eventually(testkit.Patience, func() bool { return rcv.count() >= 2 }) {
		t.Fatal("the callback of an execution completed between two gateways was not delivered")
	}
	// Settle every event, then look at what was delivered.
	if !testkit.Eventually(testkit.Patience, func() bool {
		info, err := e.callbackInfo()
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}) {
		t.Fatal("the callbacks consumer did not settle")
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var got []string
	for _, b := range rcv.bodies {
		var ex contracts.Execution
		_ = json.Unmarshal(b, &ex)
		got = append(got, ex.ID)
	}
	if len(got) != 2 || got[0] != ids[0] || got[1] != ids[1] {
		t.Fatalf("delivered %v, want %v (not %s, completed before the consumer existed)", got, ids, old)
	}
}

// TestCallbackStatusRecorded: the stored execution ends with
// callback_status "delivered" for a receiver that answers 2xx, and "failed"
// with the class of the last error once every attempt failed.
func TestCallbackStatusRecorded(t *testing.T) {
	good := newReceiver(t, 0)
	bad := newReceiver(t, 1<<30)
	e := start(t, func(c *gateway.Config) {
		c.CallbackSecret = "s"
		c.CallbackAllow = mustCallbackAllow(t, "127.0.0.0/8:*")
		c.CallbackAttempts = 3
		c.CallbackBackoff = time.Millisecond
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- results.Run(ctx, results.Config{Topology: e.topo}, e.nats.Conn, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("results.Run: %v", err)
		}
	})
	delivered, failed, none := contracts.NewID(), contracts.NewID(), contracts.NewID()
	e.complete(delivered, good.srv.URL+"/hook", "")
	e.complete(failed, bad.srv.URL+"/hook", "")
	e.complete(none, "", "")
	stored := func(id string) contracts.Execution {
		var ex contracts.Execution
		if entry, err := e.executions.Get(context.Background(), id); err == nil {
			_ = json.Unmarshal(entry.Value(), &ex)
		}
		return ex
	}
	for id, want := range map[string][2]string{
		delivered: {contracts.CallbackDelivered, ""},
		failed:    {contracts.CallbackFailed, "http_503"},
	} {
		var ex contracts.Execution
		if !testkit.Eventually(testkit.Patience, func() bool {
			ex = stored(id)
			return ex.CallbackStatus != ""
		}) {
			t.Fatalf("%s: no callback_status stored: %+v", id, ex)
		}
		if ex.CallbackStatus != want[0] || ex.CallbackError != want[1] || ex.Status != contracts.StatusCompleted || ex.Run == nil {
			t.Errorf("%s: stored %s, callback_status %q, callback_error %q, want a completed execution with %q %q",
				id, ex.Status, ex.CallbackStatus, ex.CallbackError, want[0], want[1])
		}
	}
	if ex := stored(none); ex.Status != contracts.StatusCompleted || ex.CallbackStatus != "" {
		t.Errorf("without a callback: stored %s with callback_status %q", ex.Status, ex.CallbackStatus)
	}
	if good.count() != 1 {
		t.Errorf("%d deliveries to the receiver that answers 2xx, want 1 (the outcome event is not delivered again)", good.count())
	}
}
