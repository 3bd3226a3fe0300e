package httpapi

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPIDocument is the OpenAPI 3.1 description of the native API (the
// /v1 endpoints, the probes and this document). cmd/airlock's
// TestOpenAPIConformance checks real responses of a running stack against it,
// so a renamed field or a changed type fails the tests until it is updated.
//
//go:embed openapi.json
var openAPIDocument []byte

// handleOpenAPI serves GET /openapi.json.
func (a *API) handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(openAPIDocument)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDocument)
}
