package sandbox

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

// collector reads the engine's multiplexed attach stream (8-byte frame
// headers: stream, 0, 0, 0, big-endian length) and splits it into the
// program's stdout and stderr, the init's record and the build artifact. It
// stops accepting program output once the cap is passed.
type collector struct {
	marker     []byte
	capBytes   int64
	collectMax int64

	stdout, stderr bytes.Buffer
	exceeded       bool
	record         *sandboxinit.Record
	artifact       []byte

	// tail holds the bytes after the marker: the record line and artifact.
	tail     bytes.Buffer
	markerAt int
	// onExceed is called once, from the reading goroutine, when the cap is passed.
	onExceed func()
	notified bool
}

func newCollector(nonce string, capBytes, collectMax int64, onExceed func()) *collector {
	return &collector{
		marker:     sandboxinit.Marker(nonce),
		capBytes:   capBytes,
		collectMax: collectMax,
		markerAt:   -1,
		onExceed:   onExceed,
	}
}

var errStreamEnded = errors.New("attach stream ended")

// run consumes r until the record and artifact are complete (nil), the
// stream ends (errStreamEnded) or fails.
func (c *collector) run(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return errStreamEnded
			}
			return err
		}
		size := int64(binary.BigEndian.Uint32(hdr[4:]))
		switch hdr[0] {
		case 1:
			done, err := c.stdoutFrame(br, size)
			if err != nil || done {
				return err
			}
		case 2:
			if err := c.stderrFrame(br, size); err != nil {
				return err
			}
		default:
			if _, err := io.CopyN(io.Discard, br, size); err != nil {
				return errStreamEnded
			}
		}
	}
}

func (c *collector) userBytes() int64 { return int64(c.stdout.Len() + c.stderr.Len()) }

func (c *collector) exceed() {
	c.exceeded = true
	if c.onExceed != nil && !c.notified {
		c.notified = true
		c.onExceed()
	}
}

func (c *collector) stderrFrame(r io.Reader, size int64) error {
	if c.exceeded || c.record != nil {
		_, err := io.CopyN(io.Discard, r, size)
		return ignoreEOF(err)
	}
	room := c.capBytes - c.userBytes()
	keep := min(size, max(room, 0))
	if _, err := io.CopyN(&c.stderr, r, keep); err != nil {
		return ignoreEOF(err)
	}
	if size > keep {
		c.exceed()
		_, err := io.CopyN(io.Discard, r, size-keep)
		return ignoreEOF(err)
	}
	return nil
}

// stdoutFrame returns done=true when the record and artifact are complete.
func (c *collector) stdoutFrame(r io.Reader, size int64) (bool, error) {
	if c.exceeded {
		_, err := io.CopyN(io.Discard, r, size)
		return false, ignoreEOF(err)
	}
	if c.record == nil && c.markerAt < 0 {
		// Still program output: look for the marker across frame boundaries.
		start := max(c.stdout.Len()-len(c.marker)+1, 0)
		if _, err := io.CopyN(&c.stdout, r, size); err != nil {
			return false, ignoreEOF(err)
		}
		if i := bytes.Index(c.stdout.Bytes()[start:], c.marker); i >= 0 {
			at := start + i
			c.tail.Write(c.stdout.Bytes()[at+len(c.marker):])
			c.stdout.Truncate(at)
			c.markerAt = at
			if c.userBytes() > c.capBytes {
				// Within a marker's length of the cap: still over it.
				c.stdout.Truncate(int(max(c.capBytes-int64(c.stderr.Len()), 0)))
				c.exceed()
				return false, nil
			}
		} else if c.userBytes() > c.capBytes+int64(len(c.marker)) {
			// Keep exactly the cap; the program is killed by the caller.
			c.stdout.Truncate(int(max(c.capBytes-int64(c.stderr.Len()), 0)))
			c.exceed()
			return false, nil
		}
		if c.markerAt < 0 {
			return false, nil
		}
	} else if _, err := io.CopyN(&c.tail, r, size); err != nil {
		return false, ignoreEOF(err)
	}
	return c.parseTail()
}

func (c *collector) parseTail() (bool, error) {
	if c.record == nil {
		line, _, ok := bytes.Cut(c.tail.Bytes(), []byte{'\n'})
		if !ok {
			if c.tail.Len() > 4096 {
				return false, fmt.Errorf("init record too long")
			}
			return false, nil
		}
		var rec sandboxinit.Record
		if err := json.Unmarshal(line, &rec); err != nil {
			return false, fmt.Errorf("decode init record: %w", err)
		}
		if rec.ArtifactSize < 0 || (c.collectMax > 0 && rec.ArtifactSize > c.collectMax) {
			return false, fmt.Errorf("artifact of %d bytes out of range", rec.ArtifactSize)
		}
		c.record = &rec
		rest := append([]byte(nil), c.tail.Bytes()[len(line)+1:]...)
		c.tail.Reset()
		c.tail.Write(rest)
	}
	if int64(c.tail.Len()) >= c.record.ArtifactSize {
		c.artifact = append([]byte(nil), c.tail.Bytes()[:c.record.ArtifactSize]...)
		return true, nil
	}
	return false, nil
}

func ignoreEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errStreamEnded
	}
	return err
}
