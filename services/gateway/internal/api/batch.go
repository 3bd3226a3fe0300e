package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/airlockrun/airlock/contracts"
)

// handleBatch serves POST /v1/executions/batch: every entry is validated and
// queued on its own, so one bad entry does not keep the others out. With an
// Idempotency-Key, entry i gets the id of the key "<key>#<i>".
func (a *API) handleBatch(w http.ResponseWriter, r *http.Request) {
	if herr := checkContentType(r); herr != nil {
		herr.write(w)
		return
	}
	key := r.Header.Get(idempotencyKeyHeader)
	tenant := tenantOf(r.Context())
	if _, herr := executionID(tenant, r.Header); herr != nil {
		herr.write(w)
		return
	}
	body, herr := a.readBatch(w, r)
	if herr != nil {
		herr.write(w)
		return
	}
	resp := contracts.BatchResponse{Executions: make([]contracts.BatchEntry, len(body.Executions))}
	for i, raw := range body.Executions {
		id := contracts.NewID()
		if key != "" {
			id = contracts.IDFromKey(tenant, key+"#"+strconv.Itoa(i))
		}
		if herr := a.submitOne(r, id, raw); herr != nil {
			resp.Executions[i] = contracts.BatchEntry{Error: herr.detail()}
			continue
		}
		resp.Executions[i] = contracts.BatchEntry{ID: id, Status: contracts.StatusQueued}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *API) submitOne(r *http.Request, id string, raw json.RawMessage) *httpError {
	req, herr := decodeRequest(bytes.NewReader(raw))
	if herr != nil {
		return herr
	}
	rt, herr := a.prepare(r.Context(), req)
	if herr != nil {
		return herr
	}
	return a.enqueue(r.Context(), id, req, rt)
}

func (a *API) readBatch(w http.ResponseWriter, r *http.Request) (*contracts.BatchRequest, *httpError) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes))
	dec.DisallowUnknownFields()
	var body *contracts.BatchRequest
	if err := dec.Decode(&body); err != nil {
		return nil, decodeError(err)
	}
	if body == nil || body.Executions == nil {
		return nil, invalidJSON("executions", `the body must be {"executions": [request, ...]}`)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if herr := asBodyTooLarge(err); herr != nil {
			return nil, herr
		}
		return nil, invalidJSON("", "the request body must hold exactly one JSON object; there is more data after it")
	}
	if n := len(body.Executions); n == 0 || n > a.opts.MaxBatch {
		return nil, &httpError{status: http.StatusUnprocessableEntity, code: contracts.CodeInvalidRequest, field: "executions",
			message: fmt.Sprintf("a batch holds 1 to %d requests, got %d", a.opts.MaxBatch, n)}
	}
	return body, nil
}

// handleList serves GET /v1/executions?ids=a,b,c: the current state of each,
// in the order asked, with not_found for ids nobody knows.
func (a *API) handleList(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("ids")
	if raw == "" {
		writeError(w, http.StatusBadRequest, contracts.CodeInvalidQuery, "ids", "ids is required: ?ids=<id>,<id>,...")
		return
	}
	ids := strings.Split(raw, ",")
	if len(ids) > a.opts.MaxBatch {
		writeError(w, http.StatusBadRequest, contracts.CodeInvalidQuery, "ids",
			fmt.Sprintf("at most %d ids at once, got %d", a.opts.MaxBatch, len(ids)))
		return
	}
	out := contracts.ExecutionList{Executions: make([]contracts.ExecutionOrError, len(ids))}
	notFound := &contracts.ErrorDetail{Code: contracts.CodeNotFound, Message: "no execution with this id"}
	for i, id := range ids {
		id = strings.TrimSpace(id)
		out.Executions[i].ID = id
		if !contracts.ValidID(id) {
			out.Executions[i].Error = notFound
			continue
		}
		exec, err := a.lookup(r.Context(), id)
		if err != nil {
			a.unavailable(w, r, "could not read the executions", err)
			return
		}
		if exec == nil {
			out.Executions[i].Error = notFound
			continue
		}
		out.Executions[i].Execution = exec
	}
	writeJSON(w, http.StatusOK, out)
}
