package sandboxinit

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
)

// FuzzReadHeader feeds arbitrary bytes to the init's header reader (the
// first thing a sandbox reads from its stdin): it never panics, never reads
// past the header, and whatever it accepts is complete and survives a round
// trip through WriteHeader.
func FuzzReadHeader(f *testing.F) {
	var good bytes.Buffer
	_ = WriteHeader(&good, Header{Nonce: "n", Argv: []string{"python3", "main.py"}, Env: []string{"A=1"}, Dir: "/work", TarSize: 512, Collect: true, CollectMax: 1 << 20})
	f.Add(append(good.Bytes(), "tar bytes follow"...))
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, '{'})
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Add([]byte{0, 0, 0, 40, '{', '"', 'a', 'r', 'g', 'v', '"', ':', '[', '"', 'x', '"', ']', '}'})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		h, err := ReadHeader(r)
		if err != nil {
			return
		}
		size := int(binary.BigEndian.Uint32(data[:4]))
		if consumed := len(data) - r.Len(); consumed != 4+size {
			t.Fatalf("read %d bytes for a %d-byte header", consumed, size)
		}
		if len(h.Argv) == 0 || h.Dir == "" || h.Nonce == "" || h.TarSize < 0 || h.StdinSize < 0 || size > maxHeader {
			t.Fatalf("incomplete header accepted: %+v", h)
		}
		var buf bytes.Buffer
		if err := WriteHeader(&buf, h); err != nil {
			t.Fatalf("accepted header does not encode: %v", err)
		}
		h2, err := ReadHeader(&buf)
		if err != nil || !reflect.DeepEqual(h, h2) {
			t.Fatalf("round trip: %+v -> %+v (%v)", h, h2, err)
		}
	})
}
