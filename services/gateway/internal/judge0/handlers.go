package judge0

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/services/gateway/internal/web"
)

// judge0Runtimes reads the runtimes for rendering (language ids and names);
// a failure only loses the language fields.
func judge0Runtimes(r *http.Request, c *client.Client) []contracts.Runtime {
	runtimes, _ := c.Runtimes(r.Context())
	return runtimes
}

// judge0Fail answers a client error in Judge0's shape (nothing when the
// client has gone).
func (a *API) judge0Fail(w http.ResponseWriter, r *http.Request, err error) {
	if herr := web.Failure(a.Log, r, err); herr != nil {
		writeJudge0HTTPError(w, herr)
	}
}

// handleJudge0Create serves POST /submissions.
func (a *API) handleJudge0Create(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	wait := q.Get("wait") == "true"
	b64 := q.Get("base64_encoded") == "true"
	fields, bad := judge0Fields(q)
	if bad != "" {
		writeJudge0Error(w, http.StatusBadRequest, bad)
		return
	}
	key, herr := web.IdempotencyKey(r.Header)
	if herr != nil {
		writeJudge0HTTPError(w, herr)
		return
	}
	p, herr := a.judge0Params(w, r)
	if herr != nil {
		writeJudge0HTTPError(w, herr)
		return
	}
	c := a.For(r)
	runtimes, err := web.Runtimes(r.Context(), c)
	if err != nil {
		a.judge0Fail(w, r, err)
		return
	}
	req, errs := a.judge0Request(p, b64, runtimes)
	if errs != nil {
		web.WriteJSON(w, http.StatusUnprocessableEntity, errs)
		return
	}
	sub, err := a.Submit(r.Context(), c, req, client.SubmitOptions{IdempotencyKey: key})
	if err != nil {
		a.judge0Fail(w, r, err)
		return
	}
	if !wait {
		web.WriteJSON(w, http.StatusCreated, orderedObject{{"token", sub.ID}})
		return
	}
	exec, _, err := a.Wait(r.Context(), c, sub.ID, a.MaxWaitTimeout, client.WaitOptions{})
	if err != nil {
		a.judge0Fail(w, r, err)
		return
	}
	if exec.ID == "" { // nothing recorded yet: still in the queue
		exec = contracts.Execution{ID: sub.ID, Status: contracts.StatusQueued, Language: req.Language,
			Version: req.Version, CreatedAt: time.Now().UTC()}
	}
	web.WriteJSON(w, http.StatusCreated, judge0Render(&exec, fields, b64, runtimes, web.IsOperator(r.Context())))
}

// handleJudge0Get serves GET /submissions/{token}.
func (a *API) handleJudge0Get(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fields, bad := judge0Fields(q)
	if bad != "" {
		writeJudge0Error(w, http.StatusBadRequest, bad)
		return
	}
	c := a.For(r)
	exec, err := c.Get(r.Context(), r.PathValue("token"))
	switch {
	case errors.Is(err, client.ErrNotFound):
		web.WriteJSON(w, http.StatusNotFound, orderedObject{{"error", "Not Found"}})
		return
	case err != nil:
		a.judge0Fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, judge0Render(&exec, fields, q.Get("base64_encoded") == "true", judge0Runtimes(r, c), web.IsOperator(r.Context())))
}

// judge0BatchSizeError checks the number of entries of a batch.
func (a *API) judge0BatchSizeError(n int) string {
	switch {
	case n > a.MaxBatch:
		return fmt.Sprintf("number of submissions in a batch should be less than or equal to %d", a.MaxBatch)
	case n == 0:
		return "there should be at least one submission in a batch"
	}
	return ""
}

// handleJudge0BatchCreate serves POST /submissions/batch: each entry is
// validated and queued on its own; the answer has a {token} or the errors of
// each entry, and is 201 when at least one was queued (else 422). With an
// Idempotency-Key, entry i gets the id of the key "<key>#<i>".
func (a *API) handleJudge0BatchCreate(w http.ResponseWriter, r *http.Request) {
	b64 := r.URL.Query().Get("base64_encoded") == "true"
	key, herr := web.IdempotencyKey(r.Header)
	if herr != nil {
		writeJudge0HTTPError(w, herr)
		return
	}
	p, herr := a.judge0Params(w, r)
	if herr != nil {
		writeJudge0HTTPError(w, herr)
		return
	}
	var items []any
	switch v := p["submissions"].(type) {
	case []any:
		items = v
	case map[string]any:
		items = make([]any, len(v)) // Rails counts a hash's keys; none is a submission
	}
	if msg := a.judge0BatchSizeError(len(items)); msg != "" {
		writeJudge0Error(w, http.StatusBadRequest, msg)
		return
	}
	if herr := web.CheckBatchKey(key, len(items)); herr != nil {
		writeJudge0HTTPError(w, herr)
		return
	}
	c := a.For(r)
	runtimes, err := web.Runtimes(r.Context(), c)
	if err != nil {
		a.judge0Fail(w, r, err)
		return
	}
	out := make([]any, len(items))
	queued := false
	for i, item := range items {
		params, _ := item.(map[string]any)
		if params == nil {
			params = map[string]any{}
		}
		req, errs := a.judge0Request(params, b64, runtimes)
		if errs != nil {
			out[i] = errs
			continue
		}
		sub, err := a.Submit(r.Context(), c, req, client.SubmitOptions{IdempotencyKey: web.BatchKey(key, i)})
		if err != nil {
			if web.Failure(a.Log, r, err) == nil {
				return
			}
			_, body := judge0ErrorOf(web.ErrorOf(err))
			out[i] = body
			continue
		}
		out[i] = orderedObject{{"token", sub.ID}}
		queued = true
	}
	status := http.StatusCreated
	if !queued {
		status = http.StatusUnprocessableEntity
	}
	web.WriteJSON(w, status, out)
}

// handleJudge0BatchGet serves GET /submissions/batch?tokens=a,b,c (or a
// tokens header): {"submissions": [...]} in the order asked, null for a
// token nobody knows.
func (a *API) handleJudge0BatchGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fields, bad := judge0Fields(q)
	if bad != "" {
		writeJudge0Error(w, http.StatusBadRequest, bad)
		return
	}
	raw := r.Header.Get("tokens")
	if raw == "" {
		raw = q.Get("tokens")
	}
	tokens := rubySplit(strings.TrimSpace(raw), ",")
	if msg := a.judge0BatchSizeError(len(tokens)); msg != "" {
		writeJudge0Error(w, http.StatusBadRequest, msg)
		return
	}
	b64 := q.Get("base64_encoded") == "true"
	c := a.For(r)
	runtimes := judge0Runtimes(r, c)
	out := make([]any, len(tokens))
	for i, token := range tokens {
		exec, err := c.Get(r.Context(), token)
		switch {
		case errors.Is(err, client.ErrNotFound):
			continue
		case err != nil:
			a.judge0Fail(w, r, err)
			return
		}
		out[i] = judge0Render(&exec, fields, b64, runtimes, web.IsOperator(r.Context()))
	}
	web.WriteJSON(w, http.StatusOK, orderedObject{{"submissions", out}})
}

// handleJudge0Languages serves GET /languages: [{id, name}] of the served
// languages, sorted by name; /languages/all adds is_archived.
func (a *API) handleJudge0Languages(all bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		runtimes, err := a.Client.LiveRuntimes(r.Context())
		if err != nil {
			a.judge0Fail(w, r, err)
			return
		}
		out := []orderedObject{}
		for _, l := range judge0ListLanguages(runtimes) {
			o := orderedObject{{"id", l.lang.id}, {"name", l.lang.name(l.rt)}}
			if all {
				o = append(o, orderedField{"is_archived", false})
			}
			out = append(out, o)
		}
		web.WriteJSON(w, http.StatusOK, out)
	}
}

// handleJudge0Language serves GET /languages/{id}: any served id, listed or
// not, with its source file; Airlock has no compile_cmd or run_cmd to show.
func (a *API) handleJudge0Language(w http.ResponseWriter, r *http.Request) {
	runtimes, err := a.Client.LiveRuntimes(r.Context())
	if err != nil {
		a.judge0Fail(w, r, err)
		return
	}
	id, err := strconv.Atoi(r.PathValue("id"))
	var l *judge0Language
	var rt *contracts.Runtime
	listed := false
	if err == nil {
		if l = judge0LanguageByID(id); l != nil {
			rt, listed = l.resolve(runtimes)
		}
	}
	if rt == nil {
		web.WriteJSON(w, http.StatusNotFound, orderedObject{{"error", "Not Found"}})
		return
	}
	name := l.name(rt)
	if !listed { // an alternative id: named after what really runs it
		if _, format := judge0IDOf(rt.Language, runtimes); format != "" {
			name = fmt.Sprintf(format, rt.Version)
		}
	}
	source := rt.EntryFile
	if source == "" {
		source = l.source
	}
	web.WriteJSON(w, http.StatusOK, orderedObject{{"id", l.id}, {"name", name}, {"is_archived", false},
		{"source_file", source}, {"compile_cmd", nil}, {"run_cmd", nil}})
}

// handleJudge0Statuses serves GET /statuses.
func (a *API) handleJudge0Statuses(w http.ResponseWriter, _ *http.Request) {
	web.WriteJSON(w, http.StatusOK, judge0Statuses)
}

// handleJudge0About serves GET /about and GET /version.
func (a *API) handleJudge0About(version bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if version {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, judge0CompatVersion)
			return
		}
		web.WriteJSON(w, http.StatusOK, orderedObject{{"version", judge0CompatVersion},
			{"homepage", "https://github.com/airlockrun/airlock"}, {"source_code", "https://github.com/airlockrun/airlock"},
			{"maintainer", "Airlock (Judge0-compatible API)"}})
	}
}

// judge0CompatVersion is the Judge0 version whose API this imitates.
const judge0CompatVersion = "1.13.1"

// handleJudge0Auth serves POST /authenticate and /authorize: Judge0 answers
// 200 when the token is right; here the API key middleware already decided.
func (a *API) handleJudge0Auth(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusOK)
}

// handleJudge0Forbidden serves GET /submissions (listing) and DELETE
// /submissions/{token}, which a stock Judge0 only allows with an
// authorization token: Airlock has neither.
func (a *API) handleJudge0Forbidden(w http.ResponseWriter, r *http.Request) {
	writeJudge0Error(w, http.StatusForbidden, fmt.Sprintf("%s %s is not supported", r.Method, r.URL.Path))
}

// API serves the Judge0 endpoints.
type API struct{ *web.Core }

// Register adds the Judge0 endpoints to mux. Judge0 (Rails) also answers
// its collection paths with a trailing slash.
func (a *API) Register(mux *http.ServeMux) {
	for _, p := range []string{"/submissions", "/submissions/{$}"} {
		mux.HandleFunc("POST "+p, a.handleJudge0Create)
		mux.HandleFunc("GET "+p, a.handleJudge0Forbidden)
		mux.HandleFunc(p, judge0MethodNotAllowed("GET, HEAD, POST"))
	}
	mux.HandleFunc("POST /submissions/batch", a.handleJudge0BatchCreate)
	mux.HandleFunc("GET /submissions/batch", a.handleJudge0BatchGet)
	mux.HandleFunc("GET /submissions/{token}", a.handleJudge0Get)
	mux.HandleFunc("/submissions/{token}", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.PathValue("token") == "batch":
			judge0MethodNotAllowed("GET, HEAD, POST")(w, r)
		case r.Method == http.MethodDelete:
			a.handleJudge0Forbidden(w, r)
		default:
			judge0MethodNotAllowed("GET, HEAD")(w, r)
		}
	})
	for _, p := range []string{"/languages", "/languages/{$}"} {
		mux.HandleFunc("GET "+p, a.handleJudge0Languages(false))
		mux.HandleFunc(p, judge0MethodNotAllowed("GET, HEAD"))
	}
	mux.HandleFunc("GET /languages/all", a.handleJudge0Languages(true))
	mux.HandleFunc("GET /languages/{id}", a.handleJudge0Language)
	mux.HandleFunc("/languages/{id}", judge0MethodNotAllowed("GET, HEAD"))
	for _, p := range []string{"/statuses", "/statuses/{$}"} {
		mux.HandleFunc("GET "+p, a.handleJudge0Statuses)
		mux.HandleFunc(p, judge0MethodNotAllowed("GET, HEAD"))
	}
	mux.HandleFunc("GET /about", a.handleJudge0About(false))
	mux.HandleFunc("GET /version", a.handleJudge0About(true))
	mux.HandleFunc("POST /authenticate", a.handleJudge0Auth)
	mux.HandleFunc("POST /authorize", a.handleJudge0Auth)
}
