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
	ctx, cancel := c.call(ctx)
	defer cancel()
	entry, err := c.executions.Get(ctx, id)
	switch {
	case err == nil:
		if exec, ok := c.decode(id, entry.Value()); ok {
			return exec, true, nil
		}
	case !errors.Is(err, jetstream.ErrKeyNotFound):
		return exec, false, fmt.Errorf("%w: read execution %s: %w", ErrUnavailable, id, err)
	}
	msg, err := c.results.GetLastMsgForSubject(ctx, c.opts.Topology.EventSubject(id))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return exec, false, nil
	case err != nil:
		return exec, false, fmt.Errorf("%w: read the events of %s: %w", ErrUnavailable, id, err)
	}
	if !c.sealer.Sealed(c.opts.Topology, msg.Subject, msg.Header, id) {
		// Not published by the job's gateway or executor: ignored, as the
		// results service ignores it.
		c.log.Warn("ignoring an event without its job's result token", "id", id)
		return exec, false, nil
	}
	exec, ok = c.decode(id, msg.Data)
	return exec, ok && exec.ID == id, nil
}

// decode decodes a stored execution and applies the tenant rule; an
// unreadable one is logged and treated as absent.
func (c *Client) decode(id string, data []byte) (contracts.Execution, bool) {
	var exec contracts.Execution
	if err := json.Unmarshal(data, &exec); err != nil {
		c.log.Warn("ignoring unreadable execution", "id", id, "err", err)
		return contracts.Execution{}, false
	}
	if exec.ID == "" {
		exec.ID = id
	}
	if !exec.VisibleTo(c.tenant) {
		return contracts.Execution{}, false
	}
	return exec, true
}

// Wait blocks until the execution completes and returns it. When ctx ends
// first, it returns the latest state known (the zero Execution when none)
// with ctx's error. With opts.MustExist an id nobody knows is ErrNotFound at
// once.
func (c *Client) Wait(ctx context.Context, id string, opts WaitOptions) (contracts.Execution, error) {
	if err := c.checkTenant(); err != nil {
		return contracts.Execution{}, err
	}
	if !contracts.ValidID(id) {
		return contracts.Execution{}, ErrNotFound
	}
	// Watch first: it delivers the current value, then every update.
	w, err := c.executions.Watch(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			return contracts.Execution{}, ctx.Err()
		}
		return contracts.Execution{}, fmt.Errorf("%w: watch execution %s: %w", ErrUnavailable, id, err)
	}
	defer func() { _ = w.Stop() }()
	var latest *contracts.Execution
	keep := func(exec contracts.Execution) bool {
		if latest == nil || exec.Status.Rank() >= latest.Status.Rank() {
			latest = &exec
		}
		return latest.Terminal()
	}
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return c.ended(ctx, id, latest, errors.New("the watch ended"))
			}
			if e == nil { // the current value (if any) has been delivered
				if latest != nil {
					continue
				}
				exec, found, err := c.read(ctx, id)
				switch {
				case err != nil:
					return contracts.Execution{}, err
				case !found && opts.MustExist:
					return contracts.Execution{}, ErrNotFound
				case found && keep(exec):
					return *latest, nil
				}
				continue
			}
			if e.Operation() != jetstream.KeyValuePut {
				continue
			}
			if exec, ok := c.decode(id, e.Value()); ok && keep(exec) {
				return *latest, nil
			}
		case <-ctx.Done():
			return c.ended(ctx, id, latest, ctx.Err())
		}
	}
}

// ended answers a wait that ends before the execution completed: the latest
// state seen or, when none was, whatever a last read finds (at least the
// queued event may have arrived meanwhile).
func (c *Client) ended(ctx context.Context, id string, latest *contracts.Execution, cause error) (contracts.Execution, error) {
	if latest != nil {
		return *latest, cause
	}
	exec, _, err := c.read(context.WithoutCancel(ctx), id)
	if err != nil {
		return contracts.Execution{}, cause
	}
	return exec, cause
}
