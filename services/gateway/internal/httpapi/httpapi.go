// Package httpapi serves the gateway's native HTTP API (v1): submitting
// executions (single, batch, waiting), reading and long-polling them,
// listing the runtimes and the fleet, health checks, the metrics and the
// OpenAPI document. Every submission, read and wait goes through the bus
// client (web.Core).
package httpapi

import (
	"crypto/rand"
	"fmt"
	"net/http"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/airlockrun/airlock/services/gateway/internal/web"
)

// API serves the native endpoints. Create it with New.
type API struct {
	*web.Core
	// js reads the streams for /readyz and the queue depth for the metrics.
	js       jetstream.JetStream
	queue    *queueStats
	gatherer prometheus.Gatherer
	// pseudonymKey keys the executor names shown to tenants (pseudonym).
	pseudonymKey [32]byte
}

// New builds the native API on core and registers the queue metrics with
// reg, which /metrics serves.
func New(core *web.Core, js jetstream.JetStream, reg *prometheus.Registry) (*API, error) {
	queue := &queueStats{js: js}
	if err := reg.Register(newQueueCollector(queue)); err != nil {
		return nil, fmt.Errorf("register queue metrics: %w", err)
	}
	waits := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "airlock_gateway_waits",
		Help: "Requests of this gateway waiting for an execution (long polls, /v1/execute, Piston, Judge0 and NATS waits); they share one subscription.",
	}, func() float64 { return float64(core.Client.Waiting()) })
	if err := reg.Register(waits); err != nil {
		return nil, fmt.Errorf("register wait metrics: %w", err)
	}
	a := &API{Core: core, js: js, queue: queue, gatherer: reg}
	if _, err := rand.Read(a.pseudonymKey[:]); err != nil {
		return nil, fmt.Errorf("executor pseudonym key: %w", err)
	}
	return a, nil
}

// Register adds the native endpoints to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/executions", a.handleSubmit(false))
	mux.HandleFunc("GET /v1/executions", a.handleList)
	mux.HandleFunc("/v1/executions", web.MethodNotAllowed("GET, HEAD, POST"))
	mux.HandleFunc("POST /v1/executions/batch", a.handleBatch)
	mux.HandleFunc("GET /v1/executions/batch", web.MethodNotAllowed("POST"))
	mux.HandleFunc("POST /v1/execute", a.handleSubmit(true))
	mux.HandleFunc("/v1/execute", web.MethodNotAllowed("POST"))
	mux.HandleFunc("GET /v1/executions/{id}", a.handleGet)
	mux.HandleFunc("/v1/executions/{id}", web.MethodNotAllowed("GET, HEAD"))
	mux.HandleFunc("PUT /v1/problems/{id}", a.handlePutProblem)
	mux.HandleFunc("GET /v1/problems/{id}", a.handleGetProblem)
	mux.HandleFunc("DELETE /v1/problems/{id}", a.handleDeleteProblem)
	mux.HandleFunc("/v1/problems/{id}", web.MethodNotAllowed("DELETE, GET, HEAD, PUT"))
	mux.HandleFunc("GET /v1/fleet", a.handleFleet)
	mux.HandleFunc("/v1/fleet", web.MethodNotAllowed("GET, HEAD"))
	mux.Handle("GET /metrics", a.metricsHandler())
	mux.HandleFunc("/metrics", web.MethodNotAllowed("GET, HEAD"))
	mux.HandleFunc("GET /v1/runtimes", a.handleRuntimes)
	mux.HandleFunc("/v1/runtimes", web.MethodNotAllowed("GET, HEAD"))
	mux.HandleFunc("GET /healthz", a.handleHealth)
	mux.HandleFunc("/healthz", web.MethodNotAllowed("GET, HEAD"))
	mux.HandleFunc("GET /readyz", a.handleReady)
	mux.HandleFunc("/readyz", web.MethodNotAllowed("GET, HEAD"))
	mux.HandleFunc("GET /openapi.json", a.handleOpenAPI)
	mux.HandleFunc("/openapi.json", web.MethodNotAllowed("GET, HEAD"))
}
