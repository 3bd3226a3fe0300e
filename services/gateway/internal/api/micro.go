package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/airlockrun/airlock/contracts"
)

// Headers of the NATS request/reply endpoint.
const (
	// TimeoutHeader bounds how long the endpoint waits for the result (a Go
	// duration; default and cap as for ?timeout=).
	TimeoutHeader = "Airlock-Timeout"
	// TenantHeader names the tenant of a request from an internal service.
	TenantHeader = "Airlock-Tenant"
	// maxNATSInFlight bounds the requests the endpoint waits on at once.
	maxNATSInFlight = 1024
)

// MicroService registers the `airlock` NATS service (package micro) with the
// endpoint `execute` on <prefix>.api.execute, in the queue group "airlock"
// so that every gateway shares the load. A request is an ExecutionRequest in
// JSON; the reply is the finished Execution, or a service error in the
// standard Nats-Service-Error and Nats-Service-Error-Code headers (the HTTP
// status as the code, an ErrorBody as the payload).
func (a *API) MicroService(nc *nats.Conn, version string) (micro.Service, error) {
	svc, err := micro.AddService(nc, micro.Config{
		Name:        "airlock",
		Version:     version,
		Description: "Run untrusted code: send an ExecutionRequest, receive the finished Execution",
		QueueGroup:  "airlock",
	})
	if err != nil {
		return nil, err
	}
	sem := make(chan struct{}, maxNATSInFlight)
	handler := micro.HandlerFunc(func(req micro.Request) {
		select {
		case sem <- struct{}{}:
		default:
			_ = req.Error("429", "too many requests in flight on this gateway", errorBody(contracts.CodeQueueFull, "too many requests in flight on this gateway; retry later"))
			return
		}
		// Each request waits for its execution: never block the subscription.
		// On shutdown (API.Shutdown) waiting requests answer at once.
		go func() {
			defer func() { <-sem }()
			a.serveNATS(req)
		}()
	})
	if err := svc.AddEndpoint("execute", handler,
		micro.WithEndpointSubject(a.opts.Topology.Prefix+".api.execute"),
		micro.WithEndpointMetadata(map[string]string{"request": "ExecutionRequest (JSON)", "response": "Execution (JSON)"})); err != nil {
		_ = svc.Stop()
		return nil, err
	}
	return svc, nil
}

func errorBody(code, message string) []byte {
	b, _ := json.Marshal(contracts.ErrorBody{Error: contracts.ErrorDetail{Code: code, Message: message}})
	return b
}

func replyError(req micro.Request, herr *httpError) {
	b, _ := json.Marshal(contracts.ErrorBody{Error: *herr.detail()})
	_ = req.Error(strconv.Itoa(herr.status), herr.message, b)
}

func (a *API) serveNATS(req micro.Request) {
	tenant := req.Headers().Get(TenantHeader)
	if tenant == "" {
		tenant = contracts.DefaultTenant
	}
	if !contracts.ValidTenant(tenant) {
		replyError(req, &httpError{status: http.StatusBadRequest, code: contracts.CodeInvalidHeader, field: TenantHeader,
			message: "Airlock-Tenant must be 1-64 letters, digits, - or _"})
		return
	}
	timeout := a.opts.WaitTimeout
	if v := req.Headers().Get(TimeoutHeader); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			replyError(req, &httpError{status: http.StatusBadRequest, code: contracts.CodeInvalidHeader, field: TimeoutHeader,
				message: "Airlock-Timeout must be a positive duration such as 30s"})
			return
		}
		timeout = min(d, a.opts.MaxWaitTimeout)
	}
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), tenantKey{}, tenant), timeout+natsTimeout)
	defer cancel()

	parsed, herr := decodeRequest(bytes.NewReader(req.Data()))
	if herr != nil {
		replyError(req, herr)
		return
	}
	rt, herr := a.prepare(ctx, parsed)
	if herr != nil {
		replyError(req, herr)
		return
	}
	id := contracts.NewID()
	watcher, err := a.executions.Watch(ctx, id)
	if err != nil {
		replyError(req, &httpError{status: http.StatusServiceUnavailable, code: contracts.CodeUnavailable, message: "could not watch the execution"})
		return
	}
	defer func() { _ = watcher.Stop() }()
	if herr := a.enqueue(ctx, id, parsed, rt); herr != nil {
		replyError(req, herr)
		return
	}
	exec, outcome, err := a.await(ctx, watcher, id, timeout, false)
	switch {
	case err != nil:
		replyError(req, &httpError{status: http.StatusServiceUnavailable, code: contracts.CodeUnavailable, message: "lost track of the execution: " + err.Error()})
	case outcome == waitDone:
		_ = req.RespondJSON(exec)
	default:
		b, _ := json.Marshal(contracts.Accepted{ID: id, Status: contracts.StatusQueued})
		_ = req.Error("504", "the execution did not finish in time; it goes on: read it with GET /v1/executions/"+id, b)
	}
}
