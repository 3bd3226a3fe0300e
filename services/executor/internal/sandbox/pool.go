package sandbox

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
)

// Warm pool: containers created, attached and started ahead of demand, each
// with its init blocked on stdin waiting for exactly one job. A job takes
// one, the stage's own limits are applied to it (memory, swap, CPU, pids:
// ContainerUpdate), it runs once and is destroyed like a cold one; the pool
// refills in the background. A pooled container is created from the same
// configuration as a cold one, with two differences that never loosen a
// limit: its per-process CPU rlimit is a high backstop (the exact CPU limit
// is the executor's cgroup watchdog, as for every stage) and its job label
// is "pool". gVisor sandboxes are not pooled (their nproc rlimit is the
// job's and cannot change after start).

const (
	// poolIdleMemory is what one idle pooled container counts against the
	// pool's budget: its init uses a few MB, and nothing else runs in it
	// until a job does (then it is that job's memory).
	poolIdleMemory = 64 << 20
	// poolCPUBackstop sizes the per-process CPU rlimit of pooled containers.
	poolCPUBackstop = 10 * time.Minute
)

// PoolTarget is what the pool keeps for one image: Count idle containers
// created with the limits of Profile (usually the image's language's default
// run stage), so that a stage with exactly those limits needs no update.
type PoolTarget struct {
	Count   int
	Profile Spec
}

type pool struct {
	r      *Launcher
	budget int64 // bytes the idle containers may count together

	mu      sync.Mutex
	want    map[string]PoolTarget // by image
	idle    map[string][]*box
	filling map[string]bool
	held    int64
	closed  bool
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// EnablePool keeps targets[image].Count idle containers per image, within
// budgetBytes (each idle container counts poolIdleMemory). It starts filling
// at once, in the background.
func (r *Launcher) EnablePool(targets map[string]PoolTarget, budgetBytes int64) {
	ctx, cancel := context.WithCancel(context.Background())
	p := &pool{r: r, budget: budgetBytes, want: map[string]PoolTarget{}, idle: map[string][]*box{},
		filling: map[string]bool{}, ctx: ctx, cancel: cancel}
	for image, t := range targets {
		if t.Count > 0 {
			t.Profile.Image = image
			p.want[image] = t
		}
	}
	r.pool = p
	for image := range p.want {
		p.refill(image)
	}
}

// PoolSizes reports the idle sandboxes per image: warm containers and idle
// cells (namespace isolation) together.
func (r *Launcher) PoolSizes() map[string]int {
	out := r.IdleCells()
	p := r.pool
	if p == nil {
		return out
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for image := range p.want {
		out[image] += len(p.idle[image])
	}
	return out
}

// Close stops the pool and removes its idle containers, waits for every
// background removal, then removes anything else labelled with this
// executor (call it when no stage runs any more).
func (r *Launcher) Close() {
	r.closeCells()
	if p := r.pool; p != nil {
		p.mu.Lock()
		p.closed = true // no refill starts from now on
		p.mu.Unlock()
		p.cancel()
		p.wg.Wait()
		p.mu.Lock()
		for image, boxes := range p.idle {
			for _, b := range boxes {
				b.att.Close()
				r.removeLater(b.id)
			}
			delete(p.idle, image)
		}
		p.mu.Unlock()
	}
	r.Wait()
	// A create cancelled by the shutdown may still have made a container
	// whose id never came back: remove whatever carries our label.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if n, err := r.Reap(ctx); err != nil {
		r.log.Warn("remove leftover sandboxes at shutdown", "err", err)
	} else if n > 0 {
		r.log.Info("removed leftover sandboxes at shutdown", "count", n)
	}
}

// take returns a warm container with spec's limits applied, or nil (then the
// caller starts a cold one).
func (p *pool) take(ctx context.Context, r *Launcher, spec Spec) *box {
	if p == nil || spec.OCIRuntime != "" && spec.OCIRuntime != r.opts.OCIRuntime || IsGVisor(cmp.Or(spec.OCIRuntime, r.opts.OCIRuntime)) {
		return nil
	}
	p.mu.Lock()
	n := len(p.idle[spec.Image])
	if n == 0 {
		p.mu.Unlock()
		return nil
	}
	b := p.idle[spec.Image][n-1]
	p.idle[spec.Image] = p.idle[spec.Image][:n-1]
	p.held -= poolIdleMemory
	p.mu.Unlock()
	p.refill(spec.Image)

	// The stage's limits, exactly as a cold container of this spec gets
	// them; a container created with the same limits needs no update.
	_, hc, err := r.containerConfig(spec)
	if err == nil {
		want := limitsOf(hc.Resources)
		begin := time.Now()
		if want != b.limits {
			_, err = r.cli.ContainerUpdate(ctx, b.id, container.UpdateConfig{Resources: container.Resources{
				Memory: hc.Memory, MemorySwap: hc.MemorySwap, NanoCPUs: hc.NanoCPUs, PidsLimit: hc.PidsLimit,
			}})
		}
		if err == nil && r.opts.OnStart != nil {
			r.opts.OnStart(time.Since(begin))
		}
	}
	if err != nil {
		r.log.Warn("warm container unusable: starting a cold one", "container", b.id[:12], "err", err)
		b.att.Close()
		r.removeLater(b.id)
		return nil
	}
	// Its job label says "pool": name it after the job and stage, so that
	// `docker ps` (and the engine's rename event) tells which job it serves.
	// A rename is the daemon's bookkeeping only, off the critical path (the
	// engine writes and syncs the container's config, which waits on the
	// disk); a failure costs nothing. The removal waits for it.
	named := make(chan struct{})
	b.named = named
	go func() {
		defer close(named)
		nctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := r.cli.ContainerRename(nctx, b.id, stageName(spec)); err != nil {
			r.log.Debug("name warm container", "container", b.id[:12], "err", err)
		}
	}()
	return b
}

// stageName is a unique container name for a stage of a job.
func stageName(spec Spec) string {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return "airlock-" + spec.JobID + "-" + spec.Stage + "-" + hex.EncodeToString(rnd[:])
}

// refill starts containers for image in the background until the pool holds
// what it wants (or its budget is used).
func (p *pool) refill(image string) {
	p.mu.Lock()
	if p.filling[image] || p.closed {
		p.mu.Unlock()
		return
	}
	p.filling[image] = true
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		defer func() { p.mu.Lock(); p.filling[image] = false; p.mu.Unlock() }()
		for failures := 0; failures < 3; {
			p.mu.Lock()
			full := len(p.idle[image]) >= p.want[image].Count || p.held+poolIdleMemory > p.budget || p.closed
			if !full {
				p.held += poolIdleMemory // reserve before starting
			}
			p.mu.Unlock()
			if full || p.ctx.Err() != nil {
				return
			}
			spec := p.want[image].Profile
			spec.JobID, spec.Stage, spec.CPUTime = "pool", "pool", poolCPUBackstop
			if spec.MemoryBytes == 0 {
				spec.MemoryBytes, spec.Processes = poolIdleMemory, 64
			}
			b, err := p.r.start(p.ctx, spec)
			p.mu.Lock()
			if err != nil {
				p.held -= poolIdleMemory
				p.mu.Unlock()
				failures++
				if p.ctx.Err() == nil {
					p.r.log.Warn("warm pool: start container", "image", image, "err", err)
					time.Sleep(time.Duration(failures) * time.Second)
				}
				continue
			}
			if p.closed {
				p.held -= poolIdleMemory
				p.mu.Unlock()
				b.att.Close()
				p.r.removeLater(b.id)
				return
			}
			p.idle[image] = append(p.idle[image], b)
			p.mu.Unlock()
			failures = 0
		}
	}()
}

// limits are the resources a warm container may have to change for a stage.
type limits struct {
	memory, swap, nanoCPUs, pids int64
}

func limitsOf(r container.Resources) limits {
	l := limits{memory: r.Memory, swap: r.MemorySwap, nanoCPUs: r.NanoCPUs}
	if r.PidsLimit != nil {
		l.pids = *r.PidsLimit
	}
	return l
}
