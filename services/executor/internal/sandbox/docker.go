package sandbox

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"

	"github.com/airlockrun/airlock/services/executor/internal/attach"
	"github.com/airlockrun/airlock/services/executor/internal/cgroup"
	"github.com/airlockrun/airlock/services/executor/internal/seccomp"
	"github.com/airlockrun/airlock/services/executor/sandboxinit"
)

// Options configure a Launcher.
type Options struct {
	// ExecutorID is written into every container's labels.
	ExecutorID string
	// InitPath is the host path of the static binary mounted as the init.
	InitPath string
	// OCIRuntime is the OCI runtime ("" for the engine default, or "runsc").
	OCIRuntime string
	// WorkDirBytes sizes the /work tmpfs; TmpBytes sizes /tmp.
	WorkDirBytes int64
	TmpBytes     int64
	// NanoCPUs is the CPU share of one sandbox (1e9 = one core).
	NanoCPUs int64
	// OnStart, when set, is told how long create, attach and start took.
	OnStart func(time.Duration)

	// Isolation is the mode of a stage whose Spec names none ("":
	// container, or gvisor when Runtime is runsc).
	Isolation string
	// Cells (namespace isolation): the memory every cell can give one run
	// at least (a larger run gets a larger cell), and how many stages and
	// how long a cell serves before it is recycled (0: the defaults, 500
	// stages and 10 minutes).
	CellMemoryBytes int64
	CellRuns        int
	CellAge         time.Duration
}

// initThreads is the pids budget of the init on top of the program's: the
// pids limit counts threads, and the init (a Go program) holds about ten of
// them, started before the program runs (see sandboxinit.Main).
const initThreads = 12

// tmpfsInodes bounds the files of /work and /tmp each (inode exhaustion; a
// Go build cache holds a few thousand). gVisor ignores the option: its
// tmpfs inodes live in the sentry's memory, under the memory limit.
const tmpfsInodes = 65536

// pollInterval is how often the cgroup is sampled while a program runs.
const pollInterval = 50 * time.Millisecond

// Launcher starts sandboxes through the Docker Engine API.
type Launcher struct {
	cli  *client.Client
	opts Options
	log  *slog.Logger

	removals sync.WaitGroup
	pool     *pool // nil: every stage starts a cold container
	cells    cells
}

// ErrEngine wraps failures of the Docker engine (as opposed to the program).
var ErrEngine = errors.New("docker engine")

// ErrRefused wraps the engine's refusal of one stage's parameters (a limit
// it does not accept): that job's fault, not the engine's health, and trying
// it again would only be refused again.
var ErrRefused = errors.New("the engine refused the sandbox's parameters")

// NewLauncher returns a Launcher using cli.
func NewLauncher(cli *client.Client, opts Options, log *slog.Logger) *Launcher {
	if opts.WorkDirBytes == 0 {
		opts.WorkDirBytes = 128 << 20
	}
	if opts.TmpBytes == 0 {
		opts.TmpBytes = 64 << 20
	}
	if opts.NanoCPUs == 0 {
		opts.NanoCPUs = 1e9
	}
	return &Launcher{cli: cli, opts: opts, log: log}
}

// Wait blocks until every background container removal has finished.
func (r *Launcher) Wait() { r.removals.Wait() }

func engineErr(op string, err error) error {
	return fmt.Errorf("%s: %w: %w", op, ErrEngine, err)
}

// Run runs one stage. It returns an error only for infrastructure faults; a
// program that fails, times out or is killed is an Outcome.
func (r *Launcher) Run(ctx context.Context, spec Spec) (Outcome, error) {
	mode := r.Isolation(spec)
	switch mode {
	case IsolationNamespace:
		return r.runCell(ctx, spec)
	case IsolationGVisor:
		if !IsGVisor(cmp.Or(spec.OCIRuntime, r.opts.OCIRuntime)) {
			spec.OCIRuntime = "runsc"
		}
	case IsolationContainer:
		if IsGVisor(cmp.Or(spec.OCIRuntime, r.opts.OCIRuntime)) {
			return Outcome{}, fmt.Errorf("%w: isolation %q with runtime %q", ErrRefused, mode, cmp.Or(spec.OCIRuntime, r.opts.OCIRuntime))
		}
	default:
		return Outcome{}, fmt.Errorf("%w: unknown isolation %q", ErrRefused, mode)
	}
	b, err := r.acquire(ctx, spec)
	if err != nil {
		return Outcome{Isolation: mode}, err
	}
	defer r.removeAfter(b.id, b.named)
	defer b.att.Close()
	out, err := r.runIn(ctx, spec, b)
	out.Isolation, out.Sandbox = mode, b.id
	return out, err
}

// Isolation is the mode spec runs in.
func (r *Launcher) Isolation(spec Spec) string {
	if m := cmp.Or(spec.Isolation, r.opts.Isolation); m != "" {
		return m
	}
	if IsGVisor(cmp.Or(spec.OCIRuntime, r.opts.OCIRuntime)) {
		return IsolationGVisor
	}
	return IsolationContainer
}

// box is a started sandbox container whose init waits for its header.
type box struct {
	id     string
	att    types.HijackedResponse
	limits limits // as created
	// named is closed once a warm container carries its job's name (nil
	// for a cold one, which is labelled with its job from the start).
	named <-chan struct{}
}

// acquire returns a box for spec: a warm one from the pool with the
// stage's limits applied, or a new one.
func (r *Launcher) acquire(ctx context.Context, spec Spec) (*box, error) {
	if b := r.pool.take(ctx, r, spec); b != nil {
		return b, nil
	}
	return r.start(ctx, spec)
}

// start creates, attaches and starts a container for spec.
func (r *Launcher) start(ctx context.Context, spec Spec) (*box, error) {
	cfg, hostCfg, err := r.containerConfig(spec)
	if err != nil {
		return nil, err
	}
	begin := time.Now()
	id, att, err := r.createAttached(ctx, cfg, hostCfg, "container")
	if err != nil {
		return nil, err
	}
	if err := r.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		att.Close()
		r.removeLater(id)
		return nil, engineErr("start container", err)
	}
	if r.opts.OnStart != nil {
		r.opts.OnStart(time.Since(begin))
	}
	return &box{id: id, att: att, limits: limitsOf(hostCfg.Resources)}, nil
}

// createAttached creates a sandbox container (what names it in errors:
// "container" or "cell") and attaches to its streams. The engine's refusal
// of a parameter is ErrRefused; a warning (a limit it would not enforce)
// is an error.
func (r *Launcher) createAttached(ctx context.Context, cfg *container.Config, host *container.HostConfig, what string) (string, types.HijackedResponse, error) {
	created, err := r.cli.ContainerCreate(ctx, cfg, host, nil, nil, "")
	if cerrdefs.IsInvalidArgument(err) {
		return "", types.HijackedResponse{}, fmt.Errorf("create %s: %w: %w", what, ErrRefused, err)
	}
	if err != nil {
		return "", types.HijackedResponse{}, engineErr("create "+what, err)
	}
	id := created.ID
	if len(created.Warnings) > 0 {
		r.removeLater(id)
		return "", types.HijackedResponse{}, fmt.Errorf("create %s: %w: the engine ignored a limit: %s", what, ErrEngine, strings.Join(created.Warnings, "; "))
	}
	att, err := r.cli.ContainerAttach(ctx, id, container.AttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		r.removeLater(id)
		return "", types.HijackedResponse{}, engineErr("attach "+what, err)
	}
	return id, att, nil
}

// setupTimeout bounds the set-up of a stage inside its container: reading
// the header and the files and unpacking them, before the program starts.
// It is not part of the program's limits.
const setupTimeout = 2 * time.Minute

// runIn feeds spec to the init of b and measures the stage.
//
// The program's figures count from the moment the init is ready to start
// it: the init reports ready, the executor takes a baseline of the
// container's cgroup (and restarts its memory peak), then sends the Go byte.
// The container's and the init's set-up are therefore never the program's
// CPU time, memory or wall time, and its limits apply to the program alone.
func (r *Launcher) runIn(ctx context.Context, spec Spec, b *box) (Outcome, error) {
	var out Outcome
	id, att := b.id, b.att
	nonce := newNonce()
	gvisor := IsGVisor(cmp.Or(spec.OCIRuntime, r.opts.OCIRuntime))

	ready, exceeded := make(chan struct{}), make(chan struct{})
	col := attach.NewCollector(nonce, spec.OutputBytes, spec.CollectMax, func() { close(ready) }, func() { close(exceeded) })
	col.OnStdout = spec.StdoutTee
	readDone := make(chan error, 1)
	go func() { readDone <- col.Run(att.Reader) }()

	// Feed the init: header and files; once the baseline is taken, the Go
	// byte and the program's stdin. The stream stays open: closing it
	// releases the init once the cgroup is read.
	goAhead, abandon := make(chan struct{}), make(chan struct{})
	defer close(abandon)
	go func() {
		hdr := sandboxinit.Header{
			Nonce: nonce, Argv: spec.Argv, Env: spec.Env, Dir: "/work",
			TarSize: int64(len(spec.Files)), StdinSize: stdinSize(spec), StdinStream: spec.StdinStream != nil,
			Collect: spec.Collect, CollectMax: spec.CollectMax, OutputFiles: spec.OutputFiles,
		}
		if err := sandboxinit.WriteHeader(att.Conn, hdr); err != nil {
			return
		}
		if _, err := att.Conn.Write(spec.Files); err != nil {
			return
		}
		select {
		case <-goAhead:
		case <-abandon:
			return
		}
		if _, err := att.Conn.Write([]byte{sandboxinit.Go}); err != nil {
			return
		}
		if spec.StdinStream != nil {
			_ = feedStream(att.Conn, spec.StdinStream, abandon, nil)
			return
		}
		_, _ = att.Conn.Write(spec.Stdin)
	}()

	cg, haveFiles := cgroup.Find(id)
	var base cgroup.Sample
	var readErr error
	finished := false
	setup := time.NewTimer(setupTimeout)
	defer setup.Stop()
	select {
	case <-ready:
		if haveFiles {
			base, _ = cg.Baseline()
		}
		close(goAhead)
	case readErr = <-readDone:
		// The init reported without starting the program: nothing of
		// the container's counts.
		finished = true
		if haveFiles {
			base, _ = cg.Read()
		}
	case <-setup.C:
		r.kill(id)
		return out, fmt.Errorf("%w: the sandbox did not start the program within %v", ErrEngine, setupTimeout)
	case <-ctx.Done():
		r.kill(id)
		return out, ctx.Err()
	}

	start := time.Now()
	timer := time.NewTimer(spec.WallTime)
	defer timer.Stop()
	// The CPU limit is the program's: under runc the cgroup holds nothing
	// else. Under gVisor it also holds the sandbox's own kernel (sentry,
	// gofer), so the cgroup is only a backstop there; the program's CPU
	// is the guest kernel's account, which the init reports, and its
	// per-process RLIMIT_CPU.
	cpuLimit := spec.CPUTime
	if gvisor {
		cpuLimit = gvisorCPUBackstop(spec.CPUTime)
	}

	// Sample the cgroup while the program runs: a CPU-time watchdog, and
	// the last measurements if the init is lost.
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	var last cgroup.Sample
	var haveLast bool
wait:
	for !finished {
		select {
		case readErr = <-readDone:
			finished = true
		case <-exceeded:
			out.OutputExceeded = true
			break wait
		case <-timer.C:
			out.TimedOut = true
			break wait
		case <-poll.C:
			if s, ok := cg.Read(); haveFiles && ok {
				last, haveLast = s.Minus(base), true
				if spec.CPUTime > 0 && last.CPU > cpuLimit {
					out.CPUExceeded = true
					break wait
				}
			}
		case <-ctx.Done():
			r.kill(id)
			return out, ctx.Err()
		}
	}
	out.WallTime = time.Since(start)

	// The init is still alive (unless the stream ended): read the cgroup now.
	sample, haveCgroup := cg.Read()
	haveCgroup = haveCgroup && haveFiles
	if haveCgroup {
		sample = sample.Minus(base)
	} else if haveLast {
		sample, haveCgroup = last, true // the container is already gone
	}
	if haveCgroup {
		out.CPUTime, out.MemoryPeakBytes = sample.CPU, sample.PeakMem
		out.OOMKilled, out.ProcessLimitHit = sample.OOMKills > 0, sample.PidsMax > 0
	} else {
		r.readStats(id, &out)
	}
	out.Stdout, out.Stderr = col.Stdout(), col.Stderr()
	if finished && readErr == nil && col.Record() != nil && haveCgroup {
		// The common case: the init reported and the cgroup answered. The
		// end of stdin lets the init exit, which ends the container without
		// a kill through the engine; removing it is off the critical path.
		_ = att.CloseWrite()
		r.useRecord(&out, col, gvisor)
		return out, nil
	}
	r.kill(id)
	if !finished {
		select {
		case readErr = <-readDone:
		case <-time.After(10 * time.Second):
			return out, fmt.Errorf("read output: %w: the attach stream did not end after kill", ErrEngine)
		}
	}
	insp, err := r.inspect(id)
	if err != nil {
		return out, err
	}
	if insp.State != nil && insp.State.OOMKilled {
		out.OOMKilled = true
	}
	out.Stdout, out.Stderr = col.Stdout(), col.Stderr()
	if col.Exceeded() {
		out.OutputExceeded = true
	}
	switch {
	case col.Record() != nil:
		r.useRecord(&out, col, gvisor)
	case out.TimedOut || out.OutputExceeded || out.CPUExceeded:
		out.Signal, out.ExitCode = 9, 137 // we killed it
	case errors.Is(readErr, attach.ErrStreamEnded) || readErr == nil:
		// The init died before reporting (the OOM killer can pick it): the
		// program's own status is unknown; everything in the container was
		// killed with it.
		out.InitLost = true
		out.Signal, out.ExitCode = 9, 137
		r.log.Warn("sandbox init lost", "container", id[:12], "job", spec.JobID,
			"oom", out.OOMKilled, "pids_limit_hit", out.ProcessLimitHit)
	default:
		return out, fmt.Errorf("read output: %w", readErr)
	}
	return out, nil
}

// useRecord takes the init's report: the program's exit status, the build
// it collected and, under gVisor, its CPU time as the guest kernel counted
// it (the cgroup there also holds the sandbox's own work).
func (r *Launcher) useRecord(out *Outcome, col *attach.Collector, gvisor bool) {
	rec := col.Record()
	out.ExitCode, out.Signal, out.InitError = rec.ExitCode, rec.Signal, rec.Error
	out.Artifacts = col.Artifact()
	if gvisor && rec.Error == "" {
		// The guest charges each 10 ms tick to every task it finds
		// running, so many runnable tasks overcount (a fork bomb: 31 s in
		// 3 s of wall time); the whole sandbox's cgroup time, already in
		// out.CPUTime, bounds what the program can really have used.
		out.CPUTime = min(time.Duration(max(rec.ChildrenCPUNS, 0)), out.CPUTime)
	}
}

// gvisorCPUBackstop is the cgroup CPU at which a gVisor sandbox is killed
// whatever its program's own account says: the sentry's and gofer's work on
// the program's behalf is bounded too, at twice the program's limit plus a
// second.
func gvisorCPUBackstop(limit time.Duration) time.Duration { return 2*limit + time.Second }

// IsGVisor reports whether an OCI runtime name is gVisor's runsc (also
// under another registered name such as "runsc-kvm").
func IsGVisor(runtime string) bool { return strings.HasPrefix(runtime, "runsc") }

// gVisor's sentry, gofer and ptrace stubs are host threads in the
// container's cgroup: a bash and one child already hold about 45, and every
// guest process adds about eight. The pids limit then only protects the
// host; the program's own limit is RLIMIT_NPROC, which gVisor enforces per
// sandbox (under runc it would be per uid across the whole host, so runc
// containers use the pids cgroup instead).
const (
	gvisorBaseTasks    = 256
	gvisorTasksPerProc = 16
)

// PidsLimit is the container's pids cgroup limit for a program allowed
// processes processes and threads under the OCI runtime rt.
func PidsLimit(rt string, processes int64) int64 {
	if IsGVisor(rt) {
		return gvisorBaseTasks + gvisorTasksPerProc*processes
	}
	return processes + initThreads
}

func (r *Launcher) containerConfig(spec Spec) (*container.Config, *container.HostConfig, error) {
	rt := cmp.Or(spec.OCIRuntime, r.opts.OCIRuntime)
	cpuSecs := cpuRlimit(spec.CPUTime, IsGVisor(rt))
	profile, err := seccomp.Sandbox()
	if err != nil {
		return nil, nil, err
	}
	pids := PidsLimit(rt, spec.Processes)
	ulimits := sandboxUlimits(r.opts.WorkDirBytes, cpuSecs)
	if IsGVisor(rt) {
		nproc := spec.Processes + initThreads
		ulimits = append(ulimits, &container.Ulimit{Name: "nproc", Soft: nproc, Hard: nproc})
	}
	cfg := &container.Config{
		Image:           spec.Image,
		Entrypoint:      []string{sandboxinit.MountPath},
		Cmd:             []string{sandboxinit.Arg},
		User:            User,
		WorkingDir:      "/work",
		Hostname:        "sandbox",
		Env:             []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		NetworkDisabled: true,
		AttachStdin:     true,
		AttachStdout:    true,
		AttachStderr:    true,
		OpenStdin:       true,
		StdinOnce:       true,
		Labels: map[string]string{
			LabelManaged:  "true",
			LabelExecutor: r.opts.ExecutorID,
			LabelJob:      spec.JobID,
			LabelStage:    spec.Stage,
		},
	}
	host := &container.HostConfig{
		NetworkMode:    "none",
		ReadonlyRootfs: true,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges", "seccomp=" + profile},
		IpcMode:        "private",
		LogConfig:      container.LogConfig{Type: "none"},
		Runtime:        rt,
		ShmSize:        16 << 20,
		Tmpfs: map[string]string{
			"/work": fmt.Sprintf("rw,exec,nosuid,nodev,size=%d,nr_inodes=%d,uid=65534,gid=65534,mode=0700", r.opts.WorkDirBytes, tmpfsInodes),
			"/tmp":  fmt.Sprintf("rw,exec,nosuid,nodev,size=%d,nr_inodes=%d,mode=1777", r.opts.TmpBytes, tmpfsInodes),
		},
		Mounts: initMount(r.opts.InitPath),
		Resources: container.Resources{
			Memory:     spec.MemoryBytes,
			MemorySwap: spec.MemoryBytes,
			NanoCPUs:   r.opts.NanoCPUs,
			PidsLimit:  &pids,
			Ulimits:    ulimits,
		},
	}
	return cfg, host, nil
}

// cpuRlimit is the per-process CPU rlimit (whole seconds) of a stage:
// under runc a backstop a second past the limit, the host's cgroup watchdog
// being the exact one; under gVisor the guest kernel's enforcement of the
// program's own CPU, at the limit rounded up (see gvisorCPUBackstop).
func cpuRlimit(limit time.Duration, gvisor bool) int64 {
	secs := int64((limit + time.Second - 1) / time.Second)
	if !gvisor || secs == 0 {
		secs++
	}
	return secs
}

// sandboxUlimits are the rlimits of every sandbox process.
func sandboxUlimits(workDirBytes, cpuSecs int64) []*container.Ulimit {
	return []*container.Ulimit{
		{Name: "nofile", Soft: 256, Hard: 256},
		{Name: "fsize", Soft: workDirBytes, Hard: workDirBytes},
		{Name: "core", Soft: 0, Hard: 0},
		{Name: "stack", Soft: 64 << 20, Hard: 64 << 20},
		{Name: "cpu", Soft: cpuSecs, Hard: cpuSecs + 1},
	}
}

// initMount mounts the init binary read-only at its place.
func initMount(path string) []mount.Mount {
	return []mount.Mount{{Type: mount.TypeBind, Source: path, Target: sandboxinit.MountPath, ReadOnly: true}}
}

// readStats takes one sample of the container's cgroup: total CPU time and
// peak memory. A container whose init already died has no cgroup left.
func (r *Launcher) readStats(id string, out *Outcome) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := r.cli.ContainerStatsOneShot(ctx, id)
	if err != nil {
		r.log.Warn("read container stats", "container", id[:12], "err", err)
		return
	}
	defer resp.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		r.log.Warn("decode container stats", "container", id[:12], "err", err)
		return
	}
	out.CPUTime = time.Duration(st.CPUStats.CPUUsage.TotalUsage)
	peak := st.MemoryStats.MaxUsage // cgroup v1
	if peak == 0 {
		peak = st.MemoryStats.Usage // cgroup v2 reports no peak through the engine
	}
	out.MemoryPeakBytes = int64(peak)
}

func (r *Launcher) kill(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.cli.ContainerKill(ctx, id, "KILL"); err != nil && !isGone(err) {
		r.log.Warn("kill container", "container", id[:12], "err", err)
	}
}

func (r *Launcher) inspect(id string) (container.InspectResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The kill is asynchronous: wait until the engine has seen the exit.
	waitC, errC := r.cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case <-waitC:
	case err := <-errC:
		if err != nil && !isGone(err) {
			return container.InspectResponse{}, engineErr("wait for container", err)
		}
	}
	insp, err := r.cli.ContainerInspect(ctx, id)
	if err != nil {
		return insp, engineErr("inspect container", err)
	}
	return insp, nil
}

// removeLater removes the container off the critical path, with a fresh
// context so that a cancelled job still cleans up.
func (r *Launcher) removeLater(id string) { r.removeAfter(id, nil) }

// removeAfter is removeLater once after is closed (nil: at once).
func (r *Launcher) removeAfter(id string, after <-chan struct{}) {
	r.removals.Add(1)
	go func() {
		defer r.removals.Done()
		if after != nil {
			<-after
		}
		r.awaitExit(id)
		// Keep trying through an engine outage (about five minutes); the
		// reaper at the next start (and Close) catch anything left.
		for attempt := 0; attempt < 12; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := r.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
			cancel()
			if err == nil || isGone(err) {
				return
			}
			r.log.Warn("remove container", "container", id[:12], "attempt", attempt+1, "err", err)
			time.Sleep(min(time.Duration(1<<attempt)*time.Second, 30*time.Second))
		}
	}()
}

// exitGrace is how long a removal waits for a released init to end its
// container by itself before the removal kills it.
const exitGrace = 5 * time.Second

// awaitExit waits (at most exitGrace) until the container is not running:
// removing a running container costs the engine a kill.
func (r *Launcher) awaitExit(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), exitGrace)
	defer cancel()
	waitC, errC := r.cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case <-waitC:
	case <-errC:
	}
}

func isGone(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "No such container") || strings.Contains(msg, "is not running") ||
		strings.Contains(msg, "removal of container") && strings.Contains(msg, "is already in progress")
}

// Reap removes every sandbox container labelled with this executor's id: what
// an earlier incarnation left behind after a crash. It returns how many.
func (r *Launcher) Reap(ctx context.Context) (int, error) {
	list, err := r.cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", LabelExecutor+"="+r.opts.ExecutorID)),
	})
	if err != nil {
		return 0, engineErr("list containers", err)
	}
	for _, c := range list {
		if err := r.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !isGone(err) {
			return 0, engineErr("remove leftover container", err)
		}
	}
	return len(list), nil
}

// TarFiles builds the archive a stage unpacks into /work. Names must already
// be validated (contracts.ValidFileName).
func TarFiles(files map[string][]byte, order []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range order {
		data := files[name]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data))}); err != nil {
			return nil, fmt.Errorf("tar %s: %w", name, err)
		}
		if _, err := tw.Write(data); err != nil {
			return nil, fmt.Errorf("tar %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	return buf.Bytes(), nil
}
