package sandbox_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/airlockrun/airlock/internal/testkit"
	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
)

func pooledRunner(t *testing.T, size int) *sandbox.Launcher {
	t.Helper()
	return pooledRunnerWith(t, size, spec())
}

// pooledRunnerWith keeps size warm containers of testImage created with the
// limits of profile.
func pooledRunnerWith(t *testing.T, size int, profile sandbox.Spec) *sandbox.Launcher {
	t.Helper()
	testkit.RequireDocker(t)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	self, _ := os.Executable()
	r := sandbox.NewLauncher(cli, sandbox.Options{ExecutorID: "pool-test", InitPath: self}, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	r.EnablePool(map[string]sandbox.PoolTarget{testImage: {Count: size, Profile: profile}}, 1<<30)
	t.Cleanup(r.Close)
	waitPool(t, r, size)
	return r
}

func waitPool(t *testing.T, r *sandbox.Launcher, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for r.PoolSizes()[testImage] < n {
		if time.Now().After(deadline) {
			t.Fatalf("pool holds %d, want %d", r.PoolSizes()[testImage], n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPooledLimitsAreTheJobs reads the limits from inside a pooled and a cold
// container: both must be exactly the job's, not the idle container's.
func TestPooledLimitsAreTheJobs(t *testing.T) {
	r := pooledRunner(t, 1)
	read := "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us"
	s := spec("bash", "-c", read)
	s.MemoryBytes, s.Processes = 200<<20, 17
	pooled, err := r.Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.PoolSizes()[testImage]; got != 0 {
		t.Logf("pool refilled already (%d)", got)
	}
	cold, err := newRunner(t).Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d\n%d\n%d\n100000\n100000\n", 200<<20, 200<<20, 17+12)
	if string(pooled.Stdout) != want || string(cold.Stdout) != want {
		t.Errorf("limits seen inside\npooled: %q\ncold:   %q\nwant:   %q", pooled.Stdout, cold.Stdout, want)
	}
	// A stage with exactly the pool's profile takes a container unchanged.
	waitPool(t, r, 1)
	same := spec("bash", "-c", read)
	out, err := r.Run(context.Background(), same)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%d\n%d\n%d\n100000\n100000\n", 128<<20, 128<<20, 32+12); string(out.Stdout) != want {
		t.Errorf("profile-matching stage: limits %q, want %q", out.Stdout, want)
	}
}

func TestPooledContainersHoldTheLimits(t *testing.T) {
	r := pooledRunner(t, 2)
	bomb := spec(attackArgv("alloc")...)
	bomb.MemoryBytes = 96 << 20 // above the idle container's 64 MB
	out, err := r.Run(context.Background(), bomb)
	if err != nil {
		t.Fatal(err)
	}
	if !out.OOMKilled || out.MemoryPeakBytes > 96<<20 {
		t.Errorf("memory bomb in a pooled container: oom=%v peak=%d", out.OOMKilled, out.MemoryPeakBytes)
	}
	waitPool(t, r, 2)
	fork := spec("bash", "-c", "f(){ f|f& }; f; sleep 1; echo survived")
	fork.Processes = 8
	out, err = r.Run(context.Background(), fork)
	if err != nil {
		t.Fatal(err)
	}
	if !out.ProcessLimitHit || out.InitLost {
		t.Errorf("fork bomb in a pooled container: limit hit=%v lost=%v", out.ProcessLimitHit, out.InitLost)
	}
	waitPool(t, r, 2)
	burn := spec("bash", "-c", "while :; do :; done")
	// The CPU limit must end it, not the wall clock, however little of a
	// core the loop gets on a loaded machine.
	burn.CPUTime, burn.WallTime = 700*time.Millisecond, 2*time.Minute
	out, err = r.Run(context.Background(), burn)
	if err != nil {
		t.Fatal(err)
	}
	if !out.CPUExceeded || out.CPUTime > 1500*time.Millisecond {
		t.Errorf("cpu limit in a pooled container: exceeded=%v cpu=%v", out.CPUExceeded, out.CPUTime)
	}
	// Every pooled container serves exactly one job.
	waitPool(t, r, 2)
	ids := map[string]bool{}
	for i := 0; i < 3; i++ {
		o, err := r.Run(context.Background(), spec("bash", "-c", "cat /proc/self/cgroup | head -1"))
		if err != nil {
			t.Fatal(err)
		}
		line := strings.TrimSpace(string(o.Stdout))
		if ids[line] {
			t.Errorf("a container served two jobs: %s", line)
		}
		ids[line] = true
	}
}

// TestPooledPostureMatchesCold compares what the program sees of its own
// credentials and confinement in a pooled and in a cold container.
func TestPooledPostureMatchesCold(t *testing.T) {
	r := pooledRunner(t, 1)
	s := spec("bash", "-c", "grep -E '^(Uid|Gid|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; ulimit -c -n -f -s")
	pooled, err := r.Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	cold, err := newRunner(t).Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if string(pooled.Stdout) != string(cold.Stdout) {
		t.Errorf("posture differs\npooled:\n%s\ncold:\n%s", pooled.Stdout, cold.Stdout)
	}
	for _, want := range []string{"CapEff:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2", "Uid:\t65534\t65534\t65534\t65534"} {
		if !strings.Contains(string(pooled.Stdout), want) {
			t.Errorf("pooled container lacks %q:\n%s", want, pooled.Stdout)
		}
	}
}
