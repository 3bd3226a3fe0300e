package sandbox

import (
	"bytes"
	"encoding/binary"
	"errors"
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
	cases := []struct {
		name                 string
		frames               [][]byte
		cap                  int64
		wantOut, wantErr     string
		wantExceeded, wantOK bool
		wantExit             int
		wantArtifact         string
	}{
		{"record in one frame", [][]byte{frame(1, "hi\n"), frame(2, "err"), frame(1, rec)}, 100, "hi\n", "err", false, true, 3, "TAR!"},
		{"marker split across frames", [][]byte{frame(1, "out"), frame(1, rec[:5]), frame(1, rec[5:20]), frame(1, rec[20:])}, 100, "out", "", false, true, 3, "TAR!"},
		{"forged marker with another nonce", [][]byte{frame(1, "\x00\x00airlock-record:zzz:{\"exit_code\":0}\n"), frame(1, rec)}, 100, "\x00\x00airlock-record:zzz:{\"exit_code\":0}\n", "", false, true, 3, "TAR!"},
		{"cap over stdout frames", [][]byte{frame(1, "0123456789"), frame(1, "0123456789"), frame(1, ""), frame(1, string(bytes.Repeat([]byte("y"), 60))), frame(1, "more")}, 25, "01234567890123456789yyyyy", "", true, false, 0, ""},
		{"just over the cap, then a clean exit", [][]byte{frame(1, string(bytes.Repeat([]byte("z"), 30))), frame(1, rec)}, 25, "zzzzzzzzzzzzzzzzzzzzzzzzz", "", true, false, 0, ""},
		{"cap shared with stderr", [][]byte{frame(2, "eeeeeeeeee"), frame(1, string(bytes.Repeat([]byte("o"), 80)))}, 25, "ooooooooooooooo", "eeeeeeeeee", true, false, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exceeded := 0
			c := newCollector(nonce, tc.cap, 1<<20, func() { exceeded++ })
			err := c.run(bytes.NewReader(bytes.Join(tc.frames, nil)))
			if tc.wantOK != (err == nil) || (!tc.wantOK && !errors.Is(err, errStreamEnded)) {
				t.Fatalf("run err = %v", err)
			}
			if c.stdout.String() != tc.wantOut || c.stderr.String() != tc.wantErr {
				t.Errorf("stdout %q stderr %q", c.stdout.String(), c.stderr.String())
			}
			if c.exceeded != tc.wantExceeded || (tc.wantExceeded && exceeded != 1) {
				t.Errorf("exceeded = %v (notified %d)", c.exceeded, exceeded)
			}
			if tc.wantOK && (c.record == nil || c.record.ExitCode != tc.wantExit || string(c.artifact) != tc.wantArtifact) {
				t.Errorf("record %+v artifact %q", c.record, c.artifact)
			}
		})
	}
}
