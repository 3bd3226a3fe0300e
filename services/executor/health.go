package executor

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/docker/docker/client"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
)

// health is what the executor says about itself: the heartbeat in the
// executors bucket (slots, languages, figures) and the problem that keeps
// it from taking work (the Docker engine not answering).
type health struct {
	id       string
	slots    int
	interval time.Duration
	langs    []served
	busy     *atomic.Int32 // shared with the busy-slots gauge
	started  time.Time
	metrics  *metrics
	sandbox  *sandbox.Launcher // nil in tests
	log      *slog.Logger
	// problem is why this executor cannot take work now (nil: it can). It is
	// published in the heartbeat, so /readyz and the gateway see it.
	problem atomic.Pointer[string]
	// beat asks the heartbeat loop to announce a change at once.
	beat chan struct{}
}

func newHealth(cfg Config, langs []served, busy *atomic.Int32, m *metrics, sb *sandbox.Launcher, log *slog.Logger) *health {
	return &health{
		id: cfg.ID, slots: cfg.Slots, interval: cfg.HeartbeatInterval, langs: langs, busy: busy,
		started: time.Now().UTC(), metrics: m, sandbox: sb, log: log, beat: make(chan struct{}, 1),
	}
}

// heartbeat announces the executor in the executors bucket every interval,
// and at once when its problem changes, until ctx ends.
func (h *health) heartbeat(ctx context.Context, kv jetstream.KeyValue) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		info := contracts.ExecutorInfo{
			ID: h.id, Slots: h.slots, Busy: int(h.busy.Load()),
			StartedAt: h.started, UpdatedAt: time.Now().UTC(), Runtimes: runtimesOf(h.langs),
		}
		if p := h.problem.Load(); p != nil {
			info.Problem = *p
		}
		info.Completed, info.LatencyP50MS, info.LatencyP99MS = h.metrics.snapshot()
		if h.sandbox != nil {
			info.WarmPool = h.sandbox.PoolSizes()
		}
		data, _ := json.Marshal(info)
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if _, err := kv.Put(pctx, h.id, data); err != nil && ctx.Err() == nil {
			h.log.Warn("heartbeat", "err", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.beat:
		}
	}
}

// waitForEngine returns at once while the executor has no problem; else it
// waits until the problem clears (true) or ctx ends (false). The caller
// keeps the job in progress meanwhile.
func (h *health) waitForEngine(ctx context.Context) bool {
	if h.problem.Load() == nil {
		return true
	}
	check := time.NewTicker(100 * time.Millisecond)
	defer check.Stop()
	for h.problem.Load() != nil {
		select {
		case <-ctx.Done():
			return false
		case <-check.C:
		}
	}
	return true
}

// setProblem records why the executor cannot take work ("" clears it) and
// announces the change at once.
func (h *health) setProblem(p string) {
	old := h.problem.Load()
	switch {
	case p == "" && old == nil:
		return
	case p == "":
		h.problem.Store(nil)
		h.log.Info("docker engine answers again: taking jobs")
	case old != nil && *old == p:
		return
	default:
		h.problem.Store(&p)
		h.log.Error("cannot take jobs", "problem", p)
		if old == nil && h.sandbox != nil {
			// Idle cells may not have kept their attach connections
			// through the engine's trouble: start afresh.
			h.sandbox.FlushCells()
		}
	}
	select {
	case h.beat <- struct{}{}:
	default:
	}
}

// watchEngine pings the Docker engine every few seconds: while it does not
// answer, the executor reports the problem and fetches no jobs; it recovers
// by itself when the engine is back.
func (h *health) watchEngine(ctx context.Context, cli *client.Client) {
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
			h.setProblem("docker engine does not answer: " + short(err))
		} else {
			h.setProblem("")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
