package main

// Graceful shutdown: SIGTERM on the real airlock processes.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
)

// TestExecutorSIGTERMFinishesJob sends SIGTERM to an executor during a
// three-second job: it takes no new job, finishes the running one, then
// exits 0 with no sandbox left.
func TestExecutorSIGTERMFinishesJob(t *testing.T) {
	n := testkit.StartNATS(t, "")
	f := newFleet(t, n.Server.ClientURL())
	topo := contracts.DefaultTopology()
	xid := newExecutorID("term")
	removeSandboxes(t, xid)
	x := f.executor(xid)
	f.results()
	_, base := f.gateway()
	waitExecutorReady(x)
	feed := watchEvents(t, n.Conn, topo)

	id := submit(t, base, bashJob("sleep 3\necho finished\n"))
	second := submit(t, base, bashJob("echo second\n"))
	feed.wait(t, id, 2*time.Minute, "running", running(1))
	if code := x.terminate(2 * time.Minute); code != 0 {
		t.Fatalf("executor exited %d after SIGTERM:\n%s", code, x.log.String())
	}
	// The result was stored (on RESULTS) before the process exited; the
	// results service writes it to the bucket in its own time.
	if c := countStatus(storedEvents(t, n.JS, topo, id), contracts.StatusCompleted); c != 1 {
		t.Fatalf("RESULTS holds %d completed events of the finished job when the executor has exited, want 1", c)
	}
	e := waitStored(t, n.JS, id, testkit.Patience)
	if e.Verdict != contracts.VerdictAccepted || e.Run == nil || e.Run.Stdout != "finished\n" || e.Attempt != 1 || e.Executor != xid {
		t.Fatalf("want accepted with %q on attempt 1 by %s, got %s", "finished\n", xid, dump(e))
	}
	if left := sandboxes(t, xid); len(left) > 0 {
		t.Errorf("sandboxes left after a graceful exit: %v", left)
	}
	// The queued job was not taken by the stopping executor; it is still
	// queued and a new executor runs it.
	for _, ev := range storedEvents(t, n.JS, topo, second) {
		if ev.Status != contracts.StatusQueued {
			t.Fatalf("the stopping executor started a new job: %s", dump(ev))
		}
	}
	waitExecutorReady(f.executor(xid))
	if e := waitStored(t, n.JS, second, 2*time.Minute); e.Run == nil || e.Run.Stdout != "second\n" {
		t.Errorf("queued job after the restart: %s", dump(e))
	}
}

// TestExecutorSIGTERMHandsBack gives an executor --shutdown-timeout 1s and
// sends it SIGTERM during a long job: the job is handed back (Nak) at once
// after a hand-back event, and completed by the other executor on the same
// attempt (a hand-back is not an attempt); the stopped executor exits 0 and
// removes its sandbox.
func TestExecutorSIGTERMHandsBack(t *testing.T) {
	n := testkit.StartNATS(t, "")
	f := newFleet(t, n.Server.ClientURL())
	topo := contracts.DefaultTopology()
	// An ack wait far longer than the wait for the result below: the
	// handover must come from the Nak, not from a redelivery after the ack
	// wait.
	f.topology = []string{"--ack-wait", "30m"}
	args := []string{"--shutdown-timeout", "1s"}
	idA, idB := newExecutorID("handback-a"), newExecutorID("handback-b")
	removeSandboxes(t, idA, idB)
	execs := map[string]*proc{idA: f.executor(idA, args...), idB: f.executor(idB, args...)}
	f.results()
	_, base := f.gateway()
	for _, p := range execs {
		waitExecutorReady(p)
	}
	feed := watchEvents(t, n.Conn, topo)

	id := submit(t, base, bashJob("sleep 6\necho handed over\n"))
	first := feed.wait(t, id, 2*time.Minute, "running", running(1))
	stopping, other := first.Executor, idA
	if stopping == idA {
		other = idB
	}
	if execs[stopping] == nil {
		t.Fatalf("job runs on unknown executor %q", stopping)
	}
	begin := time.Now()
	if code := execs[stopping].terminate(2 * time.Minute); code != 0 {
		t.Fatalf("executor exited %d after SIGTERM:\n%s", code, execs[stopping].log.String())
	}
	t.Logf("executor exited %v after SIGTERM", time.Since(begin).Round(time.Millisecond))
	if left := sandboxes(t, stopping); len(left) > 0 {
		t.Errorf("sandboxes left after the handover: %v", left)
	}
	// Well within the 30-minute ack wait: only the Nak can explain it.
	e := waitStored(t, n.JS, id, testkit.Patience)
	if e.Verdict != contracts.VerdictAccepted || e.Run == nil || e.Run.Stdout != "handed over\n" {
		t.Fatalf("want accepted with %q, got %s", "handed over\n", dump(e))
	}
	if e.Executor != other || e.Attempt != 1 {
		t.Errorf("completed by %s on attempt %d, want %s on attempt 1", e.Executor, e.Attempt, other)
	}
	events := storedEvents(t, n.JS, topo, id)
	if c := countStatus(events, contracts.StatusCompleted); c != 1 {
		t.Errorf("RESULTS holds %d completed events, want 1", c)
	}
	handBacks := 0
	for _, ev := range events {
		if ev.Status == contracts.StatusQueued && ev.Executor == stopping {
			handBacks++
		}
	}
	if handBacks != 1 {
		t.Errorf("RESULTS holds %d hand-back events of %s, want 1", handBacks, stopping)
	}
}

// TestGatewaySIGTERMAnswersWaits sends SIGTERM to the gateway while clients
// wait for results (?wait=true and /v1/execute): every request gets an
// answer, the process exits 0 promptly, and the job still completes.
func TestGatewaySIGTERMAnswersWaits(t *testing.T) {
	n := testkit.StartNATS(t, "")
	f := newFleet(t, n.Server.ClientURL())
	topo := contracts.DefaultTopology()
	xid := newExecutorID("gwterm")
	removeSandboxes(t, xid)
	x := f.executor(xid, "--slots", "2")
	f.results()
	gw, base := f.gateway()
	waitExecutorReady(x)
	waitReady(t, base)
	feed := watchEvents(t, n.Conn, topo)

	type answer struct {
		path   string
		status int
		body   string
		err    error
	}
	paths := []string{"/v1/executions?wait=true&timeout=2m", "/v1/execute?timeout=2m"}
	answers := make(chan answer, len(paths))
	for i, path := range paths {
		body, _ := json.Marshal(bashJob("sleep 8\necho waited\n"))
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "gwterm-"+xid+"-"+string(rune('a'+i)))
		go func() {
			resp, err := (&http.Client{Timeout: 3 * time.Minute}).Do(req)
			if err != nil {
				answers <- answer{path: path, err: err}
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			answers <- answer{path: path, status: resp.StatusCode, body: string(b)}
		}()
	}
	// Both are queued (one may already run) and their clients are waiting.
	ids := map[string]bool{}
	deadline := time.Now().Add(2 * time.Minute)
	for len(ids) < len(paths) {
		feed.mu.Lock()
		for id, evs := range feed.events {
			for _, e := range evs {
				if e.Status == contracts.StatusRunning {
					ids[id] = true
				}
			}
		}
		feed.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("jobs not running within 2 minutes: %v", ids)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A client in the middle of uploading its body. It asks to continue
	// (Expect: 100-continue), so it knows when the gateway's handler has
	// begun to read the body.
	upload, _ := json.Marshal(bashJob("echo uploaded\n"))
	pr, pw := io.Pipe()
	uploaded := make(chan answer, 1)
	reading := make(chan struct{})
	go func() {
		trace := &httptrace.ClientTrace{Got100Continue: func() { close(reading) }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST", base+"/v1/executions", pr)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Expect", "100-continue")
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ExpectContinueTimeout = 3 * time.Minute // send no byte of the body before the 100
		resp, err := (&http.Client{Transport: tr, Timeout: 3 * time.Minute}).Do(req)
		if err != nil {
			uploaded <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		uploaded <- answer{status: resp.StatusCode, body: string(b)}
	}()
	select {
	case <-reading:
	case a := <-uploaded:
		t.Fatalf("the uploading request ended before the gateway read its body: %d %s %v", a.status, a.body, a.err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the gateway did not begin to read the uploading request's body within 2 minutes")
	}
	if _, err := pw.Write(upload[:len(upload)/2]); err != nil {
		t.Fatal(err)
	}

	begin := time.Now()
	if err := gw.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The rest of the body once the gateway is shutting down.
	gw.waitLog(`msg="gateway shutting down"`, 2*time.Minute)
	if _, err := pw.Write(upload[len(upload)/2:]); err != nil {
		t.Fatal(err)
	}
	_ = pw.Close()
	var uploadedID string
	select {
	case a := <-uploaded:
		var acc contracts.Accepted
		if a.err != nil || a.status != 202 || json.Unmarshal([]byte(a.body), &acc) != nil {
			t.Errorf("request uploading during SIGTERM: %d %s %v, want 202", a.status, a.body, a.err)
		}
		uploadedID = acc.ID
	case <-time.After(2 * time.Minute):
		t.Fatal("the request uploading during SIGTERM got no answer")
	}
	for range paths {
		select {
		case a := <-answers:
			if a.err != nil {
				t.Errorf("%s: no answer: %v", a.path, a.err)
				continue
			}
			var e contracts.Execution
			if (a.status != 200 && a.status != 202) || json.Unmarshal([]byte(a.body), &e) != nil || !ids[e.ID] {
				t.Errorf("%s: answered %d %s, want 200 or 202 with the execution", a.path, a.status, a.body)
			}
			t.Logf("%s answered %d (%s) %v after SIGTERM", a.path, a.status, e.Status, time.Since(begin).Round(time.Millisecond))
		case <-time.After(2 * time.Minute):
			t.Fatal("a waiting request got no answer within 2 minutes of SIGTERM")
		}
	}
	if code := gw.wait(2 * time.Minute); code != 0 {
		t.Errorf("gateway exited %d after SIGTERM", code)
	}
	t.Logf("gateway exited %v after SIGTERM", time.Since(begin).Round(time.Millisecond))
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the stopped gateway still answers")
	}
	for id := range ids {
		if e := waitStored(t, n.JS, id, 2*time.Minute); e.Run == nil || e.Run.Stdout != "waited\n" {
			t.Errorf("job %s after the gateway stopped: %s", id, dump(e))
		}
	}
	if uploadedID != "" {
		if e := waitStored(t, n.JS, uploadedID, 2*time.Minute); e.Run == nil || e.Run.Stdout != "uploaded\n" {
			t.Errorf("job uploaded during SIGTERM: %s", dump(e))
		}
	}
}
