package contracts_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
)

// records is a slog handler that keeps every record as one line.
type records struct {
	mu    sync.Mutex
	lines []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
	rec.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, b.String())
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

func (r *records) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.lines
	r.lines = nil
	return l
}

func has(lines []string, parts ...string) bool {
	for _, l := range lines {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return true
		}
	}
	return false
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func streamConfig(t *testing.T, js jetstream.JetStream, name string) jetstream.StreamConfig {
	t.Helper()
	s, err := js.Stream(ctxT(t), name)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().Config
}

// TestEnsureUpdatesExistingObjects: objects created by an older
// configuration are changed to the new one, and each change is logged.
func TestEnsureUpdatesExistingObjects(t *testing.T) {
	n := testkit.StartNATS(t, "")
	ctx := ctxT(t)
	old := contracts.DefaultTopology()
	old.QueueMax = 5
	if err := old.Ensure(ctx, n.JS); err != nil {
		t.Fatal(err)
	}
	cur := old
	cur.QueueMax, cur.TenantQueueMax, cur.ResultTTL, cur.DuplicateWindow = 50, 7, 2*time.Hour, time.Minute
	rec := &records{}
	if err := cur.Ensure(ctx, n.JS, contracts.As(contracts.RoleGateway), contracts.WithLog(slog.New(rec))); err != nil {
		t.Fatal(err)
	}
	jobs := streamConfig(t, n.JS, contracts.JobsStream)
	if jobs.MaxMsgs != 50 || jobs.MaxMsgsPerSubject != 7 || !jobs.DiscardNewPerSubject || jobs.Duplicates != time.Minute || jobs.Replicas != 1 {
		t.Errorf("JOBS not updated: %+v", jobs)
	}
	if got := streamConfig(t, n.JS, contracts.ResultsStream).MaxAge; got != 2*time.Hour {
		t.Errorf("RESULTS max age %v", got)
	}
	if got := streamConfig(t, n.JS, "KV_"+contracts.ExecutionsBucket).MaxAge; got != 2*time.Hour {
		t.Errorf("executions bucket TTL %v", got)
	}
	lines := rec.take()
	for _, want := range [][]string{
		{"topology: changed", "object=stream JOBS", "field=max_msgs", "old=5", "new=50"},
		{"object=stream JOBS", "field=duplicate_window", "old=10m0s", "new=1m0s"},
		{"object=stream RESULTS", "field=max_age", "old=24h0m0s", "new=2h0m0s"},
		{"object=bucket executions", "field=ttl", "old=24h0m0s", "new=2h0m0s"},
	} {
		if !has(lines, want...) {
			t.Errorf("no log line with %q in:\n%s", want, strings.Join(lines, "\n"))
		}
	}

	// The consumers too: their owner changes them.
	cur.MaxInFlight, cur.AckWait, cur.MaxAttempts = 10, 30*time.Second, 3
	if _, err := contracts.EnsureConsumer(ctx, n.JS, contracts.JobsStream, cur.ExecutorConsumerConfig()); err != nil {
		t.Fatal(err)
	}
	cur.MaxInFlight, cur.AckWait = 20, time.Minute
	c, err := contracts.EnsureConsumer(ctx, n.JS, contracts.JobsStream, cur.ExecutorConsumerConfig(), contracts.As(contracts.RoleGateway), contracts.WithLog(slog.New(rec)))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.CachedInfo().Config; got.MaxAckPending != 20 || got.AckWait != time.Minute || got.MaxDeliver != 4+contracts.ExecutorHandBacks+contracts.ExecutorPasses {
		t.Errorf("consumer not updated: %+v", got)
	}
	lines = rec.take()
	if !has(lines, "object=consumer JOBS/executors", "field=max_ack_pending", "old=10", "new=20") ||
		!has(lines, "field=ack_wait", "old=30s", "new=1m0s") {
		t.Errorf("consumer changes not logged:\n%s", strings.Join(lines, "\n"))
	}
}

// TestEnsureRefusesWhatCannotChange: a retention, storage, subject or ack
// policy difference stops the service with an error naming it.
func TestEnsureRefusesWhatCannotChange(t *testing.T) {
	topo := contracts.DefaultTopology()
	for _, tc := range []struct {
		name, field string
		existing    jetstream.StreamConfig
	}{
		{"retention", "retention", func() jetstream.StreamConfig {
			c := topo.JobsStreamConfig()
			c.Retention = jetstream.LimitsPolicy
			return c
		}()},
		{"storage", "storage", func() jetstream.StreamConfig {
			c := topo.ResultsStreamConfig()
			c.Storage = jetstream.MemoryStorage
			return c
		}()},
		{"subjects", "subjects", func() jetstream.StreamConfig {
			c := topo.JobsStreamConfig()
			c.Subjects = []string{"old.jobs.>"}
			return c
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := testkit.StartNATS(t, "")
			ctx := ctxT(t)
			if _, err := n.JS.CreateStream(ctx, tc.existing); err != nil {
				t.Fatal(err)
			}
			for _, role := range []contracts.Role{contracts.RoleGateway, contracts.RoleResults} {
				err := topo.Ensure(ctx, n.JS, contracts.As(role))
				var ce *contracts.ConfigError
				if !errors.As(err, &ce) || ce.Field != tc.field || ce.Object != "stream "+tc.existing.Name {
					t.Fatalf("%s: Ensure = %v, want a refusal naming %s", role, err, tc.field)
				}
				if !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), tc.existing.Name) {
					t.Errorf("message %q", err)
				}
				t.Log(err)
			}
		})
	}
	t.Run("ack policy", func(t *testing.T) {
		n := testkit.StartNATS(t, "")
		ctx := ctxT(t)
		if err := topo.Ensure(ctx, n.JS); err != nil {
			t.Fatal(err)
		}
		cc := topo.ResultsConsumerConfig(time.Minute, 10)
		cc.AckPolicy = jetstream.AckAllPolicy
		if _, err := n.JS.CreateConsumer(ctx, contracts.ResultsStream, cc); err != nil {
			t.Fatal(err)
		}
		_, err := contracts.EnsureConsumer(ctx, n.JS, contracts.ResultsStream, topo.ResultsConsumerConfig(time.Minute, 10), contracts.As(contracts.RoleResults))
		if err == nil || !strings.Contains(err.Error(), "ack_policy") {
			t.Fatalf("EnsureConsumer = %v, want a refusal naming ack_policy", err)
		}
		t.Log(err)
	})
}

// TestEnsureOwnerWins: services of different roles given different settings
// do not flip-flop: whatever order they start in, the owner's settings
// stay, and the other one logs what differs.
func TestEnsureOwnerWins(t *testing.T) {
	n := testkit.StartNATS(t, "")
	ctx := ctxT(t)
	gw, res := contracts.DefaultTopology(), contracts.DefaultTopology()
	gw.QueueMax, res.QueueMax = 100, 200
	rec := &records{}
	log := slog.New(rec)
	for round := 0; round < 2; round++ {
		if err := gw.Ensure(ctx, n.JS, contracts.As(contracts.RoleGateway), contracts.WithLog(log)); err != nil {
			t.Fatal(err)
		}
		if err := res.Ensure(ctx, n.JS, contracts.As(contracts.RoleResults), contracts.WithLog(log)); err != nil {
			t.Fatal(err)
		}
		if got := streamConfig(t, n.JS, contracts.JobsStream).MaxMsgs; got != 100 {
			t.Fatalf("round %d: JOBS MaxMsgs %d, want the gateway's 100", round, got)
		}
		lines := rec.take()
		if !has(lines, "WARN", "object=stream JOBS", "field=max_msgs", "have=100", "want=200", "owner=gateway") {
			t.Errorf("round %d: the results service did not warn:\n%s", round, strings.Join(lines, "\n"))
		}
		if has(lines, "topology: changed") && round > 0 {
			t.Errorf("round %d: a change after the first round:\n%s", round, strings.Join(lines, "\n"))
		}
	}
	// The executors' consumer is the fleet's and belongs to the gateway:
	// an executor started with another cap creates it when it is missing,
	// but only warns when it exists, so the last executor to start cannot
	// change the fleet's cap; the gateway's setting wins in any order.
	ex := gw
	gw.MaxInFlight, ex.MaxInFlight = 99, 10
	if _, err := contracts.EnsureConsumer(ctx, n.JS, contracts.JobsStream, ex.ExecutorConsumerConfig(), contracts.As(contracts.RoleExecutor)); err != nil {
		t.Fatal(err)
	}
	if _, err := contracts.EnsureConsumer(ctx, n.JS, contracts.JobsStream, gw.ExecutorConsumerConfig(), contracts.As(contracts.RoleGateway), contracts.WithLog(log)); err != nil {
		t.Fatal(err)
	}
	if lines := rec.take(); !has(lines, "topology: changed", "object=consumer JOBS/executors", "field=max_ack_pending", "old=10", "new=99") {
		t.Errorf("the gateway did not change the executor-created consumer:\n%s", strings.Join(lines, "\n"))
	}
	c, err := contracts.EnsureConsumer(ctx, n.JS, contracts.JobsStream, ex.ExecutorConsumerConfig(), contracts.As(contracts.RoleExecutor), contracts.WithLog(log))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.CachedInfo().Config.MaxAckPending; got != 99 {
		t.Errorf("MaxAckPending %d after an executor with another cap started, want the gateway's 99", got)
	}
	if lines := rec.take(); !has(lines, "WARN", "field=max_ack_pending", "have=99", "want=10", "owner=gateway") || has(lines, "topology: changed") {
		t.Errorf("the executor did not only warn:\n%s", strings.Join(lines, "\n"))
	}
}

// TestEnsureTwiceChangesNothing: a second Ensure with the same settings
// makes no change and logs nothing (no spurious differences from the
// server's defaults).
func TestEnsureTwiceChangesNothing(t *testing.T) {
	for _, tenantMax := range []int64{0, 3} {
		n := testkit.StartNATS(t, "")
		ctx := ctxT(t)
		topo := contracts.DefaultTopology()
		topo.TenantQueueMax = tenantMax
		rec := &records{}
		opts := []contracts.EnsureOption{contracts.WithLog(slog.New(rec))}
		ensure := func() {
			t.Helper()
			if err := topo.Ensure(ctx, n.JS, opts...); err != nil {
				t.Fatal(err)
			}
			if _, err := topo.EnsureEvaluations(ctx, n.JS, opts...); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				stream string
				cc     jetstream.ConsumerConfig
			}{
				{contracts.JobsStream, topo.ExecutorConsumerConfig()},
				{contracts.ResultsStream, topo.ResultsConsumerConfig(30*time.Second, 256)},
				{contracts.ResultsStream, topo.CallbacksConsumerConfig(30*time.Second, 8)},
				{contracts.ResultsStream, jetstream.ConsumerConfig{Durable: "defaults", AckPolicy: jetstream.AckExplicitPolicy}},
			} {
				if _, err := contracts.EnsureConsumer(ctx, n.JS, c.stream, c.cc, opts...); err != nil {
					t.Fatal(err)
				}
			}
		}
		ensure()
		if lines := rec.take(); !has(lines, "topology: created", "object=stream JOBS") {
			t.Errorf("creation not logged:\n%s", strings.Join(lines, "\n"))
		}
		before := streamConfig(t, n.JS, contracts.JobsStream)
		ensure()
		if lines := rec.take(); len(lines) > 0 {
			t.Errorf("tenant max %d: the second Ensure logged:\n%s", tenantMax, strings.Join(lines, "\n"))
		}
		if after := streamConfig(t, n.JS, contracts.JobsStream); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("JOBS changed: %+v -> %+v", before, after)
		}
	}
}

// TestEnsureWithRolePermissions: on a server that enforces the roles'
// permissions, the gateway may change the streams and buckets, and the
// results service and the executor, which may not, still start (they warn).
func TestEnsureWithRolePermissions(t *testing.T) {
	topo := contracts.DefaultTopology()
	var users []*server.User
	for _, role := range contracts.ServiceRoles {
		p, err := topo.Permissions(role, "")
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, &server.User{Username: string(role), Password: "pw-" + string(role), Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: p.Publish.Allow, Deny: p.Publish.Deny},
			Subscribe: &server.SubjectPermission{Allow: p.Subscribe.Allow, Deny: p.Subscribe.Deny},
		}})
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server did not start")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	js := func(role contracts.Role) jetstream.JetStream {
		nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(string(role), "pw-"+string(role)),
			nats.CustomInboxPrefix(contracts.InboxPrefix(role, "")))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		j, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	ctx := ctxT(t)
	rec := &records{}
	log := contracts.WithLog(slog.New(rec))
	// The results service starts first and creates everything.
	if err := topo.Ensure(ctx, js(contracts.RoleResults), contracts.As(contracts.RoleResults), log); err != nil {
		t.Fatal(err)
	}
	// The gateway, given new settings, changes streams and buckets.
	newer := topo
	newer.QueueMax, newer.ResultTTL, newer.HeartbeatTTL = 20, time.Hour, 20*time.Second
	if err := newer.Ensure(ctx, js(contracts.RoleGateway), contracts.As(contracts.RoleGateway), log); err != nil {
		t.Fatalf("gateway: %v", err)
	}
	if lines := rec.take(); !has(lines, "object=bucket executors", "field=ttl", "new=20s") || !has(lines, "object=stream RESULTS", "field=max_age") {
		t.Errorf("gateway changes:\n%s", strings.Join(lines, "\n"))
	}
	// The others, with the old settings, start and warn.
	for _, role := range []contracts.Role{contracts.RoleResults, contracts.RoleExecutor} {
		if err := topo.Ensure(ctx, js(role), contracts.As(role), log); err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		if lines := rec.take(); !has(lines, "WARN", "object=stream JOBS", "field=max_msgs", "have=20", "want=10000") {
			t.Errorf("%s did not warn:\n%s", role, strings.Join(lines, "\n"))
		}
	}
	if got := streamConfig(t, js(contracts.RoleGateway), contracts.JobsStream).MaxMsgs; got != 20 {
		t.Errorf("JOBS MaxMsgs %d", got)
	}
	// The executor may create the executors' consumer; its owner, the
	// gateway, may change it.
	if _, err := contracts.EnsureConsumer(ctx, js(contracts.RoleExecutor), contracts.JobsStream, topo.ExecutorConsumerConfig(), contracts.As(contracts.RoleExecutor)); err != nil {
		t.Fatalf("executor creates its consumer: %v", err)
	}
	for _, inFlight := range []int{5, 6} {
		fleet := topo
		fleet.MaxInFlight = inFlight
		c, err := contracts.EnsureConsumer(ctx, js(contracts.RoleGateway), contracts.JobsStream, fleet.ExecutorConsumerConfig(), contracts.As(contracts.RoleGateway))
		if err != nil {
			t.Fatalf("executor consumer: %v", err)
		}
		if got := c.CachedInfo().Config.MaxAckPending; got != inFlight {
			t.Errorf("MaxAckPending %d, want %d", got, inFlight)
		}
	}
	rs := js(contracts.RoleResults)
	for _, pending := range []int{5, 6} {
		if _, err := contracts.EnsureConsumer(ctx, rs, contracts.ResultsStream, topo.ResultsConsumerConfig(time.Minute, pending), contracts.As(contracts.RoleResults)); err != nil {
			t.Fatalf("results consumer: %v", err)
		}
	}
	gwjs := js(contracts.RoleGateway)
	for _, attempts := range []int{5, 6} {
		if _, err := contracts.EnsureConsumer(ctx, gwjs, contracts.ResultsStream, topo.CallbacksConsumerConfig(time.Minute, attempts), contracts.As(contracts.RoleGateway)); err != nil {
			t.Fatalf("callbacks consumer: %v", err)
		}
	}
}

// TestEnsureTurnsOnDirectGet: a RESULTS stream created by an earlier
// release, without direct gets, gets them (executors read a job's last event
// that way); the buckets keep theirs.
func TestEnsureTurnsOnDirectGet(t *testing.T) {
	n := testkit.StartNATS(t, "")
	ctx := ctxT(t)
	topo := contracts.DefaultTopology()
	old := topo.ResultsStreamConfig()
	old.AllowDirect = false
	if _, err := n.JS.CreateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	rec := &records{}
	if err := topo.Ensure(ctx, n.JS, contracts.As(contracts.RoleGateway), contracts.WithLog(slog.New(rec))); err != nil {
		t.Fatal(err)
	}
	if !streamConfig(t, n.JS, contracts.ResultsStream).AllowDirect {
		t.Error("RESULTS still without direct gets")
	}
	if !streamConfig(t, n.JS, "KV_"+contracts.ExecutionsBucket).AllowDirect {
		t.Error("the executions bucket lost its direct gets")
	}
	if lines := rec.take(); !has(lines, "object=stream RESULTS", "field=allow_direct", "old=false", "new=true") {
		t.Errorf("the change is not logged:\n%s", strings.Join(lines, "\n"))
	}
}

// TestExecutorsFollowTheConsumer: an executor given other settings works
// with the ack wait, attempts and cap of the consumer as it is, and with the
// RESULTS stream's result bound.
func TestExecutorsFollowTheConsumer(t *testing.T) {
	fleet := contracts.DefaultTopology()
	fleet.MaxInFlight, fleet.AckWait, fleet.MaxAttempts = 64, 45*time.Second, 5
	own := contracts.DefaultTopology()
	if got := own.FollowingConsumer(fleet.ExecutorConsumerConfig()); got != fleet {
		t.Errorf("followed %+v, want the consumer's %+v", got, fleet)
	}
	// A consumer changed by hand to no MaxDeliver keeps the executor's attempts.
	open := fleet.ExecutorConsumerConfig()
	open.MaxDeliver = -1
	if got := own.FollowingConsumer(open); got.MaxAttempts != own.MaxAttempts {
		t.Errorf("MaxAttempts %d for a consumer without MaxDeliver, want the executor's %d", got.MaxAttempts, own.MaxAttempts)
	}
	// So does one an older gateway made, without room for the passes
	// (attempts + 1 + the hand-backs).
	open.MaxDeliver = fleet.MaxAttempts + 1 + contracts.ExecutorHandBacks
	if got := own.FollowingConsumer(open); got.MaxAttempts != own.MaxAttempts {
		t.Errorf("MaxAttempts %d for a consumer of an older gateway, want the executor's %d", got.MaxAttempts, own.MaxAttempts)
	}
	// The result bound follows the RESULTS stream's.
	fleet.MaxResultBytes = 1 << 20
	if got := own.FollowingResults(fleet.ResultsStreamConfig()).MaxResultBytes; got != fleet.MaxResultBytes {
		t.Errorf("MaxResultBytes %d, want the stream's %d", got, fleet.MaxResultBytes)
	}
	if got := own.FollowingResults(jetstream.StreamConfig{MaxMsgSize: -1}).MaxResultBytes; got != own.MaxResultBytes {
		t.Errorf("MaxResultBytes %d for a stream without a bound, want the executor's %d", got, own.MaxResultBytes)
	}
}

// TestEnsureBoundsAnUnboundedFleet: a fleet whose streams and buckets were
// created without bounds (before they had any) gets them from the gateway
// at its next start, each change logged.
func TestEnsureBoundsAnUnboundedFleet(t *testing.T) {
	n := testkit.StartNATS(t, "")
	ctx := ctxT(t)
	old := contracts.DefaultTopology()
	old.QueueMaxBytes, old.ResultsMaxBytes, old.ExecutionsMaxBytes, old.ExecutorsMaxBytes, old.MaxResultBytes = -1, -1, -1, -1, -1
	if err := old.Ensure(ctx, n.JS); err != nil {
		t.Fatal(err)
	}
	cur := contracts.DefaultTopology()
	rec := &records{}
	if err := cur.Ensure(ctx, n.JS, contracts.As(contracts.RoleGateway), contracts.WithLog(slog.New(rec))); err != nil {
		t.Fatal(err)
	}
	lines := rec.take()
	for object, want := range map[string]int64{"stream JOBS": cur.QueueMaxBytes, "stream RESULTS": cur.ResultsMaxBytes,
		"bucket executions": cur.ExecutionsMaxBytes, "bucket executors": cur.ExecutorsMaxBytes} {
		if !has(lines, "topology: changed", "object="+object, "field=max_bytes", "old=-1", fmt.Sprintf("new=%d", want)) {
			t.Errorf("%s: no max_bytes change logged in:\n%s", object, strings.Join(lines, "\n"))
		}
	}
	limit := fmt.Sprintf("new=%d", cur.MaxResultBytes+contracts.ResultHeadroom)
	if !has(lines, "object=stream RESULTS", "field=max_msg_size", limit) || !has(lines, "object=bucket executions", "field=max_value_size", limit) {
		t.Errorf("the result bound was not set:\n%s", strings.Join(lines, "\n"))
	}
	if got := streamConfig(t, n.JS, contracts.JobsStream).MaxBytes; got != cur.QueueMaxBytes {
		t.Errorf("JOBS MaxBytes %d, want %d", got, cur.QueueMaxBytes)
	}
}
