package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
)

// TestErrorOf: every error of the bus client has its HTTP answer, wrapped or
// not; an unknown error is an opaque 500.
func TestErrorOf(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
		retry  string
	}{
		{client.ErrNotFound, http.StatusNotFound, contracts.CodeNotFound, ""},
		{client.ErrIdempotencyKeyReused, http.StatusUnprocessableEntity, contracts.CodeIdempotencyKeyReused, ""},
		{client.ErrTenantQueueFull, http.StatusTooManyRequests, contracts.CodeTenantQueueFull, "2"},
		{client.ErrQueueFull, http.StatusTooManyRequests, contracts.CodeQueueFull, "2"},
		{client.ErrTooManyWaiters, http.StatusTooManyRequests, contracts.CodeRateLimited, "1"},
		{fmt.Errorf("%w: 2000000 bytes", client.ErrTooLarge), http.StatusRequestEntityTooLarge, contracts.CodeJobTooLarge, ""},
		{client.ErrNoExecutor, http.StatusServiceUnavailable, contracts.CodeNoExecutor, "5"},
		{fmt.Errorf("%w: read: timeout", client.ErrUnavailable), http.StatusServiceUnavailable, contracts.CodeUnavailable, "1"},
		{context.DeadlineExceeded, http.StatusServiceUnavailable, contracts.CodeUnavailable, "1"},
		{Unavailable("could not read the evaluation", errors.New("no responders")), http.StatusServiceUnavailable, contracts.CodeUnavailable, "1"},
		{&contracts.ValidationError{Code: contracts.CodeUnknownLanguage, Field: "language", Message: "no"}, http.StatusUnprocessableEntity, contracts.CodeUnknownLanguage, ""},
		{errors.New("secret detail"), http.StatusInternalServerError, contracts.CodeInternal, ""},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			got := ErrorOf(tc.err)
			if got.Status != tc.status || got.Code != tc.code || got.RetryAfter != tc.retry || got.Message == "" {
				t.Fatalf("got %+v, want %d %s Retry-After %q", got, tc.status, tc.code, tc.retry)
			}
			if tc.status == http.StatusInternalServerError && got.Message != "internal error" {
				t.Errorf("an unknown error leaks its text: %q", got.Message)
			}
		})
	}
}
