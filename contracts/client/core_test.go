package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
)

func newBus(t *testing.T, ctx context.Context) *bus {
	return startBus(t, ctx, "", client.Options{ExecutorCacheTTL: -1})
}

// beat stores an executor heartbeat serving python 3.9 and 3.12 (in that
// order: the client must sort).
func (b *bus) beat(t *testing.T, ctx context.Context, problem string) {
	t.Helper()
	lim := contracts.LimitSet{CPUTimeMS: 1000, WallTimeMS: 2000, MemoryMB: 256, Processes: 64, OutputBytes: 1 << 16,
		CompileCPUTimeMS: 1000, CompileWallTimeMS: 2000, CompileMemoryMB: 256}
	rt := func(v string) contracts.Runtime {
		return contracts.Runtime{Language: "python", Version: v, EntryFile: "main.py", Defaults: lim, Maximums: lim}
	}
	info := contracts.ExecutorInfo{ID: "node-1", Slots: 1, Problem: problem, Runtimes: []contracts.Runtime{rt("3.9.2"), rt("3.12.1")}}
	data, _ := json.Marshal(info)
	kv, err := b.n.JS.KeyValue(ctx, contracts.ExecutorsBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "node-1", data); err != nil {
		t.Fatal(err)
	}
}

func hello() *contracts.ExecutionRequest {
	return &contracts.ExecutionRequest{Language: "Python", Files: []contracts.File{{Name: "main.py", Content: "print(1)"}}}
}

// TestSubmitRules: no executor is ErrNoExecutor; a request without a
// version takes the newest (the version rule, whatever order the heartbeat
// lists them in); an executor with a problem still counts; a broken rule is
// a ValidationError; a front door's own check runs last.
func TestSubmitRules(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := newBus(t, ctx)
	if _, err := b.c.Submit(ctx, hello(), client.SubmitOptions{}); !errors.Is(err, client.ErrNoExecutor) {
		t.Fatalf("no executor: %v", err)
	}
	b.beat(t, ctx, "docker engine restarting")
	sub, err := b.c.Submit(ctx, hello(), client.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sub.Runtime.Version != "3.12.1" || sub.Duplicate {
		t.Errorf("resolved %+v, want python 3.12.1, not a duplicate", sub)
	}
	live, err := b.c.LiveRuntimes(ctx)
	if err != nil || len(live) != 0 {
		t.Errorf("live runtimes of an executor with a problem: %v %v", live, err)
	}
	bad := hello()
	bad.Files[0].Name = "../main.py"
	var ve *contracts.ValidationError
	if _, err := b.c.Submit(ctx, bad, client.SubmitOptions{}); !errors.As(err, &ve) {
		t.Errorf("bad file name: %v", err)
	}
	refuse := func(*contracts.ExecutionRequest) *contracts.ValidationError {
		return &contracts.ValidationError{Code: contracts.CodeInvalidRequest, Field: "callback_url", Message: "no"}
	}
	if _, err := b.c.Submit(ctx, hello(), client.SubmitOptions{Check: refuse}); !errors.As(err, &ve) || ve.Field != "callback_url" {
		t.Errorf("the front door's check: %v", err)
	}
	key := client.SubmitOptions{IdempotencyKey: "k-1"}
	first, err := b.c.Submit(ctx, hello(), key)
	if err != nil {
		t.Fatal(err)
	}
	if first.ID != contracts.IDFromKey(contracts.DefaultTenant, "k-1") {
		t.Errorf("keyed id %s", first.ID)
	}
	if _, err := b.c.Submit(ctx, hello(), client.SubmitOptions{IdempotencyKey: "bad\x01key"}); !errors.As(err, &ve) || ve.Field != "idempotency_key" {
		t.Errorf("unprintable key: %v", err)
	}
}

// TestTenantRule: an execution stored without a tenant is the default
// tenant's, and nobody else's; another tenant's execution is not found.
func TestTenantRule(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := newBus(t, ctx)
	anon := contracts.Execution{ID: contracts.NewID(), Status: contracts.StatusCompleted, Verdict: contracts.VerdictAccepted}
	theirs := contracts.Execution{ID: contracts.NewID(), Tenant: "beta", Status: contracts.StatusRunning}
	b.store(t, ctx, anon)
	b.store(t, ctx, theirs)
	if got, err := b.c.Get(ctx, anon.ID); err != nil || got.ID != anon.ID {
		t.Errorf("default tenant reads its own: %v %v", got, err)
	}
	if _, err := b.c.As("acme").Get(ctx, anon.ID); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("acme reads the default tenant's: %v", err)
	}
	if _, err := b.c.Get(ctx, theirs.ID); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("default reads beta's: %v", err)
	}
	short, stop := context.WithTimeout(ctx, 200*time.Millisecond)
	defer stop()
	if _, err := b.c.Wait(short, theirs.ID, client.WaitOptions{MustExist: true}); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("default waits on beta's: %v", err)
	}
	if got, err := b.c.As("beta").Get(ctx, theirs.ID); err != nil || got.Status != contracts.StatusRunning {
		t.Errorf("beta reads its own: %v %v", got, err)
	}
}

// TestWaitFollowsToTheEnd: a wait sees the states stored after it began
// and returns the terminal one; a wait that times out returns the latest
// state with the context's error.
func TestWaitFollowsToTheEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := newBus(t, ctx)
	exec := contracts.Execution{ID: contracts.NewID(), Tenant: contracts.DefaultTenant, Status: contracts.StatusRunning}
	b.store(t, ctx, exec)
	short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	defer stop()
	got, err := b.c.Wait(short, exec.ID, client.WaitOptions{})
	if !errors.Is(err, context.DeadlineExceeded) || got.Status != contracts.StatusRunning {
		t.Errorf("timed out wait: %v %v", got.Status, err)
	}
	done := make(chan contracts.Execution, 1)
	go func() {
		got, err := b.c.Wait(ctx, exec.ID, client.WaitOptions{MustExist: true})
		if err != nil {
			t.Errorf("wait: %v", err)
		}
		done <- got
	}()
	time.Sleep(100 * time.Millisecond)
	exec.Status, exec.Verdict = contracts.StatusCompleted, contracts.VerdictAccepted
	b.store(t, ctx, exec)
	if got := <-done; got.Status != contracts.StatusCompleted || got.Verdict != contracts.VerdictAccepted {
		t.Errorf("wait ended with %+v", got)
	}
}
