package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/internal/testkit"
)

// TestTenThousandWaitersNoConsumer holds 10,000 concurrent waits on one
// Client (four tenant views of it, 2,500 each) and prints the number of
// consumers on the executions bucket's stream before, while all of them are
// registered, and after: it stays the same (a watcher per wait would add
// 10,000). Then it completes every execution as the results service would,
// and each waiter must get its own.
func TestTenThousandWaitersNoConsumer(t *testing.T) {
	const waiters, tenants = 10000, 4
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	b := startBus(t, ctx, "", client.Options{})
	ids := make([]string, waiters)
	tenantOf := func(i int) string { return fmt.Sprintf("tenant-%d", i%tenants) }
	for i := range ids {
		ids[i] = contracts.NewID()
	}
	parallel(waiters, func(i int) { b.store(t, ctx, execution(ids[i], tenantOf(i), contracts.StatusQueued)) })

	before := b.consumers(t, ctx)
	t.Logf("consumers on KV_%s before: %d", contracts.ExecutionsBucket, before)

	type answer struct {
		exec contracts.Execution
		err  error
	}
	answers := make([]answer, waiters)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			exec, err := b.c.As(tenantOf(i)).Wait(ctx, ids[i], client.WaitOptions{MustExist: true})
			answers[i] = answer{exec, err}
		})
	}
	if !testkit.Eventually(testkit.Patience, func() bool { return b.c.Waiting() == waiters }) {
		t.Fatalf("%d waits registered, want %d", b.c.Waiting(), waiters)
	}
	during := b.consumers(t, ctx)
	t.Logf("consumers on KV_%s during (%d waits registered): %d; server subscriptions: %d",
		contracts.ExecutionsBucket, b.c.Waiting(), during, b.n.Server.NumSubscriptions())

	parallel(waiters, func(i int) { b.store(t, ctx, execution(ids[i], tenantOf(i), contracts.StatusCompleted)) })
	wg.Wait()
	after := b.consumers(t, ctx)
	t.Logf("consumers on KV_%s after: %d", contracts.ExecutionsBucket, after)
	if during != before || after != before {
		t.Errorf("consumers before %d, during %d, after %d: want them constant", before, during, after)
	}
	for i, a := range answers {
		if a.err != nil || a.exec.ID != ids[i] || !a.exec.Terminal() || a.exec.Tenant != tenantOf(i) ||
			a.exec.Run == nil || a.exec.Run.Stdout != "output of "+ids[i] {
			t.Fatalf("waiter %d (%s) got %+v, %v", i, ids[i], a.exec, a.err)
		}
	}
	if n := b.c.Waiting(); n != 0 {
		t.Errorf("%d waits still registered", n)
	}
}

// parallel runs f(0..n-1) on a few goroutines.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// TestWaitCaps: beyond MaxWaitersPerTenant for a tenant, or MaxWaiters in
// all, Wait answers ErrTooManyWaiters at once; a wait that ends frees its
// place.
func TestWaitCaps(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	b := startBus(t, ctx, "", client.Options{MaxWaiters: 2, MaxWaitersPerTenant: 1})
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	hold := func(tenant string) {
		wg.Go(func() { _, _ = b.c.As(tenant).Wait(wctx, contracts.NewID(), client.WaitOptions{}) })
	}
	hold("acme")
	if !testkit.Eventually(testkit.Patience, func() bool { return b.c.Waiting() == 1 }) {
		t.Fatal("the first wait did not register")
	}
	if _, err := b.c.As("acme").Wait(ctx, contracts.NewID(), client.WaitOptions{}); !errors.Is(err, client.ErrTooManyWaiters) {
		t.Fatalf("acme's second wait: %v, want ErrTooManyWaiters", err)
	}
	hold("beta")
	if !testkit.Eventually(testkit.Patience, func() bool { return b.c.Waiting() == 2 }) {
		t.Fatal("beta's wait did not register")
	}
	if _, err := b.c.As("gamma").Wait(ctx, contracts.NewID(), client.WaitOptions{}); !errors.Is(err, client.ErrTooManyWaiters) {
		t.Fatalf("a third wait in all: %v, want ErrTooManyWaiters", err)
	}
	stop()
	wg.Wait()
	if n := b.c.Waiting(); n != 0 {
		t.Fatalf("%d waits registered after they ended", n)
	}
	id := contracts.NewID()
	b.store(t, ctx, execution(id, "acme", contracts.StatusCompleted))
	if exec, err := b.c.As("acme").Wait(ctx, id, client.WaitOptions{}); err != nil || exec.ID != id {
		t.Fatalf("a wait after the others ended: %+v, %v", exec, err)
	}
}

// TestWaitEndsWithItsContext: a wait whose context ends returns the latest
// state it knows with the context's error.
func TestWaitEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	b := startBus(t, ctx, "", client.Options{})
	id := contracts.NewID()
	b.store(t, ctx, execution(id, contracts.DefaultTenant, contracts.StatusRunning))
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	var got contracts.Execution
	go func() {
		var err error
		got, err = b.c.Wait(wctx, id, client.WaitOptions{})
		done <- err
	}()
	if !testkit.Eventually(testkit.Patience, func() bool { return b.c.Waiting() == 1 }) {
		t.Fatal("the wait did not register")
	}
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) || got.ID != id || got.Status != contracts.StatusRunning {
		t.Fatalf("wait after its context ended: %+v, %v; want the running state and context.Canceled", got, err)
	}
}

// TestWaitMustExist: with MustExist an id nobody knows, or another
// tenant's, is ErrNotFound at once.
func TestWaitMustExist(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	b := startBus(t, ctx, "", client.Options{})
	if _, err := b.c.Wait(ctx, contracts.NewID(), client.WaitOptions{MustExist: true}); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("unknown id: %v, want ErrNotFound", err)
	}
	id := contracts.NewID()
	b.store(t, ctx, execution(id, "beta", contracts.StatusQueued))
	if _, err := b.c.As("acme").Wait(ctx, id, client.WaitOptions{MustExist: true}); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("another tenant's id: %v, want ErrNotFound", err)
	}
	if n := b.c.Waiting(); n != 0 {
		t.Errorf("%d waits registered after they ended", n)
	}
}

// TestWaitNeverDeliversAnotherTenant: acme and beta wait on the same id,
// which is beta's; its completion ends beta's wait only. The subscription
// hands writes over in order, so once acme's wait on a later write has
// ended, the earlier one was handed to every waiter.
func TestWaitNeverDeliversAnotherTenant(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	b := startBus(t, ctx, "", client.Options{})
	id, marker := contracts.NewID(), contracts.NewID()
	acmeCtx, stopAcme := context.WithCancel(ctx)
	type answer struct {
		exec contracts.Execution
		err  error
	}
	acme, beta, mark := make(chan answer, 1), make(chan answer, 1), make(chan answer, 1)
	wait := func(ctx context.Context, tenant, id string, to chan answer) {
		go func() {
			exec, err := b.c.As(tenant).Wait(ctx, id, client.WaitOptions{})
			to <- answer{exec, err}
		}()
	}
	wait(acmeCtx, "acme", id, acme)
	wait(ctx, "beta", id, beta)
	wait(ctx, "acme", marker, mark)
	if !testkit.Eventually(testkit.Patience, func() bool { return b.c.Waiting() == 3 }) {
		t.Fatal("the waits did not register")
	}
	b.store(t, ctx, execution(id, "beta", contracts.StatusCompleted))
	b.store(t, ctx, execution(marker, "acme", contracts.StatusCompleted))
	if a := <-beta; a.err != nil || a.exec.ID != id {
		t.Fatalf("beta's wait: %+v, %v", a.exec, a.err)
	}
	if a := <-mark; a.err != nil || a.exec.ID != marker {
		t.Fatalf("acme's wait on its own execution: %+v, %v", a.exec, a.err)
	}
	stopAcme()
	if a := <-acme; !errors.Is(a.err, context.Canceled) || a.exec.ID != "" {
		t.Fatalf("acme's wait on beta's execution returned %+v, %v; want nothing and context.Canceled", a.exec, a.err)
	}
}

// TestCloseEndsWaits: Close ends the waits in progress with ErrClosed and
// refuses new ones; it may be called twice.
func TestCloseEndsWaits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	b := startBus(t, ctx, "", client.Options{})
	done := make(chan error, 1)
	go func() {
		_, err := b.c.Wait(ctx, contracts.NewID(), client.WaitOptions{})
		done <- err
	}()
	if !testkit.Eventually(testkit.Patience, func() bool { return b.c.Waiting() == 1 }) {
		t.Fatal("the wait did not register")
	}
	b.c.Close()
	b.c.Close()
	if err := <-done; !errors.Is(err, client.ErrClosed) {
		t.Fatalf("wait across Close: %v, want ErrClosed", err)
	}
	if _, err := b.c.Wait(ctx, contracts.NewID(), client.WaitOptions{}); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("wait after Close: %v, want ErrClosed", err)
	}
}
