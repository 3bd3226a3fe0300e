package store_test

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
	"github.com/airlockrun/airlock/services/results/internal/store"
	"github.com/nats-io/nats.go/jetstream"
)

func bucket(t *testing.T) jetstream.KeyValue {
	t.Helper()
	n := testkit.StartNATS(t, "")
	kv, err := n.JS.CreateKeyValue(t.Context(), contracts.DefaultTopology().ExecutionsBucketConfig())
	if err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return kv
}

func load(t *testing.T, kv jetstream.KeyValue, id string) contracts.Execution {
	t.Helper()
	e, err := kv.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	var ex contracts.Execution
	if err := json.Unmarshal(e.Value(), &ex); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return ex
}

func TestApplySequence(t *testing.T) {
	kv := bucket(t)
	id := contracts.NewID()
	steps := []struct {
		status  contracts.Status
		message string
		want    store.Outcome
	}{
		{contracts.StatusRunning, "r1", store.Created},
		{contracts.StatusQueued, "q", store.Skipped},
		{contracts.StatusRunning, "r2", store.Skipped},
		{contracts.StatusCompleted, "c1", store.Updated},
		{contracts.StatusCompleted, "c2", store.Skipped},
		{contracts.StatusRunning, "r3", store.Skipped},
	}
	for _, s := range steps {
		got, err := store.Apply(t.Context(), kv, &contracts.Execution{ID: id, Status: s.status, Message: s.message})
		if err != nil {
			t.Fatalf("apply %s: %v", s.message, err)
		}
		if got != s.want {
			t.Errorf("apply %s: outcome %v, want %v", s.message, got, s.want)
		}
	}
	if ex := load(t, kv, id); ex.Status != contracts.StatusCompleted || ex.Message != "c1" {
		t.Errorf("stored %q %q, want completed c1", ex.Status, ex.Message)
	}
}

func TestApplyAfterDelete(t *testing.T) {
	kv := bucket(t)
	id := contracts.NewID()
	if _, err := store.Apply(t.Context(), kv, &contracts.Execution{ID: id, Status: contracts.StatusQueued}); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	got, err := store.Apply(t.Context(), kv, &contracts.Execution{ID: id, Status: contracts.StatusRunning})
	if err != nil || got != store.Created {
		t.Fatalf("apply after delete: %v %v, want created", got, err)
	}
}

// TestApplyConcurrent races writers of every status on the same keys: each
// key must end completed, with exactly one completed write winning.
func TestApplyConcurrent(t *testing.T) {
	kv := bucket(t)
	ids := []string{contracts.NewID(), contracts.NewID(), contracts.NewID()}
	statuses := []contracts.Status{contracts.StatusQueued, contracts.StatusRunning, contracts.StatusCompleted}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins = map[string]int{}
	)
	for _, id := range ids {
		for w := range 8 {
			for _, st := range statuses {
				wg.Go(func() {
					ex := &contracts.Execution{ID: id, Status: st, Attempt: w}
					got, err := store.Apply(t.Context(), kv, ex)
					if err != nil {
						t.Errorf("apply: %v", err)
						return
					}
					if st == contracts.StatusCompleted && got != store.Skipped {
						mu.Lock()
						wins[id]++
						mu.Unlock()
					}
				})
			}
		}
	}
	wg.Wait()
	for _, id := range ids {
		if ex := load(t, kv, id); ex.Status != contracts.StatusCompleted {
			t.Errorf("%s ended %q, want completed", id, ex.Status)
		}
		if wins[id] != 1 {
			t.Errorf("%s: %d completed writes succeeded, want 1", id, wins[id])
		}
	}
}

// TestApplyCallbackStatus: the outcome of a callback, on a later completed
// event, is added to the stored completed state (which otherwise stays), a
// repeated completed event without one does not remove it, and a failure
// never replaces a delivery.
func TestApplyCallbackStatus(t *testing.T) {
	kv := bucket(t)
	id := contracts.NewID()
	steps := []struct {
		ev   contracts.Execution
		want store.Outcome
	}{
		{contracts.Execution{ID: id, Status: contracts.StatusCompleted, Message: "c1"}, store.Created},
		{contracts.Execution{ID: id, Status: contracts.StatusCompleted, Message: "c2", CallbackStatus: contracts.CallbackFailed, CallbackError: "http_503"}, store.Updated},
		{contracts.Execution{ID: id, Status: contracts.StatusCompleted, Message: "c3"}, store.Skipped},
		{contracts.Execution{ID: id, Status: contracts.StatusRunning, CallbackStatus: contracts.CallbackDelivered}, store.Skipped},
		{contracts.Execution{ID: id, Status: contracts.StatusCompleted, CallbackStatus: contracts.CallbackFailed, CallbackError: "timeout"}, store.Skipped},
	}
	for i, s := range steps {
		got, err := store.Apply(t.Context(), kv, &s.ev)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got != s.want {
			t.Errorf("step %d: outcome %v, want %v", i, got, s.want)
		}
	}
	if ex := load(t, kv, id); ex.Message != "c1" || ex.CallbackStatus != contracts.CallbackFailed || ex.CallbackError != "http_503" {
		t.Errorf("stored %q %q %q, want c1 failed http_503", ex.Message, ex.CallbackStatus, ex.CallbackError)
	}
	ev := contracts.Execution{ID: id, Status: contracts.StatusCompleted, CallbackStatus: contracts.CallbackDelivered}
	if got, err := store.Apply(t.Context(), kv, &ev); err != nil || got != store.Updated {
		t.Fatalf("delivered after failed: %v %v, want updated", got, err)
	}
	ev.CallbackStatus, ev.CallbackError = contracts.CallbackFailed, "connection"
	if got, err := store.Apply(t.Context(), kv, &ev); err != nil || got != store.Skipped {
		t.Fatalf("failed after delivered: %v %v, want skipped", got, err)
	}
	if ex := load(t, kv, id); ex.Message != "c1" || ex.CallbackStatus != contracts.CallbackDelivered || ex.CallbackError != "" {
		t.Errorf("stored %q %q %q, want c1 delivered without an error", ex.Message, ex.CallbackStatus, ex.CallbackError)
	}
}
