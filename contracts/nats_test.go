package contracts_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
)

func TestTopologyAndQueueFull(t *testing.T) {
	n := testkit.StartNATS(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topo := contracts.DefaultTopology()
	topo.QueueMax = 2
	if err := topo.Ensure(ctx, n.JS); err != nil {
		t.Fatal(err)
	}
	if err := topo.Ensure(ctx, n.JS); err != nil {
		t.Fatalf("Ensure is not idempotent: %v", err)
	}
	info, err := n.JS.Stream(ctx, contracts.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.CachedInfo().Config
	if cfg.Retention != jetstream.WorkQueuePolicy || cfg.Discard != jetstream.DiscardNew || cfg.MaxMsgs != 2 || cfg.Storage != jetstream.FileStorage {
		t.Errorf("JOBS config: %+v", cfg)
	}
	for _, b := range []string{contracts.ExecutionsBucket, contracts.ExecutorsBucket, contracts.IdempotencyBucket} {
		if _, err := n.JS.KeyValue(ctx, b); err != nil {
			t.Errorf("bucket %s: %v", b, err)
		}
	}
	for i := 0; i < 2; i++ {
		if _, err := n.JS.Publish(ctx, topo.JobSubject(""), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	_, err = n.JS.Publish(ctx, topo.JobSubject(""), []byte("{}"))
	if !contracts.IsQueueFull(err) {
		t.Fatalf("third publish: %v, want the queue-full error", err)
	}
	if contracts.IsTenantQueueFull(err) {
		t.Error("a full stream was reported as a full tenant queue")
	}
	// Raising the bound with Ensure makes room.
	topo.QueueMax = 3
	if err := topo.Ensure(ctx, n.JS); err != nil {
		t.Fatal(err)
	}
	if _, err := n.JS.Publish(ctx, topo.JobSubject(""), []byte("{}")); err != nil {
		t.Fatalf("after raising the bound: %v", err)
	}
}

func TestTenantQueueFull(t *testing.T) {
	n := testkit.StartNATS(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topo := contracts.DefaultTopology()
	topo.TenantQueueMax = 2
	if err := topo.Ensure(ctx, n.JS); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := n.JS.Publish(ctx, topo.JobSubject("alice"), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	_, err := n.JS.Publish(ctx, topo.JobSubject("alice"), []byte("{}"))
	if !contracts.IsTenantQueueFull(err) || !contracts.IsQueueFull(err) {
		t.Fatalf("alice's third job: %v, want the tenant-queue-full error", err)
	}
	if _, err := n.JS.Publish(ctx, topo.JobSubject("bob"), []byte("{}")); err != nil {
		t.Fatalf("bob is not limited by alice's queue: %v", err)
	}
	for _, name := range []string{"default", "team-a_1"} {
		if !contracts.ValidTenant(name) {
			t.Errorf("%q rejected", name)
		}
	}
	for _, name := range []string{"", "a.b", "a b", "*", ">", strings.Repeat("x", 65)} {
		if contracts.ValidTenant(name) {
			t.Errorf("%q accepted", name)
		}
	}
}

// TestStoreFailuresAreNotAFullQueue: the server's store-failure code also
// covers a closed store and a message too large for it; those are not a full
// queue (a client told to retry later would retry for ever).
func TestStoreFailuresAreNotAFullQueue(t *testing.T) {
	for _, desc := range []string{"store is closed", "message too large", "insufficient resources"} {
		err := &jetstream.APIError{Code: 503, ErrorCode: contracts.ErrCodeQueueFull, Description: desc}
		if contracts.IsQueueFull(err) || contracts.IsTenantQueueFull(err) {
			t.Errorf("%q was taken for a full queue", desc)
		}
		if got, want := contracts.IsMessageTooLarge(err), desc == "message too large"; got != want {
			t.Errorf("%q: IsMessageTooLarge %v", desc, got)
		}
	}
}
