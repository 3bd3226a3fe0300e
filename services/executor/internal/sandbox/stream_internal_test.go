package sandbox

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/airlockrun/airlock/services/executor/sandboxinit"
)

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// TestFeedStreamFrames: what feedStream relays, ReadStdinFrames gives back
// byte for byte, and the stream ends where the next header starts.
func TestFeedStreamFrames(t *testing.T) {
	var wire bytes.Buffer
	data := strings.Repeat("0123456789", 10000) // several frames
	if err := feedStream(&wire, strings.NewReader(data), nil, nil); err != nil {
		t.Fatal(err)
	}
	wire.WriteString("NEXT")
	var got bytes.Buffer
	if err := sandboxinit.ReadStdinFrames(&wire, nopCloser{&got}); err != nil {
		t.Fatal(err)
	}
	if got.String() != data || wire.String() != "NEXT" {
		t.Errorf("relayed %d bytes (want %d), left %q", got.Len(), len(data), wire.String())
	}
	// A stop ends the stream at once, with a reader that never returns.
	stop := make(chan struct{})
	close(stop)
	wire.Reset()
	block, _ := io.Pipe()
	if err := feedStream(&wire, block, nil, stop); err != nil || wire.Len() != 4 {
		t.Errorf("stopped stream: %v, %d bytes", err, wire.Len())
	}
	block.Close()
	// A frame over the bound is refused, not allocated.
	if err := sandboxinit.ReadStdinFrames(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff}), nopCloser{io.Discard}); err == nil {
		t.Error("an oversized frame was accepted")
	}
}
