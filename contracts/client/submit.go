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

// SubmitOptions are the optional parts of a submission.
type SubmitOptions struct {
	// IdempotencyKey names the execution: within Topology.ResultTTL, the
	// same key from the same tenant with the same request names the same
	// execution and queues nothing twice, across NATS restarts; with another
	// request it is ErrIdempotencyKeyReused (see Reserve).
	IdempotencyKey string
	// ID is the execution id to use, for a caller that derives its own
	// deterministic ids (an evaluation's candidates). It excludes
	// IdempotencyKey.
	ID string
	// Check, when set, is a front door's own rule, applied after the
	// request resolved against the runtimes (the gateway checks callback_url
	// against its tenant's callback policy).
	Check func(*contracts.ExecutionRequest) *contracts.ValidationError
}

// Submitted is a queued submission.
type Submitted struct {
	ID string
	// Runtime is the language and version the request resolved to.
	Runtime contracts.Runtime
	// Duplicate: the submission repeats one already made (the same
	// idempotency key and request, or the same id within the queue's
	// de-duplication window); nothing was queued.
	Duplicate bool
}

// Submit validates req (contracts.Validator.Resolve against the runtimes of
// the executors, which normalises its language and version in place) and
// queues it for the client's tenant. A rule broken by the request is
// returned as a *contracts.ValidationError; the other failures are this
// package's errors (ErrNoExecutor, ErrQueueFull, ErrTenantQueueFull,
// ErrTooLarge, ErrStoreUnavailable, ErrIdempotencyKeyReused, ErrUnavailable). Once the job is
// being published, the publish finishes even if ctx ends. A request that
// names a problem is pinned to its current version (unless it pins one)
// and takes the package's limits for those it leaves unset; an unknown
// problem or version is a ValidationError unknown_problem.
//
// With opts.IdempotencyKey the execution id is derived from the tenant and
// the key (contracts.IDFromKey) and the key is reserved first (Reserve,
// under ExecutionScope, with the request as normalised by
// contracts.Validator.Request, before a version is resolved, as its
// fingerprint; a repeat is also the same request when it resolves to the
// same one, as when a caller submits again the request Submit resolved in
// place). A repeat with the same request answers the same id with
// Duplicate and queues nothing, unless that execution is unknown (its
// submitter died before publishing it): then it is published under the same
// id, which the JOBS de-duplication guards. The same key with another
// request is ErrIdempotencyKeyReused. A publish the bus refused (queue
// full, too large) releases the key.
func (c *Client) Submit(ctx context.Context, req *contracts.ExecutionRequest, opts SubmitOptions) (Submitted, error) {
	if err := c.checkTenant(); err != nil {
		return Submitted{}, err
	}
	id, err := c.submissionID(opts)
	if err != nil {
		return Submitted{}, err
	}
	if ve := c.validator.Request(req); ve != nil {
		return Submitted{}, ve
	}
	var fingerprint []byte
	if opts.IdempotencyKey != "" {
		if fingerprint, err = json.Marshal(req); err != nil {
			return Submitted{}, fmt.Errorf("encode request: %w", err)
		}
	}
	runtimes, err := c.Runtimes(ctx)
	if err != nil {
		return Submitted{}, err
	}
	if len(runtimes) == 0 {
		return Submitted{}, ErrNoExecutor
	}
	if err := c.resolveProblem(ctx, req); err != nil {
		return Submitted{}, err
	}
	rt, ve := c.validator.ResolveChecked(req, runtimes) // Request checked it above
	if ve != nil {
		return Submitted{}, ve
	}
	if opts.Check != nil {
		if ve := opts.Check(req); ve != nil {
			return Submitted{}, ve
		}
	}
	if !c.nc.IsConnected() {
		return Submitted{}, fmt.Errorf("%w: NATS is %s", ErrUnavailable, c.nc.Status())
	}
	release := func() {}
	if opts.IdempotencyKey != "" {
		var known bool
		if id, known, release, err = c.reserveExecution(ctx, opts.IdempotencyKey, id, fingerprint, req); err != nil {
			return Submitted{}, err
		}
		if known {
			return Submitted{ID: id, Runtime: *rt, Duplicate: true}, nil
		}
	}
	job := contracts.Job{ID: id, Tenant: c.tenant, Request: *req, CreatedAt: time.Now().UTC(), ResultToken: c.sealer.Token(id)}
	pctx, cancel := c.call(context.WithoutCancel(ctx))
	defer cancel()
	dup, err := Enqueue(pctx, c.js, c.opts.Topology, job, c.nc.MaxPayload())
	switch {
	case err == nil:
	case errors.Is(err, ErrQueuedEventLost):
		c.log.Warn("job queued without its queued event: reads answer not found until an executor takes it", "id", id, "err", err)
	case errors.Is(err, ErrQueueFull), errors.Is(err, ErrTenantQueueFull), errors.Is(err, ErrTooLarge), errors.Is(err, ErrStoreUnavailable):
		release()
		return Submitted{}, err
	default:
		// Maybe published: the key stays reserved, and a retry publishes
		// under the same id (de-duplicated).
		return Submitted{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return Submitted{ID: id, Runtime: *rt, Duplicate: dup}, nil
}

// submissionID is the id a submission takes: given, derived from the
// idempotency key (so that every front door gives a key the same id), or
// new.
func (c *Client) submissionID(opts SubmitOptions) (string, error) {
	switch {
	case opts.ID != "" && opts.IdempotencyKey != "":
		return "", errors.New("a submission takes an id or an idempotency key, not both")
	case opts.ID != "":
		if !contracts.ValidID(opts.ID) {
			return "", fmt.Errorf("%q is not an execution id", opts.ID)
		}
		return opts.ID, nil
	case opts.IdempotencyKey != "":
		if err := contracts.CheckIdempotencyKey(opts.IdempotencyKey); err != nil {
			return "", &contracts.ValidationError{Code: contracts.CodeInvalidRequest, Field: "idempotency_key", Message: err.Error()}
		}
		return contracts.IDFromKey(c.tenant, opts.IdempotencyKey), nil
	}
	return contracts.NewID(), nil
}

// Enqueue publishes a validated job on its tenant's subject with the job id
// as Nats-Msg-Id, then its queued event (with the job's result token). It reports whether the job was a
// duplicate (already queued within the window: nothing was published). When
// only the queued event fails, the error is ErrQueuedEventLost: the job is
// queued all the same. Submit is the way to queue a request; Enqueue is
// exported for tests of the queue itself.
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
	ev, _ := json.Marshal(job.Queued())
	// The job is durably queued; a lost queued event only delays visibility.
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), queuedEventTimeout)
	defer cancel()
	if _, err := js.PublishMsg(ectx, topo.EventMsg(job.ID, job.ResultToken, ev),
		jetstream.WithMsgID(contracts.QueuedMsgID(job.ID)), jetstream.WithExpectStream(contracts.ResultsStream)); err != nil {
		return false, fmt.Errorf("%w: %w", ErrQueuedEventLost, err)
	}
	return false, nil
}
