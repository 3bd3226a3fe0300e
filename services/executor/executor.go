// Package executor pulls jobs from the JOBS work queue and runs each one in
// fresh sandbox containers, publishing status events and the result to the
// RESULTS stream. A job is acked only after its result is stored.
package executor

import (
	"bytes"
	"cmp"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
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
	"github.com/airlockrun/airlock/services/executor/sandboxinit"
)

// Config configures an executor.
type Config struct {
	// ID names this executor (node id); it labels its containers, so keep it
	// stable across restarts of the same node for the reaper to work.
	ID string
	// Slots is how many jobs this node runs at once (default: number of cores).
	Slots int
	// MaxInFlight is the fleet-wide cap: MaxAckPending of the shared consumer.
	MaxInFlight int
	// AckWait is how long a job may go without a heartbeat before it is
	// delivered again; running jobs send InProgress every AckWait/3.
	AckWait time.Duration
	// MaxAttempts is how often a job is tried before it ends as internal_error.
	MaxAttempts int
	Topology    contracts.Topology
	Policy      contracts.Policy
	// CatalogPath overrides the built-in language catalog.
	CatalogPath string
	// Languages limits the served languages (empty: every language whose image exists).
	Languages []string
	// InitPath is the static binary mounted into sandboxes as their init
	// (default: this executable).
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
	// Runtime is the OCI runtime of container sandboxes and of the cells of
	// namespace mode ("" = engine default). A gVisor runtime ("runsc",
	// "runsc-...") is the older way to say Isolation gvisor: it becomes
	// GVisorRuntime (see NormalizeIsolation).
	Runtime string
	// GVisorRuntime is the OCI runtime of gvisor sandboxes ("" = "runsc").
	GVisorRuntime string
	// LanguageRuntimes gives a language its own OCI runtime. It is the
	// older way to choose a language's mode: a gVisor runtime means
	// gvisor, another one container (under that runtime).
	LanguageRuntimes map[string]string
	// WorkDirMB sizes each sandbox's /work tmpfs.
	WorkDirMB int64
	// ShutdownTimeout is how long in-flight jobs may finish after a stop
	// request before they are handed back (Nak) to another executor.
	ShutdownTimeout time.Duration
	// HeartbeatInterval is how often the executor announces itself.
	HeartbeatInterval time.Duration
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
		MaxInFlight:       256,
		AckWait:           30 * time.Second,
		MaxAttempts:       3,
		Topology:          contracts.DefaultTopology(),
		Policy:            contracts.DefaultPolicy(),
		WorkDirMB:         128,
		ShutdownTimeout:   60 * time.Second,
		HeartbeatInterval: 5 * time.Second,
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

type served struct {
	lang    *catalog.Language
	runtime contracts.Runtime
}

type executor struct {
	cfg       Config
	log       *slog.Logger
	js        jetstream.JetStream
	runner    *runner.Runner
	validator *contracts.Validator
	langs     []served
	busy      *atomic.Int32 // shared with the busy-slots gauge
	// maxPayload is the largest message the NATS server accepts.
	maxPayload int64
	started    time.Time
	// problem is why this executor cannot take work now (nil: it can). It is
	// published in the heartbeat, so /readyz and the gateway see it.
	problem atomic.Pointer[string]
	// beat asks the heartbeat loop to announce a change at once.
	beat    chan struct{}
	metrics *metrics
	sandbox *sandbox.Runner
}

// Run serves jobs until ctx is cancelled, then stops fetching, lets in-flight
// jobs finish within ShutdownTimeout (handing back the rest) and returns.
func Run(ctx context.Context, cfg Config, nc *nats.Conn, log *slog.Logger) error {
	if cfg.Slots < 1 || cfg.MaxAttempts < 1 || cfg.AckWait < time.Second || cfg.ID == "" {
		return errors.New("executor config: slots, max attempts, ack wait (>= 1s) and id are required")
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
	sb := sandbox.NewRunner(cli, sandbox.Options{
		OnStart:    func(d time.Duration) { m.containerStart.Observe(d.Seconds()) },
		ExecutorID: cfg.ID, InitPath: cfg.InitPath, Runtime: cfg.Runtime, WorkDirBytes: cfg.WorkDirMB << 20,
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
	// The executor checks the streams and buckets (the gateway owns them)
	// and owns the shared consumer's settings.
	as := []contracts.EnsureOption{contracts.As(contracts.RoleExecutor), contracts.WithLog(log)}
	if err := cfg.Topology.Ensure(ctx, js, as...); err != nil {
		return err
	}
	cons, err := contracts.EnsureConsumer(ctx, js, contracts.JobsStream,
		cfg.Topology.ExecutorConsumerConfig(cfg.MaxInFlight, cfg.AckWait, cfg.MaxAttempts), as...)
	if err != nil {
		return err
	}
	kv, err := js.KeyValue(ctx, contracts.ExecutorsBucket)
	if err != nil {
		return fmt.Errorf("executors bucket: %w", err)
	}

	if len(cfg.Pool) > 0 {
		// Warm containers are created with the run-stage limits of the
		// language that asks for the most of them, so its default jobs
		// need no update.
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
	}
	rn := runner.New(sb)
	maxPayload := nc.MaxPayload()
	rn.Isolation = iso
	e := &executor{
		sandbox: sb,
		cfg:     cfg, log: log, js: js, runner: rn,
		validator: contracts.NewValidator(cfg.Policy), langs: langs, started: time.Now().UTC(),
		maxPayload: maxPayload,
		beat:       make(chan struct{}, 1),
		metrics:    m,
	}
	e.busy = &busy
	rn.Languages = e.find
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
	go func() { defer close(hbDone); e.heartbeat(ctx, kv) }()
	go e.watchEngine(ctx, cli)

	var wg sync.WaitGroup
	for i := 0; i < cfg.Slots; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.slot(ctx, jobCtx, cons)
		}()
	}
	<-ctx.Done()
	log.Info("executor stopping: no new jobs", "in_flight", e.busy.Load(), "timeout", cfg.ShutdownTimeout)
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

// slot fetches one job at a time: it holds the slot before it asks, so no
// job waits in a local buffer while its AckWait runs out.
func (e *executor) slot(ctx, jobCtx context.Context, cons jetstream.Consumer) {
	for ctx.Err() == nil {
		if e.problem.Load() != nil || e.cfg.Paused {
			// The engine is down: leave the jobs queued (another executor,
			// or this one once the engine is back, takes them).
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		msgs, err := cons.Fetch(1, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			if ctx.Err() == nil {
				e.log.Warn("fetch job", "err", err)
				time.Sleep(time.Second)
			}
			continue
		}
		for msg := range msgs.Messages() {
			e.busy.Add(1)
			e.handle(jobCtx, msg)
			e.busy.Add(-1)
		}
		cancel()
	}
}

func (e *executor) handle(ctx context.Context, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		e.log.Error("job without metadata", "err", err)
		_ = msg.Term()
		return
	}
	var job contracts.Job
	if err := json.Unmarshal(msg.Data(), &job); err != nil || !contracts.ValidID(job.ID) {
		e.log.Error("undecodable job: terminated", "subject", msg.Subject(), "err", err)
		_ = msg.TermWithReason("undecodable job")
		return
	}
	// The tenant is the subject's: the NATS server let the publisher
	// publish there, whereas the body says what the publisher wrote.
	tenant, ok := e.cfg.Topology.TenantOfJobSubject(msg.Subject())
	if !ok {
		e.log.Error("job on a subject that names no tenant: terminated", "subject", msg.Subject())
		_ = msg.TermWithReason("no tenant in the subject")
		return
	}
	if tenant != cmp.Or(job.Tenant, contracts.DefaultTenant) {
		e.log.Warn("job body names another tenant than its subject: the subject's wins", "id", job.ID, "subject", msg.Subject())
		job.Tenant = tenant
	}
	log := e.log.With("id", job.ID, "attempt", meta.NumDelivered)
	if job.CreatedAt.IsZero() {
		job.CreatedAt = meta.Timestamp.UTC()
	}
	exec := contracts.Execution{
		ID: job.ID, Tenant: job.Tenant, Language: job.Request.Language, Version: job.Request.Version,
		CallbackURL: job.Request.CallbackURL,
		Executor:    e.cfg.ID, Attempt: int(meta.NumDelivered), CreatedAt: job.CreatedAt,
	}
	if int(meta.NumDelivered) > e.cfg.MaxAttempts {
		log.Error("job failed on every attempt: giving up")
		e.finish(ctx, msg, log, fail(exec, fmt.Sprintf("the job failed on all %d attempts (execution %s)", e.cfg.MaxAttempts, job.ID)))
		return
	}
	// Never trust the job: validate again and clamp limits to our maximums.
	req := job.Request
	if verr := e.validator.Request(&req); verr != nil {
		e.finish(ctx, msg, log, fail(exec, "invalid job: "+verr.Error()))
		return
	}
	lang, rt := e.find(req.Language, req.Version)
	if lang == nil {
		e.finish(ctx, msg, log, fail(exec, fmt.Sprintf("language %q (version %q) is not served by executor %s", req.Language, req.Version, e.cfg.ID)))
		return
	}
	limits := clamp(req.Limits, rt)
	exec.Language, exec.Version, exec.Limits = rt.Language, rt.Version, &limits
	exec.Isolation = e.runner.Isolation.Mode(tenant, lang.Name)

	// A job that arrives while the engine is down (a fetch was already
	// waiting) is held, not handed back: handing it back would count a
	// delivery the program never had. It runs once the engine answers.
	if !e.waitForEngine(ctx, msg) {
		log.Warn("job held during an engine outage handed back at shutdown")
		_ = msg.Nak()
		return
	}
	started := time.Now().UTC()
	e.metrics.queueWait.Observe(started.Sub(job.CreatedAt).Seconds())
	running := exec
	running.Status, running.StartedAt = contracts.StatusRunning, &started
	// The running event is stored while the stage runs: its acknowledgement
	// is awaited before anything else of this job is published, so the
	// stream keeps the order.
	runningAck := e.publishAsync(running, fmt.Sprintf("%s:running:%d", job.ID, meta.NumDelivered))

	stopBeat := e.keepAlive(msg)
	res, err := e.runner.Execute(ctx, job.ID, tenant, req, lang, limits)
	stopBeat()
	runningAck()
	if err != nil {
		if ctx.Err() != nil {
			log.Warn("job interrupted by shutdown: handed back")
			_ = msg.Nak()
			return
		}
		log.Error("execution failed", "err", err)
		if errors.Is(err, sandbox.ErrRefused) {
			// The engine refused this job's parameters: the job's fault,
			// the same on every attempt, and no sign of the engine's health.
			e.metrics.errors.WithLabelValues("executor", "refused").Inc()
			e.finish(ctx, msg, log, fail(exec, fmt.Sprintf("the sandbox engine refused this job's limits (execution %s); executor %s logged why", job.ID, e.cfg.ID)))
			return
		}
		kind := "sandbox"
		if errors.Is(err, sandbox.ErrEngine) {
			kind = "engine"
			e.setProblem("docker engine: " + short(err))
		}
		e.metrics.errors.WithLabelValues("executor", kind).Inc()
		if int(meta.NumDelivered) < e.cfg.MaxAttempts && !errors.Is(err, runner.ErrSandbox) {
			_ = msg.NakWithDelay(2 * time.Second)
			return
		}
		// The engine's own text stays in the executor's log: it names
		// host paths, container IDs and the engine's configuration.
		e.finish(ctx, msg, log, fail(exec, fmt.Sprintf("the sandbox failed (execution %s); executor %s logged why", job.ID, e.cfg.ID)))
		return
	}
	done := time.Now().UTC()
	exec.Status, exec.Verdict, exec.Message = contracts.StatusCompleted, res.Verdict, res.Message
	exec.Compile, exec.Run, exec.Tests, exec.FailedTest = res.Compile, res.Run, res.Tests, res.FailedTest
	exec.Score, exec.MaxScore = res.Score, res.MaxScore
	exec.Isolation = res.Isolation
	exec.StartedAt, exec.FinishedAt = &started, &done
	e.finish(ctx, msg, log, exec)
	log.Info("execution completed", "language", exec.Language, "verdict", exec.Verdict, "ms", done.Sub(started).Milliseconds())
}

func short(err error) string {
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func fail(exec contracts.Execution, msg string) contracts.Execution {
	now := time.Now().UTC()
	exec.Status, exec.Verdict, exec.Message = contracts.StatusCompleted, contracts.VerdictInternalError, msg
	exec.FinishedAt = &now
	return exec
}

// finish stores the terminal result in RESULTS, then acks (or terminates) the
// job. If the result cannot be stored the job is handed back.
func (e *executor) finish(ctx context.Context, msg jetstream.Msg, log *slog.Logger, exec contracts.Execution) {
	msgID := exec.ID + ":completed"
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = e.publishErr(ctx, exec, msgID); err == nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 500 * time.Millisecond)
	}
	if err != nil {
		log.Error("store result: handing the job back", "err", err)
		e.metrics.errors.WithLabelValues("executor", "publish").Inc()
		_ = msg.NakWithDelay(2 * time.Second)
		return
	}
	var took time.Duration
	if exec.StartedAt != nil && exec.FinishedAt != nil {
		took = exec.FinishedAt.Sub(*exec.StartedAt)
	}
	e.metrics.finished(exec, took)
	if exec.Verdict == contracts.VerdictInternalError {
		_ = msg.TermWithReason(exec.Message)
		return
	}
	// The result is stored; a lost ack would only make the job run again
	// (its result deduplicated). A NATS node going away fails the ack for a
	// moment: retry it within AckWait.
	for attempt := 1; ; attempt++ {
		ackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err := msg.DoubleAck(ackCtx)
		cancel()
		if err == nil {
			return
		}
		if attempt == 5 {
			log.Warn("ack job (the result is stored; a redelivery will be deduplicated)", "err", err)
			return
		}
		time.Sleep(time.Duration(attempt) * 500 * time.Millisecond)
	}
}

func (e *executor) publishErr(ctx context.Context, exec contracts.Execution, msgID string) error {
	data, err := json.Marshal(exec)
	if err != nil {
		return fmt.Errorf("encode execution: %w", err)
	}
	if e.maxPayload > 0 && int64(len(data)) > e.maxPayload {
		data, err = shrink(exec, e.maxPayload)
		if err != nil {
			return err
		}
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err = e.js.Publish(pctx, e.cfg.Topology.EventSubject(exec.ID), data, jetstream.WithMsgID(msgID))
	return err
}

// publishAsync publishes exec's status without waiting for the stream's
// acknowledgement; the returned function waits for it (ten seconds at most)
// and logs a failure.
func (e *executor) publishAsync(exec contracts.Execution, msgID string) (wait func()) {
	data, err := json.Marshal(exec)
	if err == nil && e.maxPayload > 0 && int64(len(data)) > e.maxPayload {
		data, err = shrink(exec, e.maxPayload)
	}
	var ack jetstream.PubAckFuture
	if err == nil {
		ack, err = e.js.PublishAsync(e.cfg.Topology.EventSubject(exec.ID), data, jetstream.WithMsgID(msgID))
	}
	if err != nil {
		e.log.Warn("publish status", "id", exec.ID, "status", exec.Status, "err", err)
		return func() {}
	}
	return func() {
		select {
		case <-ack.Ok():
		case err := <-ack.Err():
			e.log.Warn("publish status", "id", exec.ID, "status", exec.Status, "err", err)
		case <-time.After(10 * time.Second):
			e.log.Warn("publish status", "id", exec.ID, "status", exec.Status, "err", "no acknowledgement within 10 s")
		}
	}
}

func (e *executor) publish(ctx context.Context, exec contracts.Execution, msgID string) {
	if err := e.publishErr(ctx, exec, msgID); err != nil {
		e.log.Warn("publish status", "id", exec.ID, "status", exec.Status, "err", err)
	}
}

// keepAlive tells the server the job is still being worked on, every third
// of AckWait, until the returned function is called.
func (e *executor) keepAlive(msg jetstream.Msg) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(e.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() { close(stop); <-done }
}

func (e *executor) find(language, version string) (*catalog.Language, contracts.Runtime) {
	rts := make([]contracts.Runtime, len(e.langs))
	for i, l := range e.langs {
		rts[i] = l.runtime
	}
	rt, verr := contracts.FindRuntime(rts, language, version)
	if verr != nil {
		return nil, contracts.Runtime{}
	}
	for _, l := range e.langs {
		if l.runtime.Language == rt.Language && l.runtime.Version == rt.Version {
			return l.lang, l.runtime
		}
	}
	return nil, contracts.Runtime{}
}

// clamp resolves limits against the runtime, lowering anything above the
// maximum to the maximum and raising a memory limit under the floor to the
// floor (the gateway already rejected such requests; a job published
// straight onto NATS is clamped, not trusted).
func clamp(req contracts.Limits, rt contracts.Runtime) contracts.LimitSet {
	m := rt.Maximums
	lim := func(v, mx int64) int64 {
		if v < 0 {
			return 0
		}
		return min(v, mx)
	}
	mem := func(v, mx int64) int64 {
		if v = lim(v, mx); v > 0 {
			v = max(v, contracts.MinMemoryMB)
		}
		return v
	}
	req = contracts.Limits{
		CPUTimeMS: lim(req.CPUTimeMS, m.CPUTimeMS), WallTimeMS: lim(req.WallTimeMS, m.WallTimeMS),
		MemoryMB: mem(req.MemoryMB, m.MemoryMB), Processes: lim(req.Processes, m.Processes),
		OutputBytes:      lim(req.OutputBytes, m.OutputBytes),
		CompileCPUTimeMS: lim(req.CompileCPUTimeMS, m.CompileCPUTimeMS), CompileWallTimeMS: lim(req.CompileWallTimeMS, m.CompileWallTimeMS),
		CompileMemoryMB: mem(req.CompileMemoryMB, m.CompileMemoryMB),
	}
	out, _ := contracts.ResolveLimits(req, rt) // cannot fail: everything is within the bounds
	return out
}

func (e *executor) heartbeat(ctx context.Context, kv jetstream.KeyValue) {
	t := time.NewTicker(e.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		info := contracts.ExecutorInfo{
			ID: e.cfg.ID, Slots: e.cfg.Slots, Busy: int(e.busy.Load()),
			StartedAt: e.started, UpdatedAt: time.Now().UTC(),
		}
		for _, l := range e.langs {
			info.Runtimes = append(info.Runtimes, l.runtime)
		}
		if p := e.problem.Load(); p != nil {
			info.Problem = *p
		}
		info.Completed, info.LatencyP50MS, info.LatencyP99MS = e.metrics.snapshot()
		info.WarmPool = e.sandbox.PoolSizes()
		data, _ := json.Marshal(info)
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if _, err := kv.Put(pctx, e.cfg.ID, data); err != nil && ctx.Err() == nil {
			e.log.Warn("heartbeat", "err", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.beat:
		}
	}
}

// waitForEngine returns at once while the executor has no problem; else it
// keeps msg alive (InProgress) until the problem clears (true) or ctx ends
// (false).
func (e *executor) waitForEngine(ctx context.Context, msg jetstream.Msg) bool {
	if e.problem.Load() == nil {
		return true
	}
	beat := time.NewTicker(e.cfg.AckWait / 3)
	defer beat.Stop()
	check := time.NewTicker(500 * time.Millisecond)
	defer check.Stop()
	for e.problem.Load() != nil {
		select {
		case <-ctx.Done():
			return false
		case <-beat.C:
			_ = msg.InProgress()
		case <-check.C:
		}
	}
	return true
}

// setProblem records why the executor cannot take work ("" clears it) and
// announces the change at once.
func (e *executor) setProblem(p string) {
	old := e.problem.Load()
	switch {
	case p == "" && old == nil:
		return
	case p == "":
		e.problem.Store(nil)
		e.log.Info("docker engine answers again: taking jobs")
	case old != nil && *old == p:
		return
	default:
		e.problem.Store(&p)
		e.log.Error("cannot take jobs", "problem", p)
		if old == nil {
			// Idle cells may not have kept their attach connections
			// through the engine's trouble: start afresh.
			if e.sandbox != nil {
				e.sandbox.FlushCells()
			}
		}
	}
	select {
	case e.beat <- struct{}{}:
	default:
	}
}

// watchEngine pings the Docker engine every few seconds: while it does not
// answer, the executor reports the problem and fetches no jobs; it recovers
// by itself when the engine is back.
func (e *executor) watchEngine(ctx context.Context, cli *client.Client) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := cli.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			e.setProblem("docker engine does not answer: " + short(err))
		} else {
			e.setProblem("")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkStatic refuses an init binary that needs a dynamic loader: it would
// not start inside images with another libc.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("sandbox init %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("sandbox init %s is dynamically linked; build airlock with CGO_ENABLED=0", path)
		}
	}
	return nil
}

// InitBinaryName is the lean init binary the executor looks for next to its
// own executable (cmd/airlock-init).
const InitBinaryName = "airlock-init"

// sandboxInit picks the binary mounted into sandboxes as their init:
// explicit when set (it must be static and speak this build's protocol);
// otherwise airlock-init next to self when it is there, static and of the
// same protocol; otherwise self, which contains the init too.
func sandboxInit(ctx context.Context, explicit, self string, log *slog.Logger) (string, error) {
	if explicit != "" {
		if err := checkInit(ctx, explicit, self); err != nil {
			return "", err
		}
		return explicit, nil
	}
	if sibling := filepath.Join(filepath.Dir(self), InitBinaryName); fileExists(sibling) {
		if err := checkInit(ctx, sibling, self); err != nil {
			log.Warn("not using the init binary next to the executor: the executor's own binary serves as the init", "path", sibling, "err", err)
		} else {
			log.Info("sandbox init", "path", sibling)
			return sibling, nil
		}
	}
	if err := checkStatic(self); err != nil {
		return "", err
	}
	return self, nil
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// checkInit makes sure path can serve as the sandbox init: a static binary
// that, unless it is self, answers this build's protocol version.
func checkInit(ctx context.Context, path, self string) error {
	if err := checkStatic(path); err != nil {
		return err
	}
	if same, err := sameFile(path, self); err == nil && same {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(pctx, path, sandboxinit.ProtocolArg).Output()
	if err != nil {
		return fmt.Errorf("sandbox init %s does not answer its protocol version: %w", path, err)
	}
	if got := strings.TrimSpace(string(out)); got != sandboxinit.Protocol {
		return fmt.Errorf("sandbox init %s speaks %q, this executor %q: install the init of the same release", path, got, sandboxinit.Protocol)
	}
	return nil
}

func sameFile(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}

// preflight refuses to start on an engine that cannot enforce the sandbox:
// a missing cgroup controller, no seccomp under runc, a runtime that is not
// registered (or gVisor registered without --network=none), or a sandbox
// configuration the engine accepts only with warnings (a limit it would
// silently drop). Each message says what to fix.
func preflight(ctx context.Context, cli *client.Client, cfg Config) error {
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	info, err := cli.Info(pctx)
	if err != nil {
		return fmt.Errorf("docker engine does not answer (is dockerd running? scripts/docker-up.sh starts one): %w", err)
	}
	var missing []string
	if !info.MemoryLimit {
		missing = append(missing, "memory limit (enable the memory cgroup)")
	}
	if !info.SwapLimit {
		missing = append(missing, "swap limit (boot with swapaccount=1 or use cgroup v2)")
	}
	if !info.PidsLimit {
		missing = append(missing, "pids limit (enable the pids cgroup)")
	}
	if !info.CPUCfsQuota {
		missing = append(missing, "CPU quota (CFS)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("docker engine cannot enforce: %s", strings.Join(missing, "; "))
	}
	runtimes := cfg.runtimes()
	for _, rt := range runtimes {
		if rt == "" {
			rt = info.DefaultRuntime
		}
		reg, ok := info.Runtimes[rt]
		if !ok {
			return fmt.Errorf("runtime %q is not registered with the docker engine (add it to /etc/docker/daemon.json and reload dockerd; scripts/docker-up.sh registers runsc)", rt)
		}
		if sandbox.IsGVisor(rt) && !slices.Contains(reg.Args, "--network=none") {
			return fmt.Errorf("runtime %q is registered without --network=none: add \"runtimeArgs\": [\"--network=none\"] to its entry in /etc/docker/daemon.json and reload dockerd", rt)
		}
		if !sandbox.IsGVisor(rt) && !slices.ContainsFunc(info.SecurityOptions, func(o string) bool { return strings.Contains(o, "name=seccomp") }) {
			return fmt.Errorf("docker engine has no seccomp support (security options %v): sandboxes under %q need it; install libseccomp and a docker built with it, or run every language and tenant under gVisor (--isolation gvisor)", info.SecurityOptions, rt)
		}
	}
	// Create (without starting) one sandbox per runtime from an image that
	// is present: the engine must accept every limit without a warning.
	cat, err := catalog.Load(cfg.CatalogPath)
	if err != nil {
		return err
	}
	image := ""
	for _, l := range cat.Languages {
		if _, err := cli.ImageInspect(pctx, l.Image); err == nil {
			image = l.Image
			break
		}
	}
	if image == "" {
		return nil // detect reports the missing images
	}
	probe := sandbox.NewRunner(cli, sandbox.Options{
		ExecutorID: cfg.ID, InitPath: cfg.InitPath, Runtime: cfg.Runtime, WorkDirBytes: cfg.WorkDirMB << 20,
	}, slog.New(slog.DiscardHandler))
	for _, rt := range runtimes {
		if err := probe.Probe(pctx, image, rt); err != nil {
			return fmt.Errorf("preflight: %w", err)
		}
	}
	return nil
}

// detect finds the languages whose image exists and reads each toolchain's
// version by running its version command in a sandbox.
func detect(ctx context.Context, cli *client.Client, sb *sandbox.Runner, cat *catalog.Catalog, only []string, iso runner.Isolation, log *slog.Logger) ([]served, error) {
	var out []served
	var mu sync.Mutex
	var wg sync.WaitGroup
	var missing []string
	// One sandbox per image runs the version commands of all its languages
	// one after another (about 16 containers instead of 60: start-up cost is
	// mostly the engine creating containers). Each command keeps its own
	// argv (catalog constants, never user input), environment, stdout and
	// stderr, so the result is what a container of its own would give.
	present := map[string]bool{}
	byImage := map[string][]*catalog.Language{}
	var images []string
	for _, l := range cat.Languages {
		if len(only) > 0 && !slices.Contains(only, l.Name) {
			continue
		}
		ok, checked := present[l.Image]
		if !checked {
			_, err := cli.ImageInspect(ctx, l.Image)
			ok = err == nil
			present[l.Image] = ok
			if ok {
				images = append(images, l.Image)
			}
		}
		if !ok {
			missing = append(missing, l.Name+" ("+l.Image+")")
			continue
		}
		byImage[l.Image] = append(byImage[l.Image], l)
	}
	quote := func(args []string) string {
		q := make([]string, len(args))
		for i, a := range args {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		return strings.Join(q, " ")
	}
	// The version commands run in a container of their own, under gVisor
	// when that is the default (the engine's default runtime may then be
	// unfit for programs: no seccomp).
	mode := sandbox.IsolationContainer
	if iso.Mode("", "") == sandbox.IsolationGVisor {
		mode = sandbox.IsolationGVisor
	}
	const marker = "@@airlock-version"
	markerRE := regexp.MustCompile(`(?m)^` + marker + ` (\d+) (\d+)$`)
	sem := make(chan struct{}, 4)
	for _, image := range images {
		langs := byImage[image]
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			// Per language: its stdout, then its stderr (as the executor
			// always read them), then "marker index exit-status".
			var script strings.Builder
			for i, l := range langs {
				fmt.Fprintf(&script, "env -i %s </dev/null >/tmp/version.out 2>/tmp/version.err; s=$?\n", quote(append(slices.Clone(l.FullEnv), l.Version...)))
				fmt.Fprintf(&script, "cat /tmp/version.out /tmp/version.err; printf '\\n%s %d %%d\\n' \"$s\"\n", marker, i)
			}
			n := time.Duration(len(langs))
			o, err := sb.Run(ctx, sandbox.Spec{
				JobID: "version-" + image, Stage: "version", Image: image, Argv: []string{"sh", "-c", script.String()}, Env: langs[0].FullEnv,
				Isolation: mode, Runtime: iso.Runtime(mode, ""),
				CPUTime: n * 10 * time.Second, WallTime: n * 20 * time.Second, MemoryBytes: 512 << 20, Processes: 64, OutputBytes: 1 << 20,
			})
			text := string(o.Stdout)
			results := map[int]string{}
			status := map[int]string{}
			start := 0
			for _, m := range markerRE.FindAllStringSubmatchIndex(text, -1) {
				var i int
				if _, err := fmt.Sscan(text[m[2]:m[3]], &i); err != nil {
					continue
				}
				results[i] = strings.TrimSuffix(text[start:m[0]], "\n")
				status[i] = text[m[4]:m[5]]
				start = m[1]
			}
			for i, l := range langs {
				out1, ok := results[i]
				v := catalog.ParseVersion(out1)
				if err != nil || !ok || status[i] != "0" || v == "" {
					log.Error("language disabled: version command failed", "language", l.Name, "err", err, "exit", status[i],
						"output", strings.TrimSpace(out1), "sandbox_exit", o.ExitCode, "sandbox_stderr", strings.TrimSpace(string(o.Stderr)))
					continue
				}
				mu.Lock()
				out = append(out, served{lang: l, runtime: l.Runtime(v)})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(missing) > 0 {
		log.Warn("languages without an image are not served; build them with deploy/images/build.sh", "languages", strings.Join(missing, ", "))
	}
	if len(out) == 0 {
		return nil, errors.New("no language can be served: no image found or every version check failed (run deploy/images/build.sh)")
	}
	slices.SortFunc(out, func(a, b served) int { return strings.Compare(a.runtime.Language, b.runtime.Language) })
	return out, nil
}

// prepareCells readies namespace isolation when some execution can use it:
// cells sized for the largest default stage of the languages served, one
// stage run in a cell to prove the host supports them (bubblewrap in the
// images, user namespaces, the host's cgroups), and the warm cells --pool
// asks for (for the default tenant).
func prepareCells(ctx context.Context, sb *sandbox.Runner, cfg Config, iso runner.Isolation, langs []served) error {
	var cellMem int64
	var probe *served
	for i, l := range langs {
		if !iso.Reaches(sandbox.IsolationNamespace, l.runtime.Language) {
			continue
		}
		d := l.runtime.Defaults
		cellMem = max(cellMem, d.MemoryMB<<20, d.CompileMemoryMB<<20)
		if probe == nil || l.lang.Image == "airlock/base" {
			probe = &langs[i]
		}
	}
	if probe == nil {
		return nil
	}
	sb.SetCellMemory(cellMem)
	o, err := sb.Run(ctx, sandbox.Spec{
		JobID: "probe", Stage: "probe", Image: probe.lang.Image, Isolation: sandbox.IsolationNamespace,
		Tenant: contracts.DefaultTenant, Argv: []string{"true"}, Env: probe.lang.FullEnv,
		CPUTime: 10 * time.Second, WallTime: 30 * time.Second, MemoryBytes: 64 << 20, Processes: 16, OutputBytes: 4096,
	})
	if err == nil && (o.ExitCode != 0 || o.InitError != "") {
		err = fmt.Errorf("exit %d: %s%s", o.ExitCode, o.InitError, bytes.TrimSpace(o.Stderr))
	}
	if err != nil {
		return fmt.Errorf("namespace isolation does not work on this host (a stage in a cell of %s: %w); "+
			"rebuild the images (deploy/images/build.sh: bubblewrap), run the executor as root with the host's /sys/fs/cgroup, or choose --isolation container", probe.lang.Image, err)
	}
	for _, l := range langs {
		n := cfg.Pool[l.runtime.Language]
		if n == 0 || iso.Mode(contracts.DefaultTenant, l.runtime.Language) != sandbox.IsolationNamespace {
			continue
		}
		d := l.runtime.Defaults
		sb.WarmCells(ctx, sandbox.Spec{Image: l.lang.Image, Tenant: contracts.DefaultTenant,
			MemoryBytes: d.MemoryMB << 20, Processes: d.Processes}, n)
	}
	return nil
}

// shrink shortens the stored outputs of an execution whose JSON would not fit
// in one NATS message: every stdout and stderr is cut to an equal share of
// the budget, and the message says so. Verdicts and measurements stay.
func shrink(exec contracts.Execution, maxPayload int64) ([]byte, error) {
	var streams []*string
	add := func(st *contracts.Stage) {
		if st != nil {
			streams = append(streams, &st.Stdout, &st.Stderr)
		}
	}
	if exec.Compile != nil {
		c := *exec.Compile
		exec.Compile = &c
		add(exec.Compile)
	}
	if exec.Run != nil {
		r := *exec.Run
		exec.Run = &r
		add(exec.Run)
	}
	exec.Tests = append([]contracts.TestResult(nil), exec.Tests...)
	for i := range exec.Tests {
		add(&exec.Tests[i].Stage)
	}
	// JSON escaping can grow a byte up to six times (\u00XX).
	share := int(maxPayload/2) / max(len(streams), 1) / 6
	for _, s := range streams {
		if len(*s) > share {
			*s = strings.ToValidUTF8((*s)[:share], "")
		}
	}
	note := "outputs were shortened to fit the result size limit"
	if exec.Message == "" {
		exec.Message = note
	} else {
		exec.Message += "; " + note
	}
	data, err := json.Marshal(exec)
	if err != nil {
		return nil, fmt.Errorf("encode execution: %w", err)
	}
	if int64(len(data)) > maxPayload {
		return nil, fmt.Errorf("execution result of %d bytes does not fit in %d", len(data), maxPayload)
	}
	return data, nil
}
