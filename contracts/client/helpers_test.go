package client_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/internal/testkit"
)

// bus is an embedded NATS server with Airlock's topology and a Client on it.
type bus struct {
	n          *testkit.NATS
	topo       contracts.Topology
	c          *client.Client
	executions jetstream.KeyValue
}

// startBus starts a server (its file store in dir; a fresh one when empty),
// creates the topology and connects a Client with opts.
func startBus(t *testing.T, ctx context.Context, dir string, opts client.Options) *bus {
	t.Helper()
	b := &bus{n: testkit.StartNATS(t, dir), topo: contracts.DefaultTopology()}
	if err := b.topo.Ensure(ctx, b.n.JS); err != nil {
		t.Fatal(err)
	}
	var err error
	if b.executions, err = b.n.JS.KeyValue(ctx, contracts.ExecutionsBucket); err != nil {
		t.Fatal(err)
	}
	opts.Topology = b.topo
	if b.c, err = client.New(ctx, b.n.Conn, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.c.Close)
	return b
}

// store writes an execution into the bucket, as the results service does.
func (b *bus) store(t testing.TB, ctx context.Context, exec contracts.Execution) {
	t.Helper()
	data, err := json.Marshal(exec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.executions.Put(ctx, exec.ID, data); err != nil {
		t.Fatalf("store %s: %v", exec.ID, err)
	}
}

// announce writes an executor heartbeat offering python 3.12.
func (b *bus) announce(t *testing.T, ctx context.Context) {
	t.Helper()
	kv, err := b.n.JS.KeyValue(ctx, contracts.ExecutorsBucket)
	if err != nil {
		t.Fatal(err)
	}
	info := contracts.ExecutorInfo{ID: "node-1", Slots: 1, StartedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC(),
		Runtimes: []contracts.Runtime{{Language: "python", Version: "3.12"}}}
	data, _ := json.Marshal(info)
	if _, err := kv.Put(ctx, info.ID, data); err != nil {
		t.Fatal(err)
	}
}

// consumers is the number of consumers on the executions bucket's stream.
func (b *bus) consumers(t testing.TB, _ context.Context) int {
	return b.n.Consumers(t, "KV_"+contracts.ExecutionsBucket)
}

func execution(id, tenant string, status contracts.Status) contracts.Execution {
	exec := contracts.Execution{ID: id, Tenant: tenant, Status: status, Language: "python", Version: "3.12"}
	if status == contracts.StatusCompleted {
		exec.Verdict = contracts.VerdictAccepted
		exec.Run = &contracts.Stage{Stdout: "output of " + id}
	}
	return exec
}
