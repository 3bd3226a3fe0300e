// Package api provides the gateway's HTTP API: submitting executions onto the
// JOBS stream, reading and long-polling their state from the executions
// bucket, listing the runtimes of the live executors, and health checks.
package api

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/services/gateway/internal/callback"
	"github.com/nats-io/nats.go/jetstream"
)

// natsTimeout bounds every single NATS round trip made for a request that
// the client does not bound itself, so that a slow or disconnected server
// turns into a 503 rather than a hang.
const natsTimeout = 5 * time.Second

// bodyReadTimeout bounds how long a client may take to send a request body.
const bodyReadTimeout = time.Minute

// Options configure the API. Zero durations and sizes must be filled by the
// caller (the gateway package applies its defaults).
type Options struct {
	Topology contracts.Topology
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64
	// WaitTimeout is how long ?wait=true waits without ?timeout=.
	WaitTimeout time.Duration
	// MaxWaitTimeout caps ?timeout=.
	MaxWaitTimeout time.Duration
	// MaxBatch bounds the requests of a batch and the ids of a list.
	MaxBatch int
	// APIKeys, when not empty, are required on every endpoint but the
	// probes; each names its tenant.
	APIKeys []APIKey
	// OperatorKey, when set, is the key (Authorization: Bearer or
	// X-Api-Key) that shows executor names and problems in /readyz,
	// /v1/fleet and Judge0's execution_host; everyone else sees only whether
	// the gateway is ready and neutral executor names.
	OperatorKey string
	// AllowedHosts are the Host header values served, each a name or
	// address with or without :port ("*": any). Nil: localhost, 127.0.0.1
	// and ::1 on any port when APIKeys is empty (an anonymous gateway must
	// not answer a page whose name was rebound to it), any host otherwise.
	// /healthz and /readyz answer any host.
	AllowedHosts []string
	// AllowedOrigins are the origins (scheme://host[:port]; "*": any)
	// besides the gateway's own that may POST a body a browser sends
	// cross-site without a preflight (text/plain, forms, multipart, none).
	AllowedOrigins []string
	// RateLimit is the submissions (POST requests) per second one tenant may
	// make, with bursts of RateBurst; 0 means no limit.
	RateLimit float64
	RateBurst int
	// Callbacks decides where callback_url may point and how callbacks are
	// signed (the tenant secrets come from APIKeys).
	Callbacks callback.Policy
	// Registry receives the gateway's metrics and is served at /metrics
	// (with everything else registered there, in a one-process stack).
	Registry *prometheus.Registry
	// Log receives request logs (debug) and problems.
	Log *slog.Logger
}

// API serves the gateway's HTTP endpoints. Create it with New.
type API struct {
	opts Options
	log  *slog.Logger
	// client is the bus client; each request takes its tenant's view (As).
	client   *client.Client
	js       jetstream.JetStream
	auth     *auth
	site     *siteGuard
	queue    *queueStats
	gatherer prometheus.Gatherer
	httpm    *httpMetrics
	evals    *evaluator
	// pseudonymKey keys the executor names shown to tenants (executorName).
	pseudonymKey [32]byte

	// stop ends when the server stops: every wait then answers at once.
	stop     context.Context
	stopWait context.CancelFunc
}

// New builds the API. The streams and buckets of opts.Topology must exist
// (see contracts.Topology.Ensure).
func New(c *client.Client, js jetstream.JetStream, opts Options) (*API, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	site, err := newSiteGuard(opts.AllowedHosts, opts.AllowedOrigins, len(opts.APIKeys) == 0)
	if err != nil {
		return nil, err
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	queue := &queueStats{js: js}
	if err := reg.Register(newQueueCollector(queue)); err != nil {
		return nil, fmt.Errorf("register queue metrics: %w", err)
	}
	stop, stopWait := context.WithCancel(context.Background())
	a := &API{
		gatherer: reg,
		httpm:    newHTTPMetrics(reg),
		opts:     opts,
		log:      opts.Log,
		client:   c,
		js:       js,
		site:     site,
		auth:     newAuth(opts.APIKeys, opts.OperatorKey, opts.RateLimit, opts.RateBurst),
		queue:    queue,
		stop:     stop,
		stopWait: stopWait,
	}
	a.evals = newEvaluator(c, js, opts.Topology, stop, opts.Log)
	if _, err := rand.Read(a.pseudonymKey[:]); err != nil {
		return nil, fmt.Errorf("executor pseudonym key: %w", err)
	}
	return a, nil
}

// Shutdown makes every request that is waiting for an execution answer at
// once with the state known so far, so that a graceful server shutdown does
// not sit out long polls. It is safe to call more than once.
func (a *API) Shutdown() { a.stopWait() }

// Handler returns the HTTP handler of every endpoint, wrapped in panic
// recovery and request logging.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/executions", a.handleSubmit(false))
	mux.HandleFunc("GET /v1/executions", a.handleList)
	mux.HandleFunc("/v1/executions", methodNotAllowed("GET, HEAD, POST"))
	mux.HandleFunc("POST /v1/executions/batch", a.handleBatch)
	mux.HandleFunc("GET /v1/executions/batch", methodNotAllowed("POST"))
	mux.HandleFunc("POST /v1/execute", a.handleSubmit(true))
	mux.HandleFunc("/v1/execute", methodNotAllowed("POST"))
	mux.HandleFunc("GET /v1/executions/{id}", a.handleGet)
	mux.HandleFunc("/v1/executions/{id}", methodNotAllowed("GET, HEAD"))
	mux.HandleFunc("GET /v1/fleet", a.handleFleet)
	mux.HandleFunc("/v1/fleet", methodNotAllowed("GET, HEAD"))
	mux.Handle("GET /metrics", a.metricsHandler())
	mux.HandleFunc("/metrics", methodNotAllowed("GET, HEAD"))
	mux.HandleFunc("GET /v1/runtimes", a.handleRuntimes)
	mux.HandleFunc("/v1/runtimes", methodNotAllowed("GET, HEAD"))
	mux.HandleFunc("GET /healthz", a.handleHealth)
	mux.HandleFunc("/healthz", methodNotAllowed("GET, HEAD"))
	mux.HandleFunc("GET /readyz", a.handleReady)
	mux.HandleFunc("/readyz", methodNotAllowed("GET, HEAD"))
	mux.HandleFunc("GET /openapi.json", a.handleOpenAPI)
	mux.HandleFunc("/openapi.json", methodNotAllowed("GET, HEAD"))
	a.registerPiston(mux) // piston.go: /api/v2/...
	a.registerJudge0(mux) // judge0.go: /submissions, /languages, /statuses, ...
	// Evaluations (eval.go): /v1/evaluations.
	a.registerEvaluations(mux)
	// The web console (console.go): pages and assets, served without a key.
	mux.HandleFunc("GET /{$}", handleConsolePage("index.html"))
	mux.HandleFunc("/{$}", methodNotAllowed("GET, HEAD"))
	mux.HandleFunc("GET /console/fleet", handleConsolePage("fleet.html"))
	mux.HandleFunc("/console/fleet", methodNotAllowed("GET, HEAD"))
	mux.HandleFunc("GET "+consoleAssetsPrefix, handleConsoleAsset)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, contracts.CodeNotFound, "", fmt.Sprintf("no such endpoint: %s", r.URL.Path))
	})
	return instrument(a.log, a.httpm, a.site.middleware(a.log, a.auth.middleware(mux)))
}
