// Package client submits executions to Airlock over NATS, for internal
// services that already speak NATS: the same validation as the HTTP gateway,
// the same JOBS stream and de-duplication, and results read from the
// `executions` bucket (or, before the results service stored them, from the
// RESULTS stream).
//
//	c, err := client.New(ctx, nc, client.Options{})
//	exec, err := c.Execute(ctx, contracts.ExecutionRequest{Language: "python", Files: ...})
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
)

// Errors a submission can end with besides a *contracts.ValidationError.
var (
	// ErrQueueFull: the JOBS stream is at its bound; retry later.
	ErrQueueFull = errors.New("the job queue is full")
	// ErrTenantQueueFull: this tenant's share of the queue is used up.
	ErrTenantQueueFull = errors.New("the tenant's queue share is full")
	// ErrNoExecutor: no executor has announced itself.
	ErrNoExecutor = errors.New("no executor is running")
	// ErrTooLarge: the job does not fit in one NATS message.
	ErrTooLarge = errors.New("the job is larger than the message bus accepts")
	// ErrStoreUnavailable: JetStream could not store the job (its store is
	// failing, or the server's or account's storage is used up); retry
	// later. The wrapped error says which.
	ErrStoreUnavailable = errors.New("the job store is unavailable")
	// ErrQueuedEventLost: the job IS queued and will run, but its queued
	// event could not be published, so its id is unknown to reads until an
	// executor takes it. Callers answer as for a queued job and log it.
	ErrQueuedEventLost = errors.New("the job is queued, but its queued event was not published")
)

// queuedEventTimeout bounds the publish of a job's queued event, on its own
// clock: the job's publish may have used up the caller's deadline.
const queuedEventTimeout = 10 * time.Second

// Options configure a Client. Zero values take the defaults.
type Options struct {
	Topology contracts.Topology
	Policy   contracts.Policy
	// Tenant owns the executions this client submits (default "default").
	Tenant string
}

// Client submits executions and waits for them. It is safe for concurrent use.
type Client struct {
	nc         *nats.Conn
	js         jetstream.JetStream
	opts       Options
	validator  *contracts.Validator
	executions jetstream.KeyValue
	executors  jetstream.KeyValue
	results    jetstream.Stream
}

// New connects a Client to Airlock's JetStream objects, which must exist
// (any Airlock service creates them when it starts).
func New(ctx context.Context, nc *nats.Conn, opts Options) (*Client, error) {
	def := contracts.DefaultTopology()
	if opts.Topology.Prefix == "" {
		opts.Topology = def
	}
	if opts.Policy.MaxFiles == 0 {
		opts.Policy = contracts.DefaultPolicy()
	}
	if opts.Tenant == "" {
		opts.Tenant = contracts.DefaultTenant
	}
	if !contracts.ValidTenant(opts.Tenant) {
		return nil, fmt.Errorf("tenant %q: letters, digits, - and _ only", opts.Tenant)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	c := &Client{nc: nc, js: js, opts: opts, validator: contracts.NewValidator(opts.Policy)}
	if c.executions, err = js.KeyValue(ctx, contracts.ExecutionsBucket); err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", contracts.ExecutionsBucket, err)
	}
	if c.executors, err = js.KeyValue(ctx, contracts.ExecutorsBucket); err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", contracts.ExecutorsBucket, err)
	}
	if c.results, err = js.Stream(ctx, contracts.ResultsStream); err != nil {
		return nil, fmt.Errorf("open stream %s: %w", contracts.ResultsStream, err)
	}
	return c, nil
}

// Runtimes lists the runtimes of every executor with a live heartbeat,
// including executors that report a problem (jobs for them wait queued).
func (c *Client) Runtimes(ctx context.Context) ([]contracts.Runtime, error) {
	keys, err := c.executors.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list executors: %w", err)
	}
	var out []contracts.Runtime
	for key := range keys.Keys() {
		entry, err := c.executors.Get(ctx, key)
		if err != nil {
			continue // expired between the listing and the read
		}
		var info contracts.ExecutorInfo
		if json.Unmarshal(entry.Value(), &info) == nil {
			out = append(out, info.Runtimes...)
		}
	}
	return out, nil
}

// Submit validates req like the gateway does and queues it. The id is new,
// or derived from idempotencyKey when one is given (the same key within the
// de-duplication window names the same execution and runs nothing twice).
// A rule broken by the request is returned as a *contracts.ValidationError.
func (c *Client) Submit(ctx context.Context, req contracts.ExecutionRequest, idempotencyKey string) (string, error) {
	runtimes, err := c.Runtimes(ctx)
	if err != nil {
		return "", err
	}
	if len(runtimes) == 0 {
		return "", ErrNoExecutor
	}
	if _, verr := c.validator.Resolve(&req, runtimes); verr != nil {
		return "", verr
	}
	id := contracts.NewID()
	if idempotencyKey != "" {
		id = contracts.IDFromKey(c.opts.Tenant, idempotencyKey)
	}
	_, err = Enqueue(ctx, c.js, c.opts.Topology, contracts.Job{ID: id, Tenant: c.opts.Tenant, Request: req, CreatedAt: time.Now().UTC()}, c.nc.MaxPayload())
	if err != nil && !errors.Is(err, ErrQueuedEventLost) {
		return "", err
	}
	return id, nil // queued: Wait sees it at the latest once an executor takes it
}

// Enqueue publishes a validated job on its tenant's subject with the job id
// as Nats-Msg-Id, then its queued event. It reports whether the job was a
// duplicate (already queued within the window: nothing was published). When
// only the queued event fails, the error is ErrQueuedEventLost: the job is
// queued all the same. The gateway and Client share it.
func Enqueue(ctx context.Context, js jetstream.JetStream, topo contracts.Topology, job contracts.Job, maxPayload int64) (duplicate bool, err error) {
	data, err := json.Marshal(job)
	if err != nil {
		return false, fmt.Errorf("encode job: %w", err)
	}
	if maxPayload > 0 && int64(len(data)) > maxPayload {
		return false, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(data), maxPayload)
	}
	// A publish that fails while a NATS node goes away is retried briefly:
	// the Nats-Msg-Id makes a repeat harmless.
	var ack *jetstream.PubAck
	for attempt := 1; ; attempt++ {
		ack, err = js.Publish(ctx, topo.JobSubject(job.Tenant), data,
			jetstream.WithMsgID(job.ID), jetstream.WithExpectStream(contracts.JobsStream))
		if err == nil || attempt == 4 || ctx.Err() != nil ||
			!(errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt) * 250 * time.Millisecond):
		}
	}
	switch {
	case err == nil:
	case contracts.IsTenantQueueFull(err):
		return false, ErrTenantQueueFull
	case contracts.IsQueueFull(err):
		return false, ErrQueueFull
	case errors.Is(err, nats.ErrMaxPayload), contracts.IsMessageTooLarge(err):
		return false, ErrTooLarge
	case contracts.IsStoreUnavailable(err):
		return false, fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	default:
		return false, fmt.Errorf("publish job: %w", err)
	}
	if ack.Duplicate {
		return true, nil
	}
	queued := contracts.Execution{ID: job.ID, Tenant: job.Tenant, Status: contracts.StatusQueued,
		Language: job.Request.Language, Version: job.Request.Version, CreatedAt: job.CreatedAt}
	ev, _ := json.Marshal(queued)
	// The job is durably queued; a lost queued event only delays visibility.
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), queuedEventTimeout)
	defer cancel()
	if _, err := js.Publish(ectx, topo.EventSubject(job.ID), ev,
		jetstream.WithMsgID(job.ID+":queued"), jetstream.WithExpectStream(contracts.ResultsStream)); err != nil {
		return false, fmt.Errorf("%w: %w", ErrQueuedEventLost, err)
	}
	return false, nil
}

// Wait blocks until the execution completes or ctx ends (then it returns the
// latest state known, if any, with ctx's error).
func (c *Client) Wait(ctx context.Context, id string) (contracts.Execution, error) {
	if !contracts.ValidID(id) {
		return contracts.Execution{}, fmt.Errorf("%q is not an execution id", id)
	}
	// Watch first: it delivers the current value, then every update.
	w, err := c.executions.Watch(ctx, id)
	if err != nil {
		return contracts.Execution{}, fmt.Errorf("watch execution: %w", err)
	}
	defer func() { _ = w.Stop() }()
	var latest contracts.Execution
	for {
		select {
		case <-ctx.Done():
			return latest, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return latest, errors.New("watch ended")
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			var exec contracts.Execution
			if json.Unmarshal(e.Value(), &exec) != nil {
				continue
			}
			if exec.Tenant != "" && exec.Tenant != c.opts.Tenant {
				return contracts.Execution{}, fmt.Errorf("execution %s belongs to another tenant", id)
			}
			latest = exec
			if exec.Terminal() {
				return exec, nil
			}
		}
	}
}

// Get returns the current state of an execution: from the bucket, or from
// the RESULTS stream before the results service has stored it. ok is false
// for an id nobody knows (or another tenant's).
func (c *Client) Get(ctx context.Context, id string) (exec contracts.Execution, ok bool, err error) {
	if !contracts.ValidID(id) {
		return exec, false, nil
	}
	var data []byte
	entry, err := c.executions.Get(ctx, id)
	switch {
	case err == nil:
		data = entry.Value()
	case errors.Is(err, jetstream.ErrKeyNotFound):
		msg, err := c.results.GetLastMsgForSubject(ctx, c.opts.Topology.EventSubject(id))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return exec, false, nil
		}
		if err != nil {
			return exec, false, fmt.Errorf("read events of %s: %w", id, err)
		}
		data = msg.Data
	default:
		return exec, false, fmt.Errorf("read execution %s: %w", id, err)
	}
	if err := json.Unmarshal(data, &exec); err != nil {
		return exec, false, fmt.Errorf("decode execution %s: %w", id, err)
	}
	if exec.Tenant != "" && exec.Tenant != c.opts.Tenant {
		return contracts.Execution{}, false, nil
	}
	return exec, true, nil
}

// Execute submits req and waits for its result.
func (c *Client) Execute(ctx context.Context, req contracts.ExecutionRequest) (contracts.Execution, error) {
	id, err := c.Submit(ctx, req, "")
	if err != nil {
		return contracts.Execution{}, err
	}
	return c.Wait(ctx, id)
}
