// Package gateway is Airlock's HTTP front door. It validates submissions,
// queues them as jobs on the JOBS stream, and answers with the state of
// executions from the executions bucket (waiting for them when asked).
// It talks to executors and the results service only through NATS.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/services/gateway/internal/callback"
	"github.com/airlockrun/airlock/services/gateway/internal/natsapi"
	"github.com/airlockrun/airlock/services/gateway/internal/web"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures the gateway. Zero fields take the values of DefaultConfig.
type Config struct {
	// Listen is the TCP address to serve on (default "127.0.0.1:8080").
	Listen string
	// Listener, when set, is served instead of listening on Listen. Run
	// takes ownership of it and closes it.
	Listener net.Listener
	// Topology names and shapes the JetStream objects (default contracts.DefaultTopology;
	// zero fields of a partial topology take the default's values).
	Topology contracts.Topology
	// Policy bounds requests (default contracts.DefaultPolicy; zero fields
	// take the default's values).
	Policy contracts.Policy
	// MaxBodyBytes bounds a request body (default 16 MiB).
	MaxBodyBytes int64
	// MaxProblemBodyBytes bounds the body of PUT /v1/problems/{id} (default
	// 96 MiB: a package's 64 MiB of tests, Policy.MaxProblemBytes, with
	// room for JSON's escapes).
	MaxProblemBodyBytes int64
	// WaitTimeout is how long ?wait=true waits without ?timeout= (default 30s).
	WaitTimeout time.Duration
	// MaxWaitTimeout caps ?timeout= (default 5m).
	MaxWaitTimeout time.Duration
	// MaxBatch bounds the requests of POST /v1/executions/batch and the ids
	// of GET /v1/executions?ids= (default 100).
	MaxBatch int
	// APIKeys, when set, are required (Authorization: Bearer or X-Api-Key);
	// each key names its tenant. Without keys access is anonymous.
	APIKeys []APIKey
	// OperatorKey, when set, is the key that sees executor names and their
	// problems in /readyz, /v1/fleet and Judge0's execution_host (sent like
	// an API key; it names no tenant and is accepted without one only on
	// /readyz and /v1/fleet). Everyone else sees whether the gateway is
	// ready and neutral executor names.
	OperatorKey string
	// AllowedHosts are the Host header values the gateway answers, each a
	// name or address with or without :port ("*": any). Nil: localhost,
	// 127.0.0.1 and ::1 on any port when the gateway is anonymous (no
	// APIKeys), so that a web page whose name an attacker rebinds to the
	// gateway's address cannot use it (DNS rebinding); any host with API
	// keys, which such a page does not have. /healthz and /readyz answer
	// any host.
	AllowedHosts []string
	// AllowedOrigins are the web origins (scheme://host[:port]; "*": any)
	// besides the gateway's own that may POST a body a browser sends
	// cross-site without a preflight: text/plain, forms, multipart or none.
	AllowedOrigins []string
	// RateLimit is the submissions per second one tenant may make (bursts of
	// RateBurst); 0: unlimited.
	RateLimit float64
	RateBurst int
	// CallbackSecret signs callbacks (HMAC-SHA256) of tenants whose API key
	// has no secret of its own; without any secret, callback_url is refused.
	CallbackSecret string
	// CallbackAllow opens internal networks to callbacks (loopback, private
	// and link-local addresses are refused otherwise): each rule for one
	// tenant or all, on its ports or only 80 and 443. See ParseCallbackAllow.
	CallbackAllow []CallbackRule
	// CallbackAttempts bounds the delivery attempts of one callback
	// (default 8); after the last, the execution records callback_status
	// "failed".
	CallbackAttempts int
	// CallbackTimeout bounds one delivery attempt (default 10s).
	CallbackTimeout time.Duration
	// CallbackBackoff is the delay before the second attempt, doubled for
	// each further one up to five minutes (default 1s).
	CallbackBackoff time.Duration
	// CallbackSlots is how many callbacks this gateway delivers at once
	// (default 16).
	CallbackSlots int
	// Registry receives the gateway's metrics, served at /metrics (nil: a
	// registry of its own). A one-process stack shares one registry.
	Registry *prometheus.Registry
	// ShutdownTimeout is how long in-flight requests may take to finish once
	// Run's context is cancelled (default 30s).
	ShutdownTimeout time.Duration
	// ExecutorCacheTTL is how long the list of live executors is reused
	// between requests (default 1s; negative: never reused).
	ExecutorCacheTTL time.Duration
	// MaxWaits and MaxWaitsPerTenant bound the requests of this gateway
	// that wait for an execution at once (long polls, /v1/execute, the
	// compatible APIs, the NATS endpoint), in total and per tenant; a wait
	// beyond either is answered 429 rate_limited. Zero: the bus client's
	// defaults (client.DefaultMaxWaiters, client.DefaultMaxWaitersPerTenant).
	MaxWaits, MaxWaitsPerTenant int
	// Version is announced by the NATS service (micro) of the gateway; it
	// must be SemVer (default 0.1.0).
	Version string
	// NATSTenantFromSubjectOnly, when set (NATS with authentication), keeps
	// only the NATS endpoint whose tenant is the subject the server let
	// the client publish to (<prefix>.api.execute.<tenant>); the one that
	// reads the Airlock-Tenant header is not served.
	NATSTenantFromSubjectOnly bool
	// OnReady, when set, is called with the bound address once serving.
	OnReady func(addr string)
}

// APIKey gives a tenant access to the API; see Config.APIKeys.
type APIKey = web.APIKey

// CallbackRule opens an internal network to callbacks; see Config.CallbackAllow.
type CallbackRule = callback.Rule

// CallbackAllowSyntax describes what ParseCallbackAllow reads.
const CallbackAllowSyntax = callback.RuleSyntax

// ParseCallbackAllow reads callback rules written [TENANT@]CIDR[:PORTS],
// comma-separated: "10.0.0.0/8" opens ports 80 and 443 of the network to
// every tenant, "acme@10.1.2.3/32:8080+9090" two ports of one address to
// the tenant acme, and the port list "*" every port.
func ParseCallbackAllow(s string) ([]CallbackRule, error) { return callback.ParseRules(s) }

// DefaultConfig returns the default configuration.
func DefaultConfig() Config {
	return Config{
		Listen:              "127.0.0.1:8080",
		Topology:            contracts.DefaultTopology(),
		Policy:              contracts.DefaultPolicy(),
		MaxBodyBytes:        16 << 20,
		MaxProblemBodyBytes: 96 << 20,
		WaitTimeout:         30 * time.Second,
		MaxWaitTimeout:      5 * time.Minute,
		MaxBatch:            100,
		ShutdownTimeout:     30 * time.Second,
		ExecutorCacheTTL:    time.Second,
	}
}

// withDefaults fills every zero field from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setDefault(&c.Listen, d.Listen)
	c.Topology = c.Topology.WithDefaults()
	setDefault(&c.Policy.MaxFiles, d.Policy.MaxFiles)
	setDefault(&c.Policy.MaxFileBytes, d.Policy.MaxFileBytes)
	setDefault(&c.Policy.MaxSourceBytes, d.Policy.MaxSourceBytes)
	setDefault(&c.Policy.MaxStdinBytes, d.Policy.MaxStdinBytes)
	setDefault(&c.Policy.MaxTests, d.Policy.MaxTests)
	setDefault(&c.Policy.MaxProblemBytes, d.Policy.MaxProblemBytes)
	setDefault(&c.MaxProblemBodyBytes, d.MaxProblemBodyBytes)
	setDefault(&c.MaxBatch, d.MaxBatch)
	setDefault(&c.MaxBodyBytes, d.MaxBodyBytes)
	setDefault(&c.MaxWaitTimeout, d.MaxWaitTimeout)
	setDefault(&c.WaitTimeout, d.WaitTimeout)
	setDefault(&c.ShutdownTimeout, d.ShutdownTimeout)
	setDefault(&c.ExecutorCacheTTL, d.ExecutorCacheTTL)
	setDefault(&c.Version, "0.1.0")
	c.WaitTimeout = min(c.WaitTimeout, c.MaxWaitTimeout)
	return c
}

func setDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

// Run creates the JetStream objects that do not exist yet, reconciles the
// settings of the streams and buckets (the gateway owns them, see
// contracts.Owner), and serves the HTTP API until ctx
// is cancelled. It then stops accepting connections, answers long polls with
// the state known so far, and lets in-flight requests finish within
// ShutdownTimeout. It returns nil after a clean shutdown.
func Run(ctx context.Context, cfg Config, nc *nats.Conn, log *slog.Logger) (err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Listener != nil {
		// Run owns the listener: close it if serving never starts.
		defer func() {
			if err != nil {
				_ = cfg.Listener.Close()
			}
		}()
	}
	if nc == nil {
		return errors.New("gateway: no NATS connection")
	}
	cfg = cfg.withDefaults()

	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	if err := cfg.Topology.Ensure(ctx, js, contracts.As(contracts.RoleGateway), contracts.WithLog(log)); err != nil {
		return fmt.Errorf("ensure topology: %w", err)
	}
	// The problem packages' store (the gateway owns it; executors read it).
	if _, err := cfg.Topology.EnsureProblems(ctx, js, contracts.As(contracts.RoleGateway), contracts.WithLog(log)); err != nil {
		return fmt.Errorf("ensure problems store: %w", err)
	}
	// The executors' shared consumer is the fleet's: the gateway owns its
	// settings (the cap on running jobs, the ack wait, the attempts).
	if _, err := contracts.EnsureConsumer(ctx, js, contracts.JobsStream, cfg.Topology.ExecutorConsumerConfig(),
		contracts.As(contracts.RoleGateway), contracts.WithLog(log)); err != nil {
		return fmt.Errorf("executors consumer: %w", err)
	}
	policy := callback.Rules{Secret: cfg.CallbackSecret, Allow: cfg.CallbackAllow, TenantSecrets: map[string]string{}}
	for _, k := range cfg.APIKeys {
		if k.CallbackSecret != "" && policy.TenantSecrets[k.Tenant] == "" {
			policy.TenantSecrets[k.Tenant] = k.CallbackSecret
		}
	}
	c, err := client.New(ctx, nc, client.Options{Topology: cfg.Topology, Policy: cfg.Policy,
		ExecutorCacheTTL: cfg.ExecutorCacheTTL, MaxWaiters: cfg.MaxWaits, MaxWaitersPerTenant: cfg.MaxWaitsPerTenant, Log: log})
	if err != nil {
		return fmt.Errorf("bus client: %w", err)
	}
	defer c.Close() // last: after the server and the waits have ended
	// stop ends every wait (long polls, the NATS endpoint) and the
	// evaluation loops when the server shuts down.
	stop, stopWaits := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWaits()
	core := &web.Core{Client: c, Callbacks: policy, MaxBodyBytes: cfg.MaxBodyBytes, MaxProblemBodyBytes: cfg.MaxProblemBodyBytes, WaitTimeout: cfg.WaitTimeout,
		MaxWaitTimeout: cfg.MaxWaitTimeout, MaxBatch: cfg.MaxBatch, Stop: stop, Log: log}
	handler, evals, err := newHandler(cfg, core, js)
	if err != nil {
		return fmt.Errorf("gateway api: %w", err)
	}

	cbCfg := callback.Config{Topology: cfg.Topology, Policy: policy, MaxAttempts: cfg.CallbackAttempts,
		Timeout: cfg.CallbackTimeout, Backoff: cfg.CallbackBackoff, Slots: cfg.CallbackSlots}
	// The consumer starts at the present when it is new, so it must exist
	// before this gateway accepts an execution whose callback it delivers.
	if _, err := callback.EnsureConsumer(ctx, js, cbCfg, log.With("part", "callbacks")); err != nil {
		return fmt.Errorf("callbacks consumer: %w", err)
	}
	cbCtx, stopCallbacks := context.WithCancel(context.WithoutCancel(ctx))
	cbDone := make(chan error, 1)
	go func() {
		cbDone <- callback.Run(cbCtx, js, cbCfg, log.With("part", "callbacks"))
	}()
	defer func() {
		stopCallbacks()
		if cerr := <-cbDone; cerr != nil && err == nil {
			err = cerr
		}
	}()

	svc, err := natsapi.Start(nc, core, natsapi.Config{Topology: cfg.Topology, Version: cfg.Version,
		SubjectTenantOnly: cfg.NATSTenantFromSubjectOnly})
	if err != nil {
		return fmt.Errorf("nats service: %w", err)
	}
	defer func() { _ = svc.Stop() }()

	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
		}
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		// A response may legitimately take as long as the longest wait.
		WriteTimeout:   cfg.MaxWaitTimeout + time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	evals.Start()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	addr := ln.Addr().String()
	log.Info("gateway listening", "addr", addr)
	if cfg.OnReady != nil {
		cfg.OnReady(addr)
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	log.Info("gateway shutting down")
	stopWaits()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		<-served
		return fmt.Errorf("shut down http server: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}
