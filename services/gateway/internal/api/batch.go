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
	"github.com/airlockrun/airlock/contracts/client"
)

// handleBatch serves POST /v1/executions/batch: every entry is validated and
// queued on its own, so one bad entry does not keep the others out. With an
// Idempotency-Key, entry i gets the id of the key "<key>#<i>".
func (a *API) handleBatch(w http.ResponseWriter, r *http.Request) {
	if herr := checkContentType(r); herr != nil {
		herr.write(w)
		return
	}
	key, herr := idempotencyKey(r.Header)
	if herr != nil {
		herr.write(w)
		return
	}
	body, herr := a.readBatch(w, r)
	if herr != nil {
		herr.write(w)
		return
	}
	if herr := checkBatchKey(key, len(body.Executions)); herr != nil {
		herr.write(w)
		return
	}
	c := a.client.As(tenantOf(r.Context()))
	resp := contracts.BatchResponse{Executions: make([]contracts.BatchEntry, len(body.Executions))}
	for i, raw := range body.Executions {
		req, herr := decodeRequest(bytes.NewReader(raw))
		if herr != nil {
			resp.Executions[i] = contracts.BatchEntry{Error: herr.detail()}
			continue
		}
		sub, err := a.submit(r.Context(), c, req, client.SubmitOptions{IdempotencyKey: batchKey(key, i)})
		if err != nil {
			if failure(a.log, r, err) == nil {
				return
			}
			resp.Executions[i] = contracts.BatchEntry{Error: errorOf(err).detail()}
			continue
		}
		resp.Executions[i] = contracts.BatchEntry{ID: sub.ID, Status: contracts.StatusQueued}
	}
	writeJSON(w, http.StatusOK, resp)
}

// batchKey is the idempotency key of entry i of a batch sent with key:
// "<key>#<i>" ("" without a key).
func batchKey(key string, i int) string {
	if key == "" {
		return ""
	}
	return key + "#" + strconv.Itoa(i)
}

// checkBatchKey refuses a key too long to name the n entries of a batch.
func checkBatchKey(key string, n int) *httpError {
	if key == "" || contracts.CheckIdempotencyKey(batchKey(key, n-1)) == nil {
		return nil
	}
	return &httpError{status: http.StatusBadRequest, code: contracts.CodeInvalidHeader, field: idempotencyKeyHeader,
		message: fmt.Sprintf("Idempotency-Key of a batch of %d must leave room for \"#%d\" within %d characters", n, n-1, contracts.MaxIdempotencyKey)}
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
	c := a.client.As(tenantOf(r.Context()))
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
			a.fail(w, r, err)
			return
		}
		out.Executions[i].Execution = &exec
	}
	writeJSON(w, http.StatusOK, out)
}
