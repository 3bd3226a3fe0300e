package executor

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
)

// TestTermIsConfirmed: the Term of a delivery waits for the server's answer,
// and the terminated job leaves the work queue at once; a second Term of the
// same delivery is answered too (a retry after a lost answer is harmless).
func TestTermIsConfirmed(t *testing.T) {
	n := testkit.StartNATS(t, "")
	ctx := context.Background()
	topo := contracts.DefaultTopology()
	if err := topo.Ensure(ctx, n.JS); err != nil {
		t.Fatal(err)
	}
	cons, err := contracts.EnsureConsumer(ctx, n.JS, contracts.JobsStream, topo.WithConsumer(16, time.Minute, 3).ExecutorConsumerConfig())
	if err != nil {
		t.Fatal(err)
	}
	_, data := newJob(t)
	if _, err := n.JS.Publish(ctx, topo.JobSubject("acme"), data); err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var d Delivery
	for m := range batch.Messages() {
		d = natsDelivery{msg: m, nc: n.Conn}
	}
	if d == nil {
		t.Fatal("no job fetched")
	}
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := d.Term(tctx, "the job failed on all 3 attempts"); err != nil {
		t.Fatalf("term: %v", err)
	}
	if err := d.Term(tctx, "again"); err != nil {
		t.Errorf("second term: %v", err)
	}
	jobs, err := n.JS.Stream(ctx, contracts.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := jobs.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Errorf("JOBS holds %d messages after the confirmed Term, want 0", info.State.Msgs)
	}
}
