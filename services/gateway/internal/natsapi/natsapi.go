// Package natsapi serves Airlock's NATS request/reply endpoint (a micro
// service): send an ExecutionRequest, receive the finished Execution, on
// the bus client like every other front door.
package natsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/services/gateway/internal/web"
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

// natsTimeout is the time a request may take besides its wait (submission).
const natsTimeout = 5 * time.Second

// problemTimeout bounds a problem request (storing a package writes its
// tests to the object store).
const problemTimeout = 5 * time.Minute

// Config configures the NATS endpoint.
type Config struct {
	Topology contracts.Topology
	// Version is announced by the service; it must be SemVer.
	Version string
	// SubjectTenantOnly serves only the endpoint whose tenant is the
	// subject (see Start).
	SubjectTenantOnly bool
}

// endpoint serves the NATS requests.
type endpoint struct{ *web.Core }

// Start registers the `airlock` NATS service (package micro), in the
// queue group "airlock" so that every gateway shares the load, with the
// endpoint `execute-as` on <prefix>.api.execute.<tenant>: the tenant is the
// subject's last token, so the NATS server's publish permissions decide it
// (a client identity may publish only to its own tenant's subject). Unless
// cfg.SubjectTenantOnly, it also registers the endpoint `execute` on
// <prefix>.api.execute, whose tenant is the Airlock-Tenant header, which any
// publisher can set: it is for a NATS without authentication (the
// zero-configuration dev stack). A request is an ExecutionRequest in JSON;
// the reply is the finished Execution, or a service error in the standard
// Nats-Service-Error and Nats-Service-Error-Code headers (the HTTP status as
// the code, an ErrorBody as the payload).
func Start(nc *nats.Conn, core *web.Core, cfg Config) (micro.Service, error) {
	a := &endpoint{Core: core}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        "airlock",
		Version:     cfg.Version,
		Description: "Run untrusted code: send an ExecutionRequest, receive the finished Execution",
		QueueGroup:  "airlock",
	})
	if err != nil {
		return nil, err
	}
	sem := make(chan struct{}, maxNATSInFlight)
	handler := func(tenantOf func(micro.Request) (string, *web.Error), serve func(micro.Request, string)) micro.Handler {
		return micro.HandlerFunc(func(req micro.Request) {
			select {
			case sem <- struct{}{}:
			default:
				replyError(req, &web.Error{Status: http.StatusTooManyRequests, Code: contracts.CodeQueueFull,
					Message: "too many requests in flight on this gateway; retry later"})
				return
			}
			tenant, herr := tenantOf(req)
			if herr != nil {
				<-sem
				replyError(req, herr)
				return
			}
			// Each request waits for its execution: never block the subscription.
			// When core.Stop ends, waiting requests answer at once.
			go func() {
				defer func() { <-sem }()
				serve(req, tenant)
			}()
		})
	}
	meta := micro.WithEndpointMetadata(map[string]string{"request": "ExecutionRequest (JSON)", "response": "Execution (JSON)"})
	topo := cfg.Topology
	problemMeta := micro.WithEndpointMetadata(map[string]string{"request": "ProblemRequest (JSON)", "response": "ProblemManifest (JSON; {} for delete)"})
	subjectTenant := func(of func(string) (string, bool)) func(micro.Request) (string, *web.Error) {
		return func(req micro.Request) (string, *web.Error) {
			tenant, ok := of(req.Subject())
			if !ok {
				return "", &web.Error{Status: http.StatusUnprocessableEntity, Code: contracts.CodeInvalidRequest,
					Message: "the subject's last token must be a tenant: 1-64 letters, digits, - or _"}
			}
			return tenant, nil
		}
	}
	endpoints := []struct {
		name, subject string
		tenantOf      func(micro.Request) (string, *web.Error)
		serve         func(micro.Request, string)
		meta          micro.EndpointOpt
		headerTenant  bool
	}{
		{"execute-as", topo.ExecuteSubject("*"), subjectTenant(topo.TenantOfExecuteSubject), a.serveNATS, meta, false},
		{"problem-as", topo.ProblemSubject("*"), subjectTenant(topo.TenantOfProblemSubject), a.serveProblem, problemMeta, false},
		{"execute", topo.Prefix + ".api.execute", tenantFromHeader, a.serveNATS, meta, true},
		{"problem", topo.Prefix + ".api.problem", tenantFromHeader, a.serveProblem, problemMeta, true},
	}
	for _, e := range endpoints {
		if e.headerTenant && cfg.SubjectTenantOnly {
			continue
		}
		if err := svc.AddEndpoint(e.name, handler(e.tenantOf, e.serve), micro.WithEndpointSubject(e.subject), e.meta); err != nil {
			_ = svc.Stop()
			return nil, err
		}
	}
	return svc, nil
}

// tenantFromHeader is the tenant of a request on the unauthenticated
// endpoint: the Airlock-Tenant header, "default" without one.
func tenantFromHeader(req micro.Request) (string, *web.Error) {
	tenant := req.Headers().Get(TenantHeader)
	if tenant == "" {
		tenant = contracts.DefaultTenant
	}
	if !contracts.ValidTenant(tenant) {
		return "", &web.Error{Status: http.StatusBadRequest, Code: contracts.CodeInvalidHeader, Field: TenantHeader,
			Message: "Airlock-Tenant must be 1-64 letters, digits, - or _"}
	}
	return tenant, nil
}

func replyError(req micro.Request, herr *web.Error) {
	b, _ := json.Marshal(contracts.ErrorBody{Error: *herr.Detail()})
	_ = req.Error(strconv.Itoa(herr.Status), herr.Message, b)
}

func (a *endpoint) serveNATS(req micro.Request, tenant string) {
	timeout := a.WaitTimeout
	if v := req.Headers().Get(TimeoutHeader); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			replyError(req, &web.Error{Status: http.StatusBadRequest, Code: contracts.CodeInvalidHeader, Field: TimeoutHeader,
				Message: "Airlock-Timeout must be a positive duration such as 30s"})
			return
		}
		timeout = min(d, a.MaxWaitTimeout)
	}
	parsed, herr := web.DecodeRequest(bytes.NewReader(req.Data()))
	if herr != nil {
		replyError(req, herr)
		return
	}
	c := a.Client.As(tenant)
	ctx, cancel := context.WithTimeout(context.Background(), timeout+natsTimeout)
	defer cancel()
	sub, err := a.Submit(ctx, c, parsed, client.SubmitOptions{})
	if err != nil {
		a.replyFailure(req, err)
		return
	}
	exec, done, err := a.Wait(ctx, c, sub.ID, timeout, client.WaitOptions{})
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

// replyFailure answers a client error as the HTTP API would (web.ErrorOf), the
// status as the service error code.
func (a *endpoint) replyFailure(req micro.Request, err error) {
	herr := web.ErrorOf(err)
	if herr.Status >= http.StatusInternalServerError {
		a.Log.Warn("NATS request failed", "subject", req.Subject(), "err", err)
	}
	replyError(req, herr)
}

// serveProblem serves a ProblemRequest: store (put), read (get) or delete
// a problem package of tenant through the bus client, as PUT, GET and
// DELETE /v1/problems/{id} do. A package sent this way is bounded by the
// NATS server's max_payload.
func (a *endpoint) serveProblem(req micro.Request, tenant string) {
	pr, herr := web.DecodeObject[contracts.ProblemRequest](bytes.NewReader(req.Data()))
	if herr != nil {
		replyError(req, herr)
		return
	}
	c := a.Client.As(tenant)
	ctx, cancel := context.WithTimeout(context.Background(), problemTimeout)
	defer cancel()
	switch pr.Op {
	case contracts.ProblemPut:
		if pr.Package == nil {
			replyError(req, &web.Error{Status: http.StatusUnprocessableEntity, Code: contracts.CodeInvalidRequest, Field: "package", Message: "put needs a package"})
			return
		}
		stored, err := c.PutProblem(ctx, pr.ID, pr.Package)
		if err != nil {
			a.replyFailure(req, err)
			return
		}
		_ = req.RespondJSON(stored.Manifest)
	case contracts.ProblemGet:
		m, err := c.Problem(ctx, pr.ID)
		if err != nil {
			a.replyFailure(req, err)
			return
		}
		_ = req.RespondJSON(m)
	case contracts.ProblemDelete:
		if err := c.DeleteProblem(ctx, pr.ID); err != nil {
			a.replyFailure(req, err)
			return
		}
		_ = req.Respond([]byte("{}"))
	default:
		replyError(req, &web.Error{Status: http.StatusUnprocessableEntity, Code: contracts.CodeInvalidRequest, Field: "op",
			Message: fmt.Sprintf("op must be %s, %s or %s", contracts.ProblemPut, contracts.ProblemGet, contracts.ProblemDelete)})
	}
}
