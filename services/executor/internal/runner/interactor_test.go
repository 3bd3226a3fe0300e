package runner

import (
	"io"
	"testing"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
)

func TestInteractiveVerdict(t *testing.T) {
	const sec = time.Second
	ok := sandbox.Outcome{}
	tle := sandbox.Outcome{TimedOut: true, Signal: 9, ExitCode: 137}
	mle := sandbox.Outcome{OOMKilled: true, Signal: 9, ExitCode: 137}
	crash := sandbox.Outcome{Signal: 11, ExitCode: 139}
	pipe := sandbox.Outcome{Signal: 13, ExitCode: 141}
	exit := func(code int) sandbox.Outcome { return sandbox.Outcome{ExitCode: code, Stderr: []byte("said so")} }
	partial := sandbox.Outcome{ExitCode: 7, Stderr: []byte("points 1.5 half")}
	for _, tc := range []struct {
		name        string
		prog, inter sandbox.Outcome
		interFirst  bool
		want        contracts.Verdict
		points      float64
	}{
		{"both fine", ok, ok, false, contracts.VerdictAccepted, 3},
		{"program out of time first", tle, exit(1), false, contracts.VerdictTimeLimitExceeded, 0},
		{"program out of memory", mle, ok, false, contracts.VerdictMemoryLimitExceeded, 0},
		{"interactor decided before the program ran out of time", tle, exit(1), true, contracts.VerdictWrongAnswer, 0},
		{"interactor accepted, then the program ran out of time", tle, ok, true, contracts.VerdictTimeLimitExceeded, 0},
		{"interactor's wrong answer beats the program's crash", crash, exit(1), false, contracts.VerdictWrongAnswer, 0},
		{"interactor's presentation error", ok, exit(2), false, contracts.VerdictPresentationError, 0},
		{"interactor's judge error", ok, exit(3), false, contracts.VerdictJudgeError, 0},
		{"interactor's partial", ok, partial, false, contracts.VerdictPartial, 1.5},
		{"interactor killed by a broken pipe", crash, pipe, false, contracts.VerdictWrongAnswer, 0},
		{"interactor out of time", ok, sandbox.Outcome{TimedOut: true}, false, contracts.VerdictJudgeError, 0},
		{"program crash, interactor fine", crash, ok, false, contracts.VerdictRuntimeError, 0},
		{"program broken pipe after the interactor decided", pipe, ok, true, contracts.VerdictAccepted, 3},
		{"program broken pipe before the interactor decided", pipe, ok, false, contracts.VerdictRuntimeError, 0},
		{"program output past the cap", sandbox.Outcome{OutputExceeded: true}, ok, false, contracts.VerdictOutputLimitExceeded, 0},
	} {
		got := InteractiveVerdict(tc.prog, sec, tc.inter, sec, tc.interFirst, 3)
		if got.Verdict != tc.want || got.Points != tc.points {
			t.Errorf("%s: %s %v, want %s %v", tc.name, got.Verdict, got.Points, tc.want, tc.points)
		}
	}
}

// TestRelay: writes never block; reads see the bytes in order, then EOF
// after Close; Drop discards and ends a Read under way.
func TestRelay(t *testing.T) {
	p := newRelay()
	p.Write([]byte("ab"))
	p.Write([]byte("cd"))
	buf := make([]byte, 3)
	if n, err := p.Read(buf); n != 3 || err != nil || string(buf[:n]) != "abc" {
		t.Fatalf("read %q %v", buf[:n], err)
	}
	got := make(chan string)
	go func() {
		b, _ := io.ReadAll(p)
		got <- string(b)
	}()
	time.Sleep(20 * time.Millisecond)
	p.Write([]byte("ef"))
	p.Close()
	p.Write([]byte("late"))
	if s := <-got; s != "def" {
		t.Errorf("read %q, want def", s)
	}
	q := newRelay()
	done := make(chan error)
	go func() { _, err := q.Read(make([]byte, 4)); done <- err }()
	time.Sleep(20 * time.Millisecond)
	q.Drop()
	if err := <-done; err != io.EOF {
		t.Errorf("read after drop: %v", err)
	}
	q.Write([]byte("x"))
	if len(q.buf) != 0 {
		t.Error("a dropped relay kept a write")
	}
}
