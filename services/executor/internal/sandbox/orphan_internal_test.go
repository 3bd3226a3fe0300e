package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/airlockrun/airlock/internal/testkit"
	"github.com/airlockrun/airlock/services/executor/sandboxinit"
)

// TestOrphanedSandboxEnds: when the executor goes away in the middle of a
// stage (its attach connection closes, and with it the container's stdin),
// the init kills the program and the container ends by itself instead of
// running until a reaper finds it. The program here would sleep for ten
// minutes.
func TestOrphanedSandboxEnds(t *testing.T) {
	testkit.RequireDocker(t)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r := NewLauncher(cli, Options{ExecutorID: "sandbox-test", InitPath: self}, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	defer r.Wait()
	spec := Spec{
		JobID: fmt.Sprintf("orphan-%d", time.Now().UnixNano()), Stage: "run", Image: "debian:bookworm-slim",
		Argv: []string{"sh", "-c", "echo started; exec sleep 600"}, Env: []string{"PATH=/usr/bin:/bin"},
		CPUTime: 2 * time.Second, WallTime: 15 * time.Minute, MemoryBytes: 64 << 20, Processes: 8,
	}
	b, err := r.start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer r.removeLater(b.id)
	if err := sandboxinit.WriteHeader(b.att.Conn, sandboxinit.Header{Nonce: "n", Argv: spec.Argv, Env: spec.Env, Dir: "/work"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.att.Conn.Write([]byte{sandboxinit.Go}); err != nil {
		t.Fatal(err)
	}
	// Let the program start, then vanish the way a killed executor does.
	awaitStarted(t, b.att.Reader)
	b.att.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	waitC, errC := cli.ContainerWait(ctx, b.id, container.WaitConditionNotRunning)
	select {
	case <-waitC:
	case err := <-errC:
		t.Fatalf("the orphaned sandbox still runs: %v", err)
	}
}

// TestOrphanedCellEnds: the same for a cell whose executor goes away while
// a run is under way (after the Go byte, with the run in its cgroup): the
// cell's init kills the run and ends the cell.
func TestOrphanedCellEnds(t *testing.T) {
	testkit.RequireDocker(t)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r := NewLauncher(cli, Options{ExecutorID: "sandbox-test", InitPath: self}, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	defer r.Wait()
	spec := Spec{Image: "airlock/base", MemoryBytes: 64 << 20, Processes: 8}
	mem, pids := r.cellNeeds(spec)
	c, err := r.startCell(context.Background(), cellKey{spec.Image, "orphan"}, mem, pids)
	if err != nil {
		t.Fatal(err)
	}
	defer r.removeLater(c.id)
	<-c.prepared
	argv := []string{"sh", "-c", "echo started; exec sleep 600"}
	if err := sandboxinit.WriteHeader(c.att.Conn, sandboxinit.Header{Nonce: "n", Argv: argv, Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/work"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.att.Conn.Write([]byte{sandboxinit.Go}); err != nil {
		t.Fatal(err)
	}
	awaitStarted(t, c.rd)
	c.att.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	waitC, errC := cli.ContainerWait(ctx, c.id, container.WaitConditionNotRunning)
	select {
	case <-waitC:
	case err := <-errC:
		t.Fatalf("the orphaned cell still runs: %v", err)
	}
}

// awaitStarted reads the attach stream r until the program has printed
// "started" (a minute at most).
func awaitStarted(t *testing.T, r io.Reader) {
	t.Helper()
	started := make(chan error, 1)
	go func() {
		var seen []byte
		buf := make([]byte, 4096)
		for !bytes.Contains(seen, []byte("started")) {
			n, err := r.Read(buf)
			seen = append(seen, buf[:n]...)
			if err != nil {
				started <- fmt.Errorf("stream ended before the program started: %w (%q)", err, seen)
				return
			}
		}
		started <- nil
	}()
	select {
	case err := <-started:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the program did not start within a minute")
	}
}
