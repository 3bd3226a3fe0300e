package attach

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func frame(stream byte, data string) []byte {
	h := make([]byte, 8, 8+len(data))
	h[0] = stream
	binary.BigEndian.PutUint32(h[4:], uint32(len(data)))
	return append(h, data...)
}

func TestCollector(t *testing.T) {
	const nonce = "abc"
	marker := "\x00\x00airlock-record:" + nonce + ":"
	rec := marker + `{"exit_code":3,"signal":0,"artifact_size":4}` + "\n" + "TAR!"
	errEnd := frame(2, marker)
	cases := []struct {
		name             string
		frames           [][]byte
		cap              int64
		wantOut, wantErr string
		wantExceeded     bool
		wantComplete     bool
		wantArtifact     string
	}{
		{"record in one frame", [][]byte{frame(1, "hi\n"), frame(2, "err"), errEnd, frame(1, rec)}, 100, "hi\n", "err", false, true, "TAR!"},
		{"stderr arrives after the stdout record", [][]byte{frame(1, "hi\n"), frame(1, rec), frame(2, "late err"), errEnd}, 100, "hi\n", "late err", false, true, "TAR!"},
		{"no stderr marker yet: not complete", [][]byte{frame(1, rec), frame(2, "err")}, 100, "", "err", false, false, ""},
		{"markers split across frames", [][]byte{frame(1, "out"), frame(1, rec[:5]), frame(2, marker[:4]), frame(1, rec[5:20]), frame(2, marker[4:]), frame(1, rec[20:])}, 100, "out", "", false, true, "TAR!"},
		{"artifact split across frames", [][]byte{errEnd, frame(1, rec[:len(rec)-3]), frame(1, rec[len(rec)-3:])}, 100, "", "", false, true, "TAR!"},
		{"forged marker with another nonce", [][]byte{frame(1, "\x00\x00airlock-record:zzz:{\"exit_code\":0}\n"), errEnd, frame(1, rec)}, 100, "\x00\x00airlock-record:zzz:{\"exit_code\":0}\n", "", false, true, "TAR!"},
		{"cap over stdout frames", [][]byte{frame(1, "0123456789"), frame(1, "0123456789"), frame(1, ""), frame(1, strings.Repeat("y", 60)), frame(1, "more"), errEnd, frame(1, rec)}, 25, "01234567890123456789yyyyy", "", true, false, ""},
		{"just over the cap, then a clean exit", [][]byte{frame(1, strings.Repeat("z", 30)), errEnd, frame(1, rec)}, 25, strings.Repeat("z", 25), "", true, false, ""},
		{"cap shared with stderr", [][]byte{frame(2, "eeeeeeeeee"), frame(1, strings.Repeat("o", 80))}, 25, strings.Repeat("o", 15), "eeeeeeeeee", true, false, ""},
		{"exactly at the cap", [][]byte{frame(1, strings.Repeat("a", 20)), frame(2, "bbbbb"), errEnd, frame(1, rec)}, 25, strings.Repeat("a", 20), "bbbbb", false, true, "TAR!"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exceeded := 0
			c := NewCollector(nonce, tc.cap, 1<<20, nil, func() { exceeded++ })
			err := c.Run(bytes.NewReader(bytes.Join(tc.frames, nil)))
			if tc.wantComplete != (err == nil) || (!tc.wantComplete && !errors.Is(err, ErrStreamEnded)) {
				t.Fatalf("run err = %v, want complete=%v", err, tc.wantComplete)
			}
			if c.stdout.buf.String() != tc.wantOut || c.stderr.buf.String() != tc.wantErr {
				t.Errorf("stdout %q stderr %q", c.stdout.buf.String(), c.stderr.buf.String())
			}
			if c.exceeded != tc.wantExceeded || (tc.wantExceeded && exceeded != 1) {
				t.Errorf("exceeded = %v (notified %d)", c.exceeded, exceeded)
			}
			if tc.wantComplete && (c.record == nil || c.record.ExitCode != 3 || string(c.artifact) != tc.wantArtifact) {
				t.Errorf("record %+v artifact %q", c.record, c.artifact)
			}
		})
	}
}

// The init's ready line counts only as the very first bytes of stdout: the
// program starts after it, and whatever it prints that looks like one is its
// output.
func TestCollectorReady(t *testing.T) {
	const nonce = "abc"
	ready := "\x00\x00airlock-ready:" + nonce + "\n"
	marker := "\x00\x00airlock-record:" + nonce + ":"
	rec := marker + `{"exit_code":0,"signal":0,"artifact_size":0}` + "\n"
	cases := []struct {
		name      string
		frames    [][]byte
		wantReady int
		wantOut   string
	}{
		{"ready, then output", [][]byte{frame(1, ready), frame(1, "hi\n"), frame(2, marker), frame(1, rec)}, 1, "hi\n"},
		{"ready split across frames", [][]byte{frame(1, ready[:3]), frame(2, "e"), frame(1, ready[3:9]), frame(1, ready[9:]+"out"), frame(2, marker), frame(1, rec)}, 1, "out"},
		{"a program's copy after the real one is output", [][]byte{frame(1, ready), frame(1, ready), frame(2, marker), frame(1, rec)}, 1, ready},
		{"no ready: the init reported an error", [][]byte{frame(2, marker), frame(1, rec)}, 0, ""},
		{"another nonce is not ready", [][]byte{frame(1, "\x00\x00airlock-ready:zzz\n"), frame(2, marker), frame(1, rec)}, 0, "\x00\x00airlock-ready:zzz\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			readies := 0
			c := NewCollector(nonce, 100, 1<<20, func() { readies++ }, nil)
			if err := c.Run(bytes.NewReader(bytes.Join(tc.frames, nil))); err != nil {
				t.Fatal(err)
			}
			if readies != tc.wantReady || c.stdout.buf.String() != tc.wantOut {
				t.Errorf("ready %d times, stdout %q; want %d, %q", readies, c.stdout.buf.String(), tc.wantReady, tc.wantOut)
			}
		})
	}
}

// TestCollectorKeepsNothingPastTheCap: once the output cap is passed, what
// the program writes until the kill lands is discarded, not held.
func TestCollectorKeepsNothingPastTheCap(t *testing.T) {
	const capBytes = 64 << 10
	chunk := frame(1, strings.Repeat("y", 32<<10))
	var wire bytes.Buffer
	for wire.Len() < 64<<20 {
		wire.Write(chunk)
	}
	c := NewCollector("abc", capBytes, 1<<20, nil, func() {})
	if err := c.Run(&wire); !errors.Is(err, ErrStreamEnded) {
		t.Fatalf("run: %v", err)
	}
	held := c.stdout.buf.Len() + c.stderr.buf.Len() + c.tail.Len()
	if !c.exceeded || held > capBytes {
		t.Errorf("exceeded %v, %d bytes held for a cap of %d", c.exceeded, held, capBytes)
	}
}
