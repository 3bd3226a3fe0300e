// Package eval serves evaluations (docs/ai-evaluation.md): many candidate
// programs run against a harness, stored in the evaluations bucket and fed
// into the job queue through the bus client by whichever gateway holds
// them (store.go), with results aggregated on read (results.go).
package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/gateway/internal/eval/benchmark"
	"github.com/airlockrun/airlock/services/gateway/internal/web"
	"github.com/nats-io/nats.go/jetstream"
)

// callTimeout bounds one NATS round trip on the evaluations bucket.
const callTimeout = 5 * time.Second

// API serves the evaluation endpoints and feeds the evaluations of this
// gateway into the job queue.
type API struct {
	*web.Core
	evals *evaluator
}

// New builds the evaluation front door on core; js and topo reach the
// evaluations bucket. Its loops stop when core.Stop ends.
func New(core *web.Core, js jetstream.JetStream, topo contracts.Topology) *API {
	return &API{Core: core, evals: newEvaluator(core.Client, js, topo, core.Stop, core.Log)}
}

// Register adds the evaluation endpoints to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/evaluations", a.handleEvaluationSubmit)
	mux.HandleFunc("/v1/evaluations", web.MethodNotAllowed("POST"))
	mux.HandleFunc("GET /v1/evaluations/{id}", a.handleEvaluationGet)
	mux.HandleFunc("/v1/evaluations/{id}", web.MethodNotAllowed("GET, HEAD"))
	mux.HandleFunc("GET /v1/evaluations/{id}/events", a.handleEvents)
	mux.HandleFunc("/v1/evaluations/{id}/events", web.MethodNotAllowed("GET, HEAD"))
}

// Start begins looking for evaluations left half-submitted by a gateway
// that stopped, once.
func (a *API) Start() { a.evals.start() }

// evalPlan is a validated evaluation, ready to be stored.
type evalPlan struct {
	meta      evalMeta
	harnesses []contracts.Harness
	files     [][]contracts.File
}

// EvaluationScope is the idempotency scope of evaluations' keys
// (client.Reserve).
const EvaluationScope = "evaluation"

// handleEvaluationSubmit serves POST /v1/evaluations: it validates every
// candidate as the execution it becomes, stores the evaluation and answers
// 202 at once; the candidates are fed into the job queue in the background.
func (a *API) handleEvaluationSubmit(w http.ResponseWriter, r *http.Request) {
	if herr := web.CheckContentType(r); herr != nil {
		herr.Write(w)
		return
	}
	tenant := web.TenantOf(r.Context())
	key, herr := web.IdempotencyKey(r.Header)
	if herr != nil {
		herr.Write(w)
		return
	}
	id := contracts.NewID()
	if key != "" {
		id = contracts.EvaluationIDFromKey(tenant, key)
	}
	body, bench, herr := a.readEvaluation(w, r)
	if herr != nil {
		herr.Write(w)
		return
	}
	var request any = body
	if bench != nil {
		request = bench
	}
	// The key is reserved with a fingerprint of the evaluation, for as long
	// as results are kept: the same key with another body is refused.
	release := func() {}
	if key != "" {
		fingerprint, _ := json.Marshal(request)
		c := a.For(r)
		_, fresh, err := c.Reserve(r.Context(), EvaluationScope, key, fingerprint, id)
		if err != nil {
			a.Fail(w, r, err)
			return
		}
		if fresh {
			release = func() { _ = c.Release(context.WithoutCancel(r.Context()), EvaluationScope, key, id) }
		}
	}
	ev := a.evals
	if _, err := ev.store(r.Context()); err != nil {
		a.Fail(w, r, web.Unavailable("could not open the evaluations bucket", err))
		return
	}
	// A repeat (same Idempotency-Key) gets the evaluation that exists.
	if acc, err := ev.accepted(r.Context(), id, tenant, 0); err != nil {
		a.Fail(w, r, web.Unavailable("could not read the evaluation", err))
		return
	} else if acc != nil {
		w.Header().Set("Location", "/v1/evaluations/"+id)
		web.WriteJSON(w, http.StatusAccepted, acc)
		return
	}
	var plan *evalPlan
	if bench != nil {
		plan, herr = a.planBench(r.Context(), id, tenant, bench)
	} else {
		plan, herr = a.planEvaluation(r.Context(), id, tenant, body)
	}
	if herr != nil {
		release() // a corrected request may use the key
		herr.Write(w)
		return
	}
	// Claimed before it is stored: this gateway's own scanner must not take
	// over an evaluation whose creation is still under way (it did, under
	// load, and the two fought over its progress until neither submitted).
	claimed := ev.claim(id)
	rev, err := ev.create(r.Context(), plan)
	if err != nil && claimed {
		ev.unclaim(id)
	}
	if errors.Is(err, errDuplicate) {
		// A concurrent submission with the same key is storing it.
		acc, err := ev.accepted(r.Context(), id, tenant, callTimeout)
		if err != nil || acc == nil {
			a.Fail(w, r, web.Unavailable("the evaluation is being stored by another request", err))
			return
		}
		w.Header().Set("Location", "/v1/evaluations/"+id)
		web.WriteJSON(w, http.StatusAccepted, acc)
		return
	}
	if err != nil {
		a.Fail(w, r, web.Unavailable("could not store the evaluation", err))
		return
	}
	m := plan.meta
	ev.mu.Lock()
	ev.metas[id] = &m
	ev.mu.Unlock()
	if claimed {
		go ev.submitLoop(id, &evalProgress{State: evalStateSubmitting}, rev, false)
	}
	a.Log.Debug("evaluation accepted", "evaluation", id, "candidates", m.Total, "language", m.Language)
	w.Header().Set("Location", "/v1/evaluations/"+id)
	web.WriteJSON(w, http.StatusAccepted, acceptedOf(&m, contracts.EvaluationSubmitting))
}

// accepted is the 202 answer for an evaluation that exists, or nil. With
// wait, it waits that long for a concurrent creation to finish.
func (ev *evaluator) accepted(ctx context.Context, id, tenant string, wait time.Duration) (*contracts.EvaluationAccepted, error) {
	deadline := time.Now().Add(wait)
	for {
		m, err := ev.meta(ctx, id)
		if err != nil {
			return nil, err
		}
		if m != nil {
			if m.Tenant != tenant {
				return nil, fmt.Errorf("evaluation %s belongs to another tenant", id)
			}
			view, err := ev.view(ctx, m)
			if err != nil {
				return nil, err
			}
			return acceptedOf(m, view.Status), nil
		}
		if time.Now().After(deadline) {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func acceptedOf(m *evalMeta, status contracts.EvaluationStatus) *contracts.EvaluationAccepted {
	acc := &contracts.EvaluationAccepted{ID: m.ID, Status: status, Total: m.Total, CreatedAt: m.CreatedAt,
		Candidates: make([]contracts.CandidateRef, m.Total)}
	for i, c := range m.candidates {
		acc.Candidates[i] = contracts.CandidateRef{Index: i, ID: c.ID, Problem: m.Problems[c.Problem],
			ExecutionID: contracts.EvaluationExecutionID(m.Tenant, m.ID, i)}
		acc.Candidates[i].TaskID, acc.Candidates[i].Sample = m.task(i)
	}
	return acc
}

// readEvaluation decodes the body: one JSON object, no unknown fields; a
// native evaluation, or with "format" a benchmark request (bench set).
func (a *API) readEvaluation(w http.ResponseWriter, r *http.Request) (*contracts.EvaluationRequest, *contracts.BenchmarkRequest, *web.Error) {
	rd, done := a.Body(w, r)
	data, err := io.ReadAll(rd)
	done()
	if err != nil {
		if herr := web.BodyTooLarge(err); herr != nil {
			return nil, nil, herr
		}
		return nil, nil, web.DecodeError(err)
	}
	var probe struct {
		Format json.RawMessage `json:"format"`
	}
	if json.Unmarshal(data, &probe) == nil && len(probe.Format) > 0 && string(probe.Format) != "null" {
		var bench *contracts.BenchmarkRequest
		if herr := decodeOne(data, &bench); herr != nil {
			return nil, nil, herr
		}
		return nil, bench, nil
	}
	var body *contracts.EvaluationRequest
	if herr := decodeOne(data, &body); herr != nil {
		return nil, nil, herr
	}
	return body, nil, nil
}

// decodeOne decodes exactly one JSON object without unknown fields into v
// (a pointer to a pointer).
func decodeOne[T any](data []byte, v **T) *web.Error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return web.DecodeError(err)
	}
	if *v == nil {
		return web.InvalidJSON("", "the request body must be a JSON object, got null")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return web.InvalidJSON("", "the request body must hold exactly one JSON object; there is more data after it")
	}
	return nil
}

// planBench plans a benchmark-format request: its native form, checked as
// any evaluation, with the fields of errors translated back.
func (a *API) planBench(ctx context.Context, id, tenant string, bench *contracts.BenchmarkRequest) (*evalPlan, *web.Error) {
	tc := a.Client.As(tenant)
	entry := func(language, version string) (string, *web.Error) {
		runtimes, err := web.Runtimes(ctx, tc)
		if err != nil {
			return "", web.ErrorOf(err)
		}
		rt, verr := contracts.FindRuntime(runtimes, language, version)
		if verr != nil {
			return "", web.FromValidation(verr)
		}
		return rt.EntryFile, nil
	}
	bp, herr := benchmark.New(bench, entry)
	if herr != nil {
		return nil, herr
	}
	plan, herr := a.planEvaluation(ctx, id, tenant, bp.Native)
	if herr != nil {
		herr.Field = benchmark.Field(herr.Field)
		return nil, herr
	}
	if bench.Format != contracts.FormatStdio && !strings.HasPrefix(plan.meta.Language, "python") {
		return nil, web.Unprocessable("language", "format %s runs Python programs; %s is not Python", bench.Format, plan.meta.Language)
	}
	plan.meta.Format, plan.meta.TaskIDs = bench.Format, bp.TaskIDs
	for i := range plan.meta.candidates {
		plan.meta.candidates[i].Sample = bp.Samples[i]
	}
	return plan, nil
}

// planEvaluation checks the request and every candidate exactly as the
// execution it becomes would be checked (rules, runtime, limits, job size).
func (a *API) planEvaluation(ctx context.Context, id, tenant string, body *contracts.EvaluationRequest) (*evalPlan, *web.Error) {
	n := len(body.Candidates)
	if n == 0 || n > contracts.MaxEvaluationCandidates {
		return nil, web.Unprocessable("candidates", "an evaluation holds 1 to %d candidates, got %d", contracts.MaxEvaluationCandidates, n)
	}
	if len(body.K) > contracts.MaxEvaluationK {
		return nil, web.Unprocessable("k", "at most %d values of k, got %d", contracts.MaxEvaluationK, len(body.K))
	}
	ks := slices.Clone(body.K)
	for i, k := range ks {
		if k < 1 || k > contracts.MaxEvaluationCandidates {
			return nil, web.Unprocessable(fmt.Sprintf("k[%d]", i), "k must be 1 to %d, got %d", contracts.MaxEvaluationCandidates, k)
		}
	}
	if len(ks) == 0 {
		ks = []int{1}
	}
	slices.Sort(ks)
	ks = slices.Compact(ks)

	plan := &evalPlan{meta: evalMeta{ID: id, Tenant: tenant, CreatedAt: time.Now().UTC(), K: ks, Total: n,
		Pages:      (n + contracts.EvaluationPageSize - 1) / contracts.EvaluationPageSize,
		candidates: make([]evalCand, n)}, files: make([][]contracts.File, n)}
	problemIndex := map[string]int{}
	if len(body.Problems) > 0 {
		if body.Harness != nil {
			return nil, web.Unprocessable("harness", "with problems, set the harness on each problem, not at the top level")
		}
		if len(body.Problems) > contracts.MaxEvaluationProblems {
			return nil, web.Unprocessable("problems", "at most %d problems, got %d", contracts.MaxEvaluationProblems, len(body.Problems))
		}
		plan.meta.PerProblem = true
		for i, p := range body.Problems {
			field := fmt.Sprintf("problems[%d].id", i)
			if p.ID == "" {
				return nil, web.Unprocessable(field, "is required")
			}
			if herr := benchmark.CheckLabel(field, p.ID); herr != nil {
				return nil, herr
			}
			if _, dup := problemIndex[p.ID]; dup {
				return nil, web.Unprocessable(field, "duplicate problem id %q", p.ID)
			}
			problemIndex[p.ID] = i
			plan.meta.Problems = append(plan.meta.Problems, p.ID)
			plan.harnesses = append(plan.harnesses, p.Harness)
		}
	} else {
		h := contracts.Harness{}
		if body.Harness != nil {
			h = *body.Harness
		}
		plan.harnesses = []contracts.Harness{h}
	}

	tc := a.Client.As(tenant)
	runtimes, err := web.Runtimes(ctx, tc)
	if err != nil {
		a.Log.Warn("could not read the runtimes", "err", err)
		return nil, web.ErrorOf(err)
	}
	maxPayload := tc.MaxPayload()
	for i, c := range body.Candidates {
		cfield := fmt.Sprintf("candidates[%d]", i)
		if herr := benchmark.CheckLabel(cfield+".id", c.ID); herr != nil {
			return nil, herr
		}
		if herr := benchmark.CheckLabel(cfield+".problem", c.Problem); herr != nil {
			return nil, herr
		}
		pi, ok := problemIndex[c.Problem]
		switch {
		case ok:
		case plan.meta.PerProblem:
			return nil, web.Unprocessable(cfield+".problem", "problem %q is not in problems", c.Problem)
		default:
			pi = len(plan.meta.Problems)
			problemIndex[c.Problem] = pi
			plan.meta.Problems = append(plan.meta.Problems, c.Problem)
		}
		plan.meta.candidates[i] = evalCand{ID: c.ID, Problem: pi}
		hi, hfield := 0, "harness"
		if plan.meta.PerProblem {
			hi, hfield = pi, fmt.Sprintf("problems[%d].harness", pi)
		}
		h := plan.harnesses[hi]
		req := h.ExecutionRequest(body.Language, body.Version, c.Files)
		rt, ve := tc.Validator().Resolve(&req, runtimes)
		if ve != nil {
			herr := web.FromValidation(ve)
			herr.Field = evalField(ve.Field, len(h.Files), hfield, cfield)
			return nil, herr
		}
		if i == 0 {
			plan.meta.Language, plan.meta.Version = rt.Language, rt.Version
		}
		if maxPayload > 0 {
			job, _ := json.Marshal(contracts.Job{ID: id, Tenant: tenant, Request: req, CreatedAt: plan.meta.CreatedAt})
			if int64(len(job)) > maxPayload {
				return nil, &web.Error{Status: http.StatusRequestEntityTooLarge, Code: contracts.CodeJobTooLarge, Field: cfield,
					Message: fmt.Sprintf("the candidate's job is %d bytes; the message bus accepts at most %d", len(job), maxPayload)}
			}
		}
		plan.files[i] = c.Files
	}
	return plan, nil
}

// evalField turns the field of a candidate's execution request into the
// field of the evaluation request that is to blame.
func evalField(field string, harnessFiles int, harness, candidate string) string {
	switch {
	case field == "language" || field == "version":
		return field
	case field == "files":
		return candidate + ".files"
	case strings.HasPrefix(field, "files["):
		end := strings.IndexByte(field, ']')
		if n, err := strconv.Atoi(field[len("files["):max(end, len("files["))]); err == nil && end > 0 {
			if n < harnessFiles {
				return fmt.Sprintf("%s.files[%d]%s", harness, n, field[end+1:])
			}
			return fmt.Sprintf("%s.files[%d]%s", candidate, n-harnessFiles, field[end+1:])
		}
		return candidate + ".files"
	case field == "":
		return candidate
	}
	return harness + "." + field
}

// owned loads evaluation id for the request's tenant; when it cannot (404
// for an unknown id or another tenant's, 503) it answers and returns nil.
func (a *API) owned(w http.ResponseWriter, r *http.Request, id string) *evalMeta {
	m, err := a.evals.meta(r.Context(), id)
	if err != nil {
		a.Fail(w, r, web.Unavailable("could not read the evaluation", err))
		return nil
	}
	if m == nil || m.Tenant != web.TenantOf(r.Context()) {
		web.WriteError(w, http.StatusNotFound, contracts.CodeNotFound, "id", "no evaluation with this id")
		return nil
	}
	return m
}

// handleEvaluationGet serves GET /v1/evaluations/{id}: per-candidate results
// and the aggregate; ?wait=true waits (up to ?timeout=) for the last one.
// ?candidates=false leaves the per-candidate list out.
func (a *API) handleEvaluationGet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	notFound := func() {
		web.WriteError(w, http.StatusNotFound, contracts.CodeNotFound, "id", "no evaluation with this id")
	}
	if !contracts.ValidID(id) {
		notFound()
		return
	}
	q := r.URL.Query()
	wait, timeout, herr := a.WaitParams(r, false)
	if herr != nil {
		herr.Write(w)
		return
	}
	withCandidates := true
	if q.Has("candidates") {
		switch strings.ToLower(q.Get("candidates")) {
		case "true", "1", "yes", "":
		case "false", "0", "no":
			withCandidates = false
		default:
			web.WriteError(w, http.StatusBadRequest, contracts.CodeInvalidQuery, "candidates",
				fmt.Sprintf("candidates must be true or false, got %q", q.Get("candidates")))
			return
		}
	}
	ev := a.evals
	m := a.owned(w, r, id)
	if m == nil {
		return
	}
	deadline := time.Now().Add(timeout)
	for {
		view, err := ev.view(r.Context(), m)
		if err != nil {
			if r.Context().Err() != nil {
				return
			}
			a.Fail(w, r, web.Unavailable("could not read the evaluation", err))
			return
		}
		status := http.StatusOK
		if wait && view.Status != contracts.EvaluationCompleted {
			if left := time.Until(deadline); left > 0 {
				select {
				case <-r.Context().Done():
					return
				case <-a.Stop.Done():
				case <-time.After(min(left, 500*time.Millisecond)):
					continue
				}
			}
			status = http.StatusAccepted
		}
		if !withCandidates {
			view.Candidates = nil
		}
		w.Header().Set("Location", "/v1/evaluations/"+id)
		web.WriteJSON(w, status, view)
		return
	}
}
