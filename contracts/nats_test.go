package contracts_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
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

// TestQueueFullByBytes: JOBS at its QueueMaxBytes refuses the next job as a
// full queue (nothing else), and the other bounds of the topology are on the
// streams and buckets.
func TestQueueFullByBytes(t *testing.T) {
	n := testkit.StartNATS(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topo := contracts.DefaultTopology()
	topo.QueueMaxBytes = 4 << 10
	if err := topo.Ensure(ctx, n.JS); err != nil {
		t.Fatal(err)
	}
	job := []byte(strings.Repeat("x", 1000))
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		_, err = n.JS.Publish(ctx, topo.JobSubject(""), job)
	}
	if !contracts.IsQueueFull(err) || contracts.IsTenantQueueFull(err) || contracts.IsMessageTooLarge(err) || contracts.IsStoreUnavailable(err) {
		t.Fatalf("publish into a JOBS stream at its byte bound: %v, want only the queue-full error", err)
	}

	d := contracts.DefaultTopology()
	streams := map[string]int64{
		contracts.JobsStream: topo.QueueMaxBytes, contracts.ResultsStream: d.ResultsMaxBytes,
		"KV_" + contracts.ExecutionsBucket: d.ExecutionsMaxBytes, "KV_" + contracts.ExecutorsBucket: d.ExecutorsMaxBytes,
	}
	for name, want := range streams {
		s, err := n.JS.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.MaxBytes; got != want || want <= 0 {
			t.Errorf("%s: MaxBytes %d, want %d", name, got, want)
		}
	}
	if _, err := d.EnsureEvaluations(ctx, n.JS); err != nil {
		t.Fatal(err)
	}
	if s, err := n.JS.Stream(ctx, "KV_"+contracts.EvaluationsBucket); err != nil || s.CachedInfo().Config.MaxBytes != d.EvaluationsMaxBytes {
		t.Errorf("evaluations bucket: %v, MaxBytes want %d", err, d.EvaluationsMaxBytes)
	}
}

// TestResultTooLarge: the RESULTS stream refuses an event over
// MaxResultBytes (plus the headroom for a callback's outcome) as a message
// too large, not as a full queue or a store failure.
func TestResultTooLarge(t *testing.T) {
	n := testkit.StartNATS(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topo := contracts.DefaultTopology()
	topo.MaxResultBytes = 16 << 10
	if err := topo.Ensure(ctx, n.JS); err != nil {
		t.Fatal(err)
	}
	id := contracts.NewID()
	if _, err := n.JS.Publish(ctx, topo.EventSubject(id), make([]byte, topo.MaxResultBytes)); err != nil {
		t.Fatalf("a result of MaxResultBytes: %v", err)
	}
	_, err := n.JS.Publish(ctx, topo.EventSubject(id), make([]byte, topo.MaxResultBytes+contracts.ResultHeadroom+1))
	if !contracts.IsMessageTooLarge(err) || contracts.IsQueueFull(err) || contracts.IsStoreUnavailable(err) {
		t.Fatalf("a result over the bound: %v, want only the message-too-large error", err)
	}
	kv, err := n.JS.KeyValue(ctx, contracts.ExecutionsBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, id, make([]byte, topo.MaxResultBytes+contracts.ResultHeadroom+1)); err == nil {
		t.Error("the executions bucket took a value over the result bound")
	}
}

// TestStoreUnavailable: a server whose JetStream store is used up refuses a
// job as "store unavailable", neither a full queue (the client did nothing
// wrong and the queue has room) nor a message too large.
func TestStoreUnavailable(t *testing.T) {
	n := testkit.StartNATSWith(t, "", func(o *server.Options) { o.JetStreamMaxStore = 64 << 10 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topo := contracts.Topology{Prefix: "airlock", QueueMax: 1000, DuplicateWindow: time.Minute, ResultTTL: time.Hour, HeartbeatTTL: time.Minute}
	if err := topo.Ensure(ctx, n.JS); err != nil {
		t.Fatal(err)
	}
	job := []byte(strings.Repeat("x", 4<<10))
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = n.JS.Publish(ctx, topo.JobSubject(""), job)
	}
	t.Logf("refused: %v", err)
	if !contracts.IsStoreUnavailable(err) || contracts.IsQueueFull(err) || contracts.IsMessageTooLarge(err) {
		t.Fatalf("publish into a used-up store: %v, want only the store-unavailable error", err)
	}
}
