package main

// Fault tests of the job lifecycle and its storage (issue 19): RESULTS
// unavailable under load, the JOBS store filled, the NATS server leading
// JOBS killed, an executor killed between the run and the publication of
// its result. Each prints the same figures: jobs submitted, jobs completed,
// runs counted on the Docker engine (its container create events, not
// anything Airlock says), messages left in JOBS and stream errors. The
// executors run with --isolation container and no warm pool, so that one
// run of a job is one container the engine creates for it.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
)

// countedRuns are the executor flags under which the engine's container
// create events count the runs: one fresh container per run, none warm.
var countedRuns = []string{"--isolation", "container", "--pool", "none"}

// engineRuns counts, per job id, the "run" containers the Docker engine
// created since since for the given executors (its events, labelled by the
// executor that asked).
func engineRuns(t *testing.T, since time.Time, executorIDs ...string) map[string]int {
	t.Helper()
	want := map[string]bool{}
	for _, id := range executorIDs {
		want[id] = true
	}
	until := time.Now().Add(time.Second) // events up to now, then the command returns
	out, err := exec.Command("docker", "events",
		"--since", strconv.FormatInt(since.Unix()-1, 10), "--until", strconv.FormatInt(until.Unix(), 10),
		"--filter", "type=container", "--filter", "event=create", "--filter", "label=run.airlock.managed",
		"--format", `{{index .Actor.Attributes "run.airlock.executor"}} {{index .Actor.Attributes "run.airlock.job"}} {{index .Actor.Attributes "run.airlock.stage"}}`,
	).Output()
	if err != nil {
		t.Fatalf("docker events: %v", err)
	}
	runs := map[string]int{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && want[f[0]] && f[2] == "run" {
			runs[f[1]]++
		}
	}
	return runs
}

// jobsLeft waits (patiently: acks are asynchronous) for JOBS to be empty
// and returns how many messages it holds.
func jobsLeft(t *testing.T, js jetstream.JetStream) int {
	t.Helper()
	left := -1
	testkit.Eventually(testkit.Patience, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, contracts.JobsStream)
		if err != nil {
			return false
		}
		left = int(s.CachedInfo().State.Msgs)
		return left == 0
	})
	return left
}

// streamErrors counts the streams of the account (JOBS, RESULTS, the
// buckets) that do not answer their info within a minute, or, in a
// cluster, have no leader by then (an election under way is not an
// error); each is logged.
func streamErrors(t *testing.T, js jetstream.JetStream) int {
	t.Helper()
	var all []string
	var err error
	testkit.Eventually(time.Minute, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		names := js.StreamNames(ctx)
		all = all[:0]
		for n := range names.Name() {
			all = append(all, n)
		}
		err = names.Err()
		return err == nil
	})
	errs := 0
	if err != nil {
		t.Logf("stream error: list the streams: %v", err)
		errs++
	}
	if len(all) < 4 {
		t.Logf("stream error: only %d streams: %v", len(all), all)
		errs++
	}
	for _, n := range all {
		var problem string
		if !testkit.Eventually(time.Minute, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := js.Stream(ctx, n)
			switch {
			case err != nil:
				problem = err.Error()
			case s.CachedInfo().Cluster != nil && s.CachedInfo().Cluster.Leader == "":
				problem = "no leader"
			default:
				return true
			}
			return false
		}) {
			t.Logf("stream error: %s: %s", n, problem)
			errs++
		}
	}
	return errs
}

// faultFigures are what every test of this file prints.
type faultFigures struct {
	submitted, completed, runs, jobsLeft, streamErrors int
	notes                                              []string
}

func (f faultFigures) log(t *testing.T, what string, began time.Time) {
	t.Helper()
	lines := []string{what + " figures:",
		fmt.Sprintf("  submitted          %d", f.submitted),
		fmt.Sprintf("  completed          %d", f.completed),
		fmt.Sprintf("  runs on the engine %d", f.runs),
		fmt.Sprintf("  left in JOBS       %d", f.jobsLeft),
		fmt.Sprintf("  stream errors      %d", f.streamErrors)}
	for _, n := range f.notes {
		lines = append(lines, "  "+n)
	}
	lines = append(lines, fmt.Sprintf("  test time          %v", time.Since(began).Round(time.Second)))
	t.Log(strings.Join(lines, "\n"))
	if f.jobsLeft != 0 {
		t.Errorf("JOBS holds %d message(s) at the end, want 0", f.jobsLeft)
	}
	if f.streamErrors != 0 {
		t.Errorf("%d stream error(s), want 0", f.streamErrors)
	}
}

// checkExactlyOnce waits for every job of want (id -> stdout) to be stored
// completed and accepted, and checks that RESULTS holds exactly one
// completed event of each and that the engine ran each at most maxRuns
// times (exactly once when maxRuns is 1). It returns the completed count
// and the total of runs.
func checkExactlyOnce(t *testing.T, js jetstream.JetStream, topo contracts.Topology, since time.Time, want map[string]string, maxRuns int, executorIDs ...string) (completed, total int) {
	t.Helper()
	for id, stdout := range want {
		e := waitStored(t, js, id, 5*time.Minute)
		if e.Verdict != contracts.VerdictAccepted || e.Run == nil || e.Run.Stdout != stdout {
			t.Errorf("job %s: want accepted with %q, got %s", id, stdout, dump(e))
			continue
		}
		completed++
	}
	completedEvents := map[string]int{}
	for _, e := range readAllEvents(t, js, topo) {
		if e.Status == contracts.StatusCompleted {
			completedEvents[e.ID]++
		}
	}
	runs := engineRuns(t, since, executorIDs...)
	for id := range want {
		if c := completedEvents[id]; c != 1 {
			t.Errorf("job %s: %d completed events on RESULTS, want exactly 1", id, c)
		}
		if r := runs[id]; r < 1 || r > maxRuns {
			t.Errorf("job %s: the engine ran it %d times, want 1 to %d", id, r, maxRuns)
		}
		total += runs[id]
	}
	return completed, total
}

// submitSleepers submits n bash jobs of two seconds each; it returns their
// ids in order and what each prints.
func submitSleepers(t *testing.T, base string, n int) (want map[string]string, ids []string) {
	t.Helper()
	want = map[string]string{}
	for i := 0; i < n; i++ {
		out := fmt.Sprintf("job-%d", i)
		id := submit(t, base, bashJob(fmt.Sprintf("sleep 2\necho %s\n", out)))
		want[id] = out + "\n"
		ids = append(ids, id)
	}
	return want, ids
}

// resultsOutage is how long TestResultsOutage keeps RESULTS unavailable:
// 2 minutes (longer than AckWait many times over and than any retry window
// of an executor's publication), or AIRLOCK_RESULTS_OUTAGE for a shorter
// run by hand.
func resultsOutage(t *testing.T) time.Duration {
	if s := os.Getenv("AIRLOCK_RESULTS_OUTAGE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("AIRLOCK_RESULTS_OUTAGE=%q: %v", s, err)
		}
		return d
	}
	return 2 * time.Minute
}

// TestResultsOutage makes RESULTS unavailable for 2 minutes while a queue
// of jobs runs: the results service is stopped and the stream takes no
// publication (its subjects are moved aside, so a publish gets "no
// responders", what a client sees when no server of the stream answers;
// the stored events stay). The executors hold the jobs whose results they
// computed and retry storing them; nothing is run twice. Afterwards every
// job is stored once, each was run once on the engine, JOBS is empty.
func TestResultsOutage(t *testing.T) {
	began := time.Now()
	outage := resultsOutage(t)
	n := testkit.StartNATS(t, "")
	f := newFleet(t, n.Server.ClientURL())
	topo := contracts.DefaultTopology()
	xid := newExecutorID("resout")
	removeSandboxes(t, xid)
	x := f.executor(xid, append([]string{"--slots", "2"}, countedRuns...)...)
	res := f.results()
	_, base := f.gateway()
	waitExecutorReady(x)
	feed := watchEvents(t, n.Conn, topo)

	since := time.Now()
	want, ids := submitSleepers(t, base, 12)
	// The outage starts while the first jobs run.
	feed.wait(t, ids[0], 2*time.Minute, "running", running(1))
	ctx := context.Background()
	res.terminate(time.Minute)
	stream, err := n.JS.Stream(ctx, contracts.ResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := stream.CachedInfo().Config
	moved := cfg
	moved.Subjects = []string{"outage-" + strings.ToLower(contracts.NewID()[:8]) + ".events.>"}
	if _, err := n.JS.UpdateStream(ctx, moved); err != nil {
		t.Fatalf("take RESULTS away: %v", err)
	}
	t.Logf("RESULTS unavailable and the results service stopped for %v", outage)
	// A submission meanwhile: the gateway cannot record its queued event.
	code, _, body := request(t, "POST", base+"/v1/executions", bashJob("echo during\n"), nil)
	t.Logf("a submission during the outage: %d %s", code, body)
	var during string
	if code == 202 {
		var acc contracts.Accepted
		_ = json.Unmarshal(body, &acc)
		during = acc.ID
		want[during] = "during\n"
	} else if code < 400 || code >= 600 || code == 500 || !strings.Contains(string(body), `"code"`) {
		t.Errorf("submission during the outage: %d %s, want 202 or a JSON error other than 500", code, body)
	}
	time.Sleep(outage)
	held := x.countLog(`store result: retrying while the job is held`)
	if _, err := n.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatalf("give RESULTS back: %v", err)
	}
	f.results()
	t.Logf("RESULTS back after %v; the executor logged %d held result(s) retrying", outage, held)
	if held == 0 {
		t.Error("no executor held a computed result through the outage: the fault did not hit a job")
	}

	completed, runs := checkExactlyOnce(t, n.JS, topo, since, want, 1, xid)
	for _, id := range ids {
		if e := waitStored(t, n.JS, id, time.Minute); e.Attempt != 1 {
			t.Errorf("job %s completed on attempt %d, want 1 (no job runs again because RESULTS was away)", id, e.Attempt)
		}
	}
	cons, err := n.JS.Consumer(ctx, contracts.JobsStream, contracts.ExecutorConsumer)
	if err != nil {
		t.Fatal(err)
	}
	redelivered := cons.CachedInfo().NumRedelivered
	if redelivered != 0 {
		t.Errorf("the executors' consumer redelivered %d job(s), want 0", redelivered)
	}
	faultFigures{submitted: len(want), completed: completed, runs: runs,
		jobsLeft: jobsLeft(t, n.JS), streamErrors: streamErrors(t, n.JS),
		notes: []string{
			fmt.Sprintf("outage             %v (a submission during it: %d)", outage, code),
			fmt.Sprintf("held results       %d executor log lines \"retrying while the job is held\"", held),
			fmt.Sprintf("redelivered        %d", redelivered),
		}}.log(t, "RESULTS unavailable", began)
}

// TestStoreFilled fills the JOBS stream to its byte bound behind a busy
// executor: the gateway answers each further submission 429 queue_full
// with Retry-After, never a 5xx, while every other stream keeps taking
// writes (heartbeats, status events) and reads work; once the executor
// drains the queue every job is stored once and new submissions complete.
func TestStoreFilled(t *testing.T) {
	began := time.Now()
	n := testkit.StartNATS(t, "")
	f := newFleet(t, n.Server.ClientURL())
	const queueBytes = 256 << 10
	f.topology = append(f.topology, "--queue-max-bytes", strconv.Itoa(queueBytes))
	topo := contracts.DefaultTopology()
	xid := newExecutorID("full")
	removeSandboxes(t, xid)
	x := f.executor(xid, countedRuns...)
	f.results()
	_, base := f.gateway()
	waitExecutorReady(x)
	feed := watchEvents(t, n.Conn, topo)
	ctx := context.Background()

	since := time.Now()
	want := map[string]string{}
	first := submit(t, base, bashJob("sleep 6\necho first\n"))
	want[first] = "first\n"
	feed.wait(t, first, 2*time.Minute, "running", running(1))
	// 32 KiB jobs until the bound answers.
	pad := "# " + strings.Repeat("x", 32<<10) + "\n"
	var refused []string
	for i := 0; len(refused) < 3; i++ {
		if i > 2*queueBytes/(32<<10) {
			t.Fatalf("%d jobs of 32 KiB accepted into a %d-byte queue", i, queueBytes)
		}
		out := fmt.Sprintf("queued-%d", i)
		code, hdr, body := request(t, "POST", base+"/v1/executions", bashJob(pad+"echo "+out+"\n"), nil)
		switch code {
		case 202: // also after a 429 when a job ended meanwhile and made room
			var acc contracts.Accepted
			if err := json.Unmarshal(body, &acc); err != nil {
				t.Fatal(err)
			}
			want[acc.ID] = out + "\n"
		case 429:
			var eb contracts.ErrorBody
			if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code != contracts.CodeQueueFull || hdr.Get("Retry-After") == "" {
				t.Errorf("a full queue answered 429 %s (Retry-After %q), want queue_full with Retry-After", body, hdr.Get("Retry-After"))
			}
			refused = append(refused, eb.Error.Code)
		default:
			t.Fatalf("submission %d into a full queue: %d %s, want 202 or 429 queue_full", i, code, body)
		}
	}
	jobs, err := n.JS.Stream(ctx, contracts.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	full := jobs.CachedInfo().State
	t.Logf("JOBS full: %d messages, %d of %d bytes; answers: %d accepted, then %v", full.Msgs, full.Bytes, queueBytes, len(want), refused)

	// The other streams still take writes while JOBS is full: the
	// executor's heartbeat moves in its bucket, and the status events of
	// the queued jobs reach RESULTS and the executions bucket as they run.
	kv, err := n.JS.KeyValue(ctx, contracts.ExecutorsBucket)
	if err != nil {
		t.Fatal(err)
	}
	beat, err := kv.Get(ctx, xid)
	if err != nil {
		t.Fatalf("heartbeat of %s: %v", xid, err)
	}
	if !testkit.Eventually(testkit.Patience, func() bool {
		b, err := kv.Get(ctx, xid)
		return err == nil && b.Revision() > beat.Revision()
	}) {
		t.Error("the executors bucket took no heartbeat while JOBS was full")
	}
	code, _, body := request(t, "GET", base+"/v1/executions/"+first, nil, nil)
	if code != 200 {
		t.Errorf("GET an execution while JOBS is full: %d %s", code, body)
	}
	if code, body := readyz(t, base); code != 200 {
		t.Errorf("/readyz while JOBS is full: %d %s", code, body)
	}

	// Draining: everything queued completes, and the queue takes jobs again.
	completed, runs := checkExactlyOnce(t, n.JS, topo, since, want, 1, xid)
	after := submit(t, base, bashJob("echo after\n"))
	if e := waitStored(t, n.JS, after, 2*time.Minute); e.Run == nil || e.Run.Stdout != "after\n" {
		t.Errorf("a job after the drain: %s", dump(e))
	}
	faultFigures{submitted: len(want) + len(refused) + 1, completed: completed + 1, runs: runs + engineRuns(t, since, xid)[after],
		jobsLeft: jobsLeft(t, n.JS), streamErrors: streamErrors(t, n.JS),
		notes: []string{
			fmt.Sprintf("refused            %d (429 %s, with Retry-After)", len(refused), contracts.CodeQueueFull),
			fmt.Sprintf("JOBS at its bound  %d messages, %d of %d bytes", full.Msgs, full.Bytes, queueBytes),
		}}.log(t, "JOBS store filled", began)
}

// natsCluster starts three `airlock nats` processes clustered with
// JetStream on loopback and waits for a meta leader. It returns the
// servers by name and the client URL listing all three.
func natsCluster(t *testing.T, bin, cluster string) (map[string]*proc, string) {
	t.Helper()
	ports := freePorts(t, 6)
	var clientURLs, routeURLs []string
	for i := 0; i < 3; i++ {
		clientURLs = append(clientURLs, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
		routeURLs = append(routeURLs, fmt.Sprintf("nats://127.0.0.1:%d", ports[3+i]))
	}
	store := t.TempDir()
	servers := map[string]*proc{}
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("%s-%d", cluster, i+1)
		servers[name] = startProc(t, bin, name, nil, "nats",
			"--name", name, "-a", "127.0.0.1", "-p", fmt.Sprint(ports[i]),
			"-js", "-sd", filepath.Join(store, name),
			"--cluster_name", cluster, "--cluster", routeURLs[i],
			"--routes", strings.Join(routeURLs, ","))
	}
	for _, p := range servers {
		p.waitLog(`Server is ready`, testkit.Patience)
	}
	url := strings.Join(clientURLs, ",")
	_, js := connect(t, url)
	if !testkit.Eventually(2*time.Minute, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx) // answered only once a meta leader exists
		return err == nil
	}) {
		t.Fatal("no JetStream meta leader after 2 minutes")
	}
	return servers, url
}

// streamLeader names the server leading stream.
func streamLeader(t *testing.T, js jetstream.JetStream, stream string) string {
	t.Helper()
	var leader string
	if !testkit.Eventually(time.Minute, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err == nil && s.CachedInfo().Cluster != nil {
			leader = s.CachedInfo().Cluster.Leader
		}
		return leader != ""
	}) {
		t.Fatalf("no leader of %s", stream)
	}
	return leader
}

// TestJobsLeaderKilled runs jobs on a 3-node JetStream cluster with
// --replicas 3 and kills (SIGKILL) the server leading JOBS while jobs run
// and others wait: the cluster elects a new leader, every job completes
// exactly once and is stored, JOBS ends empty.
func TestJobsLeaderKilled(t *testing.T) {
	began := time.Now()
	testkit.RequireDocker(t)
	bin := buildAirlock(t)
	servers, url := natsCluster(t, bin, "leader-kill")
	f := &fleet{t: t, bin: bin, nats: url, topology: []string{"--replicas", "3"}} // the default AckWait, 30 s
	topo := contracts.DefaultTopology()
	xid := newExecutorID("leader")
	removeSandboxes(t, xid)
	f.results().waitLog(`msg="results service started"`, 3*time.Minute)
	_, base := f.gateway()
	x := f.executor(xid, append([]string{"--slots", "2"}, countedRuns...)...)
	waitExecutorReady(x)
	nc, js := connect(t, url)
	feed := watchEvents(t, nc, topo)

	since := time.Now()
	want, ids := submitSleepers(t, base, 8)
	feed.wait(t, ids[0], 2*time.Minute, "running", running(1))
	leader := streamLeader(t, js, contracts.JobsStream)
	servers[leader].kill()
	t.Logf("killed NATS server %s (SIGKILL), leader of %s, while job %s ran", leader, contracts.JobsStream, ids[0])
	newLeader := streamLeader(t, js, contracts.JobsStream)
	t.Logf("%s's new leader: %s", contracts.JobsStream, newLeader)
	if newLeader == leader {
		t.Errorf("the killed server %s still leads %s", leader, contracts.JobsStream)
	}

	completed, runs := checkExactlyOnce(t, js, topo, since, want, 1, xid)
	faultFigures{submitted: len(ids), completed: completed, runs: runs,
		jobsLeft: jobsLeft(t, js), streamErrors: streamErrors(t, js),
		notes: []string{fmt.Sprintf("killed             %s (leader of %s; new leader %s)", leader, contracts.JobsStream, newLeader)},
	}.log(t, "JOBS leader killed", began)
}

// TestExecutorKilledBeforePublish kills an executor (SIGKILL) after the run
// of a job and before it publishes the result: a binary built with the
// airlock_faultpoints tag stops there when AIRLOCK_FAULT_POINT says so
// (release builds have no such point). The job is delivered again after
// the ack wait, runs a second time (at most once more) on the same node
// restarted, and is stored once.
func TestExecutorKilledBeforePublish(t *testing.T) {
	began := time.Now()
	testkit.RequireDocker(t)
	n := testkit.StartNATS(t, "")
	f := &fleet{t: t, bin: buildAirlockTags(t, "airlock_faultpoints"), nats: n.Server.ClientURL(), topology: []string{"--ack-wait", "3s"}}
	topo := contracts.DefaultTopology()
	xid := newExecutorID("prepub")
	removeSandboxes(t, xid)
	f.env = []string{"AIRLOCK_FAULT_POINT=between-run-and-publish"}
	x := f.executor(xid, countedRuns...)
	f.env = nil
	f.results()
	_, base := f.gateway()
	waitExecutorReady(x)

	since := time.Now()
	id := submit(t, base, bashJob("echo computed\n"))
	x.waitLog(`msg="fault point reached"`, 3*time.Minute)
	x.kill()
	if last := storedEvents(t, n.JS, topo, id); countStatus(last, contracts.StatusCompleted) != 0 {
		t.Fatalf("a result was published before the fault point: %v", last)
	}
	ranBefore := engineRuns(t, since, xid)[id]
	t.Logf("executor %s killed between run and publish (the engine ran the job %d time(s))", xid, ranBefore)
	if ranBefore != 1 {
		t.Errorf("before the kill the engine ran the job %d times, want 1", ranBefore)
	}

	back := f.executor(xid, countedRuns...)
	waitExecutorReady(back)
	completed, runs := checkExactlyOnce(t, n.JS, topo, since, map[string]string{id: "computed\n"}, 2, xid)
	e := waitStored(t, n.JS, id, time.Minute)
	if e.Attempt != 2 {
		t.Errorf("stored from attempt %d, want 2", e.Attempt)
	}
	faultFigures{submitted: 1, completed: completed, runs: runs,
		jobsLeft: jobsLeft(t, n.JS), streamErrors: streamErrors(t, n.JS),
		notes: []string{fmt.Sprintf("stored from        attempt %d on %s", e.Attempt, e.Executor)},
	}.log(t, "executor killed between run and publish", began)
}
