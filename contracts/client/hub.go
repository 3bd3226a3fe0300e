package client

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/airlockrun/airlock/contracts"
)

// The hub is how every Wait of a Client (of all its tenant views) learns of
// an execution's new states: one plain NATS subscription to the writes of
// the executions bucket ($KV.executions.>), which is no consumer on the
// server, and a map from execution id to its waiters, to which each write is
// handed. A wait costs one read of the current state, not a watcher.
//
// The subscription sees every write the results service publishes to the
// bucket, including a compare-and-set write the bucket then refuses because
// another write came first; each is a state the results service derived
// from a real event (only it may publish there: the server enforces it), and
// a waiter keeps the state of highest rank, so such a write at most ends a
// wait a moment before the same state is stored.
//
// A write can be missed: the connection was down (reconnect), the
// subscription fell behind and NATS dropped messages (slow consumer), or, in
// a cluster, the interest had not reached the server of the writer yet. The
// hub then reads the current state of every waited id again (see resync);
// it also does so every ResyncInterval, for what it cannot see.

// Defaults of the waiting Options.
const (
	DefaultMaxWaiters          = 20000
	DefaultMaxWaitersPerTenant = 5000
	DefaultResyncInterval      = 30 * time.Second
)

// hubCheckInterval is how often the hub looks for a reconnect or dropped
// messages (nats.go reports both only to the connection's own handlers,
// which belong to whoever made the connection).
const hubCheckInterval = time.Second

// resyncParallel bounds the reads of one resync.
const resyncParallel = 16

// waiter is one Wait: the best state seen so far and a bell.
type waiter struct {
	id, tenant string
	wake       chan struct{} // buffered 1: a ring while nobody listens is kept

	mu     sync.Mutex
	latest *contracts.Execution
}

// offer keeps exec if it ranks at least as high as the state held, and rings.
func (w *waiter) offer(exec contracts.Execution) {
	if !exec.VisibleTo(w.tenant) {
		return
	}
	w.mu.Lock()
	if w.latest == nil || exec.Status.Rank() >= w.latest.Status.Rank() {
		w.latest = &exec
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// state is the best state seen (nil when none) and whether it is terminal.
func (w *waiter) state() (*contracts.Execution, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.latest, w.latest != nil && w.latest.Terminal()
}

// hub is the shared watch of a Client (see the comment at the top).
type hub struct {
	nc       *nats.Conn
	prefix   string // "$KV.executions."
	load     func(ctx context.Context, id string) (contracts.Execution, bool, error)
	maxTotal int
	maxTen   int
	every    time.Duration
	timeout  time.Duration
	log      *slog.Logger

	mu        sync.Mutex
	sub       *nats.Subscription
	closed    bool
	stop      chan struct{}
	waiters   map[string]map[*waiter]struct{}
	total     int
	perTenant map[string]int
}

func newHub(s *shared) *hub {
	return &hub{
		nc: s.nc, prefix: "$KV." + contracts.ExecutionsBucket + ".", load: s.load,
		maxTotal: s.opts.MaxWaiters, maxTen: s.opts.MaxWaitersPerTenant, every: s.opts.ResyncInterval, timeout: s.opts.CallTimeout, log: s.log,
		stop: make(chan struct{}), waiters: map[string]map[*waiter]struct{}{}, perTenant: map[string]int{},
	}
}

// add registers a waiter for id, starting the subscription on first use. On
// return the subscription is known to the server: every write to id stored
// from now on reaches the waiter.
func (h *hub) add(id, tenant string) (*waiter, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return nil, ErrClosed
	case h.maxTotal > 0 && h.total >= h.maxTotal:
		return nil, fmt.Errorf("%w: %d in all", ErrTooManyWaiters, h.total)
	case h.maxTen > 0 && h.perTenant[tenant] >= h.maxTen:
		return nil, fmt.Errorf("%w: %d for tenant %s", ErrTooManyWaiters, h.perTenant[tenant], tenant)
	}
	if h.sub == nil {
		if err := h.subscribe(); err != nil {
			return nil, err
		}
	}
	w := &waiter{id: id, tenant: tenant, wake: make(chan struct{}, 1)}
	set := h.waiters[id]
	if set == nil {
		set = map[*waiter]struct{}{}
		h.waiters[id] = set
	}
	set[w] = struct{}{}
	h.total++
	h.perTenant[tenant]++
	return w, nil
}

// subscribe starts the subscription and the goroutine that watches over it.
// h.mu is held.
func (h *hub) subscribe() error {
	sub, err := h.nc.Subscribe(h.prefix+">", h.deliver)
	if err != nil {
		return fmt.Errorf("%w: subscribe to %s>: %w", ErrUnavailable, h.prefix, err)
	}
	// The server handles a connection's messages in order, so the read
	// that follows the SUB on this connection comes after the interest:
	// a write stored after that read is delivered. The round trip only
	// makes sure the server has it; when it fails (a reconnect), the
	// subscription is renewed with the connection and the guard resyncs.
	if err := h.nc.FlushTimeout(h.timeout); err != nil {
		h.log.Warn("subscription to the executions' writes not confirmed", "err", err)
	}
	h.sub = sub
	go h.guard(sub)
	return nil
}

// remove unregisters w.
func (h *hub) remove(w *waiter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.waiters[w.id]
	if _, ok := set[w]; !ok {
		return
	}
	delete(set, w)
	if len(set) == 0 {
		delete(h.waiters, w.id)
	}
	h.total--
	if h.perTenant[w.tenant]--; h.perTenant[w.tenant] == 0 {
		delete(h.perTenant, w.tenant)
	}
}

// of returns the waiters of id.
func (h *hub) of(id string) []*waiter {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.waiters[id]
	out := make([]*waiter, 0, len(set))
	for w := range set {
		out = append(out, w)
	}
	return out
}

// count is the number of waiters.
func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total
}

// deliver hands one write of the bucket to the waiters of its key. It runs
// on the subscription's goroutine and decodes only what someone waits for.
func (h *hub) deliver(m *nats.Msg) {
	id := strings.TrimPrefix(m.Subject, h.prefix)
	if !contracts.ValidID(id) {
		return
	}
	if op := m.Header.Get("KV-Operation"); op != "" { // a delete or purge
		return
	}
	ws := h.of(id)
	if len(ws) == 0 {
		return
	}
	var exec contracts.Execution
	if err := json.Unmarshal(m.Data, &exec); err != nil {
		h.log.Warn("ignoring unreadable execution", "id", id, "err", err)
		return
	}
	if exec.ID == "" {
		exec.ID = id
	}
	for _, w := range ws {
		w.offer(exec)
	}
}

// guard resyncs the waiters when a write may have been missed: after a
// reconnect, after NATS dropped messages of the subscription, and every
// h.every. It ends when the hub is closed or the connection is.
func (h *hub) guard(sub *nats.Subscription) {
	tick := time.NewTicker(hubCheckInterval)
	defer tick.Stop()
	reconnects := h.nc.Stats().Reconnects
	dropped, _ := sub.Dropped()
	last := time.Now()
	for {
		select {
		case <-h.stop:
			return
		case <-tick.C:
		}
		if h.nc.IsClosed() {
			h.close()
			return
		}
		// A trigger is kept until the connection is up to act on it.
		r := h.nc.Stats().Reconnects
		d, _ := sub.Dropped()
		var why string
		switch {
		case r != reconnects:
			why = "reconnected"
		case d != dropped:
			why = "messages dropped (slow consumer)"
		case h.every > 0 && time.Since(last) >= h.every:
			why = "periodic"
		}
		if why == "" || !h.nc.IsConnected() {
			continue
		}
		reconnects, dropped = r, d
		if why != "periodic" {
			h.log.Warn("waiters re-read their executions: updates may have been missed", "why", why)
		}
		h.resync()
		last = time.Now()
	}
}

// resync reads the current state of every waited id and hands it to its
// waiters.
func (h *hub) resync() {
	h.mu.Lock()
	ids := make([]string, 0, len(h.waiters))
	for id := range h.waiters {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-h.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	work := make(chan string)
	var wg sync.WaitGroup
	for range min(resyncParallel, len(ids)) {
		wg.Go(func() {
			for id := range work {
				exec, ok, err := h.load(ctx, id)
				if err != nil || !ok {
					continue
				}
				for _, w := range h.of(id) {
					w.offer(exec)
				}
			}
		})
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		work <- id
	}
	close(work)
	wg.Wait()
}

// close stops the subscription and wakes every waiter (they end with
// ErrClosed). It is idempotent.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	close(h.stop)
	if h.sub != nil {
		_ = h.sub.Unsubscribe()
	}
	for _, set := range h.waiters {
		for w := range set {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
}

// isClosed reports whether close ran.
func (h *hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}
