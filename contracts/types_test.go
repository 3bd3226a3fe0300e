package contracts_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/airlockrun/airlock/contracts"
)

func TestExecutionJSONRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 123, time.UTC)
	in := contracts.Execution{
		ID: contracts.NewID(), Status: contracts.StatusCompleted, Language: "c++", Version: "12.2.0",
		Verdict:   contracts.VerdictCompileError,
		Compile:   &contracts.Stage{Stderr: "error: x", ExitCode: 1, CPUTimeMS: 300, WallTimeMS: 310, MemoryKB: 40000, Verdict: contracts.VerdictCompileError},
		Limits:    &contracts.LimitSet{CPUTimeMS: 1000},
		CreatedAt: now, StartedAt: &now, FinishedAt: &now, Attempt: 1, Executor: "n1", Isolation: "gvisor",
	}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"id"`, `"status":"completed"`, `"verdict":"compile_error"`, `"compile"`, `"exit_code":1`, `"cpu_time_ms":300`,
		`"wall_time_ms":310`, `"memory_kb":40000`, `"truncated":false`, `"signal":""`, `"created_at"`, `"started_at"`, `"finished_at"`,
		`"isolation":"gvisor"`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("JSON lacks %s: %s", key, data)
		}
	}
	if strings.Contains(string(data), `"run"`) {
		t.Errorf("a failed compile must have no run stage: %s", data)
	}
	if queued, _ := json.Marshal(contracts.Execution{ID: in.ID, Status: contracts.StatusQueued}); strings.Contains(string(queued), `"isolation"`) {
		t.Errorf("a queued execution (no mode chosen yet) has an isolation: %s", queued)
	}
	var out contracts.Execution
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip changed the execution:\n in %+v\nout %+v", in, out)
	}
}

func TestRequestJSONRoundTrip(t *testing.T) {
	data := `{"language":"python","version":"3","files":[{"name":"main.py","content":"aGk=","encoding":"base64"}],` +
		`"stdin":"x","args":["a","b"],"limits":{"cpu_time_ms":1,"wall_time_ms":2,"memory_mb":3,"processes":4,"output_bytes":5,` +
		`"compile_cpu_time_ms":6,"compile_wall_time_ms":7,"compile_memory_mb":8}}`
	var req contracts.ExecutionRequest
	dec := json.NewDecoder(strings.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		t.Fatal(err)
	}
	want := contracts.Limits{CPUTimeMS: 1, WallTimeMS: 2, MemoryMB: 3, Processes: 4, OutputBytes: 5, CompileCPUTimeMS: 6, CompileWallTimeMS: 7, CompileMemoryMB: 8}
	if req.Limits != want || req.Files[0].Encoding != "base64" || len(req.Args) != 2 {
		t.Fatalf("decoded %+v", req)
	}
	again, _ := json.Marshal(req)
	var back contracts.ExecutionRequest
	_ = json.Unmarshal(again, &back)
	if !reflect.DeepEqual(req, back) {
		t.Errorf("round trip: %+v != %+v", req, back)
	}
}

func TestStatusRank(t *testing.T) {
	if !(contracts.StatusQueued.Rank() < contracts.StatusRunning.Rank() && contracts.StatusRunning.Rank() < contracts.StatusCompleted.Rank()) {
		t.Error("statuses out of order")
	}
	if contracts.Status("bogus").Rank() != 0 {
		t.Error("unknown status ranked")
	}
}
