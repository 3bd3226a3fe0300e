package executor

import (
	"encoding/base64"
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
	back := shrunk(t, exec, limit)
	if back.Verdict != contracts.VerdictWrongAnswer || len(back.Tests) != 10 || back.Tests[9].Verdict != contracts.VerdictAccepted ||
		!strings.Contains(back.Message, "shortened") || len(exec.Tests[0].Stdout) != len(big) {
		t.Errorf("shrink changed more than the outputs (or the original): %+v", back.Message)
	}
	if !back.Compile.Truncated || !back.Tests[0].Truncated || exec.Tests[0].Truncated {
		t.Error("a shortened stage is not marked truncated (or the original was changed)")
	}
}

// TestShrinkJudgedResult: a result of 1,000 judged tests, each with a 4 KiB
// checker message, an output file (text and base64) and an interactor's
// stage, fits the bound once shortened; the base64 stays decodable and the
// original is not changed.
func TestShrinkJudgedResult(t *testing.T) {
	msg := strings.Repeat("m", 4096)
	out := strings.Repeat("o", 8192)
	bin := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\xff\x00", 4096)))
	exec := contracts.Execution{ID: contracts.NewID(), Status: contracts.StatusCompleted, Verdict: contracts.VerdictPartial}
	for range 1000 {
		exec.Tests = append(exec.Tests, contracts.TestResult{
			Stage: contracts.Stage{Stdout: out, Verdict: contracts.VerdictPartial,
				Files: []contracts.OutputFile{{Name: "a.txt", Content: out, Encoding: "utf-8"}, {Name: "b.bin", Content: bin, Encoding: "base64"}}},
			CheckerMessage: msg, PointsAwarded: 0.5,
			Interactor: &contracts.Stage{Stdout: out, Stderr: out},
		})
	}
	const limit = 4 << 20
	if whole, _ := json.Marshal(exec); len(whole) <= limit {
		t.Fatalf("the test's result (%d bytes) already fits %d", len(whole), limit)
	}
	back := shrunk(t, exec, limit)
	last := back.Tests[999]
	if len(back.Tests) != 1000 || last.PointsAwarded != 0.5 || !last.Truncated || !last.Interactor.Truncated ||
		len(last.CheckerMessage) >= len(msg) || len(last.Files[0].Content) >= len(out) {
		t.Errorf("not shortened as expected: %d tests, last %+v", len(back.Tests), last.Stage.Truncated)
	}
	if _, err := base64.StdEncoding.DecodeString(last.Files[1].Content); err != nil {
		t.Errorf("a shortened base64 file does not decode: %v", err)
	}
	if exec.Tests[0].CheckerMessage != msg || exec.Tests[0].Files[0].Content != out || exec.Tests[0].Interactor.Stdout != out {
		t.Error("shrink changed the original")
	}
}

// shrunk shrinks exec to limit bytes and reads the result back, failing the
// test when it does not fit.
func shrunk(t *testing.T, exec contracts.Execution, limit int64) contracts.Execution {
	t.Helper()
	data, err := shrink(exec, limit)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) > limit {
		t.Fatalf("%d bytes > %d", len(data), limit)
	}
	var back contracts.Execution
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	return back
}
