// Package client is Airlock's one bus client: every front door (the native
// HTTP API, the NATS endpoint, the Piston and Judge0 APIs, evaluations, the
// CLI and the tools) submits, reads and waits through it, so there is one
// tenant rule, one version rule and one submit path.
//
//	c, err := client.New(ctx, nc, client.Options{Tenant: "acme"})
//	exec, err := c.Execute(ctx, contracts.ExecutionRequest{Language: "python", Files: ...})
//
// A Client is bound to one tenant (Options.Tenant); As gives a view of the
// same client for another tenant, sharing its connection, its cache of the
// executors and its waiters (a gateway holds one Client and takes a view per
// request).
package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
)

// Errors of the client besides a *contracts.ValidationError (a rule the
// request broke). Callers test them with errors.Is.
var (
	// ErrQueueFull: the JOBS stream is at its bound; retry later.
	ErrQueueFull = errors.New("the job queue is full")
	// ErrTenantQueueFull: this tenant's share of the queue is used up.
	ErrTenantQueueFull = errors.New("the tenant's queue share is full")
	// ErrNoExecutor: no executor has announced itself.
	ErrNoExecutor = errors.New("no executor is running")
	// ErrTooLarge: the job does not fit in one NATS message.
	ErrTooLarge = errors.New("the job is larger than the message bus accepts")
	// ErrUnavailable: NATS did not answer (disconnected, timed out, or a
	// stream or bucket failed). Retry shortly.
	ErrUnavailable = errors.New("the message bus is unavailable")
	// ErrNotFound: no execution with this id is visible to the tenant.
	ErrNotFound = errors.New("no execution with this id")
	// ErrTooManyWaiters: the client already waits on its maximum of
	// executions (in total or for this tenant).
	ErrTooManyWaiters = errors.New("too many requests are waiting for executions")
	// ErrIdempotencyKeyReused: the idempotency key already names an
	// execution whose request differs from this one.
	ErrIdempotencyKeyReused = errors.New("the idempotency key was used for another request")
	// ErrStoreUnavailable: JetStream could not store the job (its store is
	// failing, or the server's or account's storage is used up); retry
	// later. The wrapped error says which.
	ErrStoreUnavailable = errors.New("the job store is unavailable")
	// ErrQueuedEventLost: the job IS queued and will run, but its queued
	// event could not be published, so its id is unknown to reads until an
	// executor takes it. Submit logs it and answers as for a queued job.
	ErrQueuedEventLost = errors.New("the job is queued, but its queued event was not published")
	// ErrClosed: the client was closed (Close), or its connection was.
	ErrClosed = errors.New("the client is closed")
)

// Defaults of Options.
const (
	DefaultExecutorCacheTTL = time.Second
	// DefaultCallTimeout bounds one NATS round trip made by the client.
	DefaultCallTimeout = 5 * time.Second
)

// queuedEventTimeout bounds the publish of a job's queued event, on its own
// clock: the job's publish may have used up the caller's deadline.
const queuedEventTimeout = 10 * time.Second

// Options configure a Client. Zero values take the defaults.
type Options struct {
	Topology contracts.Topology
	Policy   contracts.Policy
	// Tenant owns what this client submits and is the only tenant whose
	// executions it reads (default "default"). See As.
	Tenant string
	// ExecutorCacheTTL is how long a non-empty list of executors is reused
	// (default DefaultExecutorCacheTTL; negative: read it on every call).
	ExecutorCacheTTL time.Duration
	// CallTimeout bounds each NATS round trip (default DefaultCallTimeout).
	CallTimeout time.Duration
	// MaxWaiters bounds the waits in progress of the client and all its
	// tenant views (default DefaultMaxWaiters; negative: no bound). Beyond
	// it Wait answers ErrTooManyWaiters.
	MaxWaiters int
	// MaxWaitersPerTenant bounds the waits in progress of one tenant
	// (default DefaultMaxWaitersPerTenant; negative: no bound).
	MaxWaitersPerTenant int
	// ResyncInterval is how often the waits re-read their executions, in
	// case the shared subscription missed a write it could not notice
	// (default DefaultResyncInterval; negative: never). See hub.go.
	ResyncInterval time.Duration
	// Log receives the client's warnings (default: discarded).
	Log *slog.Logger
}

// shared is what every tenant view of a Client shares.
type shared struct {
	nc         *nats.Conn
	js         jetstream.JetStream
	opts       Options
	validator  *contracts.Validator
	executions jetstream.KeyValue
	results    jetstream.Stream
	fleet      *fleet
	sealer     *contracts.ResultSealer
	hub        *hub
	keys       *reservations
	log        *slog.Logger
	// problemStore is the problems object store, opened on first use.
	problemsMu   sync.Mutex
	problemStore jetstream.ObjectStore
	// afterRead, in tests, runs in Wait between its read of the current
	// state and its first wait for an update: a write it makes must reach
	// the waiter.
	afterRead func(id string)
}

// Client submits executions, reads them and waits for them, for one tenant.
// It is safe for concurrent use.
type Client struct {
	*shared
	tenant string
}

// New connects a Client to Airlock's JetStream objects, which must exist
// (any Airlock service creates them when it starts).
func New(ctx context.Context, nc *nats.Conn, opts Options) (*Client, error) {
	if opts.Topology.Prefix == "" {
		opts.Topology = contracts.DefaultTopology()
	}
	if opts.Policy.MaxFiles == 0 {
		opts.Policy = contracts.DefaultPolicy()
	}
	if opts.Tenant == "" {
		opts.Tenant = contracts.DefaultTenant
	}
	if !contracts.ValidTenant(opts.Tenant) {
		return nil, fmt.Errorf("tenant %q: letters, digits, - and _ only", opts.Tenant)
	}
	if opts.ExecutorCacheTTL == 0 {
		opts.ExecutorCacheTTL = DefaultExecutorCacheTTL
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	opts.MaxWaiters = orDefault(opts.MaxWaiters, DefaultMaxWaiters)
	opts.MaxWaitersPerTenant = orDefault(opts.MaxWaitersPerTenant, DefaultMaxWaitersPerTenant)
	opts.ResyncInterval = orDefault(opts.ResyncInterval, DefaultResyncInterval)
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	s := &shared{nc: nc, js: js, opts: opts, validator: contracts.NewValidator(opts.Policy), log: opts.Log}
	if s.executions, err = js.KeyValue(ctx, contracts.ExecutionsBucket); err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", contracts.ExecutionsBucket, err)
	}
	executors, err := js.KeyValue(ctx, contracts.ExecutorsBucket)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", contracts.ExecutorsBucket, err)
	}
	if s.results, err = js.Stream(ctx, contracts.ResultsStream); err != nil {
		return nil, fmt.Errorf("open stream %s: %w", contracts.ResultsStream, err)
	}
	if s.sealer, err = contracts.LoadResultSealer(ctx, js); err != nil {
		return nil, err
	}
	s.fleet = &fleet{kv: executors, ttl: opts.ExecutorCacheTTL, timeout: opts.CallTimeout, log: opts.Log}
	s.hub = newHub(s)
	s.keys = &reservations{js: js, timeout: opts.CallTimeout}
	return &Client{shared: s, tenant: opts.Tenant}, nil
}

// orDefault is v, or def when v is zero (a negative v stays: "no bound").
func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Close stops the subscription the waits share, for the client and every
// tenant view: the waits in progress end with the latest state they saw and
// ErrClosed, and later ones fail with ErrClosed. Submit and Get keep
// working. A Client that is never closed holds its subscription (started by
// the first Wait) until its connection closes. Close is idempotent.
func (c *Client) Close() { c.hub.close() }

// Waiting is the number of waits in progress, of the client and all its
// tenant views.
func (c *Client) Waiting() int { return c.hub.count() }

// As is a view of c for another tenant: it shares c's connection, caches and
// waiters. tenant must be valid (contracts.ValidTenant); an invalid one makes
// every call of the view fail.
func (c *Client) As(tenant string) *Client {
	return &Client{shared: c.shared, tenant: tenant}
}

// Tenant is the tenant this client acts for.
func (c *Client) Tenant() string { return c.tenant }

// Policy is the request policy the client validates with.
func (c *Client) Policy() contracts.Policy { return c.validator.Policy() }

// Validator validates requests with the client's policy (the same rules
// Submit applies), for front doors that check a request before submitting
// it.
func (c *Client) Validator() *contracts.Validator { return c.validator }

// Connected reports whether the NATS connection is up.
func (c *Client) Connected() bool { return c.nc.IsConnected() }

// MaxPayload is the largest message the NATS server accepts.
func (c *Client) MaxPayload() int64 { return c.nc.MaxPayload() }

func (c *Client) checkTenant() error {
	if !contracts.ValidTenant(c.tenant) {
		return fmt.Errorf("tenant %q: letters, digits, - and _ only", c.tenant)
	}
	return nil
}

// call bounds one NATS round trip.
func (c *Client) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opts.CallTimeout)
}

// Execute submits req and waits for its result.
func (c *Client) Execute(ctx context.Context, req contracts.ExecutionRequest) (contracts.Execution, error) {
	sub, err := c.Submit(ctx, &req, SubmitOptions{})
	if err != nil {
		return contracts.Execution{}, err
	}
	return c.Wait(ctx, sub.ID, WaitOptions{})
}
