package gateway

import (
	"fmt"
	"net/http"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/gateway/internal/console"
	"github.com/airlockrun/airlock/services/gateway/internal/eval"
	"github.com/airlockrun/airlock/services/gateway/internal/httpapi"
	"github.com/airlockrun/airlock/services/gateway/internal/judge0"
	"github.com/airlockrun/airlock/services/gateway/internal/piston"
	"github.com/airlockrun/airlock/services/gateway/internal/web"
)

// newHandler builds the HTTP handler: every front door registers its
// routes on one mux (the native API, Piston, Judge0, evaluations, the
// console), wrapped in the API key and tenant middleware, the site guard,
// and panic recovery with request logging and metrics. The evaluation
// front door is returned to be started once serving.
func newHandler(cfg Config, core *web.Core, js jetstream.JetStream) (http.Handler, *eval.API, error) {
	site, err := web.NewSiteGuard(cfg.AllowedHosts, cfg.AllowedOrigins, len(cfg.APIKeys) == 0)
	if err != nil {
		return nil, nil, err
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	native, err := httpapi.New(core, js, reg)
	if err != nil {
		return nil, nil, err
	}
	evals := eval.New(core, js, cfg.Topology)
	mux := http.NewServeMux()
	native.Register(mux)
	(&piston.API{Core: core}).Register(mux)
	(&judge0.API{Core: core}).Register(mux)
	evals.Register(mux)
	console.New().Register(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		web.WriteError(w, http.StatusNotFound, contracts.CodeNotFound, "", fmt.Sprintf("no such endpoint: %s", r.URL.Path))
	})
	auth := web.NewAuth(cfg.APIKeys, cfg.OperatorKey, cfg.RateLimit, cfg.RateBurst, console.Public)
	return web.Instrument(core.Log, web.NewMetrics(reg), site.Middleware(core.Log, auth.Middleware(mux))), evals, nil
}
