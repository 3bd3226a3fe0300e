package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/executor"
	"github.com/airlockrun/airlock/services/gateway"
	"github.com/airlockrun/airlock/services/results"
)

// runService runs one service against an external NATS.
func runService(ctx context.Context, name string, args []string, stderr io.Writer) error {
	cfg, err := parseConfig(name, args, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	log = log.With("service", name)
	log.Info("starting", "nats", contracts.RedactURL(cfg.NATS.URL), "prefix", cfg.Topology.Prefix, "version", version)
	cfg.NATS.InboxPrefix = contracts.InboxPrefix(contracts.Role(name), "")
	// With an identity of its own, the gateway trusts the subjects the
	// server enforces, never a header.
	cfg.Gateway.NATSTenantFromSubjectOnly = cfg.NATS.Authenticated()
	nc, err := cfg.NATS.Connect("airlock-"+name, log)
	if err != nil {
		return err
	}
	defer drain(nc)
	switch name {
	case "gateway":
		return gateway.Run(ctx, cfg.Gateway, nc, log)
	case "executor":
		return executor.Run(ctx, cfg.Executor, nc, log)
	default:
		return results.Run(ctx, cfg.Results, nc, log)
	}
}

func drain(nc *nats.Conn) {
	done := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(done) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		nc.Close()
	}
}

// runDev runs the embedded NATS server and all three services in one process.
func runDev(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := parseConfig("dev", args, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	return dev(ctx, cfg, log, nil)
}

// devHooks lets tests learn the bound addresses.
type devHooks struct {
	onGateway func(addr string)
	onNATS    func(url string)
}

func dev(ctx context.Context, cfg *config, log *slog.Logger, hooks *devHooks) error {
	ns, connect, err := startDevNATS(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()
	if hooks != nil && hooks.onNATS != nil {
		hooks.onNATS(ns.ClientURL())
	}
	if hooks != nil && hooks.onGateway != nil {
		cfg.Gateway.OnReady = hooks.onGateway
	}
	if cfg.Gateway.OnReady == nil {
		cfg.Gateway.OnReady = func(addr string) { log.Info("gateway listening", "url", "http://"+addr) }
	}

	// One process, one registry: the gateway serves it at /metrics.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg.Gateway.Registry, cfg.Executor.Registry, cfg.Results.Registry = reg, reg, reg

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type svc struct {
		name string
		run  func(context.Context, *nats.Conn, *slog.Logger) error
	}
	svcs := []svc{
		{"results", func(ctx context.Context, nc *nats.Conn, l *slog.Logger) error {
			return results.Run(ctx, cfg.Results, nc, l)
		}},
		{"executor", func(ctx context.Context, nc *nats.Conn, l *slog.Logger) error {
			return executor.Run(ctx, cfg.Executor, nc, l)
		}},
		{"gateway", func(ctx context.Context, nc *nats.Conn, l *slog.Logger) error {
			return gateway.Run(ctx, cfg.Gateway, nc, l)
		}},
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(svcs))
	for _, s := range svcs {
		nc, err := connect(contracts.Role(s.name))
		if err != nil {
			return fmt.Errorf("connect %s to embedded nats: %w", s.name, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer drain(nc)
			l := log.With("service", s.name)
			if err := s.run(ctx, nc, l); err != nil {
				errs <- fmt.Errorf("%s: %w", s.name, err)
				cancel() // one service failing stops the stack
			}
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// startDevNATS starts dev's embedded server and returns it with how each
// in-process service connects to it. With NATSAuth it first generates the
// identities into DATA-DIR/nats-auth (keeping existing seeds), requires them,
// and creates the streams and buckets as the operator; each service then
// connects as its own role and the gateway serves the per-tenant NATS
// endpoint only.
func startDevNATS(ctx context.Context, cfg *config, log *slog.Logger) (*server.Server, func(contracts.Role) (*nats.Conn, error), error) {
	ids := map[contracts.Role]natsIdentity{}
	authDir := filepath.Join(cfg.DataDir, "nats-auth")
	if cfg.NATSAuth {
		list, err := ensureNATSAuth(authDir, cfg.Topology, []string{contracts.DefaultTenant})
		if err != nil {
			return nil, nil, err
		}
		for _, id := range list {
			if id.Role != contracts.RoleClient && !id.System {
				ids[id.Role] = id
			}
		}
		cfg.Gateway.NATSTenantFromSubjectOnly = true
	}
	ns, err := startNATS(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	connect := func(role contracts.Role) (*nats.Conn, error) {
		c := contracts.NATSConn{}
		if cfg.NATSAuth {
			c = contracts.NATSConn{NkeySeed: ids[role].Seed, InboxPrefix: contracts.InboxPrefix(role, "")}
		}
		return c.Connect("airlock-"+string(role), log.With("service", string(role)), nats.InProcessServer(ns))
	}
	if cfg.NATSAuth {
		// The operator creates the streams and buckets first, so that no
		// service waits for another one that may create them.
		nc, err := connect(contracts.RoleOperator)
		if err == nil {
			err = ensureTopology(ctx, nc, cfg.Topology, log)
			nc.Close()
		}
		if err != nil {
			ns.Shutdown()
			ns.WaitForShutdown()
			return nil, nil, fmt.Errorf("embedded nats as the operator: %w", err)
		}
		log.Info("embedded nats requires authentication", "identities", authDir,
			"client", filepath.Join(authDir, "client-default.nk"), "operator", filepath.Join(authDir, "operator.nk"))
	}
	return ns, connect, nil
}

// maxPayload is the embedded server's largest message (the NATS default is
// 1 MiB, too small for a request with its files): 8 MiB, as in
// deploy/nomad's NATS configuration.
const maxPayload = 8 << 20

func startNATS(cfg *config, log *slog.Logger) (*server.Server, error) {
	store := filepath.Join(cfg.DataDir, "jetstream")
	if err := os.MkdirAll(store, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	opts := &server.Options{
		ServerName: "airlock-dev",
		JetStream:  true,
		StoreDir:   store,
		NoSigs:     true,
		NoLog:      true,
		DontListen: cfg.NATSListen == "",
		// Requests, results and their outputs travel as single messages;
		// results are bounded well below this (--max-result-bytes).
		MaxPayload: maxPayload,
	}
	// Every stream and bucket, and with --nats-auth the account's limit,
	// reserves its bound in the store: size the store for the account's
	// limit, so that a machine with less free disk than that still starts
	// (a full disk is then a store failure, answered 503
	// store_unavailable), rather than take the server's default of three
	// quarters of the free disk.
	if b := accountMaxFile(cfg.Topology); b > 0 {
		opts.JetStreamMaxStore = b
	}
	if cfg.NATSListen != "" {
		host, port, err := net.SplitHostPort(cfg.NATSListen)
		if err != nil {
			return nil, fmt.Errorf("nats listen address %q: %w", cfg.NATSListen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("nats listen port %q: %w", port, err)
		}
		opts.Host, opts.Port = host, p
		if p == 0 {
			opts.Port = server.RANDOM_PORT
		}
	}
	if cfg.NATSAuth {
		// The accounts, identities and permissions ensureNATSAuth wrote.
		if err := opts.ProcessConfigFile(filepath.Join(cfg.DataDir, "nats-auth", natsAuthConf)); err != nil {
			return nil, fmt.Errorf("embedded nats authentication: %w", err)
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded nats did not start (is %s already in use? set --nats-listen)", cfg.NATSListen)
	}
	log.Info("embedded nats ready", "store", store, "client_url", clientURL(ns, cfg.NATSListen))
	return ns, nil
}

func clientURL(ns *server.Server, listen string) string {
	if listen == "" {
		return "in-process only"
	}
	return ns.ClientURL()
}

// ensureTopology creates the streams and buckets that do not exist yet and
// reconciles the existing ones (the all-in-one process owns them all).
func ensureTopology(ctx context.Context, nc *nats.Conn, topo contracts.Topology, log *slog.Logger) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	if err := topo.Ensure(ctx, js, contracts.WithLog(log)); err != nil {
		return fmt.Errorf("ensure topology: %w", err)
	}
	return nil
}
