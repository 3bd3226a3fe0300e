// Package sandboxinit is the first process of every Airlock sandbox
// container, and the wire protocol between it and the executor.
//
// The executor bind-mounts its own (static) binary read-only into the
// container and starts it with Arg as its first argument. The init then:
//
//  1. makes itself non-dumpable, so the user's program (same uid) cannot
//     ptrace it or open its /proc files;
//  2. reads a length-prefixed JSON Header from stdin, then exactly
//     Header.TarSize bytes of a tar archive, which it unpacks into
//     Header.Dir (regular files and directories only, no links);
//  3. writes ReadyMarker(nonce) to stdout and waits for one Go byte on
//     stdin: the executor reads the container's cgroup in between, so the
//     program's CPU time and memory are measured from this point and the
//     container's and the init's set-up are not counted as the program's;
//  4. starts Header.Argv with the container's stdout/stderr as its own and a
//     pipe as its stdin, which the init fills with the next
//     Header.StdinSize bytes of its own stdin and then closes (the program
//     never reads the container's stdin itself); with Header.StdinStream,
//     the stdin comes as frames instead (ReadStdinFrames), as the executor
//     relays it, until an empty frame;
//  5. as pid 1 it reaps every orphan; when the program exits it kills every
//     other process left in the container (kill(-1, SIGKILL)) and reaps them;
//  6. writes Marker(nonce) to stderr, then Marker(nonce) + a JSON Record +
//     "\n" to stdout, followed by a tar of Header.Dir when Header.Collect is
//     set and the program succeeded (the marker ends each stream: the engine
//     does not keep the order between the two);
//  7. waits for the end of its own stdin, so that the container's cgroup
//     (CPU and peak memory accounting) is still there for the executor to
//     read, then exits: the executor closes stdin once it has read the
//     cgroup, and the container ends without the engine having to kill it.
//
// The end of stdin also ends a stage early: when the executor goes away
// (its attach connection closes, and with it the container's stdin), the
// init kills everything in the container and exits, so an orphaned
// sandbox does not run on. A container that has to stop early for any
// other reason (time, output) is killed through the engine.
//
// The nonce is random per stage and known only to the executor and the init,
// so the program cannot forge a Record. Nothing the Record says decides a
// verdict on its own: times and memory come from the cgroup, timeouts from
// the executor's timer and OOM kills from the engine.
package sandboxinit

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Arg is the first argument that starts the binary in init mode.
const Arg = "__airlock_sandbox_init"

// ProtocolArg is the first argument that makes the binary print Protocol
// and exit: the executor asks an init binary other than itself before it
// mounts it into sandboxes.
const ProtocolArg = "__airlock_sandbox_init_protocol"

// Protocol names the version of the exchange between the executor and the
// init; it changes whenever either side changes what it sends or expects.
const Protocol = "airlock-init/4"

// Dispatch runs the init (Arg) or prints Protocol (ProtocolArg) when args
// (os.Args[1:]) ask for either, and reports whether it handled them; a main
// function calls it first and exits with code when it did.
func Dispatch(args []string, stdout io.Writer) (code int, handled bool) {
	if len(args) == 0 {
		return 0, false
	}
	switch args[0] {
	case Arg:
		return Main(), true
	case CellArg:
		return CellMain(args[1:]), true
	case RunArg:
		return RunMain(), true
	case ProtocolArg:
		fmt.Fprintln(stdout, Protocol)
		return 0, true
	}
	return 0, false
}

// MountPath is where the executor mounts the init binary in a container.
const MountPath = "/.airlock/init"

// maxHeader bounds the JSON header so a broken stream cannot make the init
// allocate without limit.
const maxHeader = 1 << 20

// Header tells the init what to run.
type Header struct {
	Nonce string   `json:"nonce"`
	Argv  []string `json:"argv"`
	Env   []string `json:"env"`
	Dir   string   `json:"dir"`
	// TarSize is the length of the tar archive that follows the header.
	TarSize int64 `json:"tar_size"`
	// StdinSize is the length of the program's stdin, which follows the tar.
	StdinSize int64 `json:"stdin_size"`
	// StdinStream: the program's stdin follows Go as frames (a 4-byte
	// big-endian length, then that many bytes, at most MaxStdinFrame),
	// ended by an empty frame, as the executor relays it from another
	// sandbox (an interactor). StdinSize is then 0.
	StdinStream bool `json:"stdin_stream,omitempty"`
	// Collect asks for a tar of Dir after a successful run (a compile stage).
	Collect    bool  `json:"collect,omitempty"`
	CollectMax int64 `json:"collect_max,omitempty"`
	// OutputFiles asks for a tar of these files of Dir after the run,
	// however it ended (run stages): regular files only, reached without
	// following any link, left out when missing or when their contents
	// would pass CollectMax less the tar's overhead (OutputFilesTarMax).
	// Ignored when Collect is set.
	OutputFiles []string `json:"output_files,omitempty"`

	// Cell runs only (see CellMain): the program's per-process CPU rlimit
	// in whole seconds.
	CPUSeconds int64 `json:"cpu_seconds,omitempty"`
}

// Record is what the init reports once the program has exited.
type Record struct {
	ExitCode int `json:"exit_code"`
	Signal   int `json:"signal"`
	// ChildrenCPUNS is the CPU time (user + system) of every process the
	// init reaped, the program and all its descendants, in nanoseconds:
	// the kernel's rusage of the init's children, read once nothing is
	// left. Under gVisor this is the guest kernel's accounting of the
	// program's own work, without the sandbox's (sentry, gofer).
	ChildrenCPUNS int64 `json:"children_cpu_ns"`
	// Error is set when the init could not start the program or collect its
	// output (for example the compiler is missing, or the build is too big).
	Error string `json:"error,omitempty"`
	// ArtifactSize is the length of the tar that follows the record line.
	ArtifactSize int64 `json:"artifact_size"`

	// Cell runs only. Lost: the run's first process ended without
	// reporting the program's status (it was killed: by the executor, or
	// by the OOM killer in the run's cgroup). Dirty: the run's files could
	// not be removed; the executor then destroys the cell.
	Lost  bool `json:"lost,omitempty"`
	Dirty bool `json:"dirty,omitempty"`
}

// Go is the byte the executor sends once it has read the cgroup after
// ReadyMarker: the init then starts the program.
const Go = 'G'

// ReadyMarker is the first thing the init writes to stdout when the files
// are unpacked and the program is about to start. It is a whole line so
// that the program, which only starts after it, can never be mistaken for
// part of it.
func ReadyMarker(nonce string) []byte {
	return []byte("\x00\x00airlock-ready:" + nonce + "\n")
}

// Marker is the byte string that precedes the Record on stdout.
func Marker(nonce string) []byte {
	return []byte("\x00\x00airlock-record:" + nonce + ":")
}

// WriteHeader writes the length-prefixed header.
func WriteHeader(w io.Writer, h Header) error {
	b, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode header: %w", err)
	}
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	if _, err := w.Write(n[:]); err != nil {
		return fmt.Errorf("write header length: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	return nil
}

// ReadHeader reads a header written by WriteHeader. It reads exactly the
// header's bytes and nothing after them.
func ReadHeader(r io.Reader) (Header, error) {
	var h Header
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return h, fmt.Errorf("read header length: %w", err)
	}
	size := binary.BigEndian.Uint32(n[:])
	if size == 0 || size > maxHeader {
		return h, fmt.Errorf("header length %d out of range", size)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return h, fmt.Errorf("read header: %w", err)
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("decode header: %w", err)
	}
	if len(h.Argv) == 0 || h.Dir == "" || h.Nonce == "" || h.TarSize < 0 || h.StdinSize < 0 {
		return h, errors.New("header lacks argv, dir or nonce")
	}
	return h, nil
}

// OutputFilesTarMax is the CollectMax that lets the contents of n output
// files take contentMax bytes: each file's header and padding, and the
// tar's end, come on top.
func OutputFilesTarMax(contentMax int64, n int) int64 {
	return contentMax + outputFilesOverhead(n)
}

// outputFilesOverhead bounds the tar around n files: per file a header, a
// PAX header and its record (a long name) and the padding; then the end.
func outputFilesOverhead(n int) int64 { return int64(n)*4*tarBlock + 2*tarBlock }

// tarBlock is the size of a tar header and the unit of its padding.
const tarBlock = 512

// MaxStdinFrame bounds one frame of a streamed stdin.
const MaxStdinFrame = 64 << 10

// WriteStdinFrame writes b (at most MaxStdinFrame bytes) as one frame of a
// streamed stdin; an empty b ends the stream.
func WriteStdinFrame(w io.Writer, b []byte) error {
	if len(b) > MaxStdinFrame {
		return fmt.Errorf("stdin frame of %d bytes", len(b))
	}
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	if _, err := w.Write(append(n[:], b...)); err != nil {
		return err
	}
	return nil
}

// ReadStdinFrames copies a streamed stdin from in to feed, frame by frame,
// until the empty frame, then closes feed. A feed that fails (the program is
// gone, or stopped reading and exited) is closed and the rest of the frames
// consumed, so that in is left just after the stream. A frame over
// MaxStdinFrame, or the end of in, is an error: the stream cannot be
// followed any further.
func ReadStdinFrames(in io.Reader, feed io.WriteCloser) error {
	defer func() {
		if feed != nil {
			_ = feed.Close()
		}
	}()
	buf := make([]byte, MaxStdinFrame)
	for {
		var n [4]byte
		if _, err := io.ReadFull(in, n[:]); err != nil {
			return err
		}
		size := binary.BigEndian.Uint32(n[:])
		if size == 0 {
			return nil
		}
		if size > MaxStdinFrame {
			return fmt.Errorf("stdin frame of %d bytes", size)
		}
		if _, err := io.ReadFull(in, buf[:size]); err != nil {
			return err
		}
		if feed != nil {
			if _, err := feed.Write(buf[:size]); err != nil {
				_ = feed.Close()
				feed = nil
			}
		}
	}
}
