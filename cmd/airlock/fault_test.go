package main

// Fault tests: the real airlock binary runs each service as its own OS
// process against an embedded NATS server, and the tests kill, stop and cut
// pieces of the stack the way a failing machine would. Nothing in the
// product has hooks for this; the tests only use signals, the NATS streams
// and the Docker CLI.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
)

// buildAirlock builds the static airlock binary into a temporary directory,
// with the sandbox init airlock-init beside it, as `go tool task build` does.
func buildAirlock(t *testing.T) string {
	t.Helper()
	return buildAirlockTags(t)
}

// buildAirlockTags is buildAirlock with build tags (airlock_faultpoints:
// the fault points of TestExecutorKilledBeforePublish).
func buildAirlockTags(t *testing.T, tags ...string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "airlock")
	for _, b := range []struct{ out, pkg string }{
		{bin, "."},
		{filepath.Join(dir, "airlock-init"), "github.com/airlockrun/airlock/services/executor/cmd/airlock-init"},
	} {
		cmd := exec.Command(goBin, "build", "-tags", strings.Join(tags, ","), "-o", b.out, b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return bin
}

// logBuffer collects a process's log lines.
type logBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	echo io.Writer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.echo != nil {
		_, _ = l.echo.Write(p)
	}
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// proc is one airlock command running as an OS process.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	log  *logBuffer
	done chan struct{}
	err  error // the exit error, once done is closed
}

// startProc runs `airlock <args...>` with env added to the test's environment.
func startProc(t *testing.T, bin, name string, env []string, args ...string) *proc {
	t.Helper()
	lb := &logBuffer{}
	if os.Getenv("AIRLOCK_TEST_LOG") != "" {
		lb.echo = prefixWriter{w: os.Stderr, prefix: "[" + name + "] "}
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = lb, lb
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{t: t, name: name, cmd: cmd, log: lb, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		// SIGTERM first so an executor removes its sandboxes, then SIGKILL.
		if !p.exited() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(90 * time.Second):
				_ = cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			t.Logf("log of %s:\n%s", name, lb.String())
		}
	})
	return p
}

type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" {
			_, _ = io.WriteString(p.w, p.prefix+line)
		}
	}
	return len(b), nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitLog waits for a log line matching re and returns its submatches.
func (p *proc) waitLog(re string, timeout time.Duration) []string {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for {
		if m := rx.FindStringSubmatch(p.log.String()); m != nil {
			return m
		}
		if p.exited() {
			p.t.Fatalf("%s exited (%v) before logging %q:\n%s", p.name, p.err, re, p.log.String())
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not log %q within %v:\n%s", p.name, re, timeout, p.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// countLog counts the log lines matching re.
func (p *proc) countLog(re string) int {
	return len(regexp.MustCompile(re).FindAllStringIndex(p.log.String(), -1))
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	p.t.Helper()
	_ = p.cmd.Process.Kill()
	<-p.done
}

// terminate sends SIGTERM and waits for the exit; it returns the exit code.
func (p *proc) terminate(timeout time.Duration) int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
	return p.wait(timeout)
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s still running %v after it was asked to stop:\n%s", p.name, timeout, p.log.String())
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	}
	p.t.Fatalf("%s: %v", p.name, p.err)
	return -1
}

// fleet starts airlock services as processes against one NATS server, the
// way a fleet runs them.
type fleet struct {
	t    *testing.T
	bin  string
	nats string
	env  []string
	// topology are the flags every service is given alike (the fleet's
	// settings: the executors' consumer belongs to the gateway).
	topology []string
}

func newFleet(t *testing.T, natsURL string) *fleet {
	t.Helper()
	testkit.RequireDocker(t)
	return &fleet{t: t, bin: buildAirlock(t), nats: natsURL, topology: []string{"--ack-wait", "3s"}}
}

func (f *fleet) start(name, cmd string, args ...string) *proc {
	f.t.Helper()
	all := append([]string{cmd, "--nats-url", f.nats, "--log-format", "text", "--log-level", "debug"}, f.topology...)
	return startProc(f.t, f.bin, name, f.env, append(all, args...)...)
}

// executor starts `airlock executor` with the given id serving bash on one
// slot; extra flags override.
func (f *fleet) executor(id string, args ...string) *proc {
	f.t.Helper()
	all := append([]string{"--executor-id", id, "--slots", "1", "--languages", "bash"}, args...)
	return f.start("executor "+id, "executor", all...)
}

func (f *fleet) results() *proc {
	f.t.Helper()
	return f.start("results", "results")
}

// gateway starts `airlock gateway` on a random port and returns it with its
// base URL once it listens.
func (f *fleet) gateway() (*proc, string) {
	f.t.Helper()
	p := f.start("gateway", "gateway", "--listen", "127.0.0.1:0", "--operator-key", faultOperatorKey)
	m := p.waitLog(`msg="gateway listening".* addr=(\S+)`, 2*time.Minute)
	return p, "http://" + m[1]
}

// waitExecutorReady waits for the executor's "ready" log line.
func waitExecutorReady(p *proc) {
	p.t.Helper()
	p.waitLog(`msg="executor ready"`, 3*time.Minute)
}

func newExecutorID(prefix string) string {
	return prefix + "-" + strings.ToLower(contracts.NewID()[:8])
}

// bashJob is a bash execution with time limits far above its need.
func bashJob(script string) contracts.ExecutionRequest {
	return roomy(src("bash", "main.sh", script))
}

// submit posts an execution and returns its id.
func submit(t *testing.T, base string, req contracts.ExecutionRequest) string {
	t.Helper()
	var (
		code int
		data []byte
	)
	// The gateway learns about executors from their heartbeats; right after
	// start it may still answer 503 no_executor.
	for deadline := time.Now().Add(testkit.Patience); ; time.Sleep(500 * time.Millisecond) {
		code, _, data = request(t, "POST", base+"/v1/executions", req, nil)
		if code != 503 || time.Now().After(deadline) {
			break
		}
	}
	if code != 202 {
		t.Fatalf("submit: %d %s", code, data)
	}
	var acc contracts.Accepted
	if err := json.Unmarshal(data, &acc); err != nil {
		t.Fatal(err)
	}
	return acc.ID
}

// eventFeed records every status event published on the RESULTS subjects,
// through a core NATS subscription, so a test can react the moment a job
// starts running.
type eventFeed struct {
	mu     sync.Mutex
	events map[string][]contracts.Execution
}

func watchEvents(t *testing.T, nc *nats.Conn, topo contracts.Topology) *eventFeed {
	t.Helper()
	f := &eventFeed{events: map[string][]contracts.Execution{}}
	sub, err := nc.Subscribe(topo.EventSubject(">"), func(m *nats.Msg) {
		var e contracts.Execution
		if json.Unmarshal(m.Data, &e) == nil {
			f.mu.Lock()
			f.events[e.ID] = append(f.events[e.ID], e)
			f.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return f
}

// wait returns the first event of id that satisfies ok.
func (f *eventFeed) wait(t *testing.T, id string, timeout time.Duration, what string, ok func(contracts.Execution) bool) contracts.Execution {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f.mu.Lock()
		for _, e := range f.events[id] {
			if ok(e) {
				f.mu.Unlock()
				return e
			}
		}
		f.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("execution %s: no %s event within %v", id, what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func running(attempt int) func(contracts.Execution) bool {
	return func(e contracts.Execution) bool {
		return e.Status == contracts.StatusRunning && (attempt == 0 || e.Attempt == attempt)
	}
}

// storedEvents reads every event of one execution from the RESULTS stream.
func storedEvents(t *testing.T, js jetstream.JetStream, topo contracts.Topology, id string) []contracts.Execution {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cons, err := js.CreateConsumer(ctx, contracts.ResultsStream, jetstream.ConsumerConfig{
		FilterSubject: topo.EventSubject(id), AckPolicy: jetstream.AckNonePolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy, InactiveThreshold: time.Minute,
	})
	if err != nil {
		t.Fatalf("read RESULTS: %v", err)
	}
	defer func() { _ = js.DeleteConsumer(context.Background(), contracts.ResultsStream, cons.CachedInfo().Name) }()
	pending := int(cons.CachedInfo().NumPending)
	var out []contracts.Execution
	for len(out) < pending {
		batch, err := cons.Fetch(pending-len(out), jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			t.Fatalf("read RESULTS: %v", err)
		}
		got := 0
		for m := range batch.Messages() {
			var e contracts.Execution
			if err := json.Unmarshal(m.Data(), &e); err != nil {
				t.Fatalf("event of %s: %v: %s", id, err, m.Data())
			}
			out = append(out, e)
			got++
		}
		if got == 0 {
			t.Fatalf("read RESULTS: %d of %d events of %s", len(out), pending, id)
		}
	}
	return out
}

func countStatus(events []contracts.Execution, s contracts.Status) int {
	n := 0
	for _, e := range events {
		if e.Status == s {
			n++
		}
	}
	return n
}

// waitStored waits until the executions bucket holds id as completed.
func waitStored(t *testing.T, js jetstream.JetStream, id string, timeout time.Duration) contracts.Execution {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last []byte
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		kv, err := js.KeyValue(ctx, contracts.ExecutionsBucket)
		if err == nil {
			var entry jetstream.KeyValueEntry
			if entry, err = kv.Get(ctx, id); err == nil {
				last = entry.Value()
				var e contracts.Execution
				if json.Unmarshal(last, &e) == nil && e.Status == contracts.StatusCompleted {
					cancel()
					return e
				}
			}
		}
		cancel()
		if time.Now().After(deadline) {
			t.Fatalf("execution %s not completed in the bucket within %v (last: %s, err %v)", id, timeout, last, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sandboxes lists the containers labelled with an executor id.
func sandboxes(t *testing.T, executorID string) []string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=run.airlock.executor="+executorID).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	return strings.Fields(string(out))
}

// removeSandboxes force-removes an executor's containers when a test ends,
// after checking that none is left.
func removeSandboxes(t *testing.T, ids ...string) {
	t.Cleanup(func() {
		for _, id := range ids {
			assertNoContainers(t, id)
			if left := sandboxes(t, id); len(left) > 0 {
				_ = exec.Command("docker", append([]string{"rm", "-f"}, left...)...).Run()
			}
		}
	})
}

func connect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// TestExecutorKilledMidJob kills the executor running a job with SIGKILL: the
// job is delivered again after the ack wait and completes on the other
// executor, exactly one terminal result is stored, and the dead executor's
// sandbox is removed by its reaper when it comes back with the same id.
func TestExecutorKilledMidJob(t *testing.T) {
	n := testkit.StartNATS(t, "")
	f := newFleet(t, n.Server.ClientURL())
	topo := contracts.DefaultTopology()
	idA, idB := newExecutorID("kill-a"), newExecutorID("kill-b")
	removeSandboxes(t, idA, idB)
	execs := map[string]*proc{idA: f.executor(idA), idB: f.executor(idB)}
	f.results()
	_, base := f.gateway()
	for _, p := range execs {
		waitExecutorReady(p)
		// The executor found the small init beside its binary.
		if log := p.log.String(); !strings.Contains(log, "sandbox init") || !strings.Contains(log, "/airlock-init") {
			t.Errorf("executor %s does not use airlock-init as the sandbox init:\n%s", p.name, log)
		}
	}
	feed := watchEvents(t, n.Conn, topo)

	id := submit(t, base, bashJob("sleep 4\necho survived\n"))
	first := feed.wait(t, id, 2*time.Minute, "running", running(1))
	victim, survivor := first.Executor, idA
	if victim == idA {
		survivor = idB
	}
	if execs[victim] == nil {
		t.Fatalf("job runs on unknown executor %q", victim)
	}
	execs[victim].kill()
	leftAtKill := sandboxes(t, victim)
	if left := leftAtKill; len(left) == 0 {
		t.Logf("the killed executor's sandbox is already gone")
	} else {
		t.Logf("the killed executor left %d sandbox(es): %v", len(left), left)
	}

	e := waitStored(t, n.JS, id, 3*time.Minute)
	if e.Verdict != contracts.VerdictAccepted || e.Run == nil || e.Run.Stdout != "survived\n" {
		t.Fatalf("want accepted with %q, got %s", "survived\n", dump(e))
	}
	if e.Attempt != 2 || e.Executor != survivor {
		t.Errorf("completed by %s on attempt %d, want %s on attempt 2", e.Executor, e.Attempt, survivor)
	}
	events := storedEvents(t, n.JS, topo, id)
	if c := countStatus(events, contracts.StatusCompleted); c != 1 {
		t.Errorf("RESULTS holds %d completed events of %s, want exactly 1", c, id)
	}

	// The same node comes back: its reaper removes what the dead process left.
	restarted := f.executor(victim)
	waitExecutorReady(restarted)
	if left := stillThere(t, leftAtKill); len(left) > 0 {
		t.Errorf("the restarted executor %s did not remove its leftover sandboxes: %v", victim, left)
	}
}

// TestCrashLoopEndsAsInternalError kills the executor every time it starts a
// poisoned job: after MaxAttempts deliveries the next one records
// internal_error and terminates the job instead of looping forever.
func TestCrashLoopEndsAsInternalError(t *testing.T) {
	n := testkit.StartNATS(t, "")
	f := newFleet(t, n.Server.ClientURL())
	topo := contracts.DefaultTopology()
	xid := newExecutorID("crash")
	removeSandboxes(t, xid)
	x := f.executor(xid, "--max-attempts", "3")
	f.results()
	_, base := f.gateway()
	waitExecutorReady(x)
	feed := watchEvents(t, n.Conn, topo)

	id := submit(t, base, bashJob("sleep 60\n"))
	var leftAtKills []string
	for attempt := 1; attempt <= 3; attempt++ {
		feed.wait(t, id, 3*time.Minute, fmt.Sprintf("running (attempt %d)", attempt), running(attempt))
		x.kill()
		leftAtKills = append(leftAtKills, sandboxes(t, xid)...)
		x = f.executor(xid, "--max-attempts", "3")
	}
	e := waitStored(t, n.JS, id, 3*time.Minute)
	if e.Verdict != contracts.VerdictInternalError || !strings.Contains(e.Message, "3 attempts") {
		t.Fatalf("want internal_error after 3 attempts, got %s", dump(e))
	}
	if e.Attempt != 4 {
		t.Errorf("internal_error recorded on delivery %d, want 4", e.Attempt)
	}
	events := storedEvents(t, n.JS, topo, id)
	if c := countStatus(events, contracts.StatusCompleted); c != 1 {
		t.Errorf("RESULTS holds %d completed events, want 1", c)
	}
	if c := countStatus(events, contracts.StatusRunning); c != 3 {
		t.Errorf("RESULTS holds %d running events, want 3 (one per attempt)", c)
	}
	// The job is gone from the work queue: nothing more is delivered.
	jobs, err := n.JS.Stream(context.Background(), contracts.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(testkit.Patience); ; time.Sleep(200 * time.Millisecond) {
		info, err := jobs.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("JOBS still holds %d message(s) after the job was terminated", info.State.Msgs)
		}
	}
	waitExecutorReady(x)
	// What the killed processes left must be gone; the restarted executor's
	// own warm-pool containers carry the same label and may be there.
	if left := stillThere(t, leftAtKills); len(left) > 0 {
		t.Errorf("sandboxes of the crashed executor remain after its restart: %v", left)
	}
}

// stillThere returns those of ids (container ids, possibly short) that still exist.
func stillThere(t *testing.T, ids []string) []string {
	t.Helper()
	var left []string
	for _, id := range ids {
		if err := exec.Command("docker", "inspect", "--format", "{{.Id}}", id).Run(); err == nil {
			left = append(left, id)
		}
	}
	return left
}

// TestNATSRestart restarts the NATS server on the same port and store while
// jobs are queued: the stored result and the queued jobs survive, the
// service processes reconnect by themselves and finish every job.
func TestNATSRestart(t *testing.T) {
	store := t.TempDir()
	srv := testkit.StartServer(t, store, -1)
	port := srv.Addr().(*net.TCPAddr).Port
	url := srv.ClientURL()
	f := newFleet(t, url)
	xid := newExecutorID("natsrestart")
	removeSandboxes(t, xid)
	x := f.executor(xid)
	res := f.results()
	gw, base := f.gateway()
	waitExecutorReady(x)
	waitReady(t, base)
	_, js := connect(t, url)

	before := submit(t, base, bashJob("echo before\n"))
	waitStored(t, js, before, 2*time.Minute)
	var queued []string
	for i := 0; i < 3; i++ {
		queued = append(queued, submit(t, base, bashJob(fmt.Sprintf("sleep 1\necho queued-%d\n", i))))
	}

	srv.Shutdown()
	srv.WaitForShutdown()
	time.Sleep(3 * time.Second)
	testkit.StartServer(t, store, port)

	for _, p := range []*proc{x, res, gw} {
		if p.exited() {
			t.Fatalf("%s exited while NATS was down (%v):\n%s", p.name, p.err, p.log.String())
		}
	}
	e := waitStored(t, js, before, testkit.Patience)
	if e.Run == nil || e.Run.Stdout != "before\n" {
		t.Errorf("result stored before the restart: %s", dump(e))
	}
	for i, id := range queued {
		e := waitStored(t, js, id, 3*time.Minute)
		if want := fmt.Sprintf("queued-%d\n", i); e.Verdict != contracts.VerdictAccepted || e.Run == nil || e.Run.Stdout != want {
			t.Errorf("queued job %d: want accepted with %q, got %s", i, want, dump(e))
		}
	}
	// The gateway serves them from the restarted server, and takes new work.
	for _, id := range append([]string{before}, queued...) {
		code, _, data := request(t, "GET", base+"/v1/executions/"+id, nil, nil)
		if code != 200 || !bytes.Contains(data, []byte(`"completed"`)) {
			t.Errorf("GET %s after the restart: %d %s", id, code, data)
		}
	}
	waitReadyz(t, base, 2*time.Minute)
	after := submit(t, base, bashJob("echo after\n"))
	if e := waitStored(t, js, after, 2*time.Minute); e.Run == nil || e.Run.Stdout != "after\n" {
		t.Errorf("job submitted after the restart: %s", dump(e))
	}
	for _, p := range []*proc{x, res, gw} {
		if p.countLog(`msg="nats reconnected"`) == 0 {
			t.Errorf("%s never logged a reconnect", p.name)
		}
	}
}

// TestGatewayKilled kills the gateway with SIGKILL while one job runs and
// others are queued: all of them complete and are stored.
func TestGatewayKilled(t *testing.T) {
	n := testkit.StartNATS(t, "")
	f := newFleet(t, n.Server.ClientURL())
	topo := contracts.DefaultTopology()
	xid := newExecutorID("gwkill")
	removeSandboxes(t, xid)
	x := f.executor(xid)
	f.results()
	gw, base := f.gateway()
	waitExecutorReady(x)
	feed := watchEvents(t, n.Conn, topo)

	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, submit(t, base, bashJob(fmt.Sprintf("sleep 2\necho job-%d\n", i))))
	}
	feed.wait(t, ids[0], 2*time.Minute, "running", running(0))
	gw.kill()

	for i, id := range ids {
		e := waitStored(t, n.JS, id, 3*time.Minute)
		if want := fmt.Sprintf("job-%d\n", i); e.Verdict != contracts.VerdictAccepted || e.Run == nil || e.Run.Stdout != want || e.Attempt != 1 {
			t.Errorf("job %d: want accepted with %q on attempt 1, got %s", i, want, dump(e))
		}
	}
	// A new gateway serves the results.
	_, base = f.gateway()
	for _, id := range ids {
		code, _, data := request(t, "GET", base+"/v1/executions/"+id, nil, nil)
		if code != 200 || !bytes.Contains(data, []byte(`"completed"`)) {
			t.Errorf("GET %s from the new gateway: %d %s", id, code, data)
		}
	}
}

// faultOperatorKey is the operator key of the gateways started by
// fleet.gateway: with it, /readyz names the executors and their problems.
const faultOperatorKey = "fault-test-operator-key"

// readyz returns the status and body of GET /readyz, asked with the
// operator key (gateways without it answer only ready or not).
func readyz(t *testing.T, base string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/readyz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+faultOperatorKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReadyz waits for GET /readyz to answer 200 and fails with its last
// answer otherwise.
func waitReadyz(t *testing.T, base string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, body := readyz(t, base)
		if code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d after %v: %s", code, timeout, body)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// dockerProxy forwards a unix socket to the Docker engine's; cut makes the
// engine unreachable (the socket disappears and open connections drop),
// restore brings it back on the same path.
type dockerProxy struct {
	t      *testing.T
	path   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func startDockerProxy(t *testing.T) *dockerProxy {
	t.Helper()
	target := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		target = strings.TrimPrefix(h, "unix://")
	} else if h != "" {
		t.Skipf("DOCKER_HOST=%s is not a unix socket; the outage test needs one", h)
	}
	dir, err := os.MkdirTemp("", "airlock-docker-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &dockerProxy{t: t, path: filepath.Join(dir, "docker.sock"), target: target, conns: map[net.Conn]bool{}}
	p.restore()
	t.Cleanup(p.cut)
	return p
}

// ensureUp restores the proxy if it is cut (so that processes stopping at
// the end of a failed test can still clean up).
func (p *dockerProxy) ensureUp() {
	p.mu.Lock()
	cut := p.ln == nil
	p.mu.Unlock()
	if cut {
		p.restore()
	}
}

func (p *dockerProxy) restore() {
	p.t.Helper()
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		p.t.Fatalf("docker proxy: %v", err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

func (p *dockerProxy) forward(c net.Conn) {
	up, err := net.Dial("unix", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // cut meanwhile
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// cut closes the listener (which removes the socket file) and every
// forwarded connection.
func (p *dockerProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// TestDockerOutage runs an executor whose Docker engine goes away twice:
// while idle (a job submitted meanwhile waits in the queue, longer than all
// its attempts' ack waits, and runs once the engine is back) and in the
// middle of a job (the job is handed back and completes on a later attempt).
// Meanwhile /readyz answers 503 and names the problem; the executor recovers
// by itself, without a restart.
func TestDockerOutage(t *testing.T) {
	n := testkit.StartNATS(t, "")
	f := newFleet(t, n.Server.ClientURL())
	topo := contracts.DefaultTopology()
	proxy := startDockerProxy(t)
	xid := newExecutorID("outage")
	removeSandboxes(t, xid)
	f.env = []string{"DOCKER_HOST=unix://" + proxy.path}
	x := f.executor(xid, "--max-attempts", "3")
	f.env = nil
	t.Cleanup(proxy.ensureUp) // runs before the executor is stopped
	f.results()
	_, base := f.gateway()
	waitExecutorReady(x)
	waitReadyz(t, base, 2*time.Minute)
	feed := watchEvents(t, n.Conn, topo)

	// The engine disappears while the executor is idle.
	proxy.cut()
	waitUnready := func() string {
		t.Helper()
		deadline := time.Now().Add(testkit.Patience)
		for {
			code, body := readyz(t, base)
			if code == 503 && strings.Contains(body, xid) && strings.Contains(strings.ToLower(body), "docker") {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz does not name the Docker problem of %s within %v: %d %s", xid, testkit.Patience, code, body)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	t.Logf("engine cut while idle; /readyz: %s", waitUnready())
	id := submit(t, base, bashJob("echo after the outage\n"))
	// Longer than max attempts × ack wait: the job must not burn attempts.
	time.Sleep(12 * time.Second)
	for _, ev := range storedEvents(t, n.JS, topo, id) {
		if ev.Status != contracts.StatusQueued {
			t.Errorf("the executor took a job while it reported the Docker problem (attempt %d burned): %s", ev.Attempt, dump(ev))
			break
		}
	}
	proxy.restore()
	e := waitStored(t, n.JS, id, 3*time.Minute)
	if e.Verdict != contracts.VerdictAccepted || e.Run == nil || e.Run.Stdout != "after the outage\n" || e.Attempt != 1 {
		t.Errorf("job queued during the outage: want accepted on attempt 1, got %s", dump(e))
	}
	waitReadyz(t, base, testkit.Patience)

	// The engine disappears in the middle of a job.
	id = submit(t, base, bashJob("sleep 3\necho survived the engine\n"))
	feed.wait(t, id, 2*time.Minute, "running", running(1))
	time.Sleep(500 * time.Millisecond)
	proxy.cut()
	t.Logf("engine cut during a job; /readyz: %s", waitUnready())
	time.Sleep(5 * time.Second)
	proxy.restore()
	e = waitStored(t, n.JS, id, 3*time.Minute)
	if e.Verdict == contracts.VerdictInternalError {
		if !strings.Contains(strings.ToLower(e.Message), "docker") && !strings.Contains(e.Message, "engine") {
			t.Errorf("internal_error without a clear message: %s", dump(e))
		}
		t.Logf("the interrupted job ended as internal_error: %s", e.Message)
	} else if e.Verdict != contracts.VerdictAccepted || e.Run == nil || e.Run.Stdout != "survived the engine\n" || e.Attempt < 2 {
		t.Errorf("interrupted job: want accepted on a later attempt, got %s", dump(e))
	}
	if c := countStatus(storedEvents(t, n.JS, topo, id), contracts.StatusCompleted); c != 1 {
		t.Errorf("RESULTS holds %d completed events, want 1", c)
	}
	waitReadyz(t, base, testkit.Patience)
	if x.exited() {
		t.Fatalf("the executor exited during the outage: %v", x.err)
	}
	if x.countLog(`msg="cannot take jobs"`) == 0 {
		t.Error("the executor never logged the problem")
	}
	// And it still works.
	id = submit(t, base, bashJob("echo still fine\n"))
	if e := waitStored(t, n.JS, id, 2*time.Minute); e.Run == nil || e.Run.Stdout != "still fine\n" {
		t.Errorf("job after the outages: %s", dump(e))
	}
}
