package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
	"github.com/airlockrun/airlock/services/gateway"
)

// streamEvent is one event of GET /v1/evaluations/{id}/events.
type streamEvent struct {
	Event string          `json:"event"`
	ID    uint64          `json:"id"`
	Data  json.RawMessage `json:"data"`
}

// eventStream reads an events stream incrementally.
type eventStream struct {
	t      *testing.T
	resp   *http.Response
	rd     *bufio.Reader
	ndjson bool
}

// openEvents opens the events stream of evaluation id; ndjson picks the
// format, last (when not "") is sent as Last-Event-ID (SSE) or as
// ?last_event_id= (NDJSON).
func (e *env) openEvents(id string, ndjson bool, last string, headers map[string][]string) *eventStream {
	e.t.Helper()
	path := "/v1/evaluations/" + id + "/events"
	if ndjson && last != "" {
		path += "?last_event_id=" + last
	}
	req, err := http.NewRequest("GET", e.base+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if ndjson {
		req.Header.Set("Accept", "application/x-ndjson")
	} else if last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	for k, v := range headers {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	want := "text/event-stream"
	if ndjson {
		want = "application/x-ndjson"
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != want {
		e.t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return &eventStream{t: e.t, resp: resp, rd: bufio.NewReaderSize(resp.Body, 64<<10), ndjson: ndjson}
}

// next reads the next event; ok is false at the end of the stream.
func (s *eventStream) next() (ev streamEvent, ok bool) {
	s.t.Helper()
	if s.ndjson {
		line, err := s.rd.ReadBytes('\n')
		if err != nil {
			return ev, false
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			s.t.Fatalf("NDJSON line %q: %v", line, err)
		}
		return ev, true
	}
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			return ev, false
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if ev.Event != "" {
				return ev, true
			}
		case strings.HasPrefix(line, ":"): // a comment (keep-alive)
		case strings.HasPrefix(line, "event: "):
			ev.Event = line[len("event: "):]
		case strings.HasPrefix(line, "id: "):
			n, err := strconv.ParseUint(line[len("id: "):], 10, 64)
			if err != nil {
				s.t.Fatalf("SSE id line %q", line)
			}
			ev.ID = n
		case strings.HasPrefix(line, "data: "):
			ev.Data = json.RawMessage(line[len("data: "):])
		default:
			s.t.Fatalf("unexpected SSE line %q", line)
		}
	}
}

func (s *eventStream) close() { s.resp.Body.Close() }

// TestEvaluationEvents: candidate events arrive while the evaluation runs,
// a stream resumed from the last id it got continues without gaps or
// repeats (in SSE with Last-Event-ID and in NDJSON with ?last_event_id=),
// another gateway replays the same events with the same ids, and the
// summary is GET's answer.
func TestEvaluationEvents(t *testing.T) {
	e := start(t, nil)
	e.heartbeat("exec-1", "", testRuntimes())
	verdicts := []string{"accepted", "wrong_answer", "accepted", "runtime_error", "accepted", "accepted",
		"time_limit_exceeded", "accepted", "accepted", "wrong_answer", "accepted", "accepted"}
	r := e.submit("/v1/evaluations", evalBody(verdicts, 3, "[1,2]"), nil)
	if r.status != 202 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	acc := decode[contracts.EvaluationAccepted](t, r)
	// One job at a time, each a while: the evaluation lasts seconds.
	e.runEvalExecutor(300 * time.Millisecond)

	s := e.openEvents(acc.ID, false, "", nil)
	var first []streamEvent
	for len(first) < 4 {
		ev, ok := s.next()
		if !ok {
			t.Fatalf("stream ended after %d events", len(first))
		}
		if ev.Event != "candidate" {
			continue
		}
		first = append(first, ev)
		if len(first) == 1 {
			// The first candidate event came before the evaluation completed.
			got := decode[contracts.Evaluation](t, e.do(call{path: "/v1/evaluations/" + acc.ID + "?candidates=false"}))
			if got.Status == contracts.EvaluationCompleted {
				t.Errorf("the first candidate event came only after the evaluation completed")
			}
		}
	}
	s.close()
	// Resume from the last id received.
	rest, summary := readAll(t, e.openEvents(acc.ID, false, strconv.FormatUint(first[len(first)-1].ID, 10), nil))
	all := append(first, rest...)
	checkCandidates(t, all, len(verdicts))

	got := e.waitEvaluation(acc.ID, testkit.Patience)
	var sum contracts.Evaluation
	if err := json.Unmarshal(summary.Data, &sum); err != nil {
		t.Fatal(err)
	}
	want := got
	want.Candidates = nil
	if a, b := mustJSON(t, sum), mustJSON(t, want); a != b {
		t.Errorf("summary differs from GET:\n%s\n%s", a, b)
	}
	for _, ev := range all {
		var c contracts.CandidateResult
		if err := json.Unmarshal(ev.Data, &c); err != nil {
			t.Fatal(err)
		}
		if a, b := mustJSON(t, c), mustJSON(t, got.Candidates[c.Index]); a != b {
			t.Errorf("candidate event differs from GET's entry:\n%s\n%s", a, b)
		}
	}

	// NDJSON, resumed at several points, and a second gateway on the same
	// NATS: the same events with the same ids.
	other := startOn(t, e.nats, nil)
	full, _ := readAll(t, other.openEvents(acc.ID, true, "", nil))
	if a, b := ids(full), ids(all); !slices.Equal(a, b) {
		t.Errorf("another gateway's stream: ids %v, want %v", a, b)
	}
	for _, cut := range []int{0, 5, len(all) - 1} {
		tail, sum2 := readAll(t, e.openEvents(acc.ID, true, strconv.FormatUint(all[cut].ID, 10), nil))
		if a, b := ids(tail), ids(all[cut+1:]); !slices.Equal(a, b) {
			t.Errorf("resumed after event %d: ids %v, want %v", cut, a, b)
		}
		if sum2.Event != "summary" {
			t.Errorf("resumed stream ended with %q", sum2.Event)
		}
	}

	// Bad ids and another tenant's (here: an unknown) evaluation.
	wantError(t, e.do(call{path: "/v1/evaluations/" + acc.ID + "/events?last_event_id=x"}), 400, contracts.CodeInvalidQuery, "last_event_id", "")
	wantError(t, e.do(call{path: "/v1/evaluations/" + contracts.NewID() + "/events"}), 404, contracts.CodeNotFound, "id", "")
}

// readAll reads a stream to its end: its candidate events and the summary.
func readAll(t *testing.T, s *eventStream) (cands []streamEvent, summary streamEvent) {
	t.Helper()
	defer s.close()
	for {
		ev, ok := s.next()
		if !ok {
			t.Fatalf("the stream ended without a summary after %d candidate events", len(cands))
		}
		switch ev.Event {
		case "candidate":
			cands = append(cands, ev)
		case "progress":
			var p contracts.EvaluationProgress
			if err := json.Unmarshal(ev.Data, &p); err != nil || p.Total == 0 {
				t.Errorf("progress %s: %v", ev.Data, err)
			}
		case "summary":
			if _, ok := s.next(); ok {
				t.Error("an event after the summary")
			}
			return cands, ev
		default:
			t.Fatalf("unknown event %q", ev.Event)
		}
	}
}

// checkCandidates: n candidate events, each candidate once, ids increasing.
func checkCandidates(t *testing.T, evs []streamEvent, n int) {
	t.Helper()
	seen := map[int]bool{}
	for j, ev := range evs {
		var c contracts.CandidateResult
		if err := json.Unmarshal(ev.Data, &c); err != nil {
			t.Fatal(err)
		}
		if seen[c.Index] {
			t.Errorf("candidate %d twice", c.Index)
		}
		seen[c.Index] = true
		if c.Status != "completed" || c.Result == "" {
			t.Errorf("candidate event of an unfinished candidate: %s", ev.Data)
		}
		if j > 0 && ev.ID <= evs[j-1].ID {
			t.Errorf("event ids not increasing: %d after %d", ev.ID, evs[j-1].ID)
		}
	}
	if len(seen) != n {
		t.Errorf("%d candidates streamed, want %d", len(seen), n)
	}
}

func ids(evs []streamEvent) []uint64 {
	var out []uint64
	for _, ev := range evs {
		out = append(out, ev.ID)
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEvaluationEventsMemory streams an evaluation of 10,000 candidates
// (run by a fast simulated executor) and measures what a stream's handler
// holds: the bytes in use that were allocated under handleEvents (from the
// heap profile, so the embedded NATS server's caches, which share the
// process, do not blur it). After 9,500 candidate events it must hold far
// less than those answers (several hundred bytes each, about 4 MB).
func TestEvaluationEventsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 candidates")
	}
	const n = 10000
	e := start(t, func(c *gateway.Config) { c.Topology.QueueMax = 2 * n })
	e.heartbeat("exec-1", "", testRuntimes())
	verdicts := make([]string, n)
	for i := range verdicts {
		verdicts[i] = []string{"accepted", "wrong_answer", "runtime_error"}[i%3]
	}
	r := e.submit("/v1/evaluations", evalBody(verdicts, 100, "[1,10]"), nil)
	if r.status != 202 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	id := decode[contracts.EvaluationAccepted](t, r).ID
	// The last 500 candidates wait until the measurements are taken, so
	// that the stream's handler is still running at both.
	var allowed atomic.Int64
	allowed.Store(n - 500)
	e.runFastExecutor(&allowed)
	// A first stream logs the 9,500 candidates as they complete.
	first := e.openEvents(id, true, "", nil)
	for logged := 0; logged < n-500; {
		ev, ok := first.next()
		if !ok {
			t.Fatalf("the first stream ended after %d candidates", logged)
		}
		if ev.Event == "candidate" {
			logged++
		}
	}
	first.close()
	if !testkit.Eventually(testkit.Patience, func() bool {
		got := decode[contracts.Evaluation](t, e.do(call{path: "/v1/evaluations/" + id + "?candidates=false"}))
		return got.Progress.Pending == 0
	}) {
		t.Fatal("the candidates were never all queued")
	}
	// The second replays them, then waits for the last 500: what its
	// handler holds then, against what handlers held before it opened.
	rate := runtime.MemProfileRate
	runtime.MemProfileRate = profileRate
	defer func() { runtime.MemProfileRate = rate }()
	before := inUseUnder(t, "eval.(*API).handleEvents")
	s := e.openEvents(id, true, "", nil)
	seen := map[int]bool{}
	var held int64
	count := 0
	for {
		ev, ok := s.next()
		if !ok {
			t.Fatal("the stream ended early")
		}
		if ev.Event == "summary" {
			break
		}
		if ev.Event != "candidate" {
			continue
		}
		var c contracts.CandidateResult
		if err := json.Unmarshal(ev.Data, &c); err != nil || seen[c.Index] {
			t.Fatalf("candidate event %s: %v (or a repeat)", ev.Data, err)
		}
		seen[c.Index] = true
		count++
		if count == n-500 {
			// The handler has sent everything logged and waits.
			held = inUseUnder(t, "eval.(*API).handleEvents")
			allowed.Store(n)
		}
	}
	s.close()
	t.Logf("held under the stream's handler: %d KB before it opened, %d KB after %d candidate events (while it waits for the rest)",
		before>>10, held>>10, n-500)
	if count != n {
		t.Errorf("%d candidate events, want %d", count, n)
	}
	if held-before > 1<<20 {
		t.Errorf("the stream's handler holds %d KB after streaming %d candidates", (held-before)>>10, n-500)
	}
}

// profileRate samples the heap profile of TestEvaluationEventsMemory.
const profileRate = 4096

// inUseUnder estimates the heap in use (as of a fresh GC) allocated by
// stacks that pass through a function whose name contains fn, scaling each
// sampled record as pprof does (1 / (1 - e^(-size/rate))).
func inUseUnder(t *testing.T, fn string) int64 {
	t.Helper()
	runtime.GC()
	runtime.GC()
	var recs []runtime.MemProfileRecord
	for {
		n, _ := runtime.MemProfile(nil, true)
		recs = make([]runtime.MemProfileRecord, n+100)
		var ok bool
		if n, ok = runtime.MemProfile(recs, true); ok {
			recs = recs[:n]
			break
		}
	}
	var total int64
	for _, r := range recs {
		frames := runtime.CallersFrames(r.Stack())
		for {
			f, more := frames.Next()
			if strings.Contains(f.Function, fn) {
				if r.AllocObjects > 0 && r.InUseBytes() > 0 {
					size := float64(r.AllocBytes) / float64(r.AllocObjects)
					total += int64(float64(r.InUseBytes()) / (1 - math.Exp(-size/profileRate)))
				}
				break
			}
			if !more {
				break
			}
		}
	}
	return total
}

// runFastExecutor completes the queued jobs in batches, as the simulated
// executor does one by one (the verdict is the content of the last file),
// at most allowed of them.
func (e *env) runFastExecutor(allowed *atomic.Int64) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	cons, err := contracts.EnsureConsumer(ctx, e.nats.JS, contracts.JobsStream, e.topo.ExecutorConsumerConfig())
	if err != nil {
		e.t.Fatal(err)
	}
	// Beat as a live executor would, for as long as the test runs.
	go func() {
		for ctx.Err() == nil {
			now := time.Now().UTC()
			data, _ := json.Marshal(contracts.ExecutorInfo{ID: "exec-1", Slots: 4, Runtimes: testRuntimes(), StartedAt: now, UpdatedAt: now})
			_, _ = e.executors.Put(ctx, "exec-1", data)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	go func() {
		done := int64(0)
		for ctx.Err() == nil {
			batch, err := cons.Fetch(500, jetstream.FetchMaxWait(200*time.Millisecond))
			if err != nil {
				continue
			}
			for msg := range batch.Messages() {
				for done >= allowed.Load() && ctx.Err() == nil {
					time.Sleep(20 * time.Millisecond)
				}
				done++
				var job contracts.Job
				if err := json.Unmarshal(msg.Data(), &job); err != nil {
					continue
				}
				data, _ := json.Marshal(fakeResult(job))
				if _, err := e.executions.Put(ctx, job.ID, data); err != nil && ctx.Err() == nil {
					e.t.Errorf("fast executor: %v", err)
				}
				_ = msg.Ack()
			}
		}
	}()
}

// TestEvaluationEventsEndWithTheEvaluation: a stream open on an evaluation
// that expires (its index gone from the bucket, as --result-ttl removes it)
// ends, rather than waiting for candidates that will never be logged.
func TestEvaluationEventsEndWithTheEvaluation(t *testing.T) {
	e := start(t, nil)
	e.heartbeat("exec-1", "", testRuntimes())
	r := e.submit("/v1/evaluations", evalBody([]string{"accepted", "accepted"}, 1, "[1]"), nil)
	if r.status != 202 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	acc := decode[contracts.EvaluationAccepted](t, r)
	// No executor runs the candidates: the stream has nothing to send.
	s := e.openEvents(acc.ID, true, "", nil)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	kv, err := e.nats.JS.KeyValue(ctx, contracts.EvaluationsBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(ctx, acc.ID); err != nil {
		t.Fatal(err)
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for {
			if ev, ok := s.next(); !ok {
				return
			} else if ev.Event == "candidate" || ev.Event == "summary" {
				t.Errorf("an expired evaluation's stream sent %s", ev.Event)
			}
		}
	}()
	select {
	case <-ended:
	case <-ctx.Done():
		s.close()
		t.Fatal("the stream of an expired evaluation did not end")
	}
	wantError(t, e.do(call{path: "/v1/evaluations/" + acc.ID + "/events"}), 404, contracts.CodeNotFound, "id", "")
}
