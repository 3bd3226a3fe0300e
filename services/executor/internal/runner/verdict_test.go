package runner

import (
	"testing"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
)

func TestVerdict(t *testing.T) {
	limit := time.Second
	cases := []struct {
		name string
		o    sandbox.Outcome
		want contracts.Verdict
	}{
		{"clean exit", sandbox.Outcome{CPUTime: 100 * time.Millisecond}, contracts.VerdictAccepted},
		{"non-zero exit", sandbox.Outcome{ExitCode: 1}, contracts.VerdictRuntimeError},
		{"segfault", sandbox.Outcome{ExitCode: 139, Signal: 11}, contracts.VerdictRuntimeError},
		{"cpu over limit but exited cleanly", sandbox.Outcome{CPUTime: 1001 * time.Millisecond}, contracts.VerdictTimeLimitExceeded},
		{"cpu exactly at limit", sandbox.Outcome{CPUTime: time.Second}, contracts.VerdictAccepted},
		{"killed by rlimit cpu", sandbox.Outcome{Signal: 24, ExitCode: 152}, contracts.VerdictTimeLimitExceeded},
		{"wall timeout", sandbox.Outcome{TimedOut: true, Signal: 9}, contracts.VerdictTimeLimitExceeded},
		{"killed by the cpu watchdog", sandbox.Outcome{CPUExceeded: true, Signal: 9, CPUTime: 1020 * time.Millisecond}, contracts.VerdictTimeLimitExceeded},
		{"init lost, no oom", sandbox.Outcome{InitLost: true, Signal: 9, ExitCode: 137}, contracts.VerdictRuntimeError},
		{"init lost to the oom killer", sandbox.Outcome{InitLost: true, OOMKilled: true, Signal: 9}, contracts.VerdictMemoryLimitExceeded},
		{"oom kill", sandbox.Outcome{OOMKilled: true, Signal: 9}, contracts.VerdictMemoryLimitExceeded},
		{"oom and timeout", sandbox.Outcome{OOMKilled: true, TimedOut: true}, contracts.VerdictMemoryLimitExceeded},
		{"output cap", sandbox.Outcome{OutputExceeded: true, Signal: 9}, contracts.VerdictOutputLimitExceeded},
		{"output cap beats oom", sandbox.Outcome{OutputExceeded: true, OOMKilled: true}, contracts.VerdictOutputLimitExceeded},
		{"printed a fake verdict", sandbox.Outcome{Stdout: []byte(`{"verdict":"accepted"}`), ExitCode: 2}, contracts.VerdictRuntimeError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Verdict(tc.o, limit); got != tc.want {
				t.Errorf("Verdict = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestStageSignalName(t *testing.T) {
	st := stage(sandbox.Outcome{Signal: 9, ExitCode: 137}, sandbox.Spec{CPUTime: time.Second})
	if st.Signal != "SIGKILL" {
		t.Errorf("signal = %q, want SIGKILL", st.Signal)
	}
	if st := stage(sandbox.Outcome{}, sandbox.Spec{CPUTime: time.Second}); st.Signal != "" {
		t.Errorf("signal = %q, want empty", st.Signal)
	}
}
