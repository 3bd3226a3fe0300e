package sandbox

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
)

// Probe creates, without starting it, a container configured exactly as a
// stage under the OCI runtime rt would be (every limit, the seccomp
// profile, the init mount), then removes it. It fails when the engine
// rejects the configuration, or accepts it with warnings: a limit it would
// silently not enforce. The executor's preflight probes every runtime it
// is configured to use before it takes a job. rt "namespace" probes a cell.
func (r *Launcher) Probe(ctx context.Context, image, rt string) error {
	spec := Spec{
		JobID: "preflight", Stage: "preflight", Image: image, OCIRuntime: rt, Argv: []string{"true"},
		CPUTime: time.Second, WallTime: 2 * time.Second, MemoryBytes: 64 << 20, Processes: 8, OutputBytes: 1 << 10,
	}
	cfg, host, err := r.containerConfig(spec)
	if rt == IsolationNamespace {
		cfg, host, err = r.cellConfig(cellKey{image, "preflight"}, spec.MemoryBytes+cellOverhead, 256)
	}
	if err != nil {
		return err
	}
	created, err := r.cli.ContainerCreate(ctx, cfg, host, nil, nil, "")
	if err != nil {
		return engineErr(fmt.Sprintf("create a sandbox (image %s, runtime %q)", image, rt), err)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := r.cli.ContainerRemove(rctx, created.ID, container.RemoveOptions{Force: true}); err != nil && !isGone(err) {
		return engineErr("remove the preflight container", err)
	}
	if len(created.Warnings) > 0 {
		return fmt.Errorf("%w: the engine would not enforce every limit of a sandbox (runtime %q): %s", ErrEngine, rt, strings.Join(created.Warnings, "; "))
	}
	return nil
}
