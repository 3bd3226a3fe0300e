package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

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
	{client.ErrProblemNotFound, http.StatusNotFound, contracts.CodeNotFound, "id", "",
		"no problem with this id"},
	{client.ErrIdempotencyKeyReused, http.StatusUnprocessableEntity, contracts.CodeIdempotencyKeyReused, IdempotencyKeyHeader, "",
		"this Idempotency-Key was used for another request; use a new key for a new request"},
	{client.ErrTenantQueueFull, http.StatusTooManyRequests, contracts.CodeTenantQueueFull, "", retryQueueFull,
		"this API key already has its per-key maximum of jobs queued or running; retry later"},
	{client.ErrQueueFull, http.StatusTooManyRequests, contracts.CodeQueueFull, "", retryQueueFull,
		"the job queue is full; retry later"},
	{client.ErrTooManyWaiters, http.StatusTooManyRequests, contracts.CodeRateLimited, "", retryUnavailable,
		"too many requests are waiting for executions on this gateway; retry later"},
	{client.ErrTooLarge, http.StatusRequestEntityTooLarge, contracts.CodeJobTooLarge, "", "", ""},
	// Storage comes back when old results expire or an operator acts, not
	// within a second or two.
	{client.ErrStoreUnavailable, http.StatusServiceUnavailable, contracts.CodeStoreUnavailable, "", "30",
		"the job store is unavailable; try again later"},
	{client.ErrNoExecutor, http.StatusServiceUnavailable, contracts.CodeNoExecutor, "", retryNoExecutor,
		"no executor is running"},
	{client.ErrUnavailable, http.StatusServiceUnavailable, contracts.CodeUnavailable, "", retryUnavailable,
		"the message bus is unavailable; try again shortly"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, contracts.CodeUnavailable, "", retryUnavailable,
		"the message bus did not answer in time; try again shortly"},
}

// ErrorOf is the one translation of the bus client's errors into HTTP
// answers (status, code, field, message, Retry-After): every HTTP front door
// answers from it in its own shape, and the NATS endpoint sends it as its
// service error. An *Error is itself; an error it does not know is a 500
// internal_error (log it: the client is told nothing more).
func ErrorOf(err error) *Error {
	var herr *Error
	if errors.As(err, &herr) {
		return herr
	}
	var ve *contracts.ValidationError
	if errors.As(err, &ve) {
		return FromValidation(ve)
	}
	var ue *unavailableError
	if errors.As(err, &ue) {
		return &Error{Status: http.StatusServiceUnavailable, Code: contracts.CodeUnavailable, RetryAfter: retryUnavailable,
			Message: ue.what + "; try again shortly"}
	}
	for _, m := range clientErrors {
		if errors.Is(err, m.err) {
			msg := m.message
			if msg == "" {
				msg = err.Error()
			}
			return &Error{Status: m.status, Code: m.code, Field: m.field, RetryAfter: m.retry, Message: msg}
		}
	}
	return &Error{Status: http.StatusInternalServerError, Code: contracts.CodeInternal, Message: "internal error"}
}

// Failure is ErrorOf for a request, logging what the client is not told
// (the detail of a 5xx); nil when the client has gone (nobody listens:
// answer nothing).
func Failure(log *slog.Logger, r *http.Request, err error) *Error {
	if r.Context().Err() != nil {
		log.Debug("client went away", "path", r.URL.Path, "err", err)
		return nil
	}
	herr := ErrorOf(err)
	if herr.Status >= http.StatusInternalServerError {
		log.Warn("request failed", "path", r.URL.Path, "status", herr.Status, "err", err)
	}
	return herr
}

// Unavailable is the 503 of a NATS failure outside the bus client (a
// front door's own bucket): what could not be done, and the cause.
func Unavailable(what string, err error) error {
	return &unavailableError{what: what, err: err}
}

type unavailableError struct {
	what string
	err  error
}

func (e *unavailableError) Error() string {
	if e.err == nil {
		return e.what
	}
	return e.what + ": " + e.err.Error()
}
func (e *unavailableError) Unwrap() error { return e.err }
