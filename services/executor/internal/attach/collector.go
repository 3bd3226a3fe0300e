// Package attach reads a sandbox's side of the engine's attach stream: the
// program's stdout and stderr (capped), the init's record and the build
// artifact, each known by the stage's nonce.
package attach

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/airlockrun/airlock/services/executor/sandboxinit"
)

// Collector reads the engine's multiplexed attach stream (8-byte frame
// headers: stream, 0, 0, 0, big-endian length) and splits it into the
// program's stdout and stderr, the init's record and the build artifact.
//
// The init ends each stream with the stage's marker (a nonce the program
// does not know); the stage is complete when both markers, the record and
// the artifact have arrived. Program output is capped: once stdout+stderr
// pass the cap, onExceed is called and further output is discarded.
type Collector struct {
	marker []byte
	// ready is the init's first line on stdout (the program is about to
	// start); expectReady is true until the first stdout bytes showed
	// whether it came. onReady is called when it did.
	ready       []byte
	expectReady bool
	onReady     func()

	capBytes   int64
	collectMax int64

	stdout, stderr stream
	exceeded       bool
	record         *sandboxinit.Record
	artifact       []byte
	// tail holds the stdout bytes after the marker: record line and artifact.
	tail bytes.Buffer

	onExceed func()
	notified bool
	// OnStderrEnd, when set, is called when stderr's end marker arrives
	// (a cell writes it as soon as the program's status is known).
	OnStderrEnd func()
	// OnStdout, when set, is given the program's stdout as it is known to
	// be program output (Spec.StdoutTee); teed counts what it was given.
	OnStdout func([]byte)
	teed     int
}

// stream is one of the program's output streams up to its end marker.
type stream struct {
	buf   bytes.Buffer
	ended bool
}

func NewCollector(nonce string, capBytes, collectMax int64, onReady, onExceed func()) *Collector {
	return &Collector{
		marker:      sandboxinit.Marker(nonce),
		ready:       sandboxinit.ReadyMarker(nonce),
		expectReady: true,
		onReady:     onReady,
		capBytes:    capBytes,
		collectMax:  collectMax,
		onExceed:    onExceed,
	}
}

var ErrStreamEnded = errors.New("attach stream ended")

// run consumes r until the stage is complete (nil), the stream ends
// (ErrStreamEnded) or fails.
func (c *Collector) Run(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return ignoreEOF(err)
		}
		size := int64(binary.BigEndian.Uint32(hdr[4:]))
		var err error
		switch hdr[0] {
		case 1:
			err = c.frame(&c.stdout, br, size)
		case 2:
			err = c.frame(&c.stderr, br, size)
		default:
			_, err = io.CopyN(io.Discard, br, size)
			err = ignoreEOF(err)
		}
		if err != nil {
			return err
		}
		if c.stdout.ended && c.stderr.ended && c.record != nil && int64(c.tail.Len()) >= c.record.ArtifactSize {
			c.artifact = append([]byte(nil), c.tail.Bytes()[:c.record.ArtifactSize]...)
			return nil
		}
	}
}

func (c *Collector) frame(s *stream, r io.Reader, size int64) error {
	if c.exceeded {
		// Past the cap nothing is kept: the program is being killed, and
		// what it still writes until then must not fill the executor.
		_, err := io.CopyN(io.Discard, r, size)
		return ignoreEOF(err)
	}
	if s.ended {
		if s == &c.stdout {
			if _, err := io.CopyN(&c.tail, r, size); err != nil {
				return ignoreEOF(err)
			}
			return c.parseRecord()
		}
		_, err := io.CopyN(io.Discard, r, size)
		return ignoreEOF(err)
	}
	// Look for the marker across frame boundaries.
	start := max(s.buf.Len()-len(c.marker)+1, 0)
	if _, err := io.CopyN(&s.buf, r, size); err != nil {
		return ignoreEOF(err)
	}
	if s == &c.stdout && c.expectReady {
		// Only the init writes before the program starts, so the ready
		// line can only be the very first bytes of stdout.
		b := s.buf.Bytes()
		switch {
		case bytes.HasPrefix(b, c.ready):
			rest := append([]byte(nil), b[len(c.ready):]...)
			s.buf.Reset()
			s.buf.Write(rest)
			start = 0
			c.expectReady = false
			if c.onReady != nil {
				c.onReady()
			}
		case len(b) < len(c.ready) && bytes.HasPrefix(c.ready, b):
			return nil // the rest of the line is still to come
		default:
			c.expectReady = false // the init reports without starting the program
		}
	}
	if i := bytes.Index(s.buf.Bytes()[start:], c.marker); i >= 0 {
		at := start + i
		if s == &c.stdout {
			c.tail.Write(s.buf.Bytes()[at+len(c.marker):])
		}
		s.buf.Truncate(at)
		s.ended = true
		if s == &c.stderr && c.OnStderrEnd != nil {
			c.OnStderrEnd()
		}
		c.enforceCap()
		c.tee()
		if s == &c.stdout {
			return c.parseRecord()
		}
		return nil
	}
	c.enforceCap()
	c.tee()
	return nil
}

// tee gives OnStdout the stdout bytes that became program output since the
// last call: within the cap, and never bytes that may be the marker.
func (c *Collector) tee() {
	if c.OnStdout == nil {
		return
	}
	if n := int(c.output(&c.stdout)); n > c.teed {
		c.OnStdout(c.stdout.buf.Bytes()[c.teed:n])
		c.teed = n
	}
}

// pending is how many trailing bytes of a stream that has not ended could
// still be the start of its end marker: they are not program output yet.
func (c *Collector) pending(s *stream) int {
	if s.ended {
		return 0
	}
	b := s.buf.Bytes()
	for n := min(len(b), len(c.marker)-1); n > 0; n-- {
		if bytes.Equal(b[len(b)-n:], c.marker[:n]) {
			return n
		}
	}
	return 0
}

// output is the length of a stream's program output so far: nothing on
// stdout while its first bytes may still be the init's ready line.
func (c *Collector) output(s *stream) int64 {
	if s == &c.stdout && c.expectReady {
		return 0
	}
	return int64(s.buf.Len() - c.pending(s))
}

// enforceCap truncates the program's output to the cap once it is passed
// (bytes that may still be a marker do not count), and reports it once.
func (c *Collector) enforceCap() {
	if c.exceeded {
		return
	}
	outLen, errLen := c.output(&c.stdout), c.output(&c.stderr)
	if outLen+errLen <= c.capBytes {
		return
	}
	// Keep stderr first (it is usually the shorter, more useful stream),
	// then stdout; never a partial marker.
	errKeep := min(errLen, c.capBytes)
	c.stderr.buf.Truncate(int(errKeep))
	c.stdout.buf.Truncate(int(min(outLen, c.capBytes-errKeep)))
	// Nothing more is accepted from the program.
	c.stdout.ended, c.stderr.ended = true, true
	c.exceeded = true
	if c.onExceed != nil && !c.notified {
		c.notified = true
		c.onExceed()
	}
}

func (c *Collector) parseRecord() error {
	if c.record != nil || c.exceeded {
		return nil
	}
	line, _, ok := bytes.Cut(c.tail.Bytes(), []byte{'\n'})
	if !ok {
		if c.tail.Len() > 4096 {
			return fmt.Errorf("init record too long")
		}
		return nil
	}
	var rec sandboxinit.Record
	if err := json.Unmarshal(line, &rec); err != nil {
		return fmt.Errorf("decode init record: %w", err)
	}
	if rec.ArtifactSize < 0 || (c.collectMax > 0 && rec.ArtifactSize > c.collectMax) {
		return fmt.Errorf("artifact of %d bytes out of range", rec.ArtifactSize)
	}
	c.record = &rec
	rest := append([]byte(nil), c.tail.Bytes()[len(line)+1:]...)
	c.tail.Reset()
	c.tail.Write(rest)
	return nil
}

func ignoreEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrStreamEnded
	}
	return err
}

// Stdout is the program's stdout as collected (up to the cap).
func (c *Collector) Stdout() []byte { return c.stdout.buf.Bytes() }

// Stderr is the program's stderr as collected (up to the cap).
func (c *Collector) Stderr() []byte { return c.stderr.buf.Bytes() }

// Exceeded reports whether the program's output passed the cap.
func (c *Collector) Exceeded() bool { return c.exceeded }

// Record is the init's record of the stage, nil until it has arrived.
func (c *Collector) Record() *sandboxinit.Record { return c.record }

// Artifact is the build artifact that followed the record.
func (c *Collector) Artifact() []byte { return c.artifact }
