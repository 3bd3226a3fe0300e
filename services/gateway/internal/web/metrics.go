package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count requests by route and status.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers the request metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "airlock_http_requests_total", Help: "HTTP requests to the gateway, by route, method and status.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "airlock_http_request_duration_seconds", Help: "HTTP request duration (a waiting request lasts until its result).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

func (m *Metrics) observe(r *http.Request, status int, took time.Duration) {
	route := routeOf(r.URL.Path)
	m.requests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route, r.Method).Observe(took.Seconds())
}

// routeOf folds paths into a bounded set of labels (ids never become labels).
func routeOf(path string) string {
	switch {
	case path == "/v1/executions" || path == "/v1/execute" || path == "/v1/executions/batch" ||
		path == "/v1/runtimes" || path == "/v1/fleet" || path == "/healthz" || path == "/readyz" ||
		path == "/metrics" || path == "/openapi.json":
		return path
	case strings.HasPrefix(path, "/v1/executions/"):
		return "/v1/executions/{id}"
	case strings.HasPrefix(path, "/api/v2/"):
		return "/api/v2/*"
	case strings.HasPrefix(path, "/submissions"), path == "/languages", path == "/statuses":
		return "/judge0/*"
	case path == "/" || strings.HasPrefix(path, "/console"):
		return "/console"
	}
	return "other"
}
