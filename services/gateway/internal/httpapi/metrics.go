package httpapi

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/gateway/internal/web"
)

// queueStats reads the depth of the job queue from the executors' shared
// consumer: pending (not yet delivered) and in flight (delivered, not acked).
type queueStats struct {
	js jetstream.JetStream
	mu sync.Mutex
	at time.Time
	q  queueDepth
}

type queueDepth struct {
	Pending  int64 `json:"pending"`
	InFlight int64 `json:"in_flight"`
	Messages int64 `json:"messages"`
	Max      int64 `json:"max"`
}

func (s *queueStats) read(ctx context.Context) (queueDepth, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.at) < time.Second {
		return s.q, nil
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var q queueDepth
	stream, err := s.js.Stream(ctx, contracts.JobsStream)
	if err != nil {
		return q, err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return q, err
	}
	q.Messages, q.Max = int64(info.State.Msgs), info.Config.MaxMsgs
	q.Pending = q.Messages // no consumer yet: everything waits
	if cons, err := stream.Consumer(ctx, contracts.ExecutorConsumer); err == nil {
		if ci, err := cons.Info(ctx); err == nil {
			q.Pending, q.InFlight = int64(ci.NumPending), int64(ci.NumAckPending)
		}
	}
	s.q, s.at = q, time.Now()
	return q, nil
}

// queueCollector exports the queue depth on every scrape: the autoscaler's
// input ((pending + in flight) / slots per node).
type queueCollector struct {
	stats                    *queueStats
	pending, inFlight, bound *prometheus.Desc
}

func newQueueCollector(stats *queueStats) *queueCollector {
	return &queueCollector{
		stats:    stats,
		pending:  prometheus.NewDesc("airlock_queue_pending", "Jobs waiting for an executor.", nil, nil),
		inFlight: prometheus.NewDesc("airlock_queue_in_flight", "Jobs delivered to an executor and not finished.", nil, nil),
		bound:    prometheus.NewDesc("airlock_queue_max", "The bound of the job queue (queued plus running).", nil, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.inFlight
	ch <- c.bound
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	q, err := c.stats.read(context.Background())
	if err != nil {
		return // no sample rather than a wrong one
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(q.Pending))
	ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(q.InFlight))
	ch <- prometheus.MustNewConstMetric(c.bound, prometheus.GaugeValue, float64(q.Max))
}

// fleetBody is GET /v1/fleet: what the console's fleet view shows.
type fleetBody struct {
	Queue     queueDepth               `json:"queue"`
	Executors []contracts.ExecutorInfo `json:"executors"`
	At        time.Time                `json:"at"`
}

func (a *API) handleFleet(w http.ResponseWriter, r *http.Request) {
	q, err := a.queue.read(r.Context())
	if err != nil {
		a.Fail(w, r, web.Unavailable("could not read the queue", err))
		return
	}
	infos, err := a.Client.Executors(r.Context())
	if err != nil {
		a.Fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, fleetBody{Queue: q, Executors: a.fleetView(r.Context(), infos), At: time.Now().UTC()})
}

func (a *API) metricsHandler() http.Handler {
	return promhttp.HandlerFor(a.gatherer, promhttp.HandlerOpts{})
}
