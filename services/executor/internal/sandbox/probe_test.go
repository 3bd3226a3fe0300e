package sandbox_test

import (
	"context"
	"strings"
	"testing"
)

func TestProbe(t *testing.T) {
	for _, rt := range testRuntimes(t) {
		if err := newRunnerFor(t, rt).Probe(context.Background(), testImage, rt); err != nil {
			t.Errorf("%s: %v", rt, err)
		}
	}
	err := newRunner(t).Probe(context.Background(), testImage, "no-such-runtime")
	if err == nil || !strings.Contains(err.Error(), "no-such-runtime") {
		t.Errorf("probe with an unknown runtime: %v", err)
	}
}
