package eval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/services/gateway/internal/web"
	"github.com/nats-io/nats.go/jetstream"
)

// The events stream of an evaluation (GET /v1/evaluations/{id}/events).
//
// Its order is stored, not held by one gateway: a gateway that sees a
// candidate's execution end writes the candidate's answer once, with
// Create, to the key <id>.r.<i> of the evaluations bucket (the completion
// log). The bucket's revision of that write is the candidate event's id, so
// every stream, on any gateway, replays the log in the same order, and a
// stream resumed after id n sends exactly the log entries of revision > n.
// Each stream reads the log with a KV watcher (bounded buffers) and keeps a
// bit per candidate and the aggregates, never the answers.
//
// Which gateway writes the log does not matter: every stream of an
// unfinished evaluation looks, twice a second, at the oldest candidates not
// logged yet (at most evalStreamWindow of them) and logs those whose
// execution ended; a second writer of the same candidate finds the key
// taken and goes on.

const (
	evalStreamPoll      = 500 * time.Millisecond
	evalStreamProgress  = time.Second
	evalStreamKeepalive = 15 * time.Second
	evalStreamWindow    = 1000
)

// keyRecord is candidate i's entry in the completion log.
func keyRecord(id string, i int) string { return id + ".r." + strconv.Itoa(i) }

// NDJSONType is the media type of the NDJSON events stream.
const NDJSONType = "application/x-ndjson"

// eventWriter writes events as SSE or NDJSON and flushes each.
type eventWriter struct {
	w      io.Writer
	rc     *http.ResponseController
	ndjson bool
	wrote  time.Time
}

func (e *eventWriter) event(typ string, id uint64, data []byte) error {
	var err error
	if e.ndjson {
		_, err = fmt.Fprintf(e.w, "{\"event\":%q,\"id\":%d,\"data\":%s}\n", typ, id, data)
	} else {
		_, err = fmt.Fprintf(e.w, "event: %s\nid: %d\ndata: %s\n\n", typ, id, data)
	}
	if err == nil {
		err = e.rc.Flush()
	}
	e.wrote = time.Now()
	return err
}

func (e *eventWriter) keepalive() error {
	if e.ndjson || time.Since(e.wrote) < evalStreamKeepalive {
		return nil
	}
	_, err := io.WriteString(e.w, ": keep-alive\n\n")
	if err == nil {
		err = e.rc.Flush()
	}
	e.wrote = time.Now()
	return err
}

// wantsNDJSON: the Accept header names application/x-ndjson.
func wantsNDJSON(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == NDJSONType {
			return true
		}
	}
	return false
}

// lastEventID is where a resumed stream continues: the Last-Event-ID
// header, else ?last_event_id=, else 0 (the start).
func lastEventID(r *http.Request) (uint64, *web.Error) {
	field, v := "Last-Event-ID", r.Header.Get("Last-Event-ID")
	if v == "" {
		field, v = "last_event_id", r.URL.Query().Get("last_event_id")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, &web.Error{Status: http.StatusBadRequest, Code: contracts.CodeInvalidQuery, Field: field,
			Message: fmt.Sprintf("must be the id of an event (a non-negative integer), got %q", v)}
	}
	return n, nil
}

// streamState is what one stream keeps: a bit per candidate and sums.
type streamState struct {
	m       *evalMeta
	logged  []bool
	nlogged int
	agg     *aggregator
	running int
	ended   int // found ended (and logged) by the last look, not read back from the log yet
}

// handleEvents serves GET /v1/evaluations/{id}/events.
func (a *API) handleEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !contracts.ValidID(id) {
		web.WriteError(w, http.StatusNotFound, contracts.CodeNotFound, "id", "no evaluation with this id")
		return
	}
	last, herr := lastEventID(r)
	if herr != nil {
		herr.Write(w)
		return
	}
	ev := a.evals
	ctx := r.Context()
	m := a.owned(w, r, id)
	if m == nil {
		return
	}
	kv, err := ev.store(ctx)
	if err != nil {
		a.Fail(w, r, web.Unavailable("could not open the evaluations bucket", err))
		return
	}
	watcher, err := kv.Watch(ctx, id+".r.*")
	if err != nil {
		a.Fail(w, r, web.Unavailable("could not read the evaluation's completion log", err))
		return
	}
	defer func() { _ = watcher.Stop() }()

	out := &eventWriter{w: w, rc: http.NewResponseController(w), ndjson: wantsNDJSON(r.Header.Get("Accept"))}
	_ = out.rc.SetWriteDeadline(time.Time{}) // the stream lasts as long as the evaluation
	h := w.Header()
	if out.ndjson {
		h.Set("Content-Type", NDJSONType)
	} else {
		h.Set("Content-Type", "text/event-stream")
	}
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	_ = out.rc.Flush()

	st := &streamState{m: m, logged: make([]bool, m.Total), agg: newAggregator(m, &evalProgress{})}
	sent := last
	caughtUp := false
	poll := time.NewTicker(evalStreamPoll)
	defer poll.Stop()
	var progressAt time.Time
	var lastProgress *contracts.EvaluationProgress
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.Stop.Done():
			return
		case e, ok := <-watcher.Updates():
			if !ok {
				return
			}
			if e == nil {
				caughtUp = true
				break
			}
			if e.Operation() != jetstream.KeyValuePut {
				continue
			}
			i, err := strconv.Atoi(strings.TrimPrefix(e.Key(), id+".r."))
			if err != nil || i < 0 || i >= m.Total || st.logged[i] {
				continue
			}
			var res contracts.CandidateResult
			if err := json.Unmarshal(e.Value(), &res); err != nil {
				a.Log.Warn("unreadable completion log entry", "evaluation", id, "key", e.Key(), "err", err)
				continue
			}
			res.Index = i
			st.logged[i] = true
			st.nlogged++
			st.agg.add(&res)
			if e.Revision() > last {
				if out.event("candidate", e.Revision(), e.Value()) != nil {
					return
				}
				sent = e.Revision()
			}
		case <-poll.C:
			if !caughtUp {
				continue
			}
			// An evaluation that expired (--result-ttl) or was removed
			// meanwhile ends its stream: a client that reconnects gets 404.
			if _, err := kv.Get(ctx, id); errors.Is(err, jetstream.ErrKeyNotFound) {
				return
			}
			p, err := ev.logCompleted(ctx, st)
			if err != nil {
				if ctx.Err() == nil {
					a.Log.Debug("could not look at the evaluation's candidates", "evaluation", id, "err", err)
				}
				continue
			}
			prog := st.currentProgress(p)
			if (lastProgress == nil || prog != *lastProgress) && time.Since(progressAt) >= evalStreamProgress {
				data, _ := json.Marshal(prog)
				if out.event("progress", sent, data) != nil {
					return
				}
				lastProgress, progressAt = &prog, time.Now()
			}
			if out.keepalive() != nil {
				return
			}
		}
		if caughtUp && st.nlogged == m.Total {
			p, err := ev.currentProgress(ctx, id)
			if err != nil || p == nil {
				p = &evalProgress{State: evalStateSubmitted}
			}
			st.agg.p = p
			st.agg.prog.QueueFullRetries = p.QueueFullRetries
			sum := &contracts.Evaluation{ID: m.ID, Language: m.Language, Version: m.Version, Format: m.Format, CreatedAt: m.CreatedAt}
			st.agg.finish(sum)
			data, _ := json.Marshal(sum)
			_ = out.event("summary", sent, data)
			return
		}
	}
}

// currentProgress is the progress object of a stream: the submission's
// counts, the logged candidates, and the running ones among those looked at.
func (st *streamState) currentProgress(p *evalProgress) contracts.EvaluationProgress {
	submitted := p.Submitted
	if p.State == evalStateSubmitted {
		submitted = st.m.Total
	}
	prog := contracts.EvaluationProgress{Total: st.m.Total, Pending: st.m.Total - submitted,
		Rejected: len(p.Rejected), Completed: st.agg.prog.Completed + st.ended, Running: st.running,
		QueueFullRetries: p.QueueFullRetries}
	prog.Submitted = submitted - prog.Rejected
	prog.Queued = max(prog.Submitted-prog.Completed-prog.Running, 0)
	return prog
}

// logCompleted writes to the completion log the rejected candidates and the
// candidates, among the oldest evalStreamWindow queued ones not logged
// yet, whose execution ended. It counts the running ones among them.
func (ev *evaluator) logCompleted(ctx context.Context, st *streamState) (*evalProgress, error) {
	m := st.m
	p, err := ev.currentProgress(ctx, m.ID)
	if err != nil {
		return nil, err
	}
	if p == nil {
		p = &evalProgress{State: evalStateStoring}
	}
	submitted := p.Submitted
	if p.State == evalStateSubmitted {
		submitted = m.Total
	}
	rejected := map[int]bool{}
	for _, rj := range p.Rejected {
		rejected[rj.Index] = true
		if rj.Index >= 0 && rj.Index < m.Total && !st.logged[rj.Index] {
			var res contracts.CandidateResult
			m.label(&res, rj.Index)
			rejectedAs(&res, rj.Error)
			if err := ev.logOne(ctx, m.ID, &res); err != nil {
				return nil, err
			}
		}
	}
	var look []int
	for i := 0; i < submitted && len(look) < evalStreamWindow; i++ {
		if !st.logged[i] && !rejected[i] {
			look = append(look, i)
		}
	}
	tc := ev.client.As(m.Tenant)
	var mu sync.Mutex
	running, ended := 0, 0
	err = parallel(len(look), evalLookupConc, func(j int) error {
		var res contracts.CandidateResult
		m.label(&res, look[j])
		exec, err := tc.Get(ctx, res.ExecutionID)
		switch {
		case errors.Is(err, client.ErrNotFound): // its queued event is not recorded yet
			return nil
		case err != nil:
			return err
		}
		if !exec.Terminal() {
			if exec.Status == contracts.StatusRunning {
				mu.Lock()
				running++
				mu.Unlock()
			}
			return nil
		}
		mu.Lock()
		ended++
		mu.Unlock()
		done := candidateOf(&exec)
		m.label(&done, look[j])
		return ev.logOne(ctx, m.ID, &done)
	})
	st.running, st.ended = running, ended
	return p, err
}

// logOne appends a candidate's answer to the completion log, unless it is
// there already.
func (ev *evaluator) logOne(ctx context.Context, id string, res *contracts.CandidateResult) error {
	kv, err := ev.store(ctx)
	if err != nil {
		return err
	}
	data, err := json.Marshal(res)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if _, err := kv.Create(ctx, keyRecord(id, res.Index), data); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return err
	}
	return nil
}
