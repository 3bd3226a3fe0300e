package executor

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
)

// Routing by runtime. All executors share one consumer (its MaxAckPending
// is the fleet-wide cap, the tenants' subjects carry their queue share), so
// any executor may be handed any job. One that does not serve the job's
// runtimes (its language and version, and its checker's and interactor's)
// passes it back: it records a "pass" event (status queued, with a message
// saying what the job waits for) and Naks the job with a delay. The next
// delivery does not count a pass as an attempt (see lifecycle.attempt), and
// the consumer's MaxDeliver leaves room for contracts.ExecutorPasses of them.
//
// Whether to pass or to end the job is decided from the executors bucket:
// while another executor announces the job's runtimes (with or without a
// problem: it takes the job once it recovers) the job is passed, however
// long that executor stays busy. When none does, the job is passed for
// Config.UnservedGrace (an executor restarting re-announces itself within
// it) and then ended as internal_error with a message that names the
// runtime.

// DefaultUnservedGrace is Config.UnservedGrace's default.
const DefaultUnservedGrace = 2 * time.Minute

// Pass delays: a pass waits passFirst times the delivery count, at most
// passMax; a job no executor serves waits passMax.
const (
	passFirst = 500 * time.Millisecond
	passMax   = 5 * time.Second
	// fleetCacheTTL is how long one reading of the executors bucket is
	// used for the routing decisions.
	fleetCacheTTL = time.Second
	// unservedStale: see router.elsewhere.
	unservedStale = 10
)

// need is a runtime a job needs, as its request names it (an empty version:
// any).
type need struct{ language, version string }

func (n need) String() string {
	if n.version == "" {
		return n.language
	}
	return n.language + " " + n.version
}

// needsOf is what an executor must serve to run req: its language and
// version, and those of its checker and interactor.
func needsOf(req contracts.ExecutionRequest) []need {
	needs := []need{{req.Language, req.Version}}
	for _, jp := range []*contracts.JudgeProgram{req.Checker, req.Interactor} {
		if jp != nil {
			needs = append(needs, need{jp.Language, jp.Version})
		}
	}
	return needs
}

// describe names the needs for a message: "python 3.12", "c++ 17 with
// python 3.12".
func describe(needs []need) string {
	parts := make([]string, len(needs))
	for i, n := range needs {
		parts[i] = n.String()
	}
	return strings.Join(parts, " with ")
}

// servesAll reports whether runtimes serve every need.
func servesAll(runtimes []contracts.Runtime, needs []need) bool {
	for _, n := range needs {
		if _, verr := contracts.FindRuntime(runtimes, n.language, n.version); verr != nil {
			return false
		}
	}
	return true
}

// fleetView lists the executors that announce themselves (the executors
// bucket).
type fleetView interface {
	executors(ctx context.Context) ([]contracts.ExecutorInfo, error)
}

// kvFleet reads the executors bucket, reusing a reading for fleetCacheTTL.
type kvFleet struct {
	kv  jetstream.KeyValue
	log *slog.Logger

	mu    sync.Mutex
	at    time.Time
	infos []contracts.ExecutorInfo
}

func (f *kvFleet) executors(ctx context.Context) ([]contracts.ExecutorInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.at.IsZero() && time.Since(f.at) < fleetCacheTTL {
		return f.infos, nil
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	infos, err := contracts.ReadExecutors(rctx, f.kv, f.log)
	if err != nil {
		return nil, err
	}
	f.infos, f.at = infos, time.Now()
	return infos, nil
}

// router decides where a job this executor does not serve goes. It
// remembers, per set of needs, since when no executor has announced them.
type router struct {
	self  string
	fleet fleetView
	grace time.Duration

	mu       sync.Mutex
	unserved map[string]unservedSpan
}

// unservedSpan: no executor announced a set of needs at any check from
// since to checked.
type unservedSpan struct{ since, checked time.Time }

func newRouter(self string, fleet fleetView, grace time.Duration) *router {
	return &router{self: self, fleet: fleet, grace: grace, unserved: map[string]unservedSpan{}}
}

// elsewhere reports whether another executor announces every need; when
// none does, unservedFor is how long none has, as this executor saw it (a
// job bounces between executors, so each sees its needs now and then; a
// check more than unservedStale graces after the previous one starts the
// span afresh, and a span nobody asked about for that long is forgotten).
func (r *router) elsewhere(ctx context.Context, needs []need) (served bool, unservedFor time.Duration, err error) {
	infos, err := r.fleet.executors(ctx)
	if err != nil {
		return false, 0, err
	}
	for _, info := range infos {
		if info.ID != r.self && servesAll(info.Runtimes, needs) {
			served = true
			break
		}
	}
	key := fmt.Sprint(needs)
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if served {
		delete(r.unserved, key)
		return true, 0, nil
	}
	span, ok := r.unserved[key]
	stale := unservedStale * r.grace
	if !ok || now.Sub(span.checked) > stale {
		span.since = now
	}
	span.checked = now
	r.unserved[key] = span
	for k, s := range r.unserved { // forget the spans nobody asks about
		if now.Sub(s.checked) > stale {
			delete(r.unserved, k)
		}
	}
	return false, now.Sub(span.since), nil
}

// passDelay is how long a job passed on its delivery waits.
func passDelay(delivery int, first, most time.Duration) time.Duration {
	return min(time.Duration(max(delivery, 1))*first, most)
}

// pass hands a job this executor does not serve back to the queue for an
// executor that does, or ends it when none has served it for the grace or
// this is its last delivery.
func (l *lifecycle) pass(ctx context.Context, msg Delivery, log *slog.Logger, job contracts.Job, exec contracts.Execution, delivery int, needs []need) {
	what := describe(needs)
	served, unservedFor, err := l.router.elsewhere(ctx, needs)
	first, most := cmp.Or(l.passFirst, passFirst), cmp.Or(l.passMax, passMax)
	switch {
	case err != nil:
		log.Warn("read the executors bucket: passing the job", "needs", what, "err", err)
	case !served && unservedFor >= l.router.grace:
		l.metrics.errors.WithLabelValues("executor", "unserved").Inc()
		log.Error("no executor serves the job's runtime: ending it", "needs", what, "unserved_for", unservedFor.Round(time.Second))
		l.finish(ctx, msg, log, fail(exec, fmt.Sprintf("no executor serves %s: none has announced it for %s (execution %s)",
			what, unservedFor.Round(time.Second), exec.ID)))
		return
	case !served && unservedFor == 0:
		// Once per span, not on every pass of every job.
		log.Warn("no executor serves the job's runtime at present: passing it", "needs", what, "grace", l.router.grace)
	}
	if l.maxDeliver > 0 && delivery >= l.maxDeliver {
		// The server would deliver the job no more: end it here.
		l.finish(ctx, msg, log, fail(exec, fmt.Sprintf("no executor that serves %s took the job in %d deliveries (execution %s)",
			what, delivery, exec.ID)))
		return
	}
	delay := passDelay(delivery, first, most)
	if !served {
		delay = most
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if delivery == 1 {
		queued := job.Queued()
		queued.ResultToken = job.ResultToken
		if err := l.bus.Publish(pctx, queued, contracts.QueuedMsgID(job.ID)); err != nil {
			log.Warn("record the queued event", "err", err)
		}
	}
	exec.Status, exec.Message = contracts.StatusQueued, fmt.Sprintf("waiting for an executor that serves %s (executor %s does not)", what, l.id)
	if err := l.bus.Publish(pctx, exec, passMsgID(exec.ID, delivery)); err != nil {
		log.Warn("record the pass: the next delivery counts this one as an attempt", "err", err)
	}
	log.Debug("job passed to an executor that serves it", "needs", what, "delay", delay)
	_ = msg.NakWithDelay(delay)
}
