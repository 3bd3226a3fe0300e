package executor

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/executor/internal/runner"
)

// metrics are the executor's Prometheus metrics and the figures its
// heartbeat carries (the same numbers, for the fleet view).
type metrics struct {
	executions     *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	queueWait      prometheus.Histogram
	containerStart prometheus.Histogram
	errors         *prometheus.CounterVec

	mu        sync.Mutex
	completed map[contracts.Verdict]int64
	recent    []time.Duration // ring of the last latencies
	next      int
}

const recentLatencies = 256

func newMetrics(reg prometheus.Registerer, id string, slots int, busy func() float64) *metrics {
	labels := prometheus.Labels{"executor": id}
	m := &metrics{
		executions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "airlock_executions_total", Help: "Executions finished, by language and verdict.", ConstLabels: labels,
		}, []string{"language", "verdict"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "airlock_execution_duration_seconds", Help: "Time from the start of an execution to its stored result.",
			ConstLabels: labels, Buckets: []float64{.05, .1, .2, .3, .5, .75, 1, 1.5, 2, 3, 5, 10, 20, 40},
		}, []string{"language"}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "airlock_queue_wait_seconds", Help: "Time a job waited in the queue before an executor started it.",
			ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(0.005, 2, 16),
		}),
		containerStart: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "airlock_container_start_seconds", Help: "Create, attach and start of one sandbox container.",
			ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(0.01, 1.6, 14),
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "airlock_errors_total", Help: "Infrastructure errors, by kind.", ConstLabels: labels,
		}, []string{"service", "kind"}),
		completed: map[contracts.Verdict]int64{},
	}
	slotsGauge := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "airlock_executor_slots", Help: "Jobs this executor runs at once.", ConstLabels: labels,
	})
	slotsGauge.Set(float64(slots))
	busyGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "airlock_executor_busy_slots", Help: "Slots running a job now.", ConstLabels: labels,
	}, busy)
	if reg != nil {
		reg.MustRegister(m.executions, m.duration, m.queueWait, m.containerStart, m.errors, slotsGauge, busyGauge)
	}
	return m
}

func (m *metrics) finished(exec contracts.Execution, took time.Duration) {
	m.executions.WithLabelValues(exec.Language, string(exec.Verdict)).Inc()
	m.duration.WithLabelValues(exec.Language).Observe(took.Seconds())
	m.mu.Lock()
	defer m.mu.Unlock()
	m.completed[exec.Verdict]++
	if len(m.recent) < recentLatencies {
		m.recent = append(m.recent, took)
	} else {
		m.recent[m.next] = took
		m.next = (m.next + 1) % recentLatencies
	}
}

// snapshot returns the counts by verdict and the p50/p99 of recent latencies.
func (m *metrics) snapshot() (map[contracts.Verdict]int64, int64, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	counts := make(map[contracts.Verdict]int64, len(m.completed))
	for k, v := range m.completed {
		counts[k] = v
	}
	if len(m.recent) == 0 {
		return counts, 0, 0
	}
	sorted := slices.Clone(m.recent)
	slices.Sort(sorted)
	at := func(q float64) int64 { return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)].Milliseconds() }
	return counts, at(0.50), at(0.99)
}

// serveMetrics serves reg on addr at /metrics until the returned function is
// called.
func serveMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("metrics listening", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}

// registerRunnerMetrics counts the checker and interactor builds and the
// problem packages read of rn: a cache hit counts nothing, so a problem's
// checker compiles once per executor (docs/judge.md).
func registerRunnerMetrics(reg prometheus.Registerer, id string, rn *runner.Runner) error {
	labels := prometheus.Labels{"executor": id}
	for _, c := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "airlock_executor_checker_compiles_total", ConstLabels: labels,
			Help: "Checker and interactor compilations this executor ran (its cache of builds keyed by the hash of the sources and language makes a repeat free).",
		}, func() float64 { return float64(rn.CheckerCompiles()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "airlock_executor_problem_loads_total", ConstLabels: labels,
			Help: "Problem packages this executor read from the problems store (its cache by tenant, id and version makes a repeat free).",
		}, func() float64 { return float64(rn.ProblemLoads()) }),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register runner metrics: %w", err)
		}
	}
	return nil
}
