package sandbox

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"

	"github.com/airlockrun/airlock/services/executor/internal/attach"
	"github.com/airlockrun/airlock/services/executor/internal/cgroup"
	"github.com/airlockrun/airlock/services/executor/internal/seccomp"
	"github.com/airlockrun/airlock/services/executor/sandboxinit"
)

// Namespace isolation: cells. A cell is a long-lived container of one image
// and one tenant, created with every setting of a sandbox container (no
// network, read-only root, no capabilities, no-new-privileges, uid 65534,
// caps on the whole cell's memory, pids and CPU) but with two differences,
// both needed to build a sandbox inside it: its seccomp profile also
// allows namespaces and mounts (seccomp.Cell), and Docker's masks on
// /proc and /sys are off (the kernel refuses a new /proc while they lock the
// old one; each run masks the same paths again). Its init
// (sandboxinit.CellMain) runs the stages it is given one after another,
// each in a fresh sandbox; the host owns each run's cgroup (internal/cgroup).
//
// A cell serves one stage at a time. It is destroyed, never reused, when a
// run left anything behind (a process, a cgroup, files), when its stream
// could not be kept in step (output past the cap, a cancelled job), and it
// is recycled after CellRuns stages or CellAge.

// Cell defaults.
const (
	defaultCellRuns = 500
	defaultCellAge  = 10 * time.Minute
	// cellIdleMax bounds the idle cells kept, over all images and tenants.
	cellIdleMax = 16
	// cellOverhead is the memory of a cell beyond its largest run: its
	// init, bubblewrap, and the files of the run in /work.
	cellOverhead = 64 << 20
	// cellRecordGrace is how long a killed run may take to be reported
	// (its processes' exit and the cell's clean-up, on a loaded machine).
	cellRecordGrace = 30 * time.Second
)

// ErrCell wraps a fault of one cell (its stream ended, a killed run was not
// reported): the cell is destroyed and the stage can be tried again in
// another; it says nothing about the engine's health.
var ErrCell = errors.New("cell fault")

// cellKey: cells are never shared across images or tenants.
type cellKey struct{ image, tenant string }

type cell struct {
	key  cellKey
	id   string
	att  types.HijackedResponse
	rd   *bufio.Reader
	cg   cgroup.Cell
	own  []int // the cell's own processes (its init)
	mem  int64 // the memory a run may have, at most
	pids int64 // the processes and threads a run may have, at most
	runs int
	born time.Time
	// lastJob is the job of the stage the cell served last.
	lastJob string
	// next is the next stage's cgroup, holding the spare sandbox, once
	// prepared is closed (nil: not prepared).
	next     *cgroup.Run
	prepared <-chan struct{}
}

type cells struct {
	mu     sync.Mutex
	idle   []*cell // oldest first
	closed bool
}

// runCell runs spec in a cell of its image and tenant.
func (r *Launcher) runCell(ctx context.Context, spec Spec) (Outcome, error) {
	c, err := r.takeCell(ctx, spec)
	if err != nil {
		return Outcome{Isolation: IsolationNamespace}, err
	}
	c.lastJob = spec.JobID
	out, healthy, err := r.runInCell(ctx, spec, c)
	out.Isolation, out.Sandbox = IsolationNamespace, c.id
	r.putCell(c, healthy && err == nil)
	return out, err
}

// takeCell returns an idle cell that can hold spec, or a new one.
func (r *Launcher) takeCell(ctx context.Context, spec Spec) (*cell, error) {
	key := cellKey{spec.Image, spec.Tenant}
	mem, pids := r.cellNeeds(spec)
	cs := &r.cells
	cs.mu.Lock()
	// The cell that served this job's stage before (a job's compile stage
	// and its tests run in one cell, one after the other); else the cell
	// returned last whose next sandbox is ready; else the one returned last
	// (its sandbox is on the way).
	for pass := range 3 {
		for i := len(cs.idle) - 1; i >= 0; i-- {
			c := cs.idle[i]
			if c.key != key || c.mem < mem || c.pids < pids || time.Since(c.born) >= cmpOr(r.opts.CellAge, defaultCellAge) {
				continue
			}
			if pass == 0 && (spec.JobID == "" || c.lastJob != spec.JobID) || pass == 1 && !c.isPrepared() {
				continue
			}
			cs.idle = slices.Delete(cs.idle, i, i+1)
			cs.mu.Unlock()
			return c, nil
		}
	}
	cs.mu.Unlock()
	c, err := r.startCell(ctx, key, mem, pids)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// cellNeeds is what a cell must allow one run of spec: the run's own limits
// are its cgroup's.
func (r *Launcher) cellNeeds(spec Spec) (mem, pids int64) {
	return max(spec.MemoryBytes, r.opts.CellMemoryBytes), max(PidsLimit("", spec.Processes)+2, 256)
}

// putCell keeps a healthy cell for the next stage of its image and tenant,
// or destroys it.
func (r *Launcher) putCell(c *cell, healthy bool) {
	c.runs++
	// A cell kept starts its next stage's sandbox now (a second Spare is
	// ignored), while it waits.
	if healthy = healthy && c.spare() == nil; healthy && c.prepared == nil {
		r.prepare(c)
	}
	cs := &r.cells
	cs.mu.Lock()
	fresh := c.runs < cmpOr(r.opts.CellRuns, defaultCellRuns) && time.Since(c.born) < cmpOr(r.opts.CellAge, defaultCellAge)
	keep := healthy && !cs.closed && fresh
	var evict []*cell
	if keep {
		cs.idle = append(cs.idle, c)
	}
	// Idle cells past their age go too, and the oldest past the bound.
	cs.idle = slices.DeleteFunc(cs.idle, func(o *cell) bool {
		old := time.Since(o.born) >= cmpOr(r.opts.CellAge, defaultCellAge)
		if old {
			evict = append(evict, o)
		}
		return old
	})
	if len(cs.idle) > cellIdleMax {
		evict, cs.idle = append(evict, cs.idle[0]), cs.idle[1:]
	}
	replace := healthy && !fresh && !cs.closed
	cs.mu.Unlock()
	if !keep {
		r.destroyCell(c)
	}
	for _, o := range evict {
		r.destroyCell(o)
	}
	if replace {
		// A cell recycled in good health is replaced ahead of demand.
		r.removals.Add(1)
		go func() {
			defer r.removals.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if n, err := r.startCell(ctx, c.key, c.mem, c.pids); err == nil {
				n.runs = -1 // putCell counts a run
				r.putCell(n, true)
			}
		}()
	}
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (r *Launcher) destroyCell(c *cell) {
	c.att.Close() // the init's stdin ends: it exits, and the cell with it
	r.removals.Add(1)
	go func() {
		defer r.removals.Done()
		// A prepared run cgroup is the host's to remove: its processes
		// die with the cell's init.
		if c.prepared != nil {
			<-c.prepared
		}
		if n := c.next; n != nil {
			n.Kill()
			_ = n.Remove()
		}
		r.removeLater(c.id)
	}()
}

// closeCells destroys the idle cells and keeps no more.
func (r *Launcher) closeCells() {
	cs := &r.cells
	cs.mu.Lock()
	cs.closed = true
	idle := cs.idle
	cs.idle = nil
	cs.mu.Unlock()
	for _, c := range idle {
		r.destroyCell(c)
	}
}

// FlushCells destroys the idle cells (their attach connections may not
// have survived an engine outage); new ones are made on demand.
func (r *Launcher) FlushCells() {
	cs := &r.cells
	cs.mu.Lock()
	idle := cs.idle
	cs.idle = nil
	cs.mu.Unlock()
	for _, c := range idle {
		r.destroyCell(c)
	}
}

// SetCellMemory sets the memory every cell can give one run at least (a
// larger run gets a larger cell). Call it before the first stage.
func (r *Launcher) SetCellMemory(bytes int64) { r.opts.CellMemoryBytes = bytes }

// IdleCells reports the idle cells per image.
func (r *Launcher) IdleCells() map[string]int {
	cs := &r.cells
	cs.mu.Lock()
	defer cs.mu.Unlock()
	out := map[string]int{}
	for _, c := range cs.idle {
		out[c.key.image]++
	}
	return out
}

// WarmCells starts count cells of image for tenant in the background (at
// most cellIdleMax are kept), sized for the stage profile.
func (r *Launcher) WarmCells(ctx context.Context, profile Spec, count int) {
	mem, pids := r.cellNeeds(profile)
	for range min(count, cellIdleMax) {
		go func() {
			c, err := r.startCell(ctx, cellKey{profile.Image, profile.Tenant}, mem, pids)
			if err != nil {
				if ctx.Err() == nil {
					r.log.Warn("warm cell", "image", profile.Image, "err", err)
				}
				return
			}
			c.runs = -1 // putCell counts a run
			r.putCell(c, true)
		}()
	}
}

// startCell creates, attaches and starts a cell, and finds its cgroup.
func (r *Launcher) startCell(ctx context.Context, key cellKey, mem, pids int64) (*cell, error) {
	cfg, host, err := r.cellConfig(key, mem, pids)
	if err != nil {
		return nil, err
	}
	begin := time.Now()
	id, att, err := r.createAttached(ctx, cfg, host, "cell")
	if err != nil {
		return nil, err
	}
	c := &cell{key: key, id: id, att: att, rd: bufio.NewReaderSize(att.Reader, 64<<10),
		mem: mem, pids: pids, born: time.Now()}
	fail := func(err error) (*cell, error) {
		r.destroyCell(c)
		return nil, err
	}
	if err := r.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fail(engineErr("start cell", err))
	}
	if c.cg, err = cgroup.FindCell(id); err != nil {
		return fail(err)
	}
	if err := c.cg.Settle(); err != nil {
		return fail(fmt.Errorf("%w: cell cgroup: %w", ErrEngine, err))
	}
	// The init is alone until the first stage: it is what the cell owns.
	if c.own, err = c.cg.Procs(); err != nil || len(c.own) != 1 {
		return fail(fmt.Errorf("%w: a new cell holds processes %v (%v), not only its init", ErrEngine, c.own, err))
	}
	if err := c.spare(); err != nil {
		return fail(err)
	}
	r.prepare(c)
	if r.opts.OnStart != nil {
		r.opts.OnStart(time.Since(begin))
	}
	return c, nil
}

// isPrepared reports whether the cell's next stage's cgroup and sandbox
// are ready (or no preparation is under way).
func (c *cell) isPrepared() bool {
	if c.prepared == nil {
		return true
	}
	select {
	case <-c.prepared:
		return c.next != nil
	default:
		return false
	}
}

// moveRun moves every process of the cell but its own into run (a cell
// runs one stage at a time: they are the run's), and checks that none is
// left behind.
func (r *Launcher) moveRun(c *cell, run cgroup.Run) error {
	procs, err := c.cg.Procs()
	if err != nil {
		return fmt.Errorf("%w: cell cgroup: %w", ErrEngine, err)
	}
	if pids := slices.DeleteFunc(procs, func(p int) bool { return slices.Contains(c.own, p) }); len(pids) > 0 {
		if err := run.Move(pids); err != nil {
			return fmt.Errorf("%w: %w", ErrEngine, err)
		}
	}
	if own, err := c.cg.Procs(); err != nil || !slices.Equal(own, c.own) {
		return fmt.Errorf("%w: processes appeared in the cell during set-up: %v", ErrEngine, own)
	}
	return nil
}

// prepare makes, in the background, the next stage's cgroup and moves the
// spare sandbox's processes into it as soon as they exist (bubblewrap and
// the run's first process): moving a process between cgroup v1 hierarchies
// takes milliseconds, which a stage would otherwise wait for. takeCell
// waits for it to end.
func (r *Launcher) prepare(c *cell) {
	done := make(chan struct{})
	c.prepared = done
	go func() {
		defer close(done)
		run, err := c.cg.NewRun("run-" + strconv.Itoa(c.runs) + "-" + newNonce()[:8])
		if err != nil {
			return
		}
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(2 * time.Millisecond) {
			procs, err := c.cg.Procs()
			if err == nil && len(procs) >= len(c.own)+2 {
				break
			}
			if err != nil || time.Now().After(deadline) {
				_ = run.Remove()
				return
			}
		}
		if r.moveRun(c, run) != nil {
			return // the stage moves what is left; the cgroup is its
		}
		c.next = &run
	}()
}

// spare tells the cell, checked and idle, to start its next stage's
// sandbox ahead of demand.
func (c *cell) spare() error {
	_ = c.att.Conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	defer func() { _ = c.att.Conn.SetWriteDeadline(time.Time{}) }()
	if _, err := c.att.Conn.Write([]byte{sandboxinit.Spare}); err != nil {
		return engineErr("write to the cell", err)
	}
	return nil
}

func (r *Launcher) cellConfig(key cellKey, mem, pids int64) (*container.Config, *container.HostConfig, error) {
	profile, err := seccomp.Cell()
	if err != nil {
		return nil, nil, err
	}
	cpuSecs := int64(poolCPUBackstop / time.Second) // the init's own; each run sets its program's
	cfg := &container.Config{
		Image:           key.image,
		Entrypoint:      []string{sandboxinit.MountPath},
		Cmd:             []string{sandboxinit.CellArg, strconv.FormatInt(r.opts.TmpBytes, 10)},
		User:            User,
		WorkingDir:      "/work",
		Hostname:        "sandbox",
		Env:             []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		NetworkDisabled: true,
		AttachStdin:     true, AttachStdout: true, AttachStderr: true,
		OpenStdin: true, StdinOnce: true,
		Labels: map[string]string{
			LabelManaged: "true", LabelExecutor: r.opts.ExecutorID, LabelJob: "cell", LabelStage: "cell",
			LabelTenant: key.tenant,
		},
	}
	total := mem + cellOverhead + r.opts.WorkDirBytes
	host := &container.HostConfig{
		NetworkMode:    "none",
		ReadonlyRootfs: true,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges", "seccomp=" + profile},
		// systempaths=unconfined: see the package comment above.
		MaskedPaths:   []string{},
		ReadonlyPaths: []string{},
		IpcMode:       "private",
		LogConfig:     container.LogConfig{Type: "none"},
		Runtime:       cellRuntime(r.opts.OCIRuntime),
		ShmSize:       1 << 20,
		Tmpfs: map[string]string{
			"/work": fmt.Sprintf("rw,exec,nosuid,nodev,size=%d,nr_inodes=%d,uid=65534,gid=65534,mode=0700", r.opts.WorkDirBytes, tmpfsInodes),
		},
		Mounts: initMount(r.opts.InitPath),
		Resources: container.Resources{
			Memory: total, MemorySwap: total,
			NanoCPUs:  r.opts.NanoCPUs,
			PidsLimit: &pids,
			Ulimits:   sandboxUlimits(r.opts.WorkDirBytes, cpuSecs),
		},
	}
	return cfg, host, nil
}

// cellRuntime is the OCI runtime of cells: the runner's, unless that is
// gVisor (bubblewrap builds the run's namespaces with the host kernel).
func cellRuntime(rt string) string {
	if IsGVisor(rt) {
		return ""
	}
	return rt
}

// runInCell runs one stage in c. healthy is false when c must not serve
// another stage.
func (r *Launcher) runInCell(ctx context.Context, spec Spec, c *cell) (out Outcome, healthy bool, err error) {
	// The stage goes to the cell only once its preparation is over: the
	// spare sandbox is then in the next run's cgroup, or will be moved at
	// the ready marker; never both at once.
	if c.prepared != nil {
		select {
		case <-c.prepared:
		case <-ctx.Done():
			return out, false, ctx.Err()
		}
		c.prepared = nil
	}
	nonce := newNonce()
	ready, exceeded := make(chan struct{}), make(chan struct{})
	col := attach.NewCollector(nonce, spec.OutputBytes, spec.CollectMax, func() { close(ready) }, func() { close(exceeded) })
	col.OnStdout = spec.StdoutTee
	// A streamed stdin ends when the program does: the cell reports the
	// run only once its stdin stream is over.
	stderrEnded := make(chan struct{})
	// The program's CPU time is read when its stderr ends: the cell marks
	// that end as soon as the program and everything it started are gone,
	// before the run's own teardown. The collector calls back from its
	// goroutine; the run's cgroup is set before Go, so before any marker.
	var ended struct {
		sync.Mutex
		files *cgroup.Files // the run's, once it has a cgroup
		s     cgroup.Sample
		ok    bool
	}
	var run cgroup.Run
	var endOnce sync.Once
	col.OnStderrEnd = func() {
		endOnce.Do(func() { close(stderrEnded) })
		ended.Lock()
		defer ended.Unlock()
		if ended.files != nil {
			ended.s, ended.ok = ended.files.Read()
		}
	}
	readDone := make(chan error, 1)
	go func() { readDone <- col.Run(c.rd) }()

	goAhead, abandon, written := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		written <- r.feedCell(c, spec, nonce, goAhead, abandon, stderrEnded)
	}()
	// The writer must be done before the cell's stream serves another stage.
	defer func() {
		if !healthy {
			c.att.Close() // unblocks the writer; the cell is destroyed
		}
		close(abandon)
		select {
		case werr := <-written:
			if werr != nil {
				healthy = false
			}
		case <-time.After(cellRecordGrace):
			healthy = false
		}
	}()

	haveRun := false
	defer func() {
		if n := c.next; n != nil {
			// Prepared, but the stage ended before it started a
			// program (the cell dropped the spare sandbox).
			c.next = nil
			n.Kill()
			if n.Remove() != nil {
				healthy = false
			}
		}
		if !haveRun {
			return
		}
		run.Kill()
		if pids, _ := run.Procs(); len(pids) > 0 {
			healthy = false
		}
		if err := run.Remove(); err != nil {
			r.log.Warn("cell: remove run cgroup", "cell", c.id[:12], "err", err)
			healthy = false
		}
		if own, err := c.cg.Procs(); err != nil || !slices.Equal(own, c.own) {
			r.log.Warn("cell: a run left processes behind: destroying the cell", "cell", c.id[:12], "processes", own)
			healthy = false
		}
	}()

	finished := false
	var readErr error
	setup := time.NewTimer(setupTimeout)
	defer setup.Stop()
	select {
	case <-ready:
	case readErr = <-readDone:
		finished = true // reported without starting the program
	case <-setup.C:
		return out, false, fmt.Errorf("%w: the cell did not start the program within %v", ErrCell, setupTimeout)
	case <-ctx.Done():
		return out, false, ctx.Err()
	}
	var base cgroup.Sample
	if !finished {
		// The run's processes wait for Go. Usually they are the spare
		// sandbox's, moved into the run's cgroup while the cell was idle;
		// whatever else of the run is in the cell's cgroup moves now.
		if c.next != nil {
			run, c.next = *c.next, nil
		} else if run, err = c.cg.NewRun("run-" + strconv.Itoa(c.runs) + "-" + nonce[:8]); err != nil {
			return out, false, fmt.Errorf("%w: run cgroup: %w", ErrEngine, err)
		}
		haveRun = true
		if err := r.moveRun(c, run); err != nil {
			return out, false, err
		}
		if pids, err := run.Procs(); err != nil || len(pids) == 0 {
			return out, false, fmt.Errorf("%w: the run's processes are not in its cgroup (%v)", ErrEngine, err)
		}
		if err := run.Limit(cgroup.Limits{Memory: spec.MemoryBytes, Pids: PidsLimit("", spec.Processes) + 1, NanoCPUs: r.opts.NanoCPUs}); err != nil {
			return out, false, fmt.Errorf("%w: %w", ErrEngine, err)
		}
		base, _ = run.Files.Baseline()
		ended.Lock()
		files := run.Files
		ended.files = &files
		ended.Unlock()
		close(goAhead)
	}

	start := time.Now()
	wall := time.NewTimer(spec.WallTime)
	defer wall.Stop()
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	wallC, pollC := wall.C, poll.C
	var grace <-chan time.Time
	killed := false
	kill := func() {
		out.WallTime = time.Since(start)
		killed = true
		wallC, pollC = nil, nil
		run.Kill()
		grace = time.After(cellRecordGrace)
	}
	for !finished {
		select {
		case readErr = <-readDone:
			finished = true
		case <-exceeded:
			// The collector keeps nothing more of this stream, the
			// record included: the cell cannot be kept in step.
			out.OutputExceeded = true
			kill()
			healthy = false
			finished = true
		case <-wallC:
			out.TimedOut = true
			kill()
		case <-pollC:
			if s, ok := run.Files.Read(); ok {
				if spec.CPUTime > 0 && s.Minus(base).CPU > spec.CPUTime {
					out.CPUExceeded = true
					kill()
				}
			}
		case <-grace:
			return out, false, fmt.Errorf("%w: the cell did not report a run killed %v ago (stage %s of %s, %s)", ErrCell, cellRecordGrace, spec.Stage, spec.Image, spec.Argv[0])
		case <-ctx.Done():
			kill()
			return out, false, ctx.Err()
		}
	}
	if !killed {
		out.WallTime = time.Since(start)
	}
	healthy = !out.OutputExceeded
	if haveRun {
		// Everything of the run is gone by now (its pid namespace ended
		// before the cell reported): the figures are final.
		if s, ok := run.Files.Read(); ok {
			s = s.Minus(base)
			out.CPUTime, out.MemoryPeakBytes = s.CPU, s.PeakMem
			out.OOMKilled, out.ProcessLimitHit = s.OOMKills > 0, s.PidsMax > 0
		}
		ended.Lock()
		if ended.ok {
			out.CPUTime = min(out.CPUTime, ended.s.Minus(base).CPU)
		}
		ended.Unlock()
	}
	out.Stdout, out.Stderr = col.Stdout(), col.Stderr()
	switch {
	case out.OutputExceeded:
		// Killed at the cap; the collector kept nothing more, the
		// record included (the cell is destroyed).
		out.Signal, out.ExitCode = 9, 137
	case readErr != nil || col.Record() == nil:
		// The cell itself ended (the engine, or its attach connection,
		// went away; or its init died): not the program's doing.
		r.log.Warn("cell lost", "cell", c.id[:12], "job", spec.JobID, "err", readErr)
		return out, false, fmt.Errorf("%w: the cell's stream ended during the stage: %v", ErrCell, readErr)
	default:
		rec := col.Record()
		r.useRecord(&out, col, false)
		if rec.Dirty {
			healthy = false
		}
		switch {
		case killed:
			out.Signal, out.ExitCode = 9, 137 // we killed it
		case rec.Lost:
			out.InitLost = true
			out.Signal, out.ExitCode = 9, 137
		}
	}
	return out, healthy, nil
}

// feedCell writes one stage to the cell: header and files, then, once the
// run is in its cgroup, the Go byte and the program's stdin.
func (r *Launcher) feedCell(c *cell, spec Spec, nonce string, goAhead, abandon, stderrEnded <-chan struct{}) error {
	hdr := sandboxinit.Header{
		Nonce: nonce, Argv: spec.Argv, Env: spec.Env, Dir: "/work",
		TarSize: int64(len(spec.Files)), StdinSize: stdinSize(spec), StdinStream: spec.StdinStream != nil,
		Collect: spec.Collect, CollectMax: spec.CollectMax, OutputFiles: spec.OutputFiles,
		CPUSeconds: cpuRlimit(spec.CPUTime, false),
	}
	if err := sandboxinit.WriteHeader(c.att.Conn, hdr); err != nil {
		return err
	}
	if _, err := c.att.Conn.Write(spec.Files); err != nil {
		return err
	}
	select {
	case <-goAhead:
	case <-abandon:
		return nil
	}
	if _, err := c.att.Conn.Write([]byte{sandboxinit.Go}); err != nil {
		return err
	}
	if spec.StdinStream != nil {
		return feedStream(c.att.Conn, spec.StdinStream, abandon, stderrEnded)
	}
	_, err := c.att.Conn.Write(spec.Stdin)
	return err
}

// newNonce is a stage's random nonce: only the executor and the init know it.
func newNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
