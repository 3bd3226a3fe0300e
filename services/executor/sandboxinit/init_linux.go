package sandboxinit

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Main runs the init and returns its exit code: 0 once it has reported and
// its stdin has ended, 125 when the header could not be read.
func Main() int {
	shield()
	h, err := ReadHeader(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "airlock init: %v\n", err)
		return 125
	}
	rec, released := run(h)
	if released == nil { // the program never started: skip its stdin
		released = feedStdin(nil, 0)
	}
	var artifact []byte
	if rec.Error == "" && h.Collect && rec.ExitCode == 0 && rec.Signal == 0 {
		artifact, err = collect(h.Dir, h.CollectMax)
		if err != nil {
			rec.Error = err.Error()
		}
		rec.ArtifactSize = int64(len(artifact))
	} else if rec.Error == "" && !h.Collect && len(h.OutputFiles) > 0 {
		artifact = collectFiles(h.Dir, h.OutputFiles, h.CollectMax)
		rec.ArtifactSize = int64(len(artifact))
	}
	report(h.Nonce, rec, artifact)
	// Stay alive until the executor has read the cgroup: it then closes our
	// stdin, and the container ends with us.
	<-released
	return 0
}

// shield protects the init (of a container, a cell or a run) from the
// program it starts, and prepares it for a fork bomb.
func shield() {
	// Non-dumpable: the program cannot ptrace us or read /proc/1/{mem,fd,environ}.
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	// As the pid namespace's init we receive only the signals we handle.
	// The Go runtime's default handlers die on SIGTERM, SIGINT, SIGHUP and
	// crash on SIGQUIT, SIGABRT, SIGSEGV (sent by kill)...: catch every
	// signal and drop it, so the program cannot kill us. (Handlers, unlike
	// ignored dispositions, are reset for the child at exec.)
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs)
	go func() {
		for range sigs {
		}
	}()
	// A fork bomb exhausts the pids limit, and the Go runtime dies when it
	// cannot create a thread. Start the threads we may need now, while the
	// limit is far away; the runtime keeps idle ones.
	runtime.GOMAXPROCS(1)
	reserveThreads(6)
}

// report ends a stage: the record after the marker on both streams, then
// the artifact. The engine carries stdout and stderr through separate
// pipes, so their ends are marked separately: the executor waits for both.
func report(nonce string, rec Record, artifact []byte) {
	endStderr(nonce)
	reportStdout(nonce, rec, artifact)
}

// endStderr marks the end of the stage's stderr.
func endStderr(nonce string) { _, _ = os.Stderr.Write(Marker(nonce)) }

// reportStdout ends the stage's stdout with the record and the artifact.
func reportStdout(nonce string, rec Record, artifact []byte) {
	line, _ := json.Marshal(rec)
	out := append(Marker(nonce), line...)
	out = append(out, '\n')
	out = append(out, artifact...)
	_, _ = os.Stdout.Write(out)
}

// run unpacks the files and runs the program to its end. Once the program
// has started, released is closed when the container's stdin ends.
func run(h Header) (rec Record, released <-chan struct{}) {
	if err := os.MkdirAll(h.Dir, 0o755); err != nil {
		return Record{ExitCode: 126, Error: fmt.Sprintf("work dir: %v", err)}, nil
	}
	if err := extract(io.LimitReader(os.Stdin, h.TarSize), h.Dir); err != nil {
		return Record{ExitCode: 126, Error: fmt.Sprintf("unpack files: %v", err)}, nil
	}
	path, err := lookPath(h.Argv[0], h.Env)
	if err != nil {
		return Record{ExitCode: 127, Error: err.Error()}, nil
	}
	stdin, feed, err := os.Pipe()
	if err != nil {
		return Record{ExitCode: 126, Error: fmt.Sprintf("stdin pipe: %v", err)}, nil
	}
	// Everything before this point is set-up: the executor reads the
	// cgroup between ReadyMarker and Go, and counts only what follows.
	if err := awaitGo(h.Nonce); err != nil {
		_ = stdin.Close()
		_ = feed.Close()
		return Record{ExitCode: 126, Error: err.Error()}, nil
	}
	p, err := os.StartProcess(path, h.Argv, &os.ProcAttr{
		Dir:   h.Dir,
		Env:   h.Env,
		Files: []*os.File{stdin, os.Stdout, os.Stderr},
	})
	_ = stdin.Close() // the program holds the only read end
	if err != nil {
		_ = feed.Close()
		return Record{ExitCode: 126, Error: fmt.Sprintf("start %s: %v", h.Argv[0], err)}, nil
	}
	if h.StdinStream {
		released = feedStdinFrames(feed)
	} else {
		released = feedStdin(feed, h.StdinSize)
	}
	return reap(p.Pid), released
}

// reap waits for the program (pid), reaping every orphan on the way, then
// kills and reaps whatever it left, and returns its status and the CPU time
// of everything reaped.
func reap(pid int) (rec Record) {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			break // ECHILD: nothing left
		}
		if got == pid {
			if ws.Signaled() {
				rec.Signal = int(ws.Signal())
				rec.ExitCode = 128 + rec.Signal
			} else {
				rec.ExitCode = ws.ExitStatus()
			}
			break
		}
	}
	// Nothing the program started may outlive it.
	_ = unix.Kill(-1, unix.SIGKILL)
	for {
		_, err := unix.Wait4(-1, nil, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			break
		}
	}
	// Every process the program started has been reaped by now (by us or
	// by its parent, which we reaped): the kernel's account of our
	// children is the program's whole CPU time.
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_CHILDREN, &ru) == nil {
		rec.ChildrenCPUNS = ru.Utime.Nano() + ru.Stime.Nano()
	}
	return rec
}

// awaitGo tells the executor that the program is about to start and waits
// for its Go byte.
func awaitGo(nonce string) error { return awaitGoFrom(os.Stdin, nonce) }

// awaitGoFrom is awaitGo reading the Go byte from in.
func awaitGoFrom(in io.Reader, nonce string) error {
	if _, err := os.Stdout.Write(ReadyMarker(nonce)); err != nil {
		return fmt.Errorf("ready: %v", err)
	}
	var b [1]byte
	if _, err := io.ReadFull(in, b[:]); err != nil {
		return fmt.Errorf("wait for the executor: %v", err)
	}
	if b[0] != Go {
		return fmt.Errorf("wait for the executor: got %q", b[0])
	}
	return nil
}

// feedStdin copies the next size bytes of the container's stdin into feed
// (the program's stdin; nil: discard them), closes feed, then reads on until
// the container's stdin ends and closes the returned channel. A program that
// exits without reading its input only stops the copy, not the reading. The
// stdin ending early means the executor is gone or done with this stage:
// everything else in the container is killed.
func feedStdin(feed *os.File, size int64) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { _ = unix.Kill(-1, unix.SIGKILL) }()
		buf := make([]byte, 32<<10)
		for size > 0 {
			n, err := os.Stdin.Read(buf[:min(int64(len(buf)), size)])
			size -= int64(n)
			if n > 0 && feed != nil {
				if _, werr := feed.Write(buf[:n]); werr != nil {
					_ = feed.Close() // the program is gone: discard the rest
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
		_, _ = io.Copy(io.Discard, os.Stdin)
	}()
	return done
}

// feedStdinFrames is feedStdin for a streamed stdin (Header.StdinStream):
// the frames go to the program until the empty one; then, as feedStdin,
// the rest of stdin is waited for.
func feedStdinFrames(feed *os.File) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { _ = unix.Kill(-1, unix.SIGKILL) }()
		_ = ReadStdinFrames(os.Stdin, feed)
		_, _ = io.Copy(io.Discard, os.Stdin)
	}()
	return done
}

// lookPath resolves argv[0] against PATH from the program's environment.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := "/usr/local/bin:/usr/bin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: command not found in the image", name)
}

// extract unpacks regular files and directories under dir. Names must be
// clean relative paths; links and special files are refused. Files are
// created with O_EXCL|O_NOFOLLOW so nothing can be redirected.
func extract(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := hdr.Name
		if name == "" || filepath.IsAbs(name) || filepath.Clean(name) != strings.TrimSuffix(name, "/") ||
			name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("refused name %q", name)
		}
		target := filepath.Join(dir, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			mode := os.FileMode(0o644)
			if hdr.Mode&0o100 != 0 {
				mode = 0o755
			}
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, mode)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("refused %q: only files and directories", name)
		}
	}
}

// collect tars the regular files and directories under dir (links and
// special files are skipped), refusing more than max bytes of content.
func collect(dir string, max int64) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		switch {
		case info.IsDir():
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: rel + "/", Mode: 0o755})
		case info.Mode().IsRegular():
			total += info.Size()
			if max > 0 && total > max {
				return fmt.Errorf("build output exceeds %d bytes", max)
			}
			f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			mode := int64(0o644)
			if info.Mode()&0o100 != 0 {
				mode = 0o755
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: mode, Size: info.Size()}); err != nil {
				return err
			}
			_, err = io.CopyN(tw, f, info.Size())
			return err
		}
		return nil // links, sockets, fifos: not part of a build
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// reserveThreads makes the runtime create n more OS threads: each goroutine
// is locked to its thread and parked, which forces the scheduler to start a
// new thread for the next one. Unlocked and finished, the threads stay in the
// runtime's idle pool for later blocking system calls.
func reserveThreads(n int) {
	var parked, done sync.WaitGroup
	release := make(chan struct{})
	for i := 0; i < n; i++ {
		parked.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			runtime.LockOSThread()
			parked.Done()
			<-release
			runtime.UnlockOSThread()
		}()
	}
	parked.Wait()
	close(release)
	done.Wait()
}
