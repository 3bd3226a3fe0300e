package executor

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
)

// TestLastIgnoresForeignEvents: the executor reads a job's last event to
// count attempts and to skip a job whose result is stored; an event without
// the job's result token (another executor forging one) counts as none, so
// a forged "completed" cannot make a real job be acked without running.
func TestLastIgnoresForeignEvents(t *testing.T) {
	n := testkit.StartNATS(t, "")
	ctx := context.Background()
	topo := contracts.DefaultTopology()
	if err := topo.Ensure(ctx, n.JS); err != nil {
		t.Fatal(err)
	}
	bus, err := newNATSBus(ctx, n.JS, topo, n.Conn.MaxPayload())
	if err != nil {
		t.Fatal(err)
	}
	id, token := contracts.NewID(), "the-jobs-token"
	publish := func(status contracts.Status, tok string) {
		t.Helper()
		data, _ := json.Marshal(contracts.Execution{ID: id, Status: status, Attempt: 1})
		if _, err := n.JS.PublishMsg(ctx, topo.EventMsg(id, tok, data)); err != nil {
			t.Fatal(err)
		}
	}
	publish(contracts.StatusRunning, token)
	if ev, err := bus.Last(ctx, id, token); err != nil || ev == nil || ev.Exec.Status != contracts.StatusRunning {
		t.Fatalf("the job's own event: %+v %v", ev, err)
	}
	for _, forged := range []string{"", "another-token"} {
		publish(contracts.StatusCompleted, forged)
		if ev, err := bus.Last(ctx, id, token); err != nil || ev != nil {
			t.Errorf("a completed event with token %q was taken as the job's: %+v %v", forged, ev, err)
		}
	}
}
