package attach

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/airlockrun/airlock/services/executor/sandboxinit"
)

const fuzzNonce = "0123456789abcdef"

// FuzzCollector feeds an arbitrary attach stream to the collector: it never
// panics, reports the output cap at most once and then holds at most the cap,
// and a complete stage has its record and an artifact of the announced size.
func FuzzCollector(f *testing.F) {
	marker := string(sandboxinit.Marker(fuzzNonce))
	rec := marker + `{"exit_code":0,"signal":0,"artifact_size":3}` + "\nTAR"
	f.Add(bytes.Join([][]byte{frame(1, "hi\n"), frame(2, marker), frame(1, rec)}, nil), uint16(100))
	f.Add(bytes.Join([][]byte{frame(1, "x"), frame(0, "junk"), frame(3, ""), frame(2, marker[:5]), frame(2, marker[5:]), frame(1, rec)}, nil), uint16(0))
	f.Add([]byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 'a'}, uint16(10))
	f.Add(bytes.Join([][]byte{frame(2, marker), frame(1, marker+`{"artifact_size":-1}`+"\n")}, nil), uint16(10))
	f.Fuzz(func(t *testing.T, stream []byte, capBytes uint16) {
		notified := 0
		c := NewCollector(fuzzNonce, int64(capBytes), 1<<20, nil, func() { notified++ })
		err := c.Run(bytes.NewReader(stream))
		checkCollector(t, c, err, notified, int64(capBytes))
	})
}

func checkCollector(t *testing.T, c *Collector, err error, notified int, capBytes int64) {
	t.Helper()
	if notified > 1 || (notified == 1) != c.exceeded {
		t.Fatalf("exceeded %v, notified %d times", c.exceeded, notified)
	}
	if c.exceeded && int64(c.stdout.buf.Len()+c.stderr.buf.Len()) > capBytes {
		t.Fatalf("over the cap: %d+%d bytes kept, cap %d", c.stdout.buf.Len(), c.stderr.buf.Len(), capBytes)
	}
	if err == nil {
		if c.record == nil || !c.stdout.ended || !c.stderr.ended || int64(len(c.artifact)) != c.record.ArtifactSize || c.record.ArtifactSize > 1<<20 {
			t.Fatalf("complete without record, markers or artifact: record %+v artifact %d", c.record, len(c.artifact))
		}
	}
}

// FuzzCollectorFraming builds the stream a real init writes (ready line,
// program output, marker, record, artifact) and cuts it into frames in arbitrary places and
// orders: the result must not depend on the framing. Under the cap the
// collector returns exactly the program's output and the artifact; over it,
// the cap is reported and what is kept are prefixes of the output.
func FuzzCollectorFraming(f *testing.F) {
	f.Add([]byte("hello\n"), []byte("warning"), []byte("TAR"), []byte{0, 3, 7, 1, 200}, uint16(100))
	f.Add([]byte("0123456789"), []byte(""), []byte(""), []byte{255, 254, 2, 3, 4, 5, 6, 7, 8, 9}, uint16(10))
	f.Add([]byte("\x00\x00airlock-record:zzz:{}\n"), []byte("\x00\x00airl"), []byte("x"), []byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, uint16(64))
	f.Add(bytes.Repeat([]byte("y"), 40), bytes.Repeat([]byte("e"), 10), []byte{}, []byte{9, 10, 11}, uint16(25))
	f.Fuzz(func(t *testing.T, out, errb, artifact, cuts []byte, capBytes uint16) {
		marker := sandboxinit.Marker(fuzzNonce)
		if bytes.Contains(out, marker) || bytes.Contains(errb, marker) {
			return // the program cannot know the nonce
		}
		record := fmt.Appendf(nil, `{"exit_code":3,"signal":0,"artifact_size":%d}`+"\n", len(artifact))
		streams := [2][]byte{
			append(append(append(append(sandboxinit.ReadyMarker(fuzzNonce), out...), marker...), record...), artifact...),
			append(append([]byte(nil), errb...), marker...),
		}
		var wire []byte
		emit := func(s int, n int) {
			n = min(n, len(streams[s]))
			wire = append(wire, frame(byte(s+1), string(streams[s][:n]))...)
			streams[s] = streams[s][n:]
		}
		for _, b := range cuts {
			s := int(b & 1)
			if len(streams[s]) == 0 {
				s = 1 - s
			}
			if b>>5 == 7 {
				wire = append(wire, frame(0, "stdin echo")...) // a stream the collector ignores
				continue
			}
			emit(s, int(b>>1)%17)
		}
		emit(0, len(streams[0]))
		emit(1, len(streams[1]))

		notified, readies := 0, 0
		c := NewCollector(fuzzNonce, int64(capBytes), 1<<20, func() { readies++ }, func() { notified++ })
		err := c.Run(bytes.NewReader(wire))
		checkCollector(t, c, err, notified, int64(capBytes))
		// Within the cap every byte is read, so the ready line is seen
		// exactly once; past it (here possibly before the ready line, which
		// the program, started only after it, cannot do) at most once.
		if readies > 1 || (!c.exceeded && readies != 1) {
			t.Fatalf("the init's ready line was seen %d times (exceeded %v)", readies, c.exceeded)
		}
		gotOut, gotErr := c.stdout.buf.Bytes(), c.stderr.buf.Bytes()
		if !bytes.HasPrefix(out, gotOut) || !bytes.HasPrefix(errb, gotErr) {
			t.Fatalf("kept output is not a prefix of the program's:\nstdout %q of %q\nstderr %q of %q", gotOut, out, gotErr, errb)
		}
		if int64(len(out)+len(errb)) <= int64(capBytes) {
			if c.exceeded || err != nil {
				t.Fatalf("%d+%d bytes within the cap %d: exceeded %v, err %v", len(out), len(errb), capBytes, c.exceeded, err)
			}
			if !bytes.Equal(gotOut, out) || !bytes.Equal(gotErr, errb) || !bytes.Equal(c.artifact, artifact) || c.record.ExitCode != 3 {
				t.Fatalf("got stdout %q stderr %q artifact %q record %+v", gotOut, gotErr, c.artifact, c.record)
			}
			return
		}
		if !c.exceeded {
			t.Fatalf("%d+%d bytes over the cap %d not reported (err %v)", len(out), len(errb), capBytes, err)
		}
		if err != nil && !errors.Is(err, ErrStreamEnded) {
			t.Fatalf("over the cap: %v", err)
		}
	})
}
