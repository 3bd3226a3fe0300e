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
	"github.com/airlockrun/airlock/contracts/client"
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

// MicroService registers the `airlock` NATS service (package micro), in the
// queue group "airlock" so that every gateway shares the load, with the
// endpoint `execute-as` on <prefix>.api.execute.<tenant>: the tenant is the
// subject's last token, so the NATS server's publish permissions decide it
// (a client identity may publish only to its own tenant's subject). Unless
// subjectTenantOnly, it also registers the endpoint `execute` on
// <prefix>.api.execute, whose tenant is the Airlock-Tenant header, which any
// publisher can set: it is for a NATS without authentication (the
// zero-configuration dev stack). A request is an ExecutionRequest in JSON;
// the reply is the finished Execution, or a service error in the standard
// Nats-Service-Error and Nats-Service-Error-Code headers (the HTTP status as
// the code, an ErrorBody as the payload).
func (a *API) MicroService(nc *nats.Conn, version string, subjectTenantOnly bool) (micro.Service, error) {
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
	handler := func(tenantOf func(micro.Request) (string, *httpError)) micro.Handler {
		return micro.HandlerFunc(func(req micro.Request) {
			select {
			case sem <- struct{}{}:
			default:
				replyError(req, &httpError{status: http.StatusTooManyRequests, code: contracts.CodeQueueFull,
					message: "too many requests in flight on this gateway; retry later"})
				return
			}
			tenant, herr := tenantOf(req)
			if herr != nil {
				<-sem
				replyError(req, herr)
				return
			}
			// Each request waits for its execution: never block the subscription.
			// On shutdown (API.Shutdown) waiting requests answer at once.
			go func() {
				defer func() { <-sem }()
				a.serveNATS(req, tenant)
			}()
		})
	}
	meta := micro.WithEndpointMetadata(map[string]string{"request": "ExecutionRequest (JSON)", "response": "Execution (JSON)"})
	topo := a.opts.Topology
	if err := svc.AddEndpoint("execute-as", handler(func(req micro.Request) (string, *httpError) {
		tenant, ok := topo.TenantOfExecuteSubject(req.Subject())
		if !ok {
			return "", &httpError{status: http.StatusUnprocessableEntity, code: contracts.CodeInvalidRequest,
				message: "the subject's last token must be a tenant: 1-64 letters, digits, - or _"}
		}
		return tenant, nil
	}), micro.WithEndpointSubject(topo.ExecuteSubject("*")), meta); err != nil {
		_ = svc.Stop()
		return nil, err
	}
	if subjectTenantOnly {
		return svc, nil
	}
	if err := svc.AddEndpoint("execute", handler(tenantFromHeader),
		micro.WithEndpointSubject(topo.Prefix+".api.execute"), meta); err != nil {
		_ = svc.Stop()
		return nil, err
	}
	return svc, nil
}

// tenantFromHeader is the tenant of a request on the unauthenticated
// endpoint: the Airlock-Tenant header, "default" without one.
func tenantFromHeader(req micro.Request) (string, *httpError) {
	tenant := req.Headers().Get(TenantHeader)
	if tenant == "" {
		tenant = contracts.DefaultTenant
	}
	if !contracts.ValidTenant(tenant) {
		return "", &httpError{status: http.StatusBadRequest, code: contracts.CodeInvalidHeader, field: TenantHeader,
			message: "Airlock-Tenant must be 1-64 letters, digits, - or _"}
	}
	return tenant, nil
}

func replyError(req micro.Request, herr *httpError) {
	b, _ := json.Marshal(contracts.ErrorBody{Error: *herr.detail()})
	_ = req.Error(strconv.Itoa(herr.status), herr.message, b)
}

func (a *API) serveNATS(req micro.Request, tenant string) {
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
	parsed, herr := decodeRequest(bytes.NewReader(req.Data()))
	if herr != nil {
		replyError(req, herr)
		return
	}
	c := a.client.As(tenant)
	ctx, cancel := context.WithTimeout(context.Background(), timeout+natsTimeout)
	defer cancel()
	sub, err := a.submit(ctx, c, parsed, client.SubmitOptions{})
	if err != nil {
		a.replyFailure(req, err)
		return
	}
	exec, done, err := a.waitFor(ctx, c, sub.ID, timeout, client.WaitOptions{})
	switch {
	case err != nil:
		a.replyFailure(req, err)
	case done:
		_ = req.RespondJSON(exec)
	default:
		b, _ := json.Marshal(contracts.Accepted{ID: sub.ID, Status: contracts.StatusQueued})
		_ = req.Error("504", "the execution did not finish in time; it goes on: read it with GET /v1/executions/"+sub.ID, b)
	}
}

// replyFailure answers a client error as the HTTP API would (errorOf), the
// status as the service error code.
func (a *API) replyFailure(req micro.Request, err error) {
	herr := errorOf(err)
	if herr.status >= http.StatusInternalServerError {
		a.log.Warn("NATS request failed", "subject", req.Subject(), "err", err)
	}
	replyError(req, herr)
}
