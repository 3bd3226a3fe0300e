package gateway_test

import (
	"testing"

	"github.com/airlockrun/airlock/contracts"
)

// TestEvaluationFormatErrors: format rows that cannot be judged are refused
// with 422 and the field of the format request to blame.
func TestEvaluationFormatErrors(t *testing.T) {
	e := start(t, nil)
	e.heartbeat("exec-1", "", testRuntimes())
	he := `{"task_id":"T/0","prompt":"def f():\n","entry_point":"f","test":"def check(c):\n    assert c() == 1\n"}`
	for _, tc := range []struct {
		name, body, field string
	}{
		{"unknown format", `{"format":"apps","problems":[` + he + `],"samples":[{"task_id":"T/0","completion":""}]}`, "format"},
		{"unknown task_id", `{"format":"humaneval","problems":[` + he + `],"samples":[{"task_id":"T/0","completion":""},{"task_id":"T/9","completion":""}]}`, "samples[1].task_id"},
		{"numeric task_id unknown", `{"format":"humaneval","problems":[` + he + `],"samples":[{"task_id":7,"completion":""}]}`, "samples[0].task_id"},
		{"duplicate task_id", `{"format":"humaneval","problems":[` + he + `,` + he + `],"samples":[{"task_id":"T/0","completion":""}]}`, "problems[1].task_id"},
		{"task_id object", `{"format":"humaneval","problems":[{"task_id":{},"prompt":"x","entry_point":"f","test":"x"}],"samples":[{"task_id":"T/0","completion":""}]}`, "problems[0].task_id"},
		{"bad entry_point", `{"format":"humaneval","problems":[{"task_id":"T/0","prompt":"x","entry_point":"f()","test":"x"}],"samples":[{"task_id":"T/0","completion":""}]}`, "problems[0].entry_point"},
		{"no test", `{"format":"humaneval","problems":[{"task_id":"T/0","prompt":"x","entry_point":"f"}],"samples":[{"task_id":"T/0","completion":""}]}`, "problems[0].test"},
		{"mbpp without asserts", `{"format":"mbpp","problems":[{"task_id":1,"text":"x","test_list":[],"test_setup_code":""}],"samples":[{"task_id":1,"completion":""}]}`, "problems[0].test_list"},
		{"challenge outside mbpp", `{"format":"humaneval","challenge":true,"problems":[` + he + `],"samples":[{"task_id":"T/0","completion":""}]}`, "challenge"},
		{"stdio without language", `{"format":"stdio","problems":[{"task_id":1,"tests":[{"input":"","output":""}]}],"samples":[{"task_id":1,"completion":""}]}`, "language"},
		{"stdio input not a string", `{"format":"stdio","language":"python","problems":[{"task_id":1,"tests":[{"input":[1],"output":""}]}],"samples":[{"task_id":1,"completion":""}]}`, "problems[0].tests[0].input"},
		{"call input not a list", `{"format":"call","problems":[{"task_id":1,"fn_name":"f","tests":[{"input":3,"output":3}]}],"samples":[{"task_id":1,"completion":""}]}`, "problems[0].tests[0].input"},
		{"call without fn_name", `{"format":"call","problems":[{"task_id":1,"tests":[{"input":[],"output":3}]}],"samples":[{"task_id":1,"completion":""}]}`, "problems[0].fn_name"},
		{"call in C", `{"format":"call","language":"c","problems":[{"task_id":1,"fn_name":"f","tests":[{"input":[],"output":3}]}],"samples":[{"task_id":1,"completion":""}]}`, "language"},
		{"limit too high", `{"format":"humaneval","limits":{"memory_mb":99999},"problems":[` + he + `],"samples":[{"task_id":"T/0","completion":""}]}`, "limits.memory_mb"},
		{"no samples", `{"format":"humaneval","problems":[` + he + `],"samples":[]}`, "samples"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.submit("/v1/evaluations", tc.body, nil)
			if r.status != 422 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			got := decode[struct{ Error contracts.ErrorDetail }](t, r)
			if got.Error.Field != tc.field {
				t.Errorf("field %q, want %q: %s", got.Error.Field, tc.field, r.body)
			}
		})
	}
	// An unknown top-level field is still a 400.
	wantError(t, e.submit("/v1/evaluations", `{"format":"humaneval","problems":[`+he+`],"samples":[{"task_id":"T/0","completion":""}],"timeout":3}`, nil), 400, contracts.CodeInvalidJSON, "timeout", "")
}

// TestEvaluationFormatPrograms: the programs the formats build, as the
// simulated executor receives them.
func TestEvaluationFormatPrograms(t *testing.T) {
	e := start(t, nil)
	e.heartbeat("exec-1", "", testRuntimes())
	r := e.submit("/v1/evaluations", `{"format":"humaneval","problems":[{"task_id":"T/0","prompt":"def f():\n","entry_point":"f","test":"def check(c):\n    assert c() == 1\n","canonical_solution":"    return 1\n"}],
		"samples":[{"task_id":"T/0","completion":"    return 1\n"},{"task_id":"T/0","completion":"    return 2\n"}]}`, nil)
	if r.status != 202 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	acc := decode[contracts.EvaluationAccepted](t, r)
	if c := acc.Candidates[1]; string(c.TaskID) != `"T/0"` || c.Sample == nil || *c.Sample != 1 {
		t.Errorf("accepted candidate %+v", c)
	}
	f := e.runEvalExecutor(0)
	e.waitEvaluation(acc.ID, 30e9)
	job, ok := f.job(acc.Candidates[1].ExecutionID)
	want := "def f():\n    return 2\n\ndef check(c):\n    assert c() == 1\n\ncheck(f)\n"
	if !ok || len(job.Request.Files) != 1 || job.Request.Files[0].Content != want || job.Request.Limits.WallTimeMS != 3000 {
		t.Errorf("job %+v, want the program %q with a 3 s wall limit", job.Request, want)
	}
}
