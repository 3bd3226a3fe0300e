package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
)

// WaitOptions are the optional parts of a wait.
type WaitOptions struct {
	// MustExist ends the wait at once with ErrNotFound when nobody knows the
	// id (a read of an id), instead of waiting for it to appear (a wait
	// right after Submit, whose queued event may still be on its way).
	MustExist bool
}

// Get returns the current state of an execution: from the executions
// bucket, or from the RESULTS stream before the results service has stored
// it. An id nobody knows, or another tenant's, is ErrNotFound; a failed read
// is ErrUnavailable.
func (c *Client) Get(ctx context.Context, id string) (contracts.Execution, error) {
	if err := c.checkTenant(); err != nil {
		return contracts.Execution{}, err
	}
	if !contracts.ValidID(id) {
		return contracts.Execution{}, ErrNotFound
	}
	exec, ok, err := c.read(ctx, id)
	switch {
	case err != nil:
		return contracts.Execution{}, err
	case !ok:
		return contracts.Execution{}, ErrNotFound
	}
	return exec, nil
}

// read is Get without the checks: ok is false for an id nobody knows (or
// another tenant's).
func (c *Client) read(ctx context.Context, id string) (exec contracts.Execution, ok bool, err error) {
	exec, ok, err = c.load(ctx, id)
	if err != nil || !ok || !exec.VisibleTo(c.tenant) {
		return contracts.Execution{}, false, err
	}
	return exec, true, nil
}

// load reads the current state of an execution, whatever its tenant: from
// the executions bucket, or from the RESULTS stream before the results
// service has stored it. ok is false for an id nobody knows.
func (s *shared) load(ctx context.Context, id string) (exec contracts.Execution, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
	defer cancel()
	entry, err := s.executions.Get(ctx, id)
	switch {
	case err == nil:
		if exec, ok := s.decode(id, entry.Value()); ok {
			return exec, true, nil
		}
	case !errors.Is(err, jetstream.ErrKeyNotFound):
		return exec, false, fmt.Errorf("%w: read execution %s: %w", ErrUnavailable, id, err)
	}
	msg, err := s.results.GetLastMsgForSubject(ctx, s.opts.Topology.EventSubject(id))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return exec, false, nil
	case err != nil:
		return exec, false, fmt.Errorf("%w: read the events of %s: %w", ErrUnavailable, id, err)
	}
	if !s.sealer.Sealed(s.opts.Topology, msg.Subject, msg.Header, id) {
		// Not published by the job's gateway or executor: ignored, as the
		// results service ignores it.
		s.log.Warn("ignoring an event without its job's result token", "id", id)
		return exec, false, nil
	}
	exec, ok = s.decode(id, msg.Data)
	return exec, ok && exec.ID == id, nil
}

// decode decodes a stored execution; an unreadable one is logged and
// treated as absent.
func (s *shared) decode(id string, data []byte) (contracts.Execution, bool) {
	var exec contracts.Execution
	if err := json.Unmarshal(data, &exec); err != nil {
		s.log.Warn("ignoring unreadable execution", "id", id, "err", err)
		return contracts.Execution{}, false
	}
	if exec.ID == "" {
		exec.ID = id
	}
	return exec, true
}

// Wait blocks until the execution completes and returns it. When ctx ends
// first, it returns the latest state known (the zero Execution when none)
// with ctx's error. With opts.MustExist an id nobody knows is ErrNotFound at
// once. Another tenant's execution is never returned: for this tenant it
// does not exist.
//
// All the waits of a Client and its tenant views share one subscription
// (see hub.go): a wait costs one read, not a consumer on the server. Beyond
// Options.MaxWaiters waits in all, or Options.MaxWaitersPerTenant for one
// tenant, Wait answers ErrTooManyWaiters at once. After Close it answers
// ErrClosed.
func (c *Client) Wait(ctx context.Context, id string, opts WaitOptions) (contracts.Execution, error) {
	if err := c.checkTenant(); err != nil {
		return contracts.Execution{}, err
	}
	if !contracts.ValidID(id) {
		return contracts.Execution{}, ErrNotFound
	}
	// Register first, then read: a write stored between the two reaches
	// the waiter through the subscription, so nothing falls in the gap.
	w, err := c.hub.add(id, c.tenant)
	if err != nil {
		return contracts.Execution{}, err
	}
	defer c.hub.remove(w)
	exec, found, err := c.read(ctx, id)
	switch {
	case err != nil && ctx.Err() != nil:
		return c.ended(ctx, w, ctx.Err())
	case err != nil:
		return contracts.Execution{}, err
	case found:
		w.offer(exec)
	case opts.MustExist:
		if latest, _ := w.state(); latest == nil {
			return contracts.Execution{}, ErrNotFound
		}
	}
	if c.afterRead != nil {
		c.afterRead(id)
	}
	for {
		if latest, done := w.state(); done {
			return *latest, nil
		}
		if c.hub.isClosed() {
			return c.ended(ctx, w, ErrClosed)
		}
		select {
		case <-w.wake:
		case <-ctx.Done():
			return c.ended(ctx, w, ctx.Err())
		}
	}
}

// ended answers a wait that ends before the execution completed: the latest
// state seen or, when none was, whatever a last read finds (at least the
// queued event may have arrived meanwhile).
func (c *Client) ended(ctx context.Context, w *waiter, cause error) (contracts.Execution, error) {
	if latest, _ := w.state(); latest != nil {
		return *latest, cause
	}
	exec, _, err := c.read(context.WithoutCancel(ctx), w.id)
	if err != nil {
		return contracts.Execution{}, cause
	}
	return exec, cause
}
