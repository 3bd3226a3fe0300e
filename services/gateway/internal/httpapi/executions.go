package httpapi

import (
	"net/http"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/services/gateway/internal/web"
)

// handleSubmit serves POST /v1/executions and, with forceWait, POST /v1/execute.
func (a *API) handleSubmit(forceWait bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if herr := web.CheckContentType(r); herr != nil {
			herr.Write(w)
			return
		}
		wait, timeout, herr := a.WaitParams(r, forceWait)
		if herr != nil {
			herr.Write(w)
			return
		}
		key, herr := web.IdempotencyKey(r.Header)
		if herr != nil {
			herr.Write(w)
			return
		}
		req, herr := a.ReadRequest(w, r)
		if herr != nil {
			herr.Write(w)
			return
		}
		c := a.For(r)
		sub, err := a.Submit(r.Context(), c, req, client.SubmitOptions{IdempotencyKey: key})
		if err != nil {
			a.Fail(w, r, err)
			return
		}
		w.Header().Set("Location", "/v1/executions/"+sub.ID)
		if !wait {
			web.WriteJSON(w, http.StatusAccepted, contracts.Accepted{ID: sub.ID, Status: contracts.StatusQueued})
			return
		}
		a.respondWait(w, r, c, sub.ID, timeout, false)
	}
}

// handleGet serves GET /v1/executions/{id}, with ?wait=true as a long poll.
func (a *API) handleGet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !contracts.ValidID(id) {
		a.Fail(w, r, client.ErrNotFound)
		return
	}
	wait, timeout, herr := a.WaitParams(r, false)
	if herr != nil {
		herr.Write(w)
		return
	}
	c := a.For(r)
	if wait {
		a.respondWait(w, r, c, id, timeout, true)
		return
	}
	exec, err := c.Get(r.Context(), id)
	if err != nil {
		a.Fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, exec)
}

// respondWait waits for an execution and answers: 200 with the completed
// execution, 202 with the latest known state when the wait runs out, 404
// for an id nobody knows (mustExist).
func (a *API) respondWait(w http.ResponseWriter, r *http.Request, c *client.Client, id string, timeout time.Duration, mustExist bool) {
	exec, done, err := a.Wait(r.Context(), c, id, timeout, client.WaitOptions{MustExist: mustExist})
	switch {
	case err != nil:
		a.Fail(w, r, err)
	case done:
		web.WriteJSON(w, http.StatusOK, exec)
	case exec.ID != "":
		web.WriteJSON(w, http.StatusAccepted, exec)
	case mustExist:
		a.Fail(w, r, client.ErrNotFound)
	default:
		web.WriteJSON(w, http.StatusAccepted, contracts.Accepted{ID: id, Status: contracts.StatusQueued})
	}
}
