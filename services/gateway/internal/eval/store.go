package eval

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/services/gateway/internal/web"
	"github.com/nats-io/nats.go/jetstream"
)

// An evaluation is stored in the evaluations bucket under these keys:
//
//	<id>            evalMeta: tenant, language, problems, k, counts (written last on creation)
//	<id>.p          evalProgress: state, submitted count, retries, owner and heartbeat
//	<id>.h.<n>      the harness of problem n (one, n = 0, without per-problem harnesses)
//	<id>.i.<page>   evalPage: the labels and problems of EvaluationPageSize candidates
//	<id>.c.<i>      evalFiles: candidate i's files, until its job is queued (kept until the TTL)
//	<id>.r.<i>      candidate i's answer once its execution ended: the completion log of the events stream (events.go)
//
// Whoever holds <id>.p (owner, refreshed heartbeat, compare-and-set updates)
// feeds the candidates into the job queue in index order. A gateway that
// stops releases it; one that dies stops refreshing it, and after
// evalStaleAfter any gateway takes it over and carries on from "submitted"
// (the job ids are deterministic and the JOBS stream de-duplicates them, so a
// candidate queued just before the crash is not queued twice).

const (
	evalStateStoring    = "storing"
	evalStateSubmitting = "submitting"
	evalStateSubmitted  = "submitted"
)

// Timings of the submission loop.
const (
	evalSaveEvery   = time.Second      // progress (and heartbeat) write interval
	evalStaleAfter  = 10 * time.Second // a heartbeat older than this is taken over
	evalScanEvery   = 3 * time.Second  // how often orphaned evaluations are looked for
	evalBackoffMin  = 50 * time.Millisecond
	evalBackoffMax  = 500 * time.Millisecond
	evalLookupConc  = 16
	evalStoreConc   = 16
	evalCacheMetas  = 1024
	evalCacheDone   = 200000
	evalMaxRejected = 1000
)

type evalMeta struct {
	ID         string    `json:"id"`
	Tenant     string    `json:"tenant"`
	Language   string    `json:"language"`
	Version    string    `json:"version"`
	CreatedAt  time.Time `json:"created_at"`
	K          []int     `json:"k"`
	Problems   []string  `json:"problems"`
	PerProblem bool      `json:"per_problem,omitempty"`
	Total      int       `json:"total"`
	Pages      int       `json:"pages"`
	// Format and the task ids of the problems, for a benchmark format.
	Format  contracts.BenchmarkFormat `json:"format,omitempty"`
	TaskIDs []json.RawMessage         `json:"task_ids,omitempty"`

	candidates []evalCand // loaded from the pages
}

type evalCand struct {
	ID      string `json:"i,omitempty"`
	Problem int    `json:"p"`
	// Sample is the index among the problem's samples (benchmark formats).
	Sample int `json:"s,omitempty"`
}

// task is the task_id and sample index of candidate i (nil without a
// benchmark format).
func (m *evalMeta) task(i int) (json.RawMessage, *int) {
	if m.Format == "" {
		return nil, nil
	}
	c := m.candidates[i]
	s := c.Sample
	return m.TaskIDs[c.Problem], &s
}

type evalPage struct {
	Candidates []evalCand `json:"c"`
}

type evalFiles struct {
	Files []contracts.File `json:"files"`
}

type evalRejected struct {
	Index int                   `json:"index"`
	Error contracts.ErrorDetail `json:"error"`
}

type evalProgress struct {
	State            string         `json:"state"`
	Submitted        int            `json:"submitted"`
	QueueFullRetries int64          `json:"queue_full_retries"`
	Rejected         []evalRejected `json:"rejected,omitempty"`
	Owner            string         `json:"owner"`
	Heartbeat        time.Time      `json:"heartbeat"`
}

func (m *evalMeta) harnessIndex(c evalCand) int {
	if m.PerProblem {
		return c.Problem
	}
	return 0
}

func keyProgress(id string) string       { return id + ".p" }
func keyHarness(id string, n int) string { return id + ".h." + strconv.Itoa(n) }
func keyPage(id string, n int) string    { return id + ".i." + strconv.Itoa(n) }
func keyFiles(id string, i int) string   { return id + ".c." + strconv.Itoa(i) }

// evaluator is the evaluation state of one API: the bucket, the submission
// loops this gateway runs, and caches of immutable data.
type evaluator struct {
	client *client.Client
	js     jetstream.JetStream
	topo   contracts.Topology
	log    *slog.Logger
	owner  string
	// ctx ends when the gateway stops: the loops hand their work over.
	ctx context.Context

	startOnce sync.Once

	mu      sync.Mutex
	kv      jetstream.KeyValue
	running map[string]bool
	live    map[string]evalProgress // the progress of the submissions running here (fresher than the bucket)
	metas   map[string]*evalMeta
	done    map[string]contracts.CandidateResult // completed executions by execution id
}

// newEvaluator builds the evaluation state of a gateway; its loops stop
// when stop ends.
func newEvaluator(c *client.Client, js jetstream.JetStream, topo contracts.Topology, stop context.Context, log *slog.Logger) *evaluator {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &evaluator{client: c, js: js, topo: topo, log: log, owner: hex.EncodeToString(b[:]), ctx: stop,
		running: map[string]bool{}, live: map[string]evalProgress{}, metas: map[string]*evalMeta{}, done: map[string]contracts.CandidateResult{}}
}

// start begins looking for evaluations whose submission nobody carries on
// (after a gateway restart), once.
func (ev *evaluator) start() {
	ev.startOnce.Do(func() { go ev.scanLoop() })
}

// store opens (creating it if missing) the evaluations bucket.
func (ev *evaluator) store(ctx context.Context) (jetstream.KeyValue, error) {
	ev.mu.Lock()
	kv := ev.kv
	ev.mu.Unlock()
	if kv != nil {
		return kv, nil
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	kv, err := ev.topo.EnsureEvaluations(ctx, ev.js, contracts.As(contracts.RoleGateway), contracts.WithLog(ev.log))
	if err != nil {
		return nil, err
	}
	ev.mu.Lock()
	ev.kv = kv
	ev.mu.Unlock()
	return kv, nil
}

func (ev *evaluator) getJSON(ctx context.Context, key string, v any) (uint64, bool, error) {
	kv, err := ev.store(ctx)
	if err != nil {
		return 0, false, err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	entry, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("get %s: %w", key, err)
	}
	if err := json.Unmarshal(entry.Value(), v); err != nil {
		return 0, false, fmt.Errorf("decode %s: %w", key, err)
	}
	return entry.Revision(), true, nil
}

// meta loads an evaluation's index (with its candidates), or nil when it
// does not exist (yet). It is immutable once written, so it is cached.
func (ev *evaluator) meta(ctx context.Context, id string) (*evalMeta, error) {
	ev.mu.Lock()
	m := ev.metas[id]
	ev.mu.Unlock()
	if m != nil {
		// The index is cached, but the evaluation may have expired
		// (--result-ttl) since: an evaluation gone from the bucket is gone.
		var head struct{}
		_, ok, err := ev.getJSON(ctx, id, &head)
		if err != nil {
			return nil, err
		}
		if ok {
			return m, nil
		}
		ev.mu.Lock()
		delete(ev.metas, id)
		ev.mu.Unlock()
		return nil, nil
	}
	m = &evalMeta{}
	if _, ok, err := ev.getJSON(ctx, id, m); err != nil || !ok {
		return nil, err
	}
	m.candidates = make([]evalCand, 0, m.Total)
	for p := range m.Pages {
		var page evalPage
		_, ok, err := ev.getJSON(ctx, keyPage(id, p), &page)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("evaluation %s: index page %d is missing", id, p)
		}
		m.candidates = append(m.candidates, page.Candidates...)
	}
	if len(m.candidates) != m.Total {
		return nil, fmt.Errorf("evaluation %s: index holds %d candidates, want %d", id, len(m.candidates), m.Total)
	}
	ev.mu.Lock()
	if len(ev.metas) >= evalCacheMetas {
		clear(ev.metas)
	}
	ev.metas[id] = m
	ev.mu.Unlock()
	return m, nil
}

// currentProgress is the progress of a submission running here, else the
// stored one.
func (ev *evaluator) currentProgress(ctx context.Context, id string) (*evalProgress, error) {
	ev.mu.Lock()
	live, ok := ev.live[id]
	ev.mu.Unlock()
	if ok {
		return &live, nil
	}
	p, _, err := ev.progress(ctx, id)
	return p, err
}

func (ev *evaluator) progress(ctx context.Context, id string) (*evalProgress, uint64, error) {
	var p evalProgress
	rev, ok, err := ev.getJSON(ctx, keyProgress(id), &p)
	if err != nil {
		return nil, 0, err
	}
	if !ok {
		return nil, 0, nil
	}
	return &p, rev, nil
}

// errDuplicate: another submission with the same id got there first.
var errDuplicate = errors.New("the evaluation exists")

// create stores a planned evaluation: the progress key first (with Create,
// so of two concurrent submissions with the same id only one goes on), then
// harnesses, candidates and index pages, then the meta, and finally the
// progress state "submitting". It returns the progress revision.
func (ev *evaluator) create(ctx context.Context, plan *evalPlan) (uint64, error) {
	kv, err := ev.store(ctx)
	if err != nil {
		return 0, err
	}
	ctx = context.WithoutCancel(ctx) // finish even if the client leaves
	id := plan.meta.ID
	prog := evalProgress{State: evalStateStoring, Owner: ev.owner, Heartbeat: time.Now().UTC()}
	data, _ := json.Marshal(prog)
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	rev, err := kv.Create(cctx, keyProgress(id), data)
	cancel()
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, errDuplicate
	}
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", keyProgress(id), err)
	}
	type item struct {
		key string
		v   any
	}
	var items []item
	for n, h := range plan.harnesses {
		items = append(items, item{keyHarness(id, n), h})
	}
	for i, f := range plan.files {
		items = append(items, item{keyFiles(id, i), evalFiles{Files: f}})
	}
	for p := 0; p*contracts.EvaluationPageSize < len(plan.meta.candidates); p++ {
		end := min((p+1)*contracts.EvaluationPageSize, len(plan.meta.candidates))
		items = append(items, item{keyPage(id, p), evalPage{Candidates: plan.meta.candidates[p*contracts.EvaluationPageSize : end]}})
	}
	err = parallel(len(items), evalStoreConc, func(i int) error {
		data, err := json.Marshal(items[i].v)
		if err != nil {
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		if _, err := kv.Put(pctx, items[i].key, data); err != nil {
			return fmt.Errorf("put %s: %w", items[i].key, err)
		}
		return nil
	})
	if err == nil {
		data, _ = json.Marshal(plan.meta)
		pctx, cancel := context.WithTimeout(ctx, callTimeout)
		_, err = kv.Put(pctx, id, data)
		cancel()
	}
	if err != nil {
		// Leave nothing that claims to exist: a retry stores it again.
		dctx, cancel := context.WithTimeout(ctx, callTimeout)
		_ = kv.Delete(dctx, keyProgress(id), jetstream.LastRevision(rev))
		cancel()
		return 0, err
	}
	prog.State = evalStateSubmitting
	if err := ev.saveProgress(ctx, id, &prog, &rev, false); err != nil {
		// The scanner takes it over once the heartbeat is stale.
		ev.log.Warn("could not mark the evaluation submitting", "evaluation", id, "err", err)
	}
	return rev, nil
}

// saveProgress writes p if nobody else wrote it since rev. release clears
// the heartbeat so that another gateway takes over at once.
func (ev *evaluator) saveProgress(ctx context.Context, id string, p *evalProgress, rev *uint64, release bool) error {
	kv, err := ev.store(ctx)
	if err != nil {
		return err
	}
	p.Owner, p.Heartbeat = ev.owner, time.Now().UTC()
	if release {
		p.Heartbeat = time.Time{}
	}
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	n, err := kv.Update(ctx, keyProgress(id), data, *rev)
	if err != nil {
		return err
	}
	*rev = n
	return nil
}

// claim marks id as submitted by this gateway; false when it already is.
func (ev *evaluator) claim(id string) bool {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if ev.running[id] {
		return false
	}
	ev.running[id] = true
	return true
}

func (ev *evaluator) unclaim(id string) {
	ev.mu.Lock()
	delete(ev.running, id)
	delete(ev.live, id)
	ev.mu.Unlock()
}

// publish makes p the progress GET reports while this gateway submits.
func (ev *evaluator) publish(id string, p *evalProgress) {
	ev.mu.Lock()
	if ev.running[id] {
		ev.live[id] = *p
	}
	ev.mu.Unlock()
}

// submitLoop feeds an evaluation's candidates into the job queue through
// the bus client, as the evaluation's tenant and with each candidate's
// deterministic id, from p.Submitted on, retrying with backoff while the
// client answers ErrQueueFull, ErrTenantQueueFull, ErrUnavailable or
// ErrNoExecutor; any other error rejects the candidate. The caller has
// claimed id.
func (ev *evaluator) submitLoop(id string, p *evalProgress, rev uint64, resumed bool) {
	defer ev.unclaim(id)
	log := ev.log.With("evaluation", id)
	ctx := ev.ctx
	var meta *evalMeta
	harnesses := map[int]*contracts.Harness{}
	backoff := time.Duration(0)
	lastSave := time.Now()
	stopped := func() bool { return ctx.Err() != nil }
	sleep := func(d time.Duration) {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	grow := func() {
		backoff = min(max(backoff*2, evalBackoffMin), evalBackoffMax)
		sleep(backoff)
	}
	for !stopped() {
		ev.publish(id, p)
		if time.Since(lastSave) >= evalSaveEvery {
			if err := ev.saveProgress(ctx, id, p, &rev, false); errors.Is(err, jetstream.ErrKeyExists) {
				log.Info("another gateway took over the evaluation's submission")
				return
			} else if err != nil {
				log.Warn("could not save the evaluation's progress", "err", err)
			}
			lastSave = time.Now()
		}
		if meta == nil {
			m, err := ev.meta(ctx, id)
			if err != nil || m == nil {
				log.Warn("could not read the evaluation", "err", err)
				grow()
				continue
			}
			meta = m
		}
		if p.Submitted >= meta.Total {
			p.State = evalStateSubmitted
			if err := ev.saveProgress(ctx, id, p, &rev, false); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
				log.Warn("could not save the evaluation's progress", "err", err)
				grow()
				continue
			}
			log.Debug("every candidate is queued", "candidates", meta.Total, "queue_full_retries", p.QueueFullRetries)
			return
		}
		i := p.Submitted
		c := meta.candidates[i]
		h := harnesses[meta.harnessIndex(c)]
		if h == nil {
			h = &contracts.Harness{}
			_, ok, err := ev.getJSON(ctx, keyHarness(id, meta.harnessIndex(c)), h)
			if err != nil || !ok {
				log.Warn("could not read the evaluation's harness", "err", err, "found", ok)
				grow()
				continue
			}
			harnesses[meta.harnessIndex(c)] = h
		}
		var files evalFiles
		_, ok, err := ev.getJSON(ctx, keyFiles(id, i), &files)
		if err != nil || !ok {
			log.Warn("could not read a candidate", "index", i, "err", err, "found", ok)
			grow()
			continue
		}
		tc := ev.client.As(meta.Tenant)
		execID := contracts.EvaluationExecutionID(meta.Tenant, id, i)
		if resumed {
			// The previous owner may have queued a few candidates after it
			// last saved its progress: skip them (candidates are queued in
			// order, so the first unknown one ends the check).
			_, err := tc.Get(ctx, execID)
			switch {
			case err == nil:
				p.Submitted++
				continue
			case !errors.Is(err, client.ErrNotFound):
				grow()
				continue
			}
			resumed = false
		}
		req := h.ExecutionRequest(meta.Language, meta.Version, files.Files)
		_, err = tc.Submit(ctx, &req, client.SubmitOptions{ID: execID})
		switch {
		case err == nil:
			p.Submitted++
			backoff = 0
		case errors.Is(err, client.ErrQueueFull), errors.Is(err, client.ErrTenantQueueFull):
			p.QueueFullRetries++
			grow()
		case errors.Is(err, client.ErrUnavailable), errors.Is(err, client.ErrNoExecutor), ctx.Err() != nil:
			grow()
		default:
			detail := web.ErrorOf(err).Detail()
			log.Warn("a candidate could not be queued", "index", i, "code", detail.Code, "err", err)
			if len(p.Rejected) < evalMaxRejected {
				p.Rejected = append(p.Rejected, evalRejected{Index: i, Error: *detail})
			}
			p.Submitted++
		}
	}
	// Stopping: hand the evaluation over at once.
	sctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if err := ev.saveProgress(sctx, id, p, &rev, true); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		log.Warn("could not release the evaluation", "err", err)
	}
}

// scanLoop takes over evaluations that are still being submitted but whose
// owner stopped refreshing the heartbeat (a gateway that died or stopped).
func (ev *evaluator) scanLoop() {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ev.ctx.Done():
			return
		case <-t.C:
		}
		if err := ev.scan(ev.ctx); err != nil && ev.ctx.Err() == nil {
			ev.log.Debug("could not scan the evaluations", "err", err)
		}
		t.Reset(evalScanEvery)
	}
}

func (ev *evaluator) scan(ctx context.Context) error {
	kv, err := ev.store(ctx)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	lister, err := kv.ListKeysFiltered(lctx, "*.p")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil
		}
		return err
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	for _, key := range keys {
		id := strings.TrimSuffix(key, ".p")
		if !contracts.ValidID(id) {
			continue
		}
		ev.mu.Lock()
		mine := ev.running[id]
		ev.mu.Unlock()
		if mine {
			continue
		}
		p, rev, err := ev.progress(ctx, id)
		if err != nil || p == nil || p.State == evalStateSubmitted {
			continue
		}
		if p.Owner != ev.owner && time.Since(p.Heartbeat) < evalStaleAfter {
			continue
		}
		if p.State == evalStateStoring {
			m, err := ev.meta(ctx, id)
			if err != nil {
				continue
			}
			if m == nil {
				// Its creation never finished: forget it (a retried POST
				// creates it again).
				dctx, cancel := context.WithTimeout(ctx, callTimeout)
				_ = kv.Delete(dctx, key, jetstream.LastRevision(rev))
				cancel()
				continue
			}
			p.State = evalStateSubmitting
		}
		if !ev.claim(id) {
			continue
		}
		if err := ev.saveProgress(ctx, id, p, &rev, false); err != nil {
			ev.unclaim(id)
			continue
		}
		ev.log.Info("resuming the submission of an evaluation", "evaluation", id, "submitted", p.Submitted)
		go ev.submitLoop(id, p, rev, true)
	}
	return nil
}

// parallel runs f(0..n-1) on up to conc goroutines and returns the first error.
func parallel(n, conc int, f func(i int) error) error {
	if n == 0 {
		return nil
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}
