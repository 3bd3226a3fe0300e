package sandbox_test

import (
	"context"
	"strings"
	"testing"

	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
)

// TestTinyProcessLimit: the pids limit counts threads, and the init holds
// about ten; they must not eat the program's allowance (a regression: with
// processes=8 the init could not start its threads and crashed).
func TestTinyProcessLimit(t *testing.T) { forRuntimes(t, testTinyProcessLimit) }

func testTinyProcessLimit(t *testing.T, rt string, r *sandbox.Launcher) {
	for _, n := range []int64{1, 2, 8} {
		s := spec("bash", "-c", "echo ok")
		s.Processes = n
		out, err := r.Run(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		if string(out.Stdout) != "ok\n" || out.ExitCode != 0 || out.InitLost {
			t.Errorf("processes=%d: stdout=%q exit=%d lost=%v stderr=%.300q", n, out.Stdout, out.ExitCode, out.InitLost, out.Stderr)
		}
	}
	// ...and the limit still binds the program: with 2 processes, bash can
	// start one child but not ten at once.
	s := spec("bash", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait; echo done")
	s.Processes = 2
	out, err := r.Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	// gVisor enforces the limit as RLIMIT_NPROC inside the sandbox, which
	// the host does not see; bash reports the refused forks.
	if !out.ProcessLimitHit && !(sandbox.IsGVisor(rt) && strings.Contains(string(out.Stderr), "fork: retry")) {
		t.Errorf("ten children under a limit of 2 were not refused: stdout=%q stderr=%.200q", out.Stdout, out.Stderr)
	}
}
