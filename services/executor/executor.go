// Package executor pulls jobs from the JOBS work queue and runs each one in
// fresh sandbox containers, publishing status events and the result to the
// RESULTS stream. A job is acked only after its result is stored.
//
// The files by concern: executor.go wires the parts (Config, Run);
// lifecycle.go and finish.go take a job from its delivery to its end
// (attempts, the hold, the hand-back, the result stored, then a confirmed
// ack or Term) and message.go is the delivery they work on; routing.go
// passes a job this executor does not serve to one that does; publish.go writes
// events to RESULTS; backstop.go ends a job past its last delivery;
// health.go is the heartbeat and the engine watch; preflight.go checks the
// init binary and the engine; detect.go finds the languages served;
// isolation.go resolves the isolation modes; metrics.go serves the metrics.
package executor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/client"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/executor/internal/catalog"
	"github.com/airlockrun/airlock/services/executor/internal/runner"
	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
)

// Config configures an executor.
type Config struct {
	// ID names this executor (node id); it labels its containers, so keep it
	// stable across restarts of the same node for the reaper to work.
	ID string
	// Slots is how many jobs this node runs at once (default: number of cores).
	Slots int
	// Topology names the JetStream objects. Its MaxInFlight, AckWait and
	// MaxAttempts are the shared consumer's: they apply when this executor
	// creates it; an existing consumer's settings (the gateway owns them)
	// are the ones the executor works with. A job in progress (held,
	// running, or publishing its result) sends InProgress every AckWait/3;
	// a hand-back at shutdown is not an attempt.
	Topology contracts.Topology
	Policy   contracts.Policy
	// CatalogPath overrides the built-in language catalog.
	CatalogPath string
	// Languages limits the served languages (empty: every language whose image exists).
	Languages []string
	// InitPath is the static binary mounted into sandboxes as their init
	// (default: airlock-init next to the executable when it is there and of
	// this release, else the executable itself, which contains the init).
	InitPath string
	// Isolation is the isolation mode (sandbox.Isolations) of executions
	// that no override names: "" is namespace, or gvisor when Runtime is a
	// gVisor runtime.
	Isolation string
	// LanguageIsolation overrides Isolation per language (language → mode).
	LanguageIsolation map[string]string
	// TenantIsolation overrides the language's and the default mode per
	// tenant (tenant → mode).
	TenantIsolation map[string]string
	// OCIRuntime is the OCI runtime of container sandboxes and of the cells of
	// namespace mode ("" = engine default). A gVisor runtime ("runsc",
	// "runsc-...") is the older way to say Isolation gvisor: it becomes
	// GVisorRuntime (see NormalizeIsolation).
	OCIRuntime string
	// GVisorRuntime is the OCI runtime of gvisor sandboxes ("" = "runsc").
	GVisorRuntime string
	// LanguageRuntimes gives a language its own OCI runtime. It is the
	// older way to choose a language's mode: a gVisor runtime means
	// gvisor, another one container (under that runtime).
	LanguageRuntimes map[string]string
	// WorkDirMB sizes each sandbox's /work tmpfs.
	WorkDirMB int64
	// ShutdownTimeout is how long in-flight jobs may finish after a stop
	// request before they are handed back (Nak) to another executor; a
	// hand-back does not count as an attempt.
	ShutdownTimeout time.Duration
	// HeartbeatInterval is how often the executor announces itself.
	HeartbeatInterval time.Duration
	// UnservedGrace is how long a job whose runtime no executor announces
	// is passed back before it ends as internal_error (routing.go; default
	// 2 min): room for the executors that serve it to restart.
	UnservedGrace time.Duration
	// Registry receives the executor's Prometheus metrics (nil: a registry
	// of its own, served on MetricsListen when that is set).
	Registry *prometheus.Registry
	// MetricsListen serves /metrics on this address ("" : not served here).
	MetricsListen string
	// Pool is the number of warm (pre-started, one-shot) containers to keep
	// per language; languages sharing an image share them. Nil or empty:
	// every stage starts a cold container.
	Pool map[string]int
	// PoolMemoryMB bounds the idle pooled containers (each counts 64 MB).
	PoolMemoryMB int64
	// CellRuns and CellAge recycle a cell (namespace isolation) after so
	// many stages or so long (0: the sandbox's defaults, 500 and 10 min).
	CellRuns int
	CellAge  time.Duration
	// Paused: announce the node but take no jobs (drain a node for
	// maintenance, or measure the queue alone).
	Paused bool
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		ID:                sanitizeID(host),
		Slots:             2 * runtime.NumCPU(),
		Topology:          contracts.DefaultTopology(),
		Policy:            contracts.DefaultPolicy(),
		WorkDirMB:         128,
		ShutdownTimeout:   60 * time.Second,
		HeartbeatInterval: 5 * time.Second,
		UnservedGrace:     DefaultUnservedGrace,
		Pool:              map[string]int{"python": 2, "c++": 1, "java": 1, "javascript": 1, "go": 1, "bash": 1},
		PoolMemoryMB:      512,
	}
}

var idCleanRE = regexp.MustCompile(`[^A-Za-z0-9_-]`)

func sanitizeID(s string) string {
	s = idCleanRE.ReplaceAllString(s, "-")
	if s == "" {
		s = "executor"
	}
	return s
}

// Run serves jobs until ctx is cancelled, then stops fetching, lets in-flight
// jobs finish within ShutdownTimeout (handing back the rest) and returns.
func Run(ctx context.Context, cfg Config, nc *nats.Conn, log *slog.Logger) error {
	cfg.Topology = cfg.Topology.WithDefaults()
	if cfg.Slots < 1 || cfg.Topology.MaxAttempts < 1 || cfg.Topology.AckWait < time.Second || cfg.ID == "" {
		return errors.New("executor config: slots, max attempts, ack wait (>= 1s) and id are required")
	}
	if cfg.UnservedGrace < 0 {
		return errors.New("executor config: the unserved grace cannot be negative")
	}
	cfg.ID = sanitizeID(cfg.ID)
	cat, err := catalog.Load(cfg.CatalogPath)
	if err != nil {
		return err
	}
	if cfg.LanguageIsolation, err = canonicalLanguages("--language-isolation", cfg.LanguageIsolation, cat, log); err != nil {
		return err
	}
	if cfg.LanguageRuntimes, err = canonicalLanguages("--language-runtimes", cfg.LanguageRuntimes, cat, log); err != nil {
		return err
	}
	if err := cfg.NormalizeIsolation(); err != nil {
		return err
	}
	iso := cfg.isolation()
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable for the sandbox init: %w", err)
	}
	if cfg.InitPath, err = sandboxInit(ctx, cfg.InitPath, self, log); err != nil {
		return err
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	defer cli.Close()
	if err := preflight(ctx, cli, cfg); err != nil {
		return err
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	var busy atomic.Int32
	m := newMetrics(reg, cfg.ID, cfg.Slots, func() float64 { return float64(busy.Load()) })
	if cfg.MetricsListen != "" {
		stop, err := serveMetrics(cfg.MetricsListen, reg, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	sb := sandbox.NewLauncher(cli, sandbox.Options{
		OnStart:    func(d time.Duration) { m.containerStart.Observe(d.Seconds()) },
		ExecutorID: cfg.ID, InitPath: cfg.InitPath, OCIRuntime: cfg.OCIRuntime, WorkDirBytes: cfg.WorkDirMB << 20,
		CellRuns: cfg.CellRuns, CellAge: cfg.CellAge,
	}, log)
	defer sb.Close()
	if n, err := sb.Reap(ctx); err != nil {
		return fmt.Errorf("remove leftover sandboxes: %w", err)
	} else if n > 0 {
		log.Info("removed leftover sandbox containers", "count", n)
	}

	langs, err := detect(ctx, cli, sb, cat, cfg.Languages, iso, log)
	if err != nil {
		return err
	}
	if err := prepareCells(ctx, sb, cfg, iso, langs); err != nil {
		return err
	}

	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	// The executor checks the streams and buckets and creates the shared
	// consumer when it is missing; the gateway owns all their settings.
	as := []contracts.EnsureOption{contracts.As(contracts.RoleExecutor), contracts.WithLog(log)}
	if err := cfg.Topology.Ensure(ctx, js, as...); err != nil {
		return err
	}
	cons, err := contracts.EnsureConsumer(ctx, js, contracts.JobsStream, cfg.Topology.ExecutorConsumerConfig(), as...)
	if err != nil {
		return err
	}
	// The consumer's and the RESULTS stream's settings are the fleet's:
	// heartbeats, the last attempt and the result bound follow them,
	// whatever this executor was given.
	consumerCfg := cons.CachedInfo().Config
	fleet := cfg.Topology.FollowingConsumer(consumerCfg)
	if results, err := js.Stream(ctx, contracts.ResultsStream); err == nil {
		fleet = fleet.FollowingResults(results.CachedInfo().Config)
	}
	if fleet != cfg.Topology {
		log.Info("following the fleet's settings", "ack_wait", fleet.AckWait, "max_attempts", fleet.MaxAttempts,
			"max_in_flight", fleet.MaxInFlight, "max_result_bytes", fleet.MaxResultBytes)
		cfg.Topology = fleet
	}
	kv, err := js.KeyValue(ctx, contracts.ExecutorsBucket)
	if err != nil {
		return fmt.Errorf("executors bucket: %w", err)
	}
	// The largest result this executor publishes: the NATS server's
	// max_payload or the topology's MaxResultBytes, the smaller.
	maxPayload := nc.MaxPayload()
	if m := cfg.Topology.MaxResultBytes; m > 0 && (maxPayload <= 0 || m < maxPayload) {
		maxPayload = m
	}
	bus, err := newNATSBus(ctx, js, cfg.Topology, maxPayload)
	if err != nil {
		return err
	}
	if err := enablePool(sb, cfg, langs, reg); err != nil {
		return err
	}
	rn := runner.New(sb)
	rn.Isolation = iso
	// A checker's or an interactor's language is found among the served.
	rn.Languages = func(language, version string) (*catalog.Language, contracts.Runtime) {
		return find(langs, language, version)
	}
	// Problem packages are read from the problems store (the gateway
	// creates it), opened on the first job that names one.
	store := &problemStore{js: js}
	rn.Problems = store.load
	if err := registerRunnerMetrics(reg, cfg.ID, rn); err != nil {
		return err
	}
	h := newHealth(cfg, langs, &busy, m, sb, log)
	jobs := &lifecycle{
		id: cfg.ID, maxAttempts: cfg.Topology.MaxAttempts, maxDeliver: consumerCfg.MaxDeliver, ackWait: cfg.Topology.AckWait,
		topo: cfg.Topology, validator: contracts.NewValidator(cfg.Policy), langs: langs, isolation: iso,
		runner: rn, problems: rn, bus: bus, health: h, metrics: m, log: log,
		router: newRouter(cfg.ID, &kvFleet{kv: kv, log: log}, cmp.Or(cfg.UnservedGrace, DefaultUnservedGrace)),
	}
	stopBackstop, err := startBackstop(ctx, nc, js, jobs)
	if err != nil {
		return err
	}
	defer stopBackstop()
	names := make([]string, 0, len(langs))
	for _, l := range langs {
		names = append(names, l.runtime.Language+" "+l.runtime.Version)
	}
	log.Info("executor ready", "id", cfg.ID, "slots", cfg.Slots, "languages", strings.Join(names, ", "),
		"isolation", iso.Default, "language_isolation", formatModes(iso.Languages), "tenant_isolation", formatModes(iso.Tenants))

	// Jobs run on a context that outlives ctx by ShutdownTimeout.
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()

	hbDone := make(chan struct{})
	go func() { defer close(hbDone); h.heartbeat(ctx, kv) }()
	go h.watchEngine(ctx, cli)

	var wg sync.WaitGroup
	for i := 0; i < cfg.Slots; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jobs.slot(ctx, jobCtx, cons, nc, &busy, cfg.Paused)
		}()
	}
	<-ctx.Done()
	log.Info("executor stopping: no new jobs", "in_flight", busy.Load(), "timeout", cfg.ShutdownTimeout)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(cfg.ShutdownTimeout):
		log.Warn("shutdown timeout: handing running jobs back")
		cancelJobs()
		<-finished
	}
	<-hbDone
	delCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = kv.Delete(delCtx, cfg.ID)
	return nil
}

// enablePool keeps warm containers when the configuration asks for them:
// each is created with the run-stage limits of the language that asks for
// the most of them, so its default jobs need no update.
func enablePool(sb *sandbox.Launcher, cfg Config, langs []served, reg *prometheus.Registry) error {
	if len(cfg.Pool) == 0 {
		return nil
	}
	targets := map[string]sandbox.PoolTarget{}
	for _, l := range langs {
		if !cfg.pooled(l.runtime.Language) {
			continue
		}
		if n := cfg.Pool[l.runtime.Language]; n > targets[l.lang.Image].Count {
			d := l.runtime.Defaults
			targets[l.lang.Image] = sandbox.PoolTarget{Count: n, Profile: sandbox.Spec{
				MemoryBytes: d.MemoryMB << 20, Processes: d.Processes,
			}}
		}
	}
	sb.EnablePool(targets, cfg.PoolMemoryMB<<20)
	poolGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "airlock_warm_pool_size", Help: "Idle pre-started sandbox containers.", ConstLabels: prometheus.Labels{"executor": cfg.ID},
	}, func() float64 {
		n := 0
		for _, v := range sb.PoolSizes() {
			n += v
		}
		return float64(n)
	})
	if err := reg.Register(poolGauge); err != nil {
		return fmt.Errorf("register pool metrics: %w", err)
	}
	return nil
}
