package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
)

// Retry-After of the answers that invite a retry, in seconds.
const (
	retryQueueFull   = "2"
	retryUnavailable = "1"
	retryNoExecutor  = "5"
)

// clientErrors are the HTTP answers of the bus client's errors.
var clientErrors = []struct {
	err                         error
	status                      int
	code, field, retry, message string
}{
	{client.ErrNotFound, http.StatusNotFound, contracts.CodeNotFound, "id", "",
		"no execution with this id"},
	{client.ErrIdempotencyKeyReused, http.StatusUnprocessableEntity, contracts.CodeIdempotencyKeyReused, idempotencyKeyHeader, "",
		"this Idempotency-Key was used for another request; use a new key for a new request"},
	{client.ErrTenantQueueFull, http.StatusTooManyRequests, contracts.CodeTenantQueueFull, "", retryQueueFull,
		"this API key already has its per-key maximum of jobs queued or running; retry later"},
	{client.ErrQueueFull, http.StatusTooManyRequests, contracts.CodeQueueFull, "", retryQueueFull,
		"the job queue is full; retry later"},
	{client.ErrTooManyWaiters, http.StatusTooManyRequests, contracts.CodeRateLimited, "", retryUnavailable,
		"too many requests are waiting for executions on this gateway; retry later"},
	{client.ErrTooLarge, http.StatusRequestEntityTooLarge, contracts.CodeBodyTooLarge, "", "", ""},
	{client.ErrNoExecutor, http.StatusServiceUnavailable, contracts.CodeNoExecutor, "", retryNoExecutor,
		"no executor is running"},
	{client.ErrUnavailable, http.StatusServiceUnavailable, contracts.CodeUnavailable, "", retryUnavailable,
		"the message bus is unavailable; try again shortly"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, contracts.CodeUnavailable, "", retryUnavailable,
		"the message bus did not answer in time; try again shortly"},
}

// errorOf is the one translation of the bus client's errors into HTTP
// answers (status, code, field, message, Retry-After); every front door
// answers from it, in its own shape. An error it does not know is a 500.
func errorOf(err error) *httpError {
	var herr *httpError
	if errors.As(err, &herr) {
		return herr
	}
	var ve *contracts.ValidationError
	if errors.As(err, &ve) {
		return validationError(ve)
	}
	for _, e := range clientErrors {
		if errors.Is(err, e.err) {
			msg := e.message
			if msg == "" {
				msg = err.Error()
			}
			return &httpError{status: e.status, code: e.code, field: e.field, retryAfter: e.retry, message: msg}
		}
	}
	return &httpError{status: http.StatusInternalServerError, code: contracts.CodeInternal, message: "internal error"}
}

// failure is errorOf for a request, logging what the client is not told;
// nil when the client has gone (nobody listens: answer nothing).
func failure(log *slog.Logger, r *http.Request, err error) *httpError {
	if r.Context().Err() != nil {
		log.Debug("client went away", "path", r.URL.Path, "err", err)
		return nil
	}
	herr := errorOf(err)
	if herr.status >= http.StatusInternalServerError {
		log.Warn("request failed", "path", r.URL.Path, "status", herr.status, "err", err)
	}
	return herr
}

// fail answers err in the native shape (see failure).
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	if herr := failure(a.log, r, err); herr != nil {
		herr.write(w)
	}
}

// waitFor waits through c for execution id, up to timeout or until the
// server stops (Shutdown: a stopping server does not sit out long polls).
// done reports that the execution completed. When the wait runs out, exec
// is the latest state known (ID "" when none) and err is nil; when ctx ends
// (the caller left), err is ctx's error.
func (a *API) waitFor(ctx context.Context, c *client.Client, id string, timeout time.Duration, opts client.WaitOptions) (exec contracts.Execution, done bool, err error) {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer context.AfterFunc(a.stop, cancel)()
	exec, err = c.Wait(wctx, id, opts)
	switch {
	case err == nil:
		return exec, true, nil
	case ctx.Err() != nil:
		return exec, false, ctx.Err()
	case wctx.Err() != nil:
		return exec, false, nil
	}
	return exec, false, err
}
