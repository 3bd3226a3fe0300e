package client

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
)

// clientOnBus starts a server with the topology and a Client on it, and
// returns the client and a way to store a state of an execution of the
// default tenant, as the results service does.
func clientOnBus(t *testing.T, ctx context.Context, opts Options) (*Client, func(contracts.Status, string)) {
	t.Helper()
	n := testkit.StartNATS(t, "")
	opts.Topology = contracts.DefaultTopology()
	if err := opts.Topology.Ensure(ctx, n.JS); err != nil {
		t.Fatal(err)
	}
	kv, err := n.JS.KeyValue(ctx, contracts.ExecutionsBucket)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(ctx, n.Conn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, func(status contracts.Status, id string) {
		data, _ := json.Marshal(contracts.Execution{ID: id, Tenant: contracts.DefaultTenant, Status: status})
		if _, err := kv.Put(ctx, id, data); err != nil {
			t.Error(err)
		}
	}
}

// waitInBackground starts the only wait of c, on id, and returns once it is
// registered; result blocks until the wait ends.
func waitInBackground(t *testing.T, ctx context.Context, c *Client, id string) (result func() (contracts.Execution, error)) {
	t.Helper()
	type answer struct {
		exec contracts.Execution
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		exec, err := c.Wait(ctx, id, WaitOptions{})
		done <- answer{exec, err}
	}()
	if !testkit.Eventually(testkit.Patience, func() bool { return c.Waiting() == 1 }) {
		t.Fatal("the wait did not register")
	}
	return func() (contracts.Execution, error) { a := <-done; return a.exec, a.err }
}

// TestWaitTakesAWriteBetweenReadAndWait: the write that completes the
// execution lands after Wait read the current state (queued) and before it
// waits for updates. Registering the waiter before the read is what makes
// it arrive; a wait that subscribed after its read would miss it and wait
// forever (here: until the test's deadline).
func TestWaitTakesAWriteBetweenReadAndWait(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	// No resync may rescue a missed write within the test.
	c, put := clientOnBus(t, ctx, Options{ResyncInterval: -1})
	id := contracts.NewID()
	put(contracts.StatusQueued, id)
	c.afterRead = func(got string) {
		if got == id {
			put(contracts.StatusCompleted, id)
		}
	}
	exec, err := c.Wait(ctx, id, WaitOptions{MustExist: true})
	if err != nil || exec.Status != contracts.StatusCompleted {
		t.Fatalf("Wait: %+v, %v; want the completed state", exec, err)
	}
}

// TestWaitResyncsAfterDroppedMessages: when NATS drops messages of the
// shared subscription (a slow consumer), the waiters re-read their
// executions, so a dropped completion does not leave them waiting.
func TestWaitResyncsAfterDroppedMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	c, put := clientOnBus(t, ctx, Options{ResyncInterval: -1})
	id := contracts.NewID()
	result := waitInBackground(t, ctx, c, id)
	c.hub.mu.Lock()
	sub := c.hub.sub
	// With the hub locked, the subscription's goroutine blocks on the first
	// write it hands over; with room for one pending message, NATS drops
	// the completion that follows.
	if err := sub.SetPendingLimits(1, -1); err != nil {
		c.hub.mu.Unlock()
		t.Fatal(err)
	}
	put(contracts.StatusQueued, contracts.NewID())
	put(contracts.StatusQueued, contracts.NewID())
	put(contracts.StatusCompleted, id)
	dropped := testkit.Eventually(testkit.Patience, func() bool { d, _ := sub.Dropped(); return d > 0 })
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		t.Error(err)
	}
	c.hub.mu.Unlock()
	if !dropped {
		t.Fatal("NATS dropped no message")
	}
	if got, err := result(); err != nil || got.Status != contracts.StatusCompleted {
		t.Fatalf("Wait: %+v, %v; want the completed state", got, err)
	}
}

// TestWaitResyncsAfterReconnect: the server drops the client's connection
// and the execution completes before the client is back; the write never
// reaches the subscription, and the re-read after the reconnect ends the
// wait.
func TestWaitResyncsAfterReconnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	n := testkit.StartNATS(t, "")
	topo := contracts.DefaultTopology()
	if err := topo.Ensure(ctx, n.JS); err != nil {
		t.Fatal(err)
	}
	kv, err := n.JS.KeyValue(ctx, contracts.ExecutionsBucket)
	if err != nil {
		t.Fatal(err)
	}
	// The waiting client has its own connection, back a second after it
	// is dropped: long enough for the write to land while it is away.
	nc, err := nats.Connect(n.Server.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second), nats.Name("waiter"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c, err := New(ctx, nc, Options{Topology: topo, ResyncInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := contracts.NewID()
	result := waitInBackground(t, ctx, c, id)
	cid, err := nc.GetClientID()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Server.DisconnectClientByID(cid); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(contracts.Execution{ID: id, Tenant: contracts.DefaultTenant, Status: contracts.StatusCompleted})
	if _, err := kv.Put(ctx, id, data); err != nil {
		t.Fatal(err)
	}
	if got, err := result(); err != nil || got.Status != contracts.StatusCompleted {
		t.Fatalf("Wait: %+v, %v; want the completed state", got, err)
	}
	if r := nc.Stats().Reconnects; r == 0 {
		t.Errorf("the client never reconnected (the test did not drop the connection)")
	}
}
