package gateway_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/gateway"
)

func TestBatchSubmit(t *testing.T) {
	e := start(t, func(c *gateway.Config) { c.MaxBatch = 5 })
	e.heartbeat("exec-1", "", testRuntimes())
	body := `{"executions":[` + strings.Join([]string{
		helloPy,
		`{"language":"cobol-9000","files":[{"name":"a","content":""}]}`,
		`{"language":"python","files":[{"name":"../x","content":""}]}`,
		`{"language":"python","files":[{"name":"main.py","content":"x"}],"oops":1}`,
		`{"language":"python","files":[{"name":"main.py","content":"x"}],"tests":[{"stdin":"1","expected_output":"2"},{"stdin":"2"}]}`,
	}, ",") + `]}`
	r := e.submit("/v1/executions/batch", body, nil)
	if r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	resp := decode[contracts.BatchResponse](t, r)
	if len(resp.Executions) != 5 {
		t.Fatalf("%d entries, want 5", len(resp.Executions))
	}
	wantCodes := []string{"", contracts.CodeUnknownLanguage, contracts.CodeInvalidRequest, contracts.CodeInvalidJSON, ""}
	var ids []string
	for i, entry := range resp.Executions {
		switch {
		case wantCodes[i] == "" && (entry.Error != nil || !contracts.ValidID(entry.ID) || entry.Status != contracts.StatusQueued):
			t.Errorf("entry %d: %+v, want queued", i, entry)
		case wantCodes[i] != "" && (entry.Error == nil || entry.Error.Code != wantCodes[i] || entry.ID != ""):
			t.Errorf("entry %d: %+v, want error %s", i, entry, wantCodes[i])
		}
		if entry.ID != "" {
			ids = append(ids, entry.ID)
		}
	}
	// Exactly the two valid entries reached the queue.
	st, err := e.nats.JS.Stream(context.Background(), contracts.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Errorf("JOBS holds %d jobs, want 2", info.State.Msgs)
	}

	// The list endpoint answers in the order asked, with not_found entries.
	e.putExecution(completed(ids[0]))
	unknown := contracts.NewID()
	r = e.do(call{path: fmt.Sprintf("/v1/executions?ids=%s,%s,%s,bogus", ids[0], ids[1], unknown)})
	if r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	list := decode[contracts.ExecutionList](t, r)
	if len(list.Executions) != 4 {
		t.Fatalf("list: %s", r.body)
	}
	if x := list.Executions[0]; x.ID != ids[0] || x.Execution == nil || x.Execution.Status != contracts.StatusCompleted || x.Execution.ID != ids[0] {
		t.Errorf("entry 0: %+v", x)
	}
	if x := list.Executions[1]; x.Execution == nil || x.Execution.Status != contracts.StatusQueued {
		t.Errorf("entry 1 (queued, served from the event stream): %+v", x)
	}
	for _, i := range []int{2, 3} {
		if x := list.Executions[i]; x.Execution != nil || x.Error == nil || x.Error.Code != contracts.CodeNotFound {
			t.Errorf("entry %d: %+v, want not_found", i, x)
		}
	}
}

func TestBatchErrors(t *testing.T) {
	e := start(t, func(c *gateway.Config) { c.MaxBatch = 2 })
	e.heartbeat("exec-1", "", testRuntimes())
	wantError(t, e.submit("/v1/executions/batch", `{"executions":[]}`, nil), 422, contracts.CodeInvalidRequest, "executions", "1 to 2")
	wantError(t, e.submit("/v1/executions/batch", `{"executions":[`+helloPy+`,`+helloPy+`,`+helloPy+`]}`, nil), 422, contracts.CodeInvalidRequest, "executions", "got 3")
	wantError(t, e.submit("/v1/executions/batch", `{"execs":[]}`, nil), 400, contracts.CodeInvalidJSON, "*", "")
	wantError(t, e.submit("/v1/executions/batch", `[`, nil), 400, contracts.CodeInvalidJSON, "*", "")
	wantError(t, e.do(call{method: "POST", path: "/v1/executions/batch", body: "{}", contentType: "text/plain"}), 415, contracts.CodeUnsupportedMediaType, "", "")
	wantError(t, e.do(call{path: "/v1/executions"}), 400, contracts.CodeInvalidQuery, "ids", "required")
	wantError(t, e.do(call{path: "/v1/executions?ids=a,b,c"}), 400, contracts.CodeInvalidQuery, "ids", "at most 2")
}

func TestBatchIdempotencyKey(t *testing.T) {
	e := start(t, nil)
	e.heartbeat("exec-1", "", testRuntimes())
	key := map[string][]string{"Idempotency-Key": {"contest-7"}}
	body := `{"executions":[` + helloPy + `,` + helloPy + `]}`
	first := decode[contracts.BatchResponse](t, e.submit("/v1/executions/batch", body, key))
	second := decode[contracts.BatchResponse](t, e.submit("/v1/executions/batch", body, key))
	for i := range 2 {
		want := contracts.IDFromKey(contracts.DefaultTenant, fmt.Sprintf("contest-7#%d", i))
		if first.Executions[i].ID != want || second.Executions[i].ID != want {
			t.Errorf("entry %d: %q / %q, want %q", i, first.Executions[i].ID, second.Executions[i].ID, want)
		}
	}
	st, _ := e.nats.JS.Stream(context.Background(), contracts.JobsStream)
	info, _ := st.Info(context.Background(), jetstream.WithSubjectFilter(e.topo.JobSubject("")))
	if info.State.Msgs != 2 {
		t.Errorf("JOBS holds %d jobs after a repeated batch, want 2", info.State.Msgs)
	}
}
