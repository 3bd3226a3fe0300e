package sandbox_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
)

// The init feeds the program's stdin through a pipe of its own and keeps the
// container's stdin for the end of the stage: the program gets exactly its
// bytes and then EOF, a program that never reads them still finishes, and a
// container whose stage went well ends by itself when the executor closes
// its stdin (the engine never has to kill it).
func TestStdinThroughInit(t *testing.T) { forRuntimes(t, testStdinThroughInit) }

func testStdinThroughInit(t *testing.T, rt string, r *sandbox.Launcher) {
	stdin := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB, more than any pipe holds
	sum := sha256.Sum256(stdin)
	cli := dockerClient(t)

	// run runs argv with the big stdin as job id under the wall limit wall
	// (0: spec's) and returns the outcome and the engine's actions on the
	// container, up to its removal.
	run := func(t *testing.T, id string, wall time.Duration, argv ...string) (sandbox.Outcome, []string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		msgs, errs := cli.Events(ctx, events.ListOptions{Filters: filters.NewArgs(
			filters.Arg("type", string(events.ContainerEventType)), filters.Arg("label", sandbox.LabelJob+"="+id))})
		s := spec(argv...)
		s.JobID, s.Stdin = id, stdin
		if wall > 0 {
			s.WallTime = wall
		}
		out, err := r.Run(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		if rt == sandbox.IsolationNamespace {
			// A stage in a cell has no container of its own: the cell's
			// health is what carries over (see TestCellSurvivesItsRuns).
			return out, nil
		}
		var actions []string
		for {
			select {
			case m := <-msgs:
				actions = append(actions, string(m.Action))
				if m.Action == events.ActionDestroy {
					return out, actions
				}
			case err := <-errs:
				t.Fatalf("engine events: %v (seen %v)", err, actions)
			}
		}
	}
	id := func(what string) string { return fmt.Sprintf("stdin-%s-%s-%d", what, rt, time.Now().UnixNano()) }

	t.Run("read to the end", func(t *testing.T) {
		out, actions := run(t, id("read"), 0, "sh", "-c", "sha256sum | cut -d' ' -f1")
		want := hex.EncodeToString(sum[:]) + "\n"
		if string(out.Stdout) != want || out.ExitCode != 0 || out.TimedOut {
			t.Errorf("stdout %q exit %d timed out %v, want %q", out.Stdout, out.ExitCode, out.TimedOut, want)
		}
		if rt != sandbox.IsolationNamespace && (slices.Contains(actions, "kill") || !slices.Contains(actions, "die")) {
			t.Errorf("engine actions %v: want the container to end by itself (die, no kill)", actions)
		}
	})
	t.Run("never read", func(t *testing.T) {
		out, actions := run(t, id("unread"), 0, "sh", "-c", "echo done")
		if string(out.Stdout) != "done\n" || out.ExitCode != 0 || out.TimedOut {
			t.Errorf("stdout %q exit %d timed out %v, want done, exit 0", out.Stdout, out.ExitCode, out.TimedOut)
		}
		if slices.Contains(actions, "kill") {
			t.Errorf("engine actions %v: the container was killed", actions)
		}
	})
	t.Run("too slow", func(t *testing.T) {
		s := "sleep 600"
		out, actions := run(t, id("slow"), 5*time.Second, "sh", "-c", s)
		if !out.TimedOut {
			t.Errorf("%s was not timed out: %+v", s, out)
		}
		if rt != sandbox.IsolationNamespace && !slices.Contains(actions, "kill") {
			t.Errorf("engine actions %v: a timed-out container must be killed through the engine", actions)
		}
	})
}
