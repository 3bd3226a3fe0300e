package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/internal/testkit"
)

// TestEnqueueReportsALostQueuedEvent: when the job is queued but its queued
// event cannot be stored (here the RESULTS stream is gone), Enqueue says so
// with ErrQueuedEventLost instead of dropping the error, and the job is
// still in the queue.
func TestEnqueueReportsALostQueuedEvent(t *testing.T) {
	n := testkit.StartNATS(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topo := contracts.DefaultTopology()
	if err := topo.Ensure(ctx, n.JS); err != nil {
		t.Fatal(err)
	}
	job := contracts.Job{ID: contracts.NewID(), Tenant: contracts.DefaultTenant, CreatedAt: time.Now().UTC(),
		Request: contracts.ExecutionRequest{Language: "python", Files: []contracts.File{{Name: "main.py", Content: "print(1)"}}}}
	if dup, err := client.Enqueue(ctx, n.JS, topo, job, 0); err != nil || dup {
		t.Fatalf("first job: duplicate %v, err %v", dup, err)
	}
	if err := n.JS.DeleteStream(ctx, contracts.ResultsStream); err != nil {
		t.Fatal(err)
	}
	job.ID = contracts.NewID()
	_, err := client.Enqueue(ctx, n.JS, topo, job, 0)
	if !errors.Is(err, client.ErrQueuedEventLost) {
		t.Fatalf("Enqueue without a RESULTS stream: %v, want ErrQueuedEventLost", err)
	}
	jobs, err := n.JS.Stream(ctx, contracts.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	if got := jobs.CachedInfo().State.Msgs; got != 2 {
		t.Errorf("JOBS holds %d messages, want both jobs", got)
	}
}
