package sandboxinit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// A cell is a long-lived sandbox container (namespace isolation mode) whose
// init, started with CellArg, runs one program after another, each in a
// fresh sandbox of its own made by bubblewrap: new user, pid, mount, IPC,
// UTS, network and cgroup namespaces; the run's files bound on /work from a
// directory of the cell's /work made for it alone; fresh sized tmpfs on
// /tmp and /dev/shm; a new /proc with the kernel's sensitive files masked
// again; a minimal /dev; the program as uid 65534 without capabilities,
// unable to create user namespaces, under RunFilter on top of the cell's
// seccomp profile.
//
// The exchange with the executor is the container's, repeated: a Header
// (with TmpSize and CPUSeconds), the tar, and once the cell has written
// ReadyMarker, the Go byte and exactly Header.StdinSize bytes of stdin;
// then the cell reports a Record (and artifact) as a container's init
// does, and reads the next Header. The end of stdin ends the cell.
//
// Between ReadyMarker and Go, the run's processes (bubblewrap and the run's
// first process, RunArg, waiting for the Go byte) are all that exists in
// the cell besides its init: the executor moves them into a cgroup of
// their own, which it owns, and counts the program's CPU time, memory and
// OOM kills there. When the run ends its pid namespace is gone, and with it
// everything the program started.

// CellArg starts the binary as a cell's init.
const CellArg = "__airlock_cell"

// RunArg starts the binary as the first process of one run inside a cell:
// it reports to the cell, waits for the Go byte, starts the program, reaps
// everything and reports the program's status.
const RunArg = "__airlock_run"

// Bwrap is bubblewrap's path in the images.
const Bwrap = "/usr/bin/bwrap"

// runID is the uid and gid of the program inside its user namespace: the
// cell's own (nobody), mapped to itself.
const runID = "65534"

// The descriptors bubblewrap passes on to the run's first process (and the
// one it reads itself).
const (
	fdStatus  = 3 // run → cell: "ready\n", then the program's Record line
	fdJob     = 4 // cell → run: the job (a JSON line), then the Go byte
	fdSeccomp = 5 // bubblewrap reads RunFilter here
	fdStderr  = 6 // the container's stderr: the program's fd 2
)

// readyLine is what the run's first process writes when it waits for Go.
const readyLine = "ready\n"

// Spare is the byte the executor sends a cell once it has checked the cell
// after a stage (and after its start): the cell then starts the sandbox of
// its next stage ahead of demand (bubblewrap and the run's first process,
// waiting for a job). A header's first byte is never Spare (headers are
// shorter than 16 MB).
const Spare = 'S'

// CellMain runs a cell's init: one run per Header until stdin ends. Its
// argument is the size of each run's /tmp and /dev/shm in bytes.
func CellMain(args []string) int {
	shield()
	c := &cellInit{tmp: "67108864"}
	if len(args) > 0 {
		if n, err := strconv.ParseInt(args[0], 10, 64); err == nil && n >= 1<<20 {
			c.tmp = args[0]
		}
	}
	var err error
	if c.filter, err = RunFilter(); err != nil {
		fmt.Fprintf(os.Stderr, "airlock cell: %v\n", err)
		return 125
	}
	c.masks = procMasks()
	c.in, c.gone = watchStdin()
	var first [1]byte
	for {
		if _, err := io.ReadFull(c.in, first[:]); err != nil {
			c.drop()
			return 0 // the executor is done with this cell
		}
		if first[0] == Spare {
			if c.spare == nil {
				c.spare = c.start() // a failure shows when a stage uses it
			}
			continue
		}
		h, err := ReadHeader(io.MultiReader(bytes.NewReader(first[:]), c.in))
		if err != nil {
			fmt.Fprintf(os.Stderr, "airlock cell: %v\n", err)
			return 125
		}
		sb := c.spare
		c.spare = nil
		if sb == nil {
			sb = c.start()
		}
		rec, artifact := c.run(h, sb)
		if !sb.stderrEnded {
			endStderr(h.Nonce)
		}
		reportStdout(h.Nonce, rec, artifact)
	}
}

// cellInit is a cell's init's state.
type cellInit struct {
	tmp    string // bytes of each run's /tmp and /dev/shm
	filter []byte
	masks  []string
	seq    int
	spare  *runSandbox
	// in is the cell's stdin; gone is closed when it ends (the executor
	// is gone or done): a run under way is killed then.
	in   io.Reader
	gone <-chan struct{}
}

// watchStdin reads the cell's stdin in a goroutine of its own, so that its
// end is seen at once, even while a run is under way.
func watchStdin() (io.Reader, <-chan struct{}) {
	pr, pw := io.Pipe()
	gone := make(chan struct{})
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := os.Stdin.Read(buf)
			if n > 0 {
				if _, werr := pw.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				close(gone)
				_ = pw.CloseWithError(io.EOF)
				return
			}
		}
	}()
	return pr, gone
}

// runSandbox is one run's sandbox, started: bubblewrap, and in it the run's
// first process waiting for its job.
type runSandbox struct {
	dir     string // the run's /work, in the cell's /work
	cmd     *exec.Cmd
	files   closers
	stdinW  *os.File // the program's stdin
	jobW    *os.File // the job, then the Go byte
	status  *bufio.Reader
	errDone chan struct{}
	errBuf  bytes.Buffer
	err     error // the sandbox could not be started
	// stderrEnded: the stage's stderr marker is written (once the
	// program's status is known).
	stderrEnded bool
}

// start starts the sandbox of the next run.
func (c *cellInit) start() *runSandbox {
	c.seq++
	sb := &runSandbox{dir: filepath.Join("/work", ".run"+strconv.Itoa(c.seq)), errDone: make(chan struct{})}
	fail := func(format string, a ...any) *runSandbox {
		sb.err = fmt.Errorf(format, a...)
		sb.files.close()
		close(sb.errDone)
		return sb
	}
	if err := os.Mkdir(sb.dir, 0o700); err != nil {
		return fail("work dir: %v", err)
	}
	args := []string{Bwrap,
		"--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-net", "--unshare-uts", "--unshare-cgroup",
		"--disable-userns", "--uid", runID, "--gid", runID,
		"--die-with-parent", "--as-pid-1", "--new-session",
		"--ro-bind", "/", "/",
		"--bind", sb.dir, "/work",
		"--size", c.tmp, "--tmpfs", "/tmp",
		"--proc", "/proc", "--dev", "/dev",
		"--size", c.tmp, "--tmpfs", "/dev/shm",
	}
	args = append(args, c.masks...)
	args = append(args, "--chdir", "/work", "--seccomp", strconv.Itoa(fdSeccomp), "--", MountPath, RunArg)

	stdinR, stdinW, err1 := sb.files.pipe()
	statusR, statusW, err2 := sb.files.pipe()
	jobR, jobW, err3 := sb.files.pipe()
	seccompR, seccompW, err4 := sb.files.pipe()
	errR, errW, err5 := sb.files.pipe()
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return fail("run pipes: %v", err)
	}
	// The filter is far smaller than a pipe's buffer.
	if _, err := seccompW.Write(c.filter); err != nil {
		return fail("seccomp filter: %v", err)
	}
	_ = seccompW.Close()
	sb.cmd = &exec.Cmd{
		Path: Bwrap, Args: args, Env: []string{"PATH=/usr/bin:/bin"},
		Stdin: stdinR, Stdout: os.Stdout, Stderr: errW,
		ExtraFiles:  []*os.File{statusW, jobR, seccompR, os.Stderr},
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	if err := sb.cmd.Start(); err != nil {
		sb.cmd = nil
		return fail("start bubblewrap: %v", err)
	}
	for _, f := range []*os.File{stdinR, statusW, jobR, seccompR, errW} {
		_ = f.Close() // the run holds them now
	}
	sb.stdinW, sb.jobW, sb.status = stdinW, jobW, bufio.NewReader(statusR)
	// bubblewrap's own complaints (a set-up that failed), kept short.
	go func() {
		defer close(sb.errDone)
		_, _ = io.Copy(&capped{&sb.errBuf, 2048}, errR)
	}()
	return sb
}

// drop ends a spare sandbox that will not serve.
func (c *cellInit) drop() {
	if sb := c.spare; sb != nil {
		c.spare = nil
		sb.abandon()
		_ = removeTree(sb.dir)
	}
}

// abandon kills the sandbox and waits for its end.
func (sb *runSandbox) abandon() {
	if sb.cmd != nil {
		_ = sb.cmd.Process.Kill()
		_ = sb.cmd.Wait()
	}
	sb.files.close()
	<-sb.errDone
}

// run runs one stage in sb. It consumes exactly what the executor sends for
// this stage, whatever happens.
func (c *cellInit) run(h Header, sb *runSandbox) (rec Record, artifact []byte) {
	tar := io.LimitReader(c.in, h.TarSize)
	defer func() {
		_, _ = io.Copy(io.Discard, tar) // what an error left unread
		if err := removeTree(sb.dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			rec.Dirty = true
		}
	}()
	if h.Dir != "/work" {
		sb.abandon()
		return Record{ExitCode: 126, Error: fmt.Sprintf("a cell runs in /work, not %s", h.Dir)}, nil
	}
	if sb.err != nil {
		return Record{ExitCode: 126, Error: sb.err.Error()}, nil
	}
	if err := extract(tar, sb.dir); err != nil {
		sb.abandon()
		return Record{ExitCode: 126, Error: fmt.Sprintf("unpack files: %v", err)}, nil
	}
	path, err := lookPath(h.Argv[0], h.Env)
	if err != nil {
		sb.abandon()
		return Record{ExitCode: 127, Error: err.Error()}, nil
	}
	rec = sb.runJob(c, h, runJob{CPUSeconds: h.CPUSeconds, Path: path, Argv: h.Argv, Env: h.Env})
	if rec.Error == "" && !rec.Lost && h.Collect && rec.ExitCode == 0 && rec.Signal == 0 {
		artifact, err = collect(sb.dir, h.CollectMax)
		if err != nil {
			rec.Error = err.Error()
		}
		rec.ArtifactSize = int64(len(artifact))
	} else if rec.Error == "" && !rec.Lost && !h.Collect && len(h.OutputFiles) > 0 {
		artifact = collectFiles(sb.dir, h.OutputFiles, h.CollectMax)
		rec.ArtifactSize = int64(len(artifact))
	}
	return rec, artifact
}

// runJob is what the cell tells a run's first process to start.
type runJob struct {
	CPUSeconds int64    `json:"cpu_seconds"`
	Path       string   `json:"path"`
	Argv       []string `json:"argv"`
	Env        []string `json:"env"`
}

// runJob hands the job to the sandbox's first process, lets the executor
// move the run into its cgroup, starts it and waits for its end.
func (sb *runSandbox) runJob(c *cellInit, h Header, job runJob) Record {
	defer sb.files.close()
	if line, err := sb.status.ReadString('\n'); err != nil || line != readyLine {
		sb.abandon()
		return Record{ExitCode: 126, Error: fmt.Sprintf("sandbox set-up failed: %s", bytes.TrimSpace(sb.errBuf.Bytes()))}
	}
	line, _ := json.Marshal(job)
	if _, err := sb.jobW.Write(append(line, '\n')); err != nil {
		sb.abandon()
		return Record{ExitCode: 126, Error: fmt.Sprintf("hand the job to the sandbox: %v", err)}
	}
	// The run waits for Go: the executor moves it into its cgroup now.
	if err := awaitGoFrom(c.in, h.Nonce); err != nil {
		sb.abandon()
		return Record{ExitCode: 126, Error: err.Error()}
	}
	var fed <-chan struct{}
	if h.StdinStream {
		fed = feedFrames(c.in, sb.stdinW)
	} else {
		fed = feedExactly(c.in, sb.stdinW, h.StdinSize)
	}
	_, _ = sb.jobW.Write([]byte{Go})
	_ = sb.jobW.Close()
	ended := make(chan struct{})
	go func() {
		select {
		case <-c.gone: // nobody waits for this run any more
			_ = sb.cmd.Process.Kill()
		case <-ended:
		}
	}()
	// The run's first process reports once the program and everything it
	// started are gone (or it was killed): the stage's stderr ends then,
	// which tells the executor to read the program's CPU time before the
	// run's own teardown (its first process's exit, its namespaces').
	line, err := sb.status.ReadBytes('\n')
	endStderr(h.Nonce)
	sb.stderrEnded = true
	_ = sb.cmd.Wait()
	close(ended)
	<-fed
	<-sb.errDone
	var rec Record
	if err != nil || json.Unmarshal(line, &rec) != nil {
		// The run's first process was killed before it reported: by the
		// executor (a limit), or by the OOM killer in the run's cgroup.
		return Record{ExitCode: 128 + 9, Signal: 9, Lost: true}
	}
	rec.Lost, rec.Dirty, rec.ArtifactSize = false, false, 0
	return rec
}

// procMasks are bubblewrap's arguments that hide again what Docker's masks
// hide in a container (the cell runs without them, or bubblewrap could not
// mount a new /proc): files under /dev/null, directories under an empty
// read-only tmpfs, and the kernel's writable knobs read-only. Only what
// exists on this kernel is named: bubblewrap refuses a missing target.
func procMasks() []string {
	var args []string
	for _, p := range []string{"/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"} {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			args = append(args, "--tmpfs", p, "--remount-ro", p)
		}
	}
	for _, p := range []string{"/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug"} {
		if _, err := os.Stat(p); err == nil {
			args = append(args, "--ro-bind", "/dev/null", p)
		}
	}
	for _, p := range []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"} {
		if _, err := os.Stat(p); err == nil {
			args = append(args, "--ro-bind", p, p)
		}
	}
	return args
}

// feedFrames is feedExactly for a streamed stdin (Header.StdinStream): the
// frames up to the empty one, which the executor sends once the run's
// stderr has ended, or at the end of the stage.
func feedFrames(in io.Reader, feed *os.File) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ReadStdinFrames(in, feed)
	}()
	return done
}

// feedExactly copies the next size bytes of stdin into feed (the program's
// stdin), then closes feed. A program that stops reading only stops the
// copy: the bytes are still consumed, so the next Header is where the
// executor put it.
func feedExactly(in io.Reader, feed *os.File, size int64) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 32<<10)
		for size > 0 {
			n, err := in.Read(buf[:min(int64(len(buf)), size)])
			size -= int64(n)
			if n > 0 && feed != nil {
				if _, werr := feed.Write(buf[:n]); werr != nil {
					_ = feed.Close()
					feed = nil
				}
			}
			if err != nil {
				break
			}
		}
		if feed != nil {
			_ = feed.Close()
		}
	}()
	return done
}

// RunMain is the first process of a run (pid 1 of its pid namespace). It
// says it is ready, reads its job (one JSON line) and the Go byte from the
// cell, starts the program with exactly the job's environment, reaps
// everything and reports the program's status.
func RunMain() int {
	shield()
	status := os.NewFile(fdStatus, "status")
	jobR := os.NewFile(fdJob, "job")
	progErr := os.NewFile(fdStderr, "stderr")
	if status == nil || jobR == nil || progErr == nil {
		return 125
	}
	for _, fd := range []int{fdStatus, fdJob, fdStderr} {
		syscall.CloseOnExec(fd) // the program gets none of them
	}
	if _, err := status.WriteString(readyLine); err != nil {
		return 125
	}
	in := bufio.NewReader(jobR)
	line, err := in.ReadBytes('\n')
	var job runJob
	if err != nil || json.Unmarshal(line, &job) != nil || len(job.Argv) == 0 {
		return 125 // the cell dropped this sandbox
	}
	if b, err := in.ReadByte(); err != nil || b != Go {
		return 125
	}
	_ = jobR.Close()
	if job.CPUSeconds > 0 {
		// Soft: SIGXCPU at the limit; hard: SIGKILL a second later.
		_ = unix.Setrlimit(unix.RLIMIT_CPU, &unix.Rlimit{Cur: uint64(job.CPUSeconds), Max: uint64(job.CPUSeconds + 1)})
	}
	p, err := os.StartProcess(job.Path, job.Argv, &os.ProcAttr{
		Env:   job.Env,
		Files: []*os.File{os.Stdin, os.Stdout, progErr},
	})
	var rec Record
	if err != nil {
		rec = Record{ExitCode: 126, Error: fmt.Sprintf("start %s: %v", job.Argv[0], err)}
	} else {
		_ = os.Stdin.Close() // the program holds the only read end
		rec = reap(p.Pid)
	}
	line, _ = json.Marshal(rec)
	_, _ = status.Write(append(line, '\n'))
	return 0
}

// removeTree removes dir and everything in it, making the program's
// directories writable first (it may have taken their permissions away;
// it ran as the cell's uid, so everything is ours). Links are removed, not
// followed.
func removeTree(dir string) error {
	err := os.RemoveAll(dir)
	if err == nil {
		return nil
	}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			_ = os.Chmod(path, 0o700)
		}
		if err != nil && d != nil && d.IsDir() {
			// Unreadable until now: walk it again.
			return removeTree(path)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// closers closes what it made on every path.
type closers struct {
	mu    sync.Mutex
	files []*os.File
}

func (c *closers) pipe() (r, w *os.File, err error) {
	r, w, err = os.Pipe()
	if err == nil {
		c.mu.Lock()
		c.files = append(c.files, r, w)
		c.mu.Unlock()
	}
	return r, w, err
}

func (c *closers) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.files {
		_ = f.Close()
	}
}

// capped keeps the first n bytes written to it and drops the rest.
type capped struct {
	buf *bytes.Buffer
	n   int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.n - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
