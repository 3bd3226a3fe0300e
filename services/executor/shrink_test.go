package executor

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/airlockrun/airlock/contracts"
)

func TestShrinkKeepsVerdictsAndFits(t *testing.T) {
	big := strings.Repeat("\x01", 200_000) // escapes to six bytes each
	exec := contracts.Execution{ID: contracts.NewID(), Status: contracts.StatusCompleted, Verdict: contracts.VerdictWrongAnswer,
		Compile: &contracts.Stage{Stderr: big}}
	for i := 0; i < 10; i++ {
		exec.Tests = append(exec.Tests, contracts.TestResult{Stage: contracts.Stage{Stdout: big, Stderr: big, Verdict: contracts.VerdictAccepted}})
	}
	const limit = 1 << 20
	data, err := shrink(exec, limit)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > limit {
		t.Fatalf("%d bytes > %d", len(data), limit)
	}
	var back contracts.Execution
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Verdict != contracts.VerdictWrongAnswer || len(back.Tests) != 10 || back.Tests[9].Verdict != contracts.VerdictAccepted ||
		!strings.Contains(back.Message, "shortened") || len(exec.Tests[0].Stdout) != len(big) {
		t.Errorf("shrink changed more than the outputs (or the original): %+v", back.Message)
	}
	if !back.Compile.Truncated || !back.Tests[0].Truncated || exec.Tests[0].Truncated {
		t.Error("a shortened stage is not marked truncated (or the original was changed)")
	}
}
