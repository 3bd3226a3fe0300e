package sandbox

import (
	"io"

	"github.com/airlockrun/airlock/services/executor/sandboxinit"
)

// stdinSize is the length of a stage's stdin as the init's header gives
// it: 0 when the stdin is streamed.
func stdinSize(spec Spec) int64 {
	if spec.StdinStream != nil {
		return 0
	}
	return int64(len(spec.Stdin))
}

// feedStream relays r to the init's stdin w as frames
// (sandboxinit.WriteStdinFrame) as it comes, and ends the stream with the
// empty frame when r ends or either stop channel closes (the stage is
// over, or its program is: a nil channel never closes). The host copies
// the bytes without looking at them. A read of r still under way when
// feedStream returns ends when r's writer closes it.
func feedStream(w io.Writer, r io.Reader, stop1, stop2 <-chan struct{}) error {
	chunks := make(chan []byte)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 32<<10)
			n, err := r.Read(buf)
			if n > 0 {
				select {
				case chunks <- buf[:n]:
				case <-quit:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		select {
		case b, ok := <-chunks:
			if !ok {
				return sandboxinit.WriteStdinFrame(w, nil)
			}
			if err := sandboxinit.WriteStdinFrame(w, b); err != nil {
				return err
			}
		case <-stop1:
			return sandboxinit.WriteStdinFrame(w, nil)
		case <-stop2:
			return sandboxinit.WriteStdinFrame(w, nil)
		}
	}
}
