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
	"slices"
	"strconv"
	"strings"
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
	fdGo      = 4 // cell → run: the Go byte
	fdSeccomp = 5 // bubblewrap reads RunFilter here
	fdStderr  = 6 // the container's stderr: the program's fd 2
)

// readyLine is what the run's first process writes when it waits for Go.
const readyLine = "ready\n"

// CellMain runs a cell's init: one run per Header until stdin ends.
func CellMain() int {
	shield()
	filter, err := RunFilter()
	if err != nil {
		fmt.Fprintf(os.Stderr, "airlock cell: %v\n", err)
		return 125
	}
	masks := procMasks()
	for seq := 1; ; seq++ {
		h, err := ReadHeader(os.Stdin)
		if errors.Is(err, io.EOF) {
			return 0 // the executor is done with this cell
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "airlock cell: %v\n", err)
			return 125
		}
		rec, artifact := cellRun(h, seq, filter, masks)
		report(h.Nonce, rec, artifact)
	}
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

// cellRun runs one program in a fresh sandbox of the cell. It consumes
// exactly what the executor sends for this run, whatever happens.
func cellRun(h Header, seq int, filter []byte, masks []string) (rec Record, artifact []byte) {
	dir := filepath.Join(h.Dir, ".run"+strconv.Itoa(seq))
	tar := io.LimitReader(os.Stdin, h.TarSize)
	defer func() {
		_, _ = io.Copy(io.Discard, tar) // what an error left unread
		if err := removeTree(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			rec.Dirty = true
		}
	}()
	if err := os.Mkdir(dir, 0o700); err != nil {
		return Record{ExitCode: 126, Error: fmt.Sprintf("work dir: %v", err)}, nil
	}
	if err := extract(tar, dir); err != nil {
		return Record{ExitCode: 126, Error: fmt.Sprintf("unpack files: %v", err)}, nil
	}
	path, err := lookPath(h.Argv[0], h.Env)
	if err != nil {
		return Record{ExitCode: 127, Error: err.Error()}, nil
	}
	rec = sandboxRun(h, dir, path, filter, masks)
	if rec.Error == "" && !rec.Lost && h.Collect && rec.ExitCode == 0 && rec.Signal == 0 {
		artifact, err = collect(dir, h.CollectMax)
		if err != nil {
			rec.Error = err.Error()
		}
		rec.ArtifactSize = int64(len(artifact))
	}
	return rec, artifact
}

// sandboxRun starts bubblewrap for one run and waits for its end.
func sandboxRun(h Header, dir, path string, filter []byte, masks []string) Record {
	tmp := strconv.FormatInt(max(h.TmpSize, 1<<20), 10)
	args := []string{Bwrap,
		"--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-net", "--unshare-uts", "--unshare-cgroup",
		"--disable-userns", "--uid", runID, "--gid", runID,
		"--die-with-parent", "--as-pid-1", "--new-session",
		"--ro-bind", "/", "/",
		"--bind", dir, h.Dir,
		"--size", tmp, "--tmpfs", "/tmp",
		"--proc", "/proc", "--dev", "/dev",
		"--size", tmp, "--tmpfs", "/dev/shm",
	}
	args = append(args, masks...)
	args = append(args, "--chdir", h.Dir, "--seccomp", strconv.Itoa(fdSeccomp), "--",
		MountPath, RunArg, strconv.FormatInt(h.CPUSeconds, 10), strconv.FormatBool(hasPWD(h.Env)), path)
	args = append(args, h.Argv...)

	var files closers
	defer files.close()
	stdinR, stdinW, err1 := files.pipe()
	statusR, statusW, err2 := files.pipe()
	goR, goW, err3 := files.pipe()
	seccompR, seccompW, err4 := files.pipe()
	errR, errW, err5 := files.pipe()
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return Record{ExitCode: 126, Error: fmt.Sprintf("run pipes: %v", err)}
	}
	// The filter is far smaller than a pipe's buffer.
	if _, err := seccompW.Write(filter); err != nil {
		return Record{ExitCode: 126, Error: fmt.Sprintf("seccomp filter: %v", err)}
	}
	_ = seccompW.Close()
	cmd := &exec.Cmd{
		Path: Bwrap, Args: args, Env: h.Env,
		Stdin: stdinR, Stdout: os.Stdout, Stderr: errW,
		ExtraFiles:  []*os.File{statusW, goR, seccompR, os.Stderr},
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	if err := cmd.Start(); err != nil {
		return Record{ExitCode: 126, Error: fmt.Sprintf("start bubblewrap: %v", err)}
	}
	for _, f := range []*os.File{stdinR, statusW, goR, seccompR, errW} {
		_ = f.Close() // the run holds them now
	}
	// bubblewrap's own complaints (a set-up that failed), kept short.
	var setupErr bytes.Buffer
	errDone := make(chan struct{})
	go func() {
		defer close(errDone)
		_, _ = io.Copy(&capped{&setupErr, 2048}, errR)
	}()
	status := bufio.NewReader(statusR)
	if line, err := status.ReadString('\n'); err != nil || line != readyLine {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		<-errDone
		return Record{ExitCode: 126, Error: fmt.Sprintf("sandbox set-up failed: %s", bytes.TrimSpace(setupErr.Bytes()))}
	}
	// The run waits for Go: the executor moves it into its cgroup now.
	if err := awaitGo(h.Nonce); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return Record{ExitCode: 126, Error: err.Error()}
	}
	fed := feedExactly(stdinW, h.StdinSize)
	_, _ = goW.Write([]byte{Go})
	_ = goW.Close()
	_ = cmd.Wait()
	<-fed
	<-errDone
	var rec Record
	line, err := status.ReadBytes('\n')
	if err != nil || json.Unmarshal(line, &rec) != nil {
		// The run's first process was killed before it reported: by the
		// executor (a limit), or by the OOM killer in the run's cgroup.
		return Record{ExitCode: 128 + 9, Signal: 9, Lost: true}
	}
	rec.Lost, rec.Dirty, rec.ArtifactSize = false, false, 0
	return rec
}

// feedExactly copies the next size bytes of stdin into feed (the program's
// stdin), then closes feed. A program that stops reading only stops the
// copy: the bytes are still consumed, so the next Header is where the
// executor put it.
func feedExactly(feed *os.File, size int64) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 32<<10)
		for size > 0 {
			n, err := os.Stdin.Read(buf[:min(int64(len(buf)), size)])
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

// hasPWD reports whether env sets PWD (bubblewrap sets it for the run when
// it changes directory: the run's first process takes it out again unless
// the stage's environment has it).
func hasPWD(env []string) bool {
	return slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "PWD=") })
}

// RunMain is the first process of a run (pid 1 of its pid namespace):
// args are the CPU rlimit in seconds, whether the stage's environment sets
// PWD, the program's path and its argv.
func RunMain(args []string) int {
	shield()
	status := os.NewFile(fdStatus, "status")
	goR := os.NewFile(fdGo, "go")
	progErr := os.NewFile(fdStderr, "stderr")
	for _, fd := range []int{fdStatus, fdGo, fdStderr} {
		syscall.CloseOnExec(fd) // the program gets none of them
	}
	fail := func(code int, msg string) int {
		line, _ := json.Marshal(Record{ExitCode: code, Error: msg})
		_, _ = status.Write(append(line, '\n'))
		return 0
	}
	if status == nil || goR == nil || progErr == nil || len(args) < 4 {
		return 125
	}
	env := os.Environ()
	if keep, _ := strconv.ParseBool(args[1]); !keep {
		env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "PWD=") })
	}
	args = append(args[:1], args[2:]...)
	if secs, err := strconv.ParseInt(args[0], 10, 64); err == nil && secs > 0 {
		// Soft: SIGXCPU at the limit; hard: SIGKILL a second later.
		_ = unix.Setrlimit(unix.RLIMIT_CPU, &unix.Rlimit{Cur: uint64(secs), Max: uint64(secs + 1)})
	}
	if _, err := status.WriteString(readyLine); err != nil {
		return 125
	}
	var b [1]byte
	if _, err := io.ReadFull(goR, b[:]); err != nil || b[0] != Go {
		return 125
	}
	_ = goR.Close()
	p, err := os.StartProcess(args[1], args[2:], &os.ProcAttr{
		Env:   env,
		Files: []*os.File{os.Stdin, os.Stdout, progErr},
	})
	if err != nil {
		return fail(126, fmt.Sprintf("start %s: %v", args[2], err))
	}
	_ = os.Stdin.Close() // the program holds the only read end
	rec := reap(p.Pid)
	line, _ := json.Marshal(rec)
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
