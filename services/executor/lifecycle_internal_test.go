package executor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/executor/internal/runner"
	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
)

// TestAttemptsPerDelivery: a sandbox fault Naks with a delay on every
// attempt but the last; the last records internal_error and a confirmed
// Term (retried until confirmed); each delivery is one attempt; a delivery
// past the attempts only records internal_error.
func TestAttemptsPerDelivery(t *testing.T) {
	bus := &fakeBus{}
	run := &fakeRunner{run: func(context.Context) (runner.Result, error) { return runner.Result{}, errors.New("container vanished") }}
	l := newTestLifecycle(t, 3, run, bus)
	id, data := newJob(t)
	ctx := context.Background()
	for n := uint64(1); n <= 2; n++ {
		if got := deliver(ctx, l, data, n).ended(t); got != "nak-delay" {
			t.Errorf("delivery %d of a sandbox fault ended %q, want nak-delay", n, got)
		}
	}
	last := &fakeMsg{data: data, delivery: 3, termFails: 2}
	l.handle(ctx, last)
	if got := last.ended(t); got != "term" {
		t.Fatalf("the last attempt ended %q, want term", got)
	}
	if last.termTries != 3 {
		t.Errorf("Term sent %d times, want 3 (until the server confirmed it)", last.termTries)
	}
	done := bus.of(id, contracts.StatusCompleted)
	if len(done) != 1 || done[0].Verdict != contracts.VerdictInternalError || done[0].Attempt != 3 {
		t.Fatalf("stored results %+v, want one internal_error of attempt 3", done)
	}
	var attempts []int
	for _, e := range bus.of(id, contracts.StatusRunning) {
		attempts = append(attempts, e.Attempt)
	}
	if fmt.Sprint(attempts) != "[1 2 3]" || run.runs.Load() != 3 {
		t.Errorf("running events of attempts %v and %d runs, want [1 2 3] and 3", attempts, run.runs.Load())
	}

	// Delivered again (the Term was lost): the result is stored, the job is
	// acked and not run.
	if got := deliver(ctx, l, data, 4).ended(t); got != "ack" || run.runs.Load() != 3 {
		t.Errorf("a delivery after the stored result ended %q after %d runs, want ack and no run", got, run.runs.Load())
	}

	// A job whose every attempt died with its executor (no result, no
	// hand-back): the delivery after the last attempt gives up.
	id2, data2 := newJob(t)
	for n := 1; n <= 3; n++ {
		_ = bus.Publish(ctx, contracts.Execution{ID: id2, Status: contracts.StatusRunning, Attempt: n}, runningMsgID(id2, n))
	}
	if got := deliver(ctx, l, data2, 4).ended(t); got != "term" || run.runs.Load() != 3 {
		t.Fatalf("the delivery after 3 crashed attempts ended %q after %d more runs, want term and none", got, run.runs.Load()-3)
	}
	if done := bus.of(id2, contracts.StatusCompleted); len(done) != 1 || !strings.Contains(done[0].Message, "all 3 attempts") {
		t.Errorf("stored %+v, want internal_error after all 3 attempts", done)
	}
}

// TestEngineFaultHoldsNextDelivery: an engine fault Naks with a delay and
// marks the executor unhealthy; a delivery that arrives meanwhile is held in
// progress (not Nak'ed, not run, no attempt burned) and runs as the next
// attempt once the engine answers.
func TestEngineFaultHoldsNextDelivery(t *testing.T) {
	bus := &fakeBus{}
	var fault atomic.Bool
	fault.Store(true)
	run := &fakeRunner{run: func(ctx context.Context) (runner.Result, error) {
		if fault.Load() {
			return runner.Result{}, fmt.Errorf("create container: %w", sandbox.ErrEngine)
		}
		return accepted(ctx)
	}}
	l := newTestLifecycle(t, 2, run, bus)
	id, data := newJob(t)
	ctx := context.Background()
	if got := deliver(ctx, l, data, 1).ended(t); got != "nak-delay" {
		t.Fatalf("an engine fault ended %q, want nak-delay", got)
	}
	if l.health.problem.Load() == nil {
		t.Fatal("an engine fault left the executor healthy")
	}
	fault.Store(false)
	held := make(chan struct{})
	m := &fakeMsg{data: data, delivery: 2, onProgress: func(n int) {
		if n == 5 {
			close(held)
		}
	}}
	done := make(chan struct{})
	go func() { defer close(done); l.handle(ctx, m) }()
	<-held // five heartbeats while the engine is down
	if got, runs := m.ended(t), run.runs.Load(); got != "" || runs != 1 {
		t.Fatalf("a held job ended %q after %d runs, want held and 1 run", got, runs)
	}
	l.health.setProblem("")
	<-done
	if got := m.ended(t); got != "ack" {
		t.Fatalf("the held job ended %q once the engine was back, want ack", got)
	}
	if res := bus.of(id, contracts.StatusCompleted); len(res) != 1 || res[0].Verdict != contracts.VerdictAccepted || res[0].Attempt != 2 {
		t.Errorf("stored %+v, want accepted on attempt 2", res)
	}
}

// TestHandBackBurnsNoAttempt: a job interrupted by the shutdown, and one
// held through an engine outage until the shutdown, are handed back (Nak
// at once) after a hand-back event; the next delivery does not count them,
// so a job with one attempt still runs.
func TestHandBackBurnsNoAttempt(t *testing.T) {
	bus := &fakeBus{}
	started := make(chan struct{}, 1)
	var interrupt atomic.Bool
	interrupt.Store(true)
	run := &fakeRunner{run: func(ctx context.Context) (runner.Result, error) {
		if interrupt.Load() {
			started <- struct{}{}
			<-ctx.Done()
			return runner.Result{}, ctx.Err()
		}
		return accepted(ctx)
	}}
	l := newTestLifecycle(t, 1, run, bus)
	id, data := newJob(t)

	// Delivery 1: interrupted by the shutdown while running.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	if got := deliver(ctx, l, data, 1).ended(t); got != "nak" {
		t.Fatalf("a job interrupted by shutdown ended %q, want nak", got)
	}
	// Delivery 2: held through an engine outage until the shutdown.
	l.health.setProblem("docker engine does not answer")
	ctx, cancel = context.WithCancel(context.Background())
	m := &fakeMsg{data: data, delivery: 2, onProgress: func(n int) {
		if n == 3 {
			cancel()
		}
	}}
	l.handle(ctx, m)
	if got := m.ended(t); got != "nak" {
		t.Fatalf("a held job at shutdown ended %q, want nak", got)
	}
	l.health.setProblem("")
	// Delivery 3 is still the first attempt.
	interrupt.Store(false)
	if got := deliver(context.Background(), l, data, 3).ended(t); got != "ack" {
		t.Fatalf("the delivery after two hand-backs ended %q, want ack", got)
	}
	res := bus.of(id, contracts.StatusCompleted)
	if len(res) != 1 || res[0].Verdict != contracts.VerdictAccepted || res[0].Attempt != 1 {
		t.Errorf("stored %+v, want accepted on attempt 1", res)
	}
	if n := len(bus.of(id, contracts.StatusQueued)); n != 2 {
		t.Errorf("%d hand-back events, want 2", n)
	}
}

// TestResultKeptWhileResultsDown: RESULTS refuses the computed result for a
// while: the job stays in progress (heartbeats go on while the result is
// published), the result is stored once RESULTS answers, and the job is
// acked, never run again nor handed back.
func TestResultKeptWhileResultsDown(t *testing.T) {
	bus, refused := refusingBus(20)
	run := &fakeRunner{run: accepted}
	l := newTestLifecycle(t, 3, run, bus)
	id, data := newJob(t)
	var beatsWhilePublishing atomic.Int32
	m := &fakeMsg{data: data, delivery: 1}
	m.onProgress = func(int) {
		if n := refused.Load(); n > 0 && n <= 20 {
			beatsWhilePublishing.Add(1)
		}
	}
	l.handle(context.Background(), m)
	if got := m.ended(t); got != "ack" {
		t.Fatalf("the job ended %q, want ack", got)
	}
	if n := beatsWhilePublishing.Load(); n < 2 {
		t.Errorf("%d heartbeats while its result was being published, want the job kept in progress", n)
	}
	if res := bus.of(id, contracts.StatusCompleted); len(res) != 1 || res[0].Verdict != contracts.VerdictAccepted || run.runs.Load() != 1 {
		t.Errorf("stored %+v after %d runs, want the first run's accepted result", res, run.runs.Load())
	}
}

// TestLastAttemptStoresInternalError: on the last attempt RESULTS refuses
// the internal_error for a while: it is retried until stored, then the job
// is terminated; the job is never Nak'ed into a delivery that would leave
// it stuck in JOBS.
func TestLastAttemptStoresInternalError(t *testing.T) {
	bus, _ := refusingBus(12)
	run := &fakeRunner{run: func(context.Context) (runner.Result, error) { return runner.Result{}, runner.ErrSandbox }}
	l := newTestLifecycle(t, 1, run, bus)
	id, data := newJob(t)
	if got := deliver(context.Background(), l, data, 1).ended(t); got != "term" {
		t.Fatalf("the last attempt ended %q, want term", got)
	}
	if res := bus.of(id, contracts.StatusCompleted); len(res) != 1 || res[0].Verdict != contracts.VerdictInternalError {
		t.Errorf("stored %+v, want internal_error", res)
	}
}
