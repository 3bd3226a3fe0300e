package httpapi

import (
	"net/http"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/gateway/internal/web"
)

// handlePutProblem serves PUT /v1/problems/{id}: it stores a problem
// package (a JSON ProblemPackage within MaxProblemBodyBytes) for the
// tenant and answers its manifest: 201 for a new problem, 200 for a new
// version of one or the same package again (then nothing was written).
func (a *API) handlePutProblem(w http.ResponseWriter, r *http.Request) {
	if herr := web.CheckContentType(r); herr != nil {
		herr.Write(w)
		return
	}
	body, done := a.BodyWithin(w, r, a.MaxProblemBodyBytes)
	pkg, herr := web.DecodeObject[contracts.ProblemPackage](body)
	done()
	if herr != nil {
		herr.Write(w)
		return
	}
	stored, err := a.For(r).PutProblem(r.Context(), r.PathValue("id"), pkg)
	if err != nil {
		a.Fail(w, r, err)
		return
	}
	status := http.StatusOK
	if stored.Created {
		status = http.StatusCreated
	}
	w.Header().Set("Location", "/v1/problems/"+stored.Manifest.ID)
	web.WriteJSON(w, status, stored.Manifest)
}

// handleGetProblem serves GET /v1/problems/{id}: the manifest of the
// problem's current version, without test data.
func (a *API) handleGetProblem(w http.ResponseWriter, r *http.Request) {
	m, err := a.For(r).Problem(r.Context(), r.PathValue("id"))
	if err != nil {
		a.Fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, m)
}

// handleDeleteProblem serves DELETE /v1/problems/{id}: 204, or 404 when the
// tenant has no such problem.
func (a *API) handleDeleteProblem(w http.ResponseWriter, r *http.Request) {
	if err := a.For(r).DeleteProblem(r.Context(), r.PathValue("id")); err != nil {
		a.Fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
