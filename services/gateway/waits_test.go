package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
	"github.com/airlockrun/airlock/services/gateway"
)

// pollerEnv, when set, makes the test binary a poller process (TestMain):
// it long-polls the ids it reads on stdin at the gateway URL the variable
// holds, all at once, and exits 0 when every poll answered 200 with its own
// completed execution.
const pollerEnv = "AIRLOCK_TEST_POLLER_URL"

func TestMain(m *testing.M) {
	if base := os.Getenv(pollerEnv); base != "" {
		os.Exit(poll(base, os.Stdin))
	}
	os.Exit(m.Run())
}

// poll is the poller process: one GET ?wait=true per id, concurrently.
func poll(base string, in io.Reader) int {
	data, _ := io.ReadAll(in)
	ids := strings.Fields(string(data))
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: len(ids)}, Timeout: 10 * time.Minute}
	var wg sync.WaitGroup
	var failed atomic.Int64
	for _, id := range ids {
		wg.Go(func() {
			resp, err := hc.Get(base + "/v1/executions/" + id + "?wait=true&timeout=600s")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				failed.Add(1)
				return
			}
			defer resp.Body.Close()
			var exec contracts.Execution
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &exec) != nil || exec.ID != id || !exec.Terminal() {
				fmt.Fprintf(os.Stderr, "poll of %s: %d %s\n", id, resp.StatusCode, body)
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	fmt.Printf("%d polls answered, %d failed\n", len(ids), failed.Load())
	if failed.Load() > 0 {
		return 1
	}
	return 0
}

// TestTenThousandLongPolls holds 10,000 concurrent long polls
// (GET /v1/executions/{id}?wait=true) on one gateway. They share the
// gateway's one subscription to the executions bucket, so the server's
// consumer count on that bucket is the same before, during and after; then
// every execution completes and every poll answers 200 with its own. The
// polls come from a child process (this test binary as a poller): the two
// ends of 10,000 connections would not fit in one process's open files.
func TestTenThousandLongPolls(t *testing.T) {
	const n = 10000
	e := start(t, func(c *gateway.Config) { c.MaxWaitTimeout, c.MaxWaitsPerTenant = 10*time.Minute, n })
	consumers := func() int { return e.nats.Consumers(t, "KV_"+contracts.ExecutionsBucket) }
	ids := make([]string, n)
	for i := range ids {
		ids[i] = contracts.NewID()
		e.putExecution(contracts.Execution{ID: ids[i], Tenant: contracts.DefaultTenant, Status: contracts.StatusRunning})
	}
	before := consumers()

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), pollerEnv+"="+e.base)
	cmd.Stdin = strings.NewReader(strings.Join(ids, "\n"))
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	waiting := regexp.MustCompile(`(?m)^airlock_gateway_waits (\d+)`)
	deadline := time.Now().Add(4 * testkit.Patience)
	for held := 0; held < n; {
		select {
		case err := <-done:
			t.Fatalf("the poller ended early (%v): %s %s", err, out.String(), errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d polls are waiting", held, n)
		}
		time.Sleep(200 * time.Millisecond)
		if m := waiting.FindSubmatch(e.do(call{path: "/metrics"}).body); m != nil {
			held, _ = strconv.Atoi(string(m[1]))
		}
	}
	during := consumers()

	for _, id := range ids {
		e.putExecution(contracts.Execution{ID: id, Tenant: contracts.DefaultTenant, Status: contracts.StatusCompleted,
			Verdict: contracts.VerdictAccepted})
	}
	if err := <-done; err != nil {
		t.Errorf("poller: %v: %s %s", err, out.String(), errOut.String())
	}
	after := consumers()
	t.Logf("poller: %s", strings.TrimSpace(out.String()))
	t.Logf("consumers on KV_%s: before %d, during %d (%d polls waiting), after %d", contracts.ExecutionsBucket, before, during, n, after)
	if during != before || after != before {
		t.Errorf("consumers before %d, during %d, after %d: want one count", before, during, after)
	}
}

// TestWaitCaps: a wait beyond the gateway's per-tenant bound is answered 429
// rate_limited with Retry-After, and the others go on waiting.
func TestWaitCaps(t *testing.T) {
	e := start(t, func(c *gateway.Config) { c.MaxWaitsPerTenant = 2 })
	ids := []string{contracts.NewID(), contracts.NewID(), contracts.NewID()}
	for _, id := range ids {
		e.putExecution(contracts.Execution{ID: id, Tenant: contracts.DefaultTenant, Status: contracts.StatusRunning})
	}
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for _, id := range ids[:2] {
		wg.Go(func() { codes <- e.do(call{path: "/v1/executions/" + id + "?wait=true&timeout=60s"}).status })
	}
	waiting := regexp.MustCompile(`(?m)^airlock_gateway_waits 2$`)
	deadline := time.Now().Add(testkit.Patience)
	for !waiting.Match(e.do(call{path: "/metrics"}).body) {
		if time.Now().After(deadline) {
			t.Fatal("the two polls are not waiting")
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := e.do(call{path: "/v1/executions/" + ids[2] + "?wait=true&timeout=60s"})
	wantError(t, r, 429, contracts.CodeRateLimited, "", "waiting")
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	for _, id := range ids[:2] {
		e.putExecution(contracts.Execution{ID: id, Tenant: contracts.DefaultTenant, Status: contracts.StatusCompleted, Verdict: contracts.VerdictAccepted})
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != 200 {
			t.Errorf("a poll within the bound answered %d", code)
		}
	}
}
