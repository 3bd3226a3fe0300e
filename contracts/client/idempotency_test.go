package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/internal/testkit"
)

func pythonRequest(source string) contracts.ExecutionRequest {
	return contracts.ExecutionRequest{Language: "python", Files: []contracts.File{{Name: "main.py", Content: source}}}
}

// jobs is the JOBS stream's state: the messages in it and the last
// sequence (every message it ever took).
func jobs(t *testing.T, ctx context.Context, js jetstream.JetStream) (msgs, last uint64) {
	t.Helper()
	s, err := js.Stream(ctx, contracts.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs, info.State.LastSeq
}

// TestIdempotencyKeyAcrossRestart: a job submitted with an idempotency key
// is taken and acked by an executor and its result stored; the NATS server
// restarts (the JOBS de-duplication window no longer knows the id of a
// message it no longer holds). The same key with the same request still
// names the same execution and queues nothing; with another request it is
// ErrIdempotencyKeyReused.
func TestIdempotencyKeyAcrossRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	dir := t.TempDir()
	b := startBus(t, ctx, dir, client.Options{Tenant: "acme", ExecutorCacheTTL: -1})
	b.announce(t, ctx)
	req := pythonRequest("print(1)")
	first, err := b.c.Submit(ctx, &req, client.SubmitOptions{IdempotencyKey: "order-42"})
	if err != nil || first.Duplicate {
		t.Fatalf("first submit: %+v, %v", first, err)
	}

	// An executor takes the job and acks it; the result is stored.
	cons, err := b.n.JS.CreateOrUpdateConsumer(ctx, contracts.JobsStream, b.topo.WithConsumer(1, time.Minute, 1).ExecutorConsumerConfig())
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(testkit.Patience))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		var job contracts.Job
		if err := json.Unmarshal(m.Data(), &job); err != nil || job.ID != first.ID {
			t.Fatalf("the queued job is %+v (%v), want %s", job, err, first.ID)
		}
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	b.store(t, ctx, execution(first.ID, "acme", contracts.StatusCompleted))
	msgs, last := jobs(t, ctx, b.n.JS)
	t.Logf("JOBS before the restart: %d messages, last sequence %d", msgs, last)
	if msgs != 0 || last != 1 {
		t.Fatalf("JOBS holds %d messages, last sequence %d; want the one job, taken", msgs, last)
	}

	restart(t, b)
	b.announce(t, ctx)

	again := pythonRequest("print(1)")
	repeat, err := b.c.Submit(ctx, &again, client.SubmitOptions{IdempotencyKey: "order-42"})
	if err != nil || repeat.ID != first.ID || !repeat.Duplicate {
		t.Fatalf("the repeat after a restart: %+v, %v; want %s, a duplicate", repeat, err, first.ID)
	}
	if m, l := jobs(t, ctx, b.n.JS); m != msgs || l != last {
		t.Fatalf("after the repeat JOBS holds %d messages, last sequence %d; want %d, %d: nothing queued", m, l, msgs, last)
	}
	other := pythonRequest("print(2)")
	if s, err := b.c.Submit(ctx, &other, client.SubmitOptions{IdempotencyKey: "order-42"}); !errors.Is(err, client.ErrIdempotencyKeyReused) {
		t.Fatalf("the same key with another request: %+v, %v; want ErrIdempotencyKeyReused", s, err)
	}
	// The key is the tenant's: another tenant's same key is its own.
	beta := pythonRequest("print(1)")
	if s, err := b.c.As("beta").Submit(ctx, &beta, client.SubmitOptions{IdempotencyKey: "order-42"}); err != nil || s.ID == first.ID || s.Duplicate {
		t.Fatalf("tenant beta's key order-42: %+v, %v; want a new execution", s, err)
	}
	if m, l := jobs(t, ctx, b.n.JS); m != 1 || l != last+1 {
		t.Fatalf("JOBS holds %d messages, last sequence %d; want beta's job only", m, l)
	}
}

// restart stops the NATS server and starts it again on the same port and
// file store; the test's connection (and the client on it) reconnects.
func restart(t *testing.T, b *bus) {
	t.Helper()
	port := b.n.Server.Addr().(*net.TCPAddr).Port
	b.n.Server.Shutdown()
	b.n.Server.WaitForShutdown()
	b.n.Server = testkit.StartServer(t, b.n.StoreDir, port)
	if !testkit.Eventually(testkit.Patience, b.n.Conn.IsConnected) {
		t.Fatal("the client did not reconnect")
	}
}

// TestIdempotencyRepublishesAnUnpublishedReservation: a submitter reserved
// the key and died before publishing (nothing queued, nothing known). The
// repeat publishes the job under the reserved id.
func TestIdempotencyRepublishesAnUnpublishedReservation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	b := startBus(t, ctx, "", client.Options{})
	b.announce(t, ctx)
	req := pythonRequest("print(1)")
	fingerprint, _ := json.Marshal(req) // already as Validator.Request leaves it
	reserved := contracts.IDFromKey(contracts.DefaultTenant, "k1")
	if id, fresh, err := b.c.Reserve(ctx, client.ExecutionScope, "k1", fingerprint, reserved); err != nil || !fresh || id != reserved {
		t.Fatalf("Reserve: %s, %v, %v", id, fresh, err)
	}
	s, err := b.c.Submit(ctx, &req, client.SubmitOptions{IdempotencyKey: "k1"})
	if err != nil || s.ID != reserved || s.Duplicate {
		t.Fatalf("submit after a reservation without a job: %+v, %v; want %s queued", s, err, reserved)
	}
	if msgs, _ := jobs(t, ctx, b.n.JS); msgs != 1 {
		t.Fatalf("JOBS holds %d messages, want the one job", msgs)
	}
	if exec, err := b.c.Get(ctx, reserved); err != nil || exec.Status != contracts.StatusQueued {
		t.Fatalf("Get: %+v, %v", exec, err)
	}
}

// TestIdempotencyRefusedPublishReleasesKey: a publish the queue refuses
// (the tenant's share is full) releases the key, so a retry, even with
// another request, proceeds.
func TestIdempotencyRefusedPublishReleasesKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	n := testkit.StartNATS(t, "")
	topo := contracts.DefaultTopology()
	topo.TenantQueueMax = 1
	if err := topo.Ensure(ctx, n.JS); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(ctx, n.Conn, client.Options{Topology: topo})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := &bus{n: n, topo: topo, c: c}
	b.announce(t, ctx)
	filler := pythonRequest("print(0)")
	if _, err := c.Submit(ctx, &filler, client.SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	req := pythonRequest("print(1)")
	if _, err := c.Submit(ctx, &req, client.SubmitOptions{IdempotencyKey: "k"}); !errors.Is(err, client.ErrTenantQueueFull) {
		t.Fatalf("submit to a full tenant queue: %v", err)
	}
	if err := n.JS.DeleteStream(ctx, contracts.JobsStream); err != nil {
		t.Fatal(err)
	}
	if err := topo.Ensure(ctx, n.JS); err != nil {
		t.Fatal(err)
	}
	other := pythonRequest("print(2)")
	if s, err := c.Submit(ctx, &other, client.SubmitOptions{IdempotencyKey: "k"}); err != nil || s.Duplicate {
		t.Fatalf("retry with the released key: %+v, %v", s, err)
	}
}

// TestReserve: the generic reservation, as evaluations use it.
func TestReserve(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	b := startBus(t, ctx, "", client.Options{Tenant: "acme"})
	a, other := contracts.NewID(), contracts.NewID()
	if id, fresh, err := b.c.Reserve(ctx, "evaluation", "k", []byte("body"), a); err != nil || !fresh || id != a {
		t.Fatalf("first Reserve: %s, %v, %v", id, fresh, err)
	}
	if id, fresh, err := b.c.Reserve(ctx, "evaluation", "k", []byte("body"), other); err != nil || fresh || id != a {
		t.Fatalf("repeat: %s, %v, %v; want %s", id, fresh, err, a)
	}
	if _, _, err := b.c.Reserve(ctx, "evaluation", "k", []byte("another body"), other); !errors.Is(err, client.ErrIdempotencyKeyReused) {
		t.Fatalf("another fingerprint: %v", err)
	}
	if id, fresh, err := b.c.Reserve(ctx, client.ExecutionScope, "k", []byte("another body"), other); err != nil || !fresh || id != other {
		t.Fatalf("the same key in another scope: %s, %v, %v", id, fresh, err)
	}
	if err := b.c.Release(ctx, "evaluation", "k", other); err != nil {
		t.Fatal(err)
	}
	if id, _, _ := b.c.Reserve(ctx, "evaluation", "k", []byte("body"), other); id != a {
		t.Fatal("Release with another id removed the reservation")
	}
	if err := b.c.Release(ctx, "evaluation", "k", a); err != nil {
		t.Fatal(err)
	}
	if id, fresh, err := b.c.Reserve(ctx, "evaluation", "k", []byte("another body"), other); err != nil || !fresh || id != other {
		t.Fatalf("after Release: %s, %v, %v", id, fresh, err)
	}
	if _, _, err := b.c.Reserve(ctx, "a.b", "k", nil, a); err == nil {
		t.Error("a scope with a dot was accepted")
	}
}

// TestIdempotencyKeyOfAKnownExecution: an execution whose key has no
// reservation (submitted before the bucket existed, or whose reservation
// expired while it stayed readable) is answered, not queued again.
func TestIdempotencyKeyOfAKnownExecution(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	b := startBus(t, ctx, "", client.Options{})
	b.announce(t, ctx)
	id := contracts.IDFromKey(contracts.DefaultTenant, "old")
	b.store(t, ctx, execution(id, contracts.DefaultTenant, contracts.StatusCompleted))
	req := pythonRequest("print(1)")
	if s, err := b.c.Submit(ctx, &req, client.SubmitOptions{IdempotencyKey: "old"}); err != nil || s.ID != id || !s.Duplicate {
		t.Fatalf("submit with the key of a known execution: %+v, %v; want %s, a duplicate", s, err, id)
	}
	if msgs, last := jobs(t, ctx, b.n.JS); msgs != 0 || last != 0 {
		t.Fatalf("JOBS holds %d messages, last sequence %d; want nothing queued", msgs, last)
	}
}

// TestIdempotencyRepeatOfTheResolvedRequest: Submit resolves the request in
// place (language and version); submitting that same request again, or one
// that names the version the first resolved to, is the same request.
func TestIdempotencyRepeatOfTheResolvedRequest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	b := startBus(t, ctx, "", client.Options{})
	b.announce(t, ctx)
	req := pythonRequest("print(1)")
	req.Language = "  Python"
	first, err := b.c.Submit(ctx, &req, client.SubmitOptions{IdempotencyKey: "k"})
	if err != nil || req.Version != "3.12" {
		t.Fatalf("first submit: %+v, %v; version %q", first, err, req.Version)
	}
	pinned := pythonRequest("print(1)")
	pinned.Version = "3.12"
	for name, r := range map[string]*contracts.ExecutionRequest{"the resolved request": &req, "the version pinned": &pinned} {
		if s, err := b.c.Submit(ctx, r, client.SubmitOptions{IdempotencyKey: "k"}); err != nil || s.ID != first.ID || !s.Duplicate {
			t.Errorf("%s again: %+v, %v; want %s, a duplicate", name, s, err, first.ID)
		}
	}
	if msgs, _ := jobs(t, ctx, b.n.JS); msgs != 1 {
		t.Fatalf("JOBS holds %d messages, want the first job only", msgs)
	}
}
