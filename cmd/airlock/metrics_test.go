package main

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
)

// TestMetricsAndFleet runs two executions and checks that /metrics and
// /v1/fleet report them: the figures the autoscaler and the console use.
func TestMetricsAndFleet(t *testing.T) {
	const operatorKey = "metrics-test-operator-key"
	s := startDev(t, func(c *config) { c.Gateway.OperatorKey = operatorKey })
	execute(t, s, src("python", "main.py", "print(1)\n"))
	execute(t, s, src("python", "main.py", "raise SystemExit(2)\n"))

	// The counters follow the answers: the executor counts an execution
	// once its result is stored, the results service counts an event once it
	// has stored and acknowledged it, and the gateway may answer from that
	// stored result first (and counts a request once it has answered).
	// Scrape until the two executions are counted everywhere.
	accepted := `airlock_executions_total\{executor="[^"]+",language="python",verdict="accepted"\}`
	failed := `airlock_executions_total\{executor="[^"]+",language="python",verdict="runtime_error"\}`
	executes := `airlock_http_requests_total{code="200",method="POST",route="/v1/execute"} 2`
	created := func(text string) float64 {
		n := 0.0
		for _, m := range regexp.MustCompile(`(?m)^airlock_result_events_total\{outcome="created",status="[a-z]+"\} ([0-9.e+-]+)$`).FindAllStringSubmatch(text, -1) {
			v, _ := strconv.ParseFloat(m[1], 64)
			n += v
		}
		return n
	}
	var text string
	testkit.Eventually(testkit.Patience, func() bool {
		code, _, body := request(t, "GET", s.URL+"/metrics", nil, nil)
		if code != 200 {
			t.Fatalf("/metrics: %d", code)
		}
		text = string(body)
		counted := func(pattern string) bool {
			return regexp.MustCompile(`(?m)^` + pattern + ` 1$`).MatchString(text)
		}
		return counted(accepted) && counted(failed) && created(text) >= 2 && strings.Contains(text, executes)
	})
	value := func(pattern string) float64 {
		t.Helper()
		m := regexp.MustCompile(`(?m)^` + pattern + ` ([0-9.e+-]+)$`).FindStringSubmatch(text)
		if m == nil {
			t.Errorf("metric %s missing", pattern)
			return -1
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	if v := value(accepted); v != 1 {
		t.Errorf("accepted python executions = %v, want 1", v)
	}
	if v := value(failed); v != 1 {
		t.Errorf("runtime_error python executions = %v, want 1", v)
	}
	if v := value(`airlock_executor_slots\{executor="[^"]+"\}`); v != 2 {
		t.Errorf("slots = %v, want 2", v)
	}
	if v := value(`airlock_container_start_seconds_count\{executor="[^"]+"\}`); v < 2 {
		t.Errorf("container starts counted = %v, want >= 2", v)
	}
	if v := value(`airlock_queue_pending`); v != 0 {
		t.Errorf("queue pending = %v after everything finished", v)
	}
	value(`airlock_queue_in_flight`)
	value(`airlock_queue_max`)
	// Each execution's first stored event creates its entry, whichever
	// status arrives first (the executor's can overtake the gateway's).
	if n := created(text); n != 2 {
		t.Errorf("results service created %v entries, want 2 (one per execution)", n)
	}
	if !strings.Contains(text, executes) {
		t.Error("HTTP requests not counted by route")
	}
	for _, name := range []string{"airlock_execution_duration_seconds_bucket", "airlock_queue_wait_seconds_bucket", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(text, name) {
			t.Errorf("%s missing", name)
		}
	}

	// With the operator key, which sees node names (others see pseudonyms).
	code, _, body := request(t, "GET", s.URL+"/v1/fleet", nil, map[string]string{"Authorization": "Bearer " + operatorKey})
	var fleet struct {
		Queue     struct{ Pending, InFlight, Max int64 }
		Executors []contracts.ExecutorInfo
	}
	if err := json.Unmarshal(body, &fleet); err != nil || code != 200 {
		t.Fatalf("/v1/fleet: %d %s", code, body)
	}
	if len(fleet.Executors) != 1 || fleet.Queue.Max != contracts.DefaultTopology().QueueMax {
		t.Fatalf("/v1/fleet: %s", body)
	}
	// The heartbeat carries the counts once it beats again (every 5 s).
	ex := fleet.Executors[0]
	if ex.ID != s.ExecutorID || ex.Slots != 2 || len(ex.Runtimes) == 0 {
		t.Errorf("executor in /v1/fleet: %+v", ex)
	}
}
