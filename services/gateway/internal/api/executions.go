package api

import (
	"context"
	"net/http"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
)

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
		key, herr := idempotencyKey(r.Header)
		if herr != nil {
			herr.write(w)
			return
		}
		req, herr := a.readBody(w, r)
		if herr != nil {
			herr.write(w)
			return
		}
		c := a.client.As(tenantOf(r.Context()))
		sub, err := a.submit(r.Context(), c, req, client.SubmitOptions{IdempotencyKey: key})
		if err != nil {
			a.fail(w, r, err)
			return
		}
		w.Header().Set("Location", "/v1/executions/"+sub.ID)
		if !wait {
			writeJSON(w, http.StatusAccepted, contracts.Accepted{ID: sub.ID, Status: contracts.StatusQueued})
			return
		}
		a.respondWait(w, r, c, sub.ID, timeout, false)
	}
}

// submit queues req through c with the gateway's callback policy as the
// front door's own check (client.SubmitOptions.Check).
func (a *API) submit(ctx context.Context, c *client.Client, req *contracts.ExecutionRequest, opts client.SubmitOptions) (client.Submitted, error) {
	tenant := c.Tenant()
	opts.Check = func(req *contracts.ExecutionRequest) *contracts.ValidationError {
		if req.CallbackURL == "" {
			return nil
		}
		if err := a.opts.Callbacks.Check(tenant, req.CallbackURL); err != nil {
			return &contracts.ValidationError{Code: contracts.CodeInvalidRequest, Field: "callback_url", Message: err.Error()}
		}
		return nil
	}
	sub, err := c.Submit(ctx, req, opts)
	if err == nil {
		a.log.Debug("job queued", "id", sub.ID, "language", sub.Runtime.Language, "version", sub.Runtime.Version, "duplicate", sub.Duplicate)
	}
	return sub, err
}

// runtimes are the runtimes a submission through c resolves against
// (client.Client.Runtimes); none is client.ErrNoExecutor.
func runtimesFor(ctx context.Context, c *client.Client) ([]contracts.Runtime, error) {
	rts, err := c.Runtimes(ctx)
	if err == nil && len(rts) == 0 {
		err = client.ErrNoExecutor
	}
	return rts, err
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
		a.fail(w, r, client.ErrNotFound)
		return
	}
	wait, timeout, herr := waitParams(r.URL.Query(), false, a.opts.WaitTimeout, a.opts.MaxWaitTimeout)
	if herr != nil {
		herr.write(w)
		return
	}
	c := a.client.As(tenantOf(r.Context()))
	if wait {
		a.respondWait(w, r, c, id, timeout, true)
		return
	}
	exec, err := c.Get(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, exec)
}

// respondWait waits for an execution and answers: 200 with the completed
// execution, 202 with the latest known state when the wait runs out, 404
// for an id nobody knows (mustExist).
func (a *API) respondWait(w http.ResponseWriter, r *http.Request, c *client.Client, id string, timeout time.Duration, mustExist bool) {
	exec, done, err := a.waitFor(r.Context(), c, id, timeout, client.WaitOptions{MustExist: mustExist})
	switch {
	case err != nil:
		a.fail(w, r, err)
	case done:
		writeJSON(w, http.StatusOK, exec)
	case exec.ID != "":
		writeJSON(w, http.StatusAccepted, exec)
	case mustExist:
		a.fail(w, r, client.ErrNotFound)
	default:
		writeJSON(w, http.StatusAccepted, contracts.Accepted{ID: id, Status: contracts.StatusQueued})
	}
}
