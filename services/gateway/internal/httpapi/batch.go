package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/services/gateway/internal/web"
)

// handleBatch serves POST /v1/executions/batch: every entry is validated and
// queued on its own, so one bad entry does not keep the others out. With an
// Idempotency-Key, entry i gets the id of the key "<key>#<i>".
func (a *API) handleBatch(w http.ResponseWriter, r *http.Request) {
	if herr := web.CheckContentType(r); herr != nil {
		herr.Write(w)
		return
	}
	key, herr := web.IdempotencyKey(r.Header)
	if herr != nil {
		herr.Write(w)
		return
	}
	body, herr := a.readBatch(w, r)
	if herr != nil {
		herr.Write(w)
		return
	}
	if herr := web.CheckBatchKey(key, len(body.Executions)); herr != nil {
		herr.Write(w)
		return
	}
	c := a.For(r)
	resp := contracts.BatchResponse{Executions: make([]contracts.BatchEntry, len(body.Executions))}
	for i, raw := range body.Executions {
		req, herr := web.DecodeRequest(bytes.NewReader(raw))
		if herr != nil {
			resp.Executions[i] = contracts.BatchEntry{Error: herr.Detail()}
			continue
		}
		sub, err := a.Submit(r.Context(), c, req, client.SubmitOptions{IdempotencyKey: web.BatchKey(key, i)})
		if err != nil {
			if web.Failure(a.Log, r, err) == nil {
				return
			}
			resp.Executions[i] = contracts.BatchEntry{Error: web.ErrorOf(err).Detail()}
			continue
		}
		resp.Executions[i] = contracts.BatchEntry{ID: sub.ID, Status: contracts.StatusQueued}
	}
	web.WriteJSON(w, http.StatusOK, resp)
}

func (a *API) readBatch(w http.ResponseWriter, r *http.Request) (*contracts.BatchRequest, *web.Error) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, a.MaxBodyBytes))
	dec.DisallowUnknownFields()
	var body *contracts.BatchRequest
	if err := dec.Decode(&body); err != nil {
		return nil, web.DecodeError(err)
	}
	if body == nil || body.Executions == nil {
		return nil, web.InvalidJSON("executions", `the body must be {"executions": [request, ...]}`)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if herr := web.BodyTooLarge(err); herr != nil {
			return nil, herr
		}
		return nil, web.InvalidJSON("", "the request body must hold exactly one JSON object; there is more data after it")
	}
	if n := len(body.Executions); n == 0 || n > a.MaxBatch {
		return nil, &web.Error{Status: http.StatusUnprocessableEntity, Code: contracts.CodeInvalidRequest, Field: "executions",
			Message: fmt.Sprintf("a batch holds 1 to %d requests, got %d", a.MaxBatch, n)}
	}
	return body, nil
}

// handleList serves GET /v1/executions?ids=a,b,c: the current state of each,
// in the order asked, with not_found for ids nobody knows.
func (a *API) handleList(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("ids")
	if raw == "" {
		web.WriteError(w, http.StatusBadRequest, contracts.CodeInvalidQuery, "ids", "ids is required: ?ids=<id>,<id>,...")
		return
	}
	ids := strings.Split(raw, ",")
	if len(ids) > a.MaxBatch {
		web.WriteError(w, http.StatusBadRequest, contracts.CodeInvalidQuery, "ids",
			fmt.Sprintf("at most %d ids at once, got %d", a.MaxBatch, len(ids)))
		return
	}
	c := a.For(r)
	out := contracts.ExecutionList{Executions: make([]contracts.ExecutionOrError, len(ids))}
	notFound := &contracts.ErrorDetail{Code: contracts.CodeNotFound, Message: "no execution with this id"}
	for i, id := range ids {
		id = strings.TrimSpace(id)
		out.Executions[i].ID = id
		if !contracts.ValidID(id) {
			out.Executions[i].Error = notFound
			continue
		}
		exec, err := c.Get(r.Context(), id)
		switch {
		case errors.Is(err, client.ErrNotFound):
			out.Executions[i].Error = notFound
			continue
		case err != nil:
			a.Fail(w, r, err)
			return
		}
		out.Executions[i].Execution = &exec
	}
	web.WriteJSON(w, http.StatusOK, out)
}
