// Package results is Airlock's results service: the only writer of the
// `executions` KV bucket. It consumes the status events on the RESULTS stream
// (each a full contracts.Execution snapshot, from the gateway and from
// executors) and stores each execution's most advanced state. Events may
// arrive out of order or more than once; a stored state never moves backwards
// and the first completed state wins.
package results

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/results/internal/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config configures the results service. Zero durations and counts take the
// values of DefaultConfig.
type Config struct {
	// Topology names the streams, buckets and subjects.
	Topology contracts.Topology
	// AckWait is how long an event delivered to this service may stay
	// unacknowledged before JetStream redelivers it.
	AckWait time.Duration
	// MaxAckPending bounds the events delivered but not yet acknowledged,
	// across all instances sharing the durable consumer.
	MaxAckPending int
	// Buffer is how many events the client fetches ahead.
	Buffer int
	// RetryDelay is how long a failed event waits before redelivery.
	RetryDelay time.Duration
	// OpTimeout bounds the KV work for one event.
	OpTimeout time.Duration
	// Registry receives the service's Prometheus metrics (nil: a registry of
	// its own, served on MetricsListen when that is set).
	Registry *prometheus.Registry
	// MetricsListen serves /metrics on this address ("": not served here).
	MetricsListen string
}

// DefaultConfig returns the configuration used unless told otherwise.
func DefaultConfig() Config {
	return Config{
		Topology:      contracts.DefaultTopology(),
		AckWait:       30 * time.Second,
		MaxAckPending: 256,
		Buffer:        64,
		RetryDelay:    500 * time.Millisecond,
		OpTimeout:     10 * time.Second,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.AckWait <= 0 {
		c.AckWait = d.AckWait
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = d.MaxAckPending
	}
	if c.Buffer <= 0 {
		c.Buffer = d.Buffer
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = d.RetryDelay
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = d.OpTimeout
	}
	return c
}

// drainWait bounds how long shutdown waits for buffered events to hand back.
const drainWait = time.Second

// Run consumes RESULTS until ctx is cancelled, then stops taking messages,
// finishes the one in hand, hands buffered ones back for redelivery and
// returns nil. It returns an error if it cannot start (JetStream objects or
// the consumer cannot be set up) or if the connection is closed under it.
// Several instances may run at once; they share the durable consumer.
func Run(ctx context.Context, cfg Config, nc *nats.Conn, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	if cfg.Topology.Prefix == "" {
		return errors.New("results: config: empty topology prefix")
	}
	cfg.Topology = cfg.Topology.WithDefaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	// The results service checks the streams and buckets (the gateway owns
	// them: it may create them, not change them).
	if err := cfg.Topology.Ensure(ctx, js, contracts.As(contracts.RoleResults), contracts.WithLog(log)); err != nil {
		return fmt.Errorf("ensure topology: %w", err)
	}
	kv, err := js.KeyValue(ctx, contracts.ExecutionsBucket)
	if err != nil {
		return fmt.Errorf("open bucket %s: %w", contracts.ExecutionsBucket, err)
	}
	sealer, err := contracts.LoadResultSealer(ctx, js)
	if err != nil {
		return err
	}
	cons, err := ensureConsumer(ctx, js, cfg, log)
	if err != nil {
		return err
	}

	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "airlock_result_events_total",
		Help: "Status events handled by the results service, by status and outcome (created, updated, skipped, dropped, refused, error).",
	}, []string{"status", "outcome"})
	if err := reg.Register(events); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	if cfg.MetricsListen != "" {
		ln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	s := &service{cfg: cfg, kv: kv, sealer: sealer, log: log, baseCtx: context.WithoutCancel(ctx), events: events}
	log.Info("results service started",
		"stream", contracts.ResultsStream, "consumer", contracts.ResultsConsumer, "bucket", contracts.ExecutionsBucket)
	defer log.Info("results service stopped")

	for {
		err := s.consume(ctx, cons)
		if ctx.Err() != nil {
			return nil
		}
		if nc.IsClosed() {
			return fmt.Errorf("consume: %w", err)
		}
		log.Warn("consuming interrupted; restarting", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(cfg.RetryDelay):
		}
		if c, err := ensureConsumer(ctx, js, cfg, log); err != nil {
			log.Warn("recreate consumer", "err", err)
		} else {
			cons = c
		}
	}
}

// ensureConsumer creates the results consumer or reconciles its settings
// (the results service owns them).
func ensureConsumer(ctx context.Context, js jetstream.JetStream, cfg Config, log *slog.Logger) (jetstream.Consumer, error) {
	return contracts.EnsureConsumer(ctx, js, contracts.ResultsStream,
		cfg.Topology.ResultsConsumerConfig(cfg.AckWait, cfg.MaxAckPending), contracts.As(contracts.RoleResults), contracts.WithLog(log))
}

type service struct {
	cfg    Config
	kv     jetstream.KeyValue
	sealer *contracts.ResultSealer
	log    *slog.Logger
	// baseCtx outlives cancellation so the event in hand can finish.
	baseCtx context.Context
	events  *prometheus.CounterVec
}

// consume handles events one at a time until ctx is cancelled (nil) or the
// iterator fails (the error).
func (s *service) consume(ctx context.Context, cons jetstream.Consumer) error {
	it, err := cons.Messages(jetstream.PullMaxMessages(s.cfg.Buffer))
	if err != nil {
		return fmt.Errorf("messages: %w", err)
	}
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				s.handBack(it)
				return nil
			}
			it.Stop()
			return fmt.Errorf("next: %w", err)
		}
		s.handle(msg)
	}
}

// handBack stops fetching and naks whatever was already buffered, so another
// instance (or the next run) gets it at once instead of after AckWait.
func (s *service) handBack(it jetstream.MessagesContext) {
	it.Drain()
	for {
		msg, err := it.Next(jetstream.NextMaxWait(drainWait))
		if err != nil {
			break
		}
		if err := msg.Nak(); err != nil {
			s.log.Debug("nak buffered event", "subject", msg.Subject(), "err", err)
		}
	}
	it.Stop()
}

// handle stores one event and acknowledges it, terminates it when it can
// never be stored, or asks for redelivery when storing failed.
func (s *service) handle(msg jetstream.Msg) {
	var ev contracts.Execution
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		s.log.Warn("dropping undecodable event", "subject", msg.Subject(), "err", err)
		s.term(msg)
		return
	}
	if !contracts.ValidID(ev.ID) {
		s.log.Warn("dropping event with invalid id", "subject", msg.Subject(), "id", ev.ID)
		s.term(msg)
		return
	}
	if ev.Status.Rank() == 0 {
		s.log.Warn("dropping event with unknown status", "subject", msg.Subject(), "id", ev.ID, "status", ev.Status)
		s.term(msg)
		return
	}
	if !s.sealer.Sealed(s.cfg.Topology, msg.Subject(), msg.Headers(), ev.ID) {
		// Published by an identity that never held the job (every event
		// subject is open to every executor): a forged result.
		s.log.Warn("refusing an event without its job's result token", "subject", msg.Subject(), "id", ev.ID, "status", ev.Status)
		s.events.WithLabelValues(string(ev.Status), "refused").Inc()
		_ = msg.Term()
		return
	}

	ctx, cancel := context.WithTimeout(s.baseCtx, s.cfg.OpTimeout)
	defer cancel()
	outcome, err := store.Apply(ctx, s.kv, &ev)
	if err != nil {
		s.events.WithLabelValues(string(ev.Status), "error").Inc()
		s.log.Warn("store event; will retry", "id", ev.ID, "status", ev.Status, "err", err)
		if err := msg.NakWithDelay(s.cfg.RetryDelay); err != nil {
			s.log.Warn("nak event", "id", ev.ID, "err", err)
		}
		return
	}
	if err := msg.Ack(); err != nil {
		// The write is done; a redelivery is harmless (it will be skipped).
		s.log.Warn("ack event", "id", ev.ID, "err", err)
		return
	}
	s.events.WithLabelValues(string(ev.Status), outcome.String()).Inc()
	s.log.Debug("event", "id", ev.ID, "status", ev.Status, "outcome", outcome)
}

func (s *service) term(msg jetstream.Msg) {
	s.events.WithLabelValues("", "dropped").Inc()
	if err := msg.Term(); err != nil {
		s.log.Warn("term event", "subject", msg.Subject(), "err", err)
	}
}
