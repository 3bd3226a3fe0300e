// Package web is what the gateway's HTTP front doors share: the Core they
// are built with (the bus client, the callback policy, the limits and the
// server's stop), the one translation of the client's errors into HTTP
// answers (ErrorOf), JSON and error writing, request decoding, the API key
// and tenant middleware (Auth) and the site guard (SiteGuard).
package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/services/gateway/internal/callback"
)

// BodyReadTimeout bounds how long a client may take to send a request body.
const BodyReadTimeout = time.Minute

// Core is what every front door is built with. Its fields are set once,
// before serving.
type Core struct {
	// Client is the bus client; a request acts through its tenant's view
	// (For).
	Client *client.Client
	// Callbacks decides where callback_url may point.
	Callbacks callback.Rules
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64
	// MaxProblemBodyBytes bounds the body of PUT /v1/problems/{id}.
	MaxProblemBodyBytes int64
	// WaitTimeout is how long ?wait=true waits without ?timeout=.
	WaitTimeout time.Duration
	// MaxWaitTimeout caps ?timeout= (and the waits of Piston and Judge0).
	MaxWaitTimeout time.Duration
	// MaxBatch bounds the requests of a batch and the ids of a list.
	MaxBatch int
	// Stop ends when the server stops: every wait then answers at once.
	Stop context.Context
	Log  *slog.Logger
}

// For is the bus client acting for r's tenant (TenantOf).
func (c *Core) For(r *http.Request) *client.Client {
	return c.Client.As(TenantOf(r.Context()))
}

// Submit queues req through cl with the gateway's callback policy as the
// front door's own check (client.SubmitOptions.Check).
func (c *Core) Submit(ctx context.Context, cl *client.Client, req *contracts.ExecutionRequest, opts client.SubmitOptions) (client.Submitted, error) {
	tenant := cl.Tenant()
	opts.Check = func(req *contracts.ExecutionRequest) *contracts.ValidationError {
		if req.CallbackURL == "" {
			return nil
		}
		if err := c.Callbacks.Check(tenant, req.CallbackURL); err != nil {
			return &contracts.ValidationError{Code: contracts.CodeInvalidRequest, Field: "callback_url", Message: err.Error()}
		}
		return nil
	}
	sub, err := cl.Submit(ctx, req, opts)
	if err == nil {
		c.Log.Debug("job queued", "id", sub.ID, "language", sub.Runtime.Language, "version", sub.Runtime.Version, "duplicate", sub.Duplicate)
	}
	return sub, err
}

// Wait waits through cl for execution id, up to timeout or until the server
// stops. done reports that the execution completed. When the wait runs out,
// exec is the latest state known (ID "" when none) and err is nil; when ctx
// ends (the caller left), err is ctx's error; otherwise err is the client's.
func (c *Core) Wait(ctx context.Context, cl *client.Client, id string, timeout time.Duration, opts client.WaitOptions) (exec contracts.Execution, done bool, err error) {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer context.AfterFunc(c.Stop, cancel)()
	exec, err = cl.Wait(wctx, id, opts)
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

// Runtimes are the runtimes a submission through cl resolves against
// (client.Client.Runtimes); none is client.ErrNoExecutor.
func Runtimes(ctx context.Context, cl *client.Client) ([]contracts.Runtime, error) {
	rts, err := cl.Runtimes(ctx)
	if err == nil && len(rts) == 0 {
		err = client.ErrNoExecutor
	}
	return rts, err
}

// Fail answers err in the native shape (see Failure).
func (c *Core) Fail(w http.ResponseWriter, r *http.Request, err error) {
	if herr := Failure(c.Log, r, err); herr != nil {
		herr.Write(w)
	}
}

// WaitParams reads ?wait= and ?timeout= with the core's default and cap.
func (c *Core) WaitParams(r *http.Request, forceWait bool) (wait bool, timeout time.Duration, herr *Error) {
	return WaitParams(r.URL.Query(), forceWait, c.WaitTimeout, c.MaxWaitTimeout)
}

// Body is r's body within MaxBodyBytes and BodyReadTimeout; call done when
// the body is read.
func (c *Core) Body(w http.ResponseWriter, r *http.Request) (body io.Reader, done func()) {
	return c.BodyWithin(w, r, c.MaxBodyBytes)
}

// BodyWithin is Body with its own bound of limit bytes.
func (c *Core) BodyWithin(w http.ResponseWriter, r *http.Request, limit int64) (body io.Reader, done func()) {
	rc := http.NewResponseController(w)
	done = func() {}
	if err := rc.SetReadDeadline(time.Now().Add(BodyReadTimeout)); err == nil {
		// Cleared afterwards: the connection is also read in the background
		// to notice a client that leaves during a long wait.
		done = func() { _ = rc.SetReadDeadline(time.Time{}) }
	}
	return http.MaxBytesReader(w, r.Body, limit), done
}

// ReadRequest reads and decodes an ExecutionRequest body (DecodeRequest).
func (c *Core) ReadRequest(w http.ResponseWriter, r *http.Request) (*contracts.ExecutionRequest, *Error) {
	body, done := c.Body(w, r)
	defer done()
	return DecodeRequest(body)
}

// ReadRaw reads the whole body.
func (c *Core) ReadRaw(w http.ResponseWriter, r *http.Request) ([]byte, *Error) {
	body, done := c.Body(w, r)
	defer done()
	data, err := io.ReadAll(body)
	if err != nil {
		if herr := BodyTooLarge(err); herr != nil {
			return nil, herr
		}
		return nil, InvalidJSON("", "could not read the request body: "+err.Error())
	}
	return data, nil
}
