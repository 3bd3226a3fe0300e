package executor

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/services/executor/internal/catalog"
	"github.com/airlockrun/airlock/services/executor/internal/runner"
	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
)

// jobRunner runs one job to its result; *runner.Runner (over the sandbox
// runner) is the real one. It returns an error only for infrastructure
// faults (sandbox.ErrRefused, sandbox.ErrEngine, runner.ErrSandbox, or
// ctx ending); the program's failures are verdicts in the Result.
type jobRunner interface {
	Execute(ctx context.Context, id, tenant string, req contracts.ExecutionRequest, lang *catalog.Language, limits contracts.LimitSet) (runner.Result, error)
}

var _ jobRunner = (*runner.Runner)(nil)

// problemSource reads the problem package a job names; *runner.Runner
// (with its cache) is the real one. A package that is not stored is
// client.ErrProblemNotFound.
type problemSource interface {
	Problem(ctx context.Context, tenant, id, version string) (*contracts.ProblemPackage, error)
}

var _ problemSource = (*runner.Runner)(nil)

// lifecycle takes a job from its delivery to its end: exactly one stored
// terminal result, then a confirmed ack (or Term), or a hand-back (Nak).
//
// Attempts. A job is tried MaxAttempts times; one delivery more only records
// internal_error. An attempt is a delivery that was not handed back: a
// delivery the executor hands back at shutdown (or while it held the job
// through an engine outage) publishes a "handback" event first, and one it
// passes to an executor that serves the job's runtime (routing.go) a "pass"
// event; the next delivery counts neither (see attempt). The consumer's
// MaxDeliver leaves room for contracts.ExecutorHandBacks hand-backs and
// contracts.ExecutorPasses passes; the last delivery the server will make
// always ends the job.
type lifecycle struct {
	id          string // the executor's
	maxAttempts int
	maxDeliver  int
	ackWait     time.Duration
	topo        contracts.Topology
	validator   *contracts.Validator
	langs       []served
	isolation   runner.Isolation
	runner      jobRunner
	problems    problemSource // nil: jobs that name a problem fail
	bus         eventBus
	health      *health
	metrics     *metrics
	log         *slog.Logger
	// retryFirst and retryMax pace the retries of a result's publication
	// (0: 250 ms doubling up to 5 s).
	retryFirst, retryMax time.Duration
	// router decides where a job this executor does not serve goes (see
	// routing.go); passFirst and passMax pace its passes (0: passFirst and
	// passMax).
	router             *router
	passFirst, passMax time.Duration
}

// slot fetches one job at a time: it holds the slot before it asks, so no
// job waits in a local buffer while its AckWait runs out.
func (l *lifecycle) slot(ctx, jobCtx context.Context, cons jetstream.Consumer, nc *nats.Conn, busy *atomic.Int32, paused bool) {
	for ctx.Err() == nil {
		if l.health.problem.Load() != nil || paused {
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
				l.log.Warn("fetch job", "err", err)
				time.Sleep(time.Second)
			}
			continue
		}
		for msg := range msgs.Messages() {
			busy.Add(1)
			l.handle(jobCtx, natsDelivery{msg: msg, nc: nc})
			busy.Add(-1)
		}
		cancel()
	}
}

// handle works on one delivery until the job is stored and acked or
// terminated, or handed back. ctx ends when the executor's shutdown timeout
// runs out.
func (l *lifecycle) handle(ctx context.Context, msg Delivery) {
	meta, err := msg.Metadata()
	if err != nil {
		l.log.Error("job without metadata: terminated", "err", err)
		l.term(ctx, msg, l.log, "no metadata")
		return
	}
	var job contracts.Job
	if err := json.Unmarshal(msg.Data(), &job); err != nil || !contracts.ValidID(job.ID) {
		l.log.Error("undecodable job: terminated", "subject", msg.Subject(), "err", err)
		l.term(ctx, msg, l.log, "undecodable job")
		return
	}
	// The tenant is the subject's: the NATS server let the publisher
	// publish there, whereas the body says what the publisher wrote.
	tenant, ok := l.topo.TenantOfJobSubject(msg.Subject())
	if !ok {
		l.log.Error("job on a subject that names no tenant: terminated", "subject", msg.Subject())
		l.term(ctx, msg, l.log, "no tenant in the subject")
		return
	}
	if tenant != cmp.Or(job.Tenant, contracts.DefaultTenant) {
		l.log.Warn("job body names another tenant than its subject: the subject's wins", "id", job.ID, "subject", msg.Subject())
		job.Tenant = tenant
	}
	// The job stays in progress from here to its ack, Term or hand-back:
	// through the hold, the run and the publication of its result.
	stopBeat := l.keepAlive(msg)
	defer stopBeat()

	delivery := int(meta.NumDelivered)
	attempt, stored := l.attempt(ctx, job.ID, job.ResultToken, delivery)
	log := l.log.With("id", job.ID, "attempt", attempt, "delivery", delivery)
	if stored {
		// The result is stored, the ack was lost: end the job, never run
		// it again.
		log.Info("job delivered again after its result was stored: acked")
		l.ack(ctx, msg, log)
		return
	}
	if job.CreatedAt.IsZero() {
		job.CreatedAt = meta.Timestamp.UTC()
	}
	exec := l.execution(job, attempt)
	if attempt > l.maxAttempts {
		log.Error("job failed on every attempt: giving up")
		l.finish(ctx, msg, log, fail(exec, fmt.Sprintf("the job failed on all %d attempts (execution %s)", l.maxAttempts, job.ID)))
		return
	}
	// Never trust the job: validate again and clamp limits to our maximums.
	req := job.Request
	if verr := l.validator.Request(&req); verr != nil {
		l.finish(ctx, msg, log, fail(exec, "invalid job: "+verr.Error()))
		return
	}
	// A job this executor does not serve goes to one that does; with a
	// problem package, again once the package names its checker and
	// interactor.
	passed := func() bool {
		needs := needsOf(req)
		if servesAll(runtimesOf(l.langs), needs) {
			return false
		}
		l.pass(ctx, msg, log, job, exec, delivery, needs)
		return true
	}
	if passed() {
		return
	}
	if req.Problem != "" {
		// The job names its package by id and version: the tests,
		// checker and interactor come from the store (or the cache).
		msgText, retry := l.applyProblem(ctx, tenant, &req)
		if retry && attempt < l.maxAttempts && delivery < l.maxDeliver {
			_ = msg.NakWithDelay(2 * time.Second)
			return
		}
		if msgText != "" {
			l.finish(ctx, msg, log, fail(exec, msgText))
			return
		}
		if passed() {
			return
		}
	}
	lang, rt := find(l.langs, req.Language, req.Version)
	limits := contracts.ClampLimits(req.Limits, rt)
	exec.Language, exec.Version, exec.Limits = rt.Language, rt.Version, &limits
	exec.Isolation = l.isolation.Mode(tenant, lang.Name)

	// A job that arrives while the engine is down (a fetch was already
	// waiting) is held, not handed back: it runs once the engine answers.
	if !l.health.waitForEngine(ctx) {
		l.handBack(msg, log, exec, delivery, "job held during an engine outage handed back at shutdown")
		return
	}
	started := time.Now().UTC()
	l.metrics.queueWait.Observe(started.Sub(job.CreatedAt).Seconds())
	running := exec
	running.Status, running.StartedAt = contracts.StatusRunning, &started
	// The running event is stored while the stage runs: its acknowledgement
	// is awaited before anything else of this job is published, so the
	// stream keeps the order.
	runningAck := l.bus.PublishAsync(running, runningMsgID(job.ID, delivery))
	res, err := l.runner.Execute(ctx, job.ID, tenant, req, lang, limits)
	if err := runningAck(); err != nil {
		log.Warn("publish status", "status", running.Status, "err", err)
	}
	if err != nil {
		if ctx.Err() != nil {
			l.handBack(msg, log, exec, delivery, "job interrupted by shutdown: handed back")
			return
		}
		log.Error("execution failed", "err", err)
		if errors.Is(err, sandbox.ErrRefused) {
			// The engine refused this job's parameters: the job's fault,
			// the same on every attempt, and no sign of the engine's health.
			l.metrics.errors.WithLabelValues("executor", "refused").Inc()
			l.finish(ctx, msg, log, fail(exec, fmt.Sprintf("the sandbox engine refused this job's limits (execution %s); executor %s logged why", job.ID, l.id)))
			return
		}
		kind := "sandbox"
		if errors.Is(err, sandbox.ErrEngine) {
			kind = "engine"
			l.health.setProblem("docker engine: " + short(err))
		}
		l.metrics.errors.WithLabelValues("executor", kind).Inc()
		if attempt < l.maxAttempts && delivery < l.maxDeliver && !errors.Is(err, runner.ErrSandbox) {
			_ = msg.NakWithDelay(2 * time.Second)
			return
		}
		// The engine's own text stays in the executor's log: it names
		// host paths, container IDs and the engine's configuration.
		l.finish(ctx, msg, log, fail(exec, fmt.Sprintf("the sandbox failed (execution %s); executor %s logged why", job.ID, l.id)))
		return
	}
	done := time.Now().UTC()
	exec.Status, exec.Verdict, exec.Message = contracts.StatusCompleted, res.Verdict, res.Message
	exec.Compile, exec.Run, exec.Tests, exec.FailedTest = res.Compile, res.Run, res.Tests, res.FailedTest
	exec.Score, exec.MaxScore = res.Score, res.MaxScore
	exec.Isolation = res.Isolation
	exec.StartedAt, exec.FinishedAt = &started, &done
	faultPoint(log, "between-run-and-publish")
	l.finish(ctx, msg, log, exec)
	log.Info("execution completed", "language", exec.Language, "verdict", exec.Verdict, "ms", done.Sub(started).Milliseconds())
}

// applyProblem fills req from the problem package it names. It returns
// what the execution's message says when the package cannot be had, and
// retry when that may pass (the store did not answer).
func (l *lifecycle) applyProblem(ctx context.Context, tenant string, req *contracts.ExecutionRequest) (message string, retry bool) {
	if req.ProblemVersion == "" {
		return fmt.Sprintf("invalid job: it names problem %q without its problem_version", req.Problem), false
	}
	if l.problems == nil {
		return fmt.Sprintf("executor %s reads no problem packages", l.id), false
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	pkg, err := l.problems.Problem(pctx, tenant, req.Problem, req.ProblemVersion)
	switch {
	case errors.Is(err, client.ErrProblemNotFound):
		return fmt.Sprintf("problem %q version %s is no longer stored: it was deleted, or replaced %d times, after this job was queued",
			req.Problem, req.ProblemVersion, contracts.ProblemVersionsKept), false
	case err != nil:
		l.log.Error("read a problem package", "problem", req.Problem, "version", req.ProblemVersion, "err", err)
		l.metrics.errors.WithLabelValues("executor", "problems").Inc()
		return fmt.Sprintf("executor %s could not read problem %q (version %s); it logged why", l.id, req.Problem, req.ProblemVersion), true
	}
	contracts.ApplyProblem(req, pkg)
	return "", false
}

// execution is the record of job's attempt on this executor.
func (l *lifecycle) execution(job contracts.Job, attempt int) contracts.Execution {
	return contracts.Execution{
		ID: job.ID, Tenant: job.Tenant, Language: job.Request.Language, Version: job.Request.Version,
		CallbackURL: job.Request.CallbackURL, ResultToken: job.ResultToken,
		Executor: l.id, Attempt: attempt, CreatedAt: job.CreatedAt,
	}
}

// Message ids of the events the lifecycle publishes: RESULTS drops a repeat
// within its de-duplication window, and attempt reads the delivery back.
func runningMsgID(id string, delivery int) string { return fmt.Sprintf("%s:running:%d", id, delivery) }
func handBackMsgID(id string, delivery int) string {
	return fmt.Sprintf("%s:handback:%d", id, delivery)
}
func passMsgID(id string, delivery int) string { return fmt.Sprintf("%s:pass:%d", id, delivery) }
func completedMsgID(id string) string          { return id + ":completed" }

// attempt says which attempt delivery is, from the job's last event: the
// attempt it recorded, plus the deliveries since, minus one when that event
// is a hand-back or a pass (a delivery handed back or passed to another
// executor is not an attempt). stored is true
// when a terminal result is already stored. Without a readable event every
// delivery counts (the count can only come out too high, never too low).
func (l *lifecycle) attempt(ctx context.Context, id, token string, delivery int) (attempt int, stored bool) {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ev, err := l.bus.Last(lctx, id, token)
	if err != nil {
		l.log.Warn("read the job's last event: counting every delivery as an attempt", "id", id, "err", err)
		return delivery, false
	}
	if ev == nil {
		return delivery, false
	}
	if ev.Exec.Terminal() {
		return ev.Exec.Attempt, true
	}
	kind, at, ok := strings.Cut(strings.TrimPrefix(ev.MsgID, id+":"), ":")
	d, err := strconv.Atoi(at)
	if !ok || err != nil || d < 1 || d >= delivery || ev.Exec.Attempt < 1 {
		return delivery, false
	}
	attempt = ev.Exec.Attempt + delivery - d
	if kind == "handback" || kind == "pass" {
		attempt--
	} else if kind != "running" {
		return delivery, false
	}
	return min(max(attempt, 1), delivery), false
}

// handBack returns the job to the queue (Nak) at shutdown. It first records
// the hand-back as an event of the job (status queued, which the results
// service never stores over running), so that the next delivery does not
// count this one as an attempt. When that event cannot be published the
// hand-back counts as an attempt.
func (l *lifecycle) handBack(msg Delivery, log *slog.Logger, exec contracts.Execution, delivery int, why string) {
	log.Warn(why)
	pctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	exec.Status, exec.Message = contracts.StatusQueued, "handed back by executor "+l.id+" at its shutdown"
	if err := l.bus.Publish(pctx, exec, handBackMsgID(exec.ID, delivery)); err != nil {
		log.Warn("record the hand-back: the next delivery counts this one as an attempt", "err", err)
	}
	_ = msg.Nak()
}

// keepAlive tells the server the job is still being worked on, every third
// of AckWait, until the returned function is called.
func (l *lifecycle) keepAlive(msg Delivery) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(l.ackWait / 3)
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
