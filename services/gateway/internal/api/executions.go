package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/nats-io/nats.go/jetstream"
)

// queueFullRetryAfter is the Retry-After (seconds) of a 429 queue_full.
const queueFullRetryAfter = "2"

// storeUnavailableRetryAfter is the Retry-After (seconds) of a 503
// store_unavailable: storage comes back when old results expire or an
// operator acts, not within a second or two.
const storeUnavailableRetryAfter = "30"

// handleSubmit serves POST /v1/executions and, with forceWait, POST /v1/execute.
func (a *API) handleSubmit(forceWait bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if herr := checkContentType(r); herr != nil {
			herr.write(w)
			return
		}
		wait, timeout, herr := waitParams(r.URL.Query(), forceWait, a.opts.WaitTimeout, a.opts.MaxWaitTimeout)
		if herr != nil {
			herr.write(w)
			return
		}
		id, herr := executionID(tenantOf(r.Context()), r.Header)
		if herr != nil {
			herr.write(w)
			return
		}
		req, herr := a.readBody(w, r)
		if herr != nil {
			herr.write(w)
			return
		}
		rt, herr := a.prepare(r.Context(), req)
		if herr != nil {
			herr.write(w)
			return
		}
		// Watch before publishing: the watcher then sees every state the
		// execution will ever have.
		var watcher jetstream.KeyWatcher
		if wait {
			var err error
			if watcher, err = a.executions.Watch(r.Context(), id); err != nil {
				a.unavailable(w, r, "could not watch the execution", err)
				return
			}
			defer func() { _ = watcher.Stop() }()
		}
		if herr := a.enqueue(r.Context(), id, req, rt); herr != nil {
			herr.write(w)
			return
		}
		w.Header().Set("Location", "/v1/executions/"+id)
		if !wait {
			writeJSON(w, http.StatusAccepted, contracts.Accepted{ID: id, Status: contracts.StatusQueued})
			return
		}
		a.respondAwait(w, r, watcher, id, timeout, false)
	}
}

// prepare checks a decoded request against the rules, the runtimes of the
// executors and their limits (contracts.Validator.Resolve), and normalises
// its language and version.
func (a *API) prepare(ctx context.Context, req *contracts.ExecutionRequest) (*contracts.Runtime, *httpError) {
	if ve := a.validator.Request(req); ve != nil {
		return nil, validationError(ve)
	}
	infos, err := a.fleet.executors(ctx)
	if err != nil {
		a.log.Warn("could not read the executors", "err", err)
		return nil, &httpError{status: http.StatusServiceUnavailable, code: contracts.CodeUnavailable,
			message: "could not read the executors; try again shortly", retryAfter: "1"}
	}
	runtimes := knownRuntimes(infos)
	if len(runtimes) == 0 {
		return nil, &httpError{status: http.StatusServiceUnavailable, code: contracts.CodeNoExecutor,
			message: "no executor is running", retryAfter: "5"}
	}
	rt, ve := a.validator.Resolve(req, runtimes)
	if ve != nil {
		return nil, validationError(ve)
	}
	if req.CallbackURL != "" {
		if err := a.opts.Callbacks.Check(tenantOf(ctx), req.CallbackURL); err != nil {
			return nil, &httpError{status: http.StatusUnprocessableEntity, code: contracts.CodeInvalidRequest,
				field: "callback_url", message: err.Error()}
		}
	}
	return rt, nil
}

// enqueue publishes the job (with its id as Nats-Msg-Id, so a repeat is a
// no-op) and then its queued event.
func (a *API) enqueue(ctx context.Context, id string, req *contracts.ExecutionRequest, rt *contracts.Runtime) *httpError {
	if !a.nc.IsConnected() {
		a.log.Warn("the job queue is unavailable", "id", id, "status", a.nc.Status().String())
		return &httpError{status: http.StatusServiceUnavailable, code: contracts.CodeUnavailable,
			message: "the job queue is unavailable; try again shortly", retryAfter: "1"}
	}
	job := contracts.Job{ID: id, Tenant: tenantOf(ctx), Request: *req, CreatedAt: time.Now().UTC()}
	// Once the job is being published, finish even if the client leaves.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), natsTimeout)
	defer cancel()
	dup, err := client.Enqueue(pctx, a.js, a.opts.Topology, job, a.nc.MaxPayload())
	switch {
	case err == nil:
	case errors.Is(err, client.ErrQueuedEventLost):
		a.log.Warn("job queued without its queued event: reads answer 404 until an executor takes it", "id", id, "err", err)
	case errors.Is(err, client.ErrTenantQueueFull):
		return &httpError{status: http.StatusTooManyRequests, code: contracts.CodeTenantQueueFull, retryAfter: queueFullRetryAfter,
			message: fmt.Sprintf("this API key already has %d jobs queued or running (the per-key maximum); retry later", a.opts.Topology.TenantQueueMax)}
	case errors.Is(err, client.ErrQueueFull):
		return &httpError{status: http.StatusTooManyRequests, code: contracts.CodeQueueFull,
			message: "the job queue is full; retry later", retryAfter: queueFullRetryAfter}
	case errors.Is(err, client.ErrTooLarge):
		return &httpError{status: http.StatusRequestEntityTooLarge, code: contracts.CodeJobTooLarge,
			message: err.Error()}
	case errors.Is(err, client.ErrStoreUnavailable):
		a.log.Error("the job store refused a job", "id", id, "err", err)
		return &httpError{status: http.StatusServiceUnavailable, code: contracts.CodeStoreUnavailable,
			message: "the job store is unavailable; try again later", retryAfter: storeUnavailableRetryAfter}
	default:
		a.log.Warn("the job queue is unavailable", "id", id, "err", err)
		return &httpError{status: http.StatusServiceUnavailable, code: contracts.CodeUnavailable,
			message: "the job queue is unavailable; try again shortly", retryAfter: "1"}
	}
	a.log.Debug("job queued", "id", id, "language", rt.Language, "version", rt.Version, "duplicate", dup)
	return nil
}

// readBody reads and decodes the request body within MaxBodyBytes and the
// body read timeout.
func (a *API) readBody(w http.ResponseWriter, r *http.Request) (*contracts.ExecutionRequest, *httpError) {
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(bodyReadTimeout)); err == nil {
		// Clear it afterwards: the connection is also read in the background
		// to notice a client that leaves during a long wait.
		defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	}
	return decodeRequest(http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes))
}

// handleGet serves GET /v1/executions/{id}, with ?wait=true as a long poll.
func (a *API) handleGet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !contracts.ValidID(id) {
		writeError(w, http.StatusNotFound, contracts.CodeNotFound, "id", "no execution with this id")
		return
	}
	wait, timeout, herr := waitParams(r.URL.Query(), false, a.opts.WaitTimeout, a.opts.MaxWaitTimeout)
	if herr != nil {
		herr.write(w)
		return
	}
	if wait {
		watcher, err := a.executions.Watch(r.Context(), id)
		if err != nil {
			a.unavailable(w, r, "could not watch the execution", err)
			return
		}
		defer func() { _ = watcher.Stop() }()
		a.respondAwait(w, r, watcher, id, timeout, true)
		return
	}
	exec, err := a.lookup(r.Context(), id)
	if err != nil {
		a.unavailable(w, r, "could not read the execution", err)
		return
	}
	if exec == nil {
		writeError(w, http.StatusNotFound, contracts.CodeNotFound, "id", "no execution with this id")
		return
	}
	writeJSON(w, http.StatusOK, exec)
}

// lookup finds an execution in the executions bucket or, before the results
// service has stored it, as the last event on the RESULTS stream. It returns
// nil when neither knows the id.
func (a *API) lookup(ctx context.Context, id string) (*contracts.Execution, error) {
	ctx, cancel := context.WithTimeout(ctx, natsTimeout)
	defer cancel()
	entry, err := a.executions.Get(ctx, id)
	switch {
	case err == nil:
		if exec := visible(ctx, a.decodeExecution(id, entry.Value())); exec != nil {
			return exec, nil
		}
	case !errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, fmt.Errorf("get execution %s: %w", id, err)
	}
	return a.lastEvent(ctx, id)
}

// lastEvent returns the last status event of an execution on the RESULTS
// stream, or nil when there is none.
func (a *API) lastEvent(ctx context.Context, id string) (*contracts.Execution, error) {
	ctx, cancel := context.WithTimeout(ctx, natsTimeout)
	defer cancel()
	msg, err := a.results.GetLastMsgForSubject(ctx, a.opts.Topology.EventSubject(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get last event of %s: %w", id, err)
	}
	return visible(ctx, a.decodeExecution(id, msg.Data)), nil
}

// decodeExecution decodes a stored Execution; an unreadable one is logged
// and treated as absent.
func (a *API) decodeExecution(id string, data []byte) *contracts.Execution {
	var exec contracts.Execution
	if err := json.Unmarshal(data, &exec); err != nil {
		a.log.Warn("ignoring unreadable execution", "id", id, "err", err)
		return nil
	}
	if exec.ID == "" {
		exec.ID = id
	}
	return &exec
}

// waitOutcome is how a wait for an execution ended.
type waitOutcome int

const (
	waitDone     waitOutcome = iota // the execution completed
	waitTimeout                     // time ran out (or the server is stopping)
	waitNotFound                    // the id was never seen
	waitGone                        // the client went away
	waitFailed                      // NATS failed
)

// await follows an execution through watcher until it completes, the timeout
// passes, the client leaves or the server stops. It returns the latest state
// seen. With mustExist, an id that neither the bucket nor the RESULTS stream
// knows ends the wait at once with waitNotFound.
func (a *API) await(ctx context.Context, watcher jetstream.KeyWatcher, id string, timeout time.Duration, mustExist bool) (*contracts.Execution, waitOutcome, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var latest *contracts.Execution
	for {
		select {
		case e, ok := <-watcher.Updates():
			if !ok {
				return latest, waitTimeout, nil
			}
			if e == nil { // the current value (if any) has been delivered
				if latest != nil || !mustExist {
					continue
				}
				ev, err := a.lastEvent(ctx, id)
				if err != nil {
					return nil, waitFailed, err
				}
				if ev == nil {
					return nil, waitNotFound, nil
				}
				latest = ev
				if latest.Terminal() {
					return latest, waitDone, nil
				}
				continue
			}
			if e.Operation() != jetstream.KeyValuePut {
				continue
			}
			exec := visible(ctx, a.decodeExecution(id, e.Value()))
			if exec == nil {
				continue
			}
			if latest == nil || exec.Status.Rank() >= latest.Status.Rank() {
				latest = exec
			}
			if latest.Terminal() {
				return latest, waitDone, nil
			}
		case <-timer.C:
			return latest, waitTimeout, nil
		case <-a.stopping:
			return latest, waitTimeout, nil
		case <-ctx.Done():
			return latest, waitGone, nil
		}
	}
}

// respondAwait waits for an execution and answers: 200 with the completed
// execution, 202 with the latest known state on timeout, 404 for an unknown id.
func (a *API) respondAwait(w http.ResponseWriter, r *http.Request, watcher jetstream.KeyWatcher, id string, timeout time.Duration, mustExist bool) {
	exec, outcome, err := a.await(r.Context(), watcher, id, timeout, mustExist)
	if outcome == waitTimeout && exec == nil {
		// Nothing stored yet: the RESULTS stream may still know more (at
		// least the queued event).
		exec, err = a.lastEvent(r.Context(), id)
		if err != nil {
			outcome = waitFailed
		}
	}
	switch outcome {
	case waitDone:
		writeJSON(w, http.StatusOK, exec)
	case waitTimeout:
		switch {
		case exec != nil:
			writeJSON(w, http.StatusAccepted, exec)
		case mustExist:
			writeError(w, http.StatusNotFound, contracts.CodeNotFound, "id", "no execution with this id")
		default:
			writeJSON(w, http.StatusAccepted, contracts.Accepted{ID: id, Status: contracts.StatusQueued})
		}
	case waitNotFound:
		writeError(w, http.StatusNotFound, contracts.CodeNotFound, "id", "no execution with this id")
	case waitGone:
		a.log.Debug("client went away while waiting", "id", id)
	case waitFailed:
		a.unavailable(w, r, "could not read the execution", err)
	}
}
