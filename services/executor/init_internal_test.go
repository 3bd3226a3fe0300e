package executor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockrun/airlock/services/executor/sandboxinit"
)

// The test binary stands in for init binaries: it answers the protocol
// question like airlock and airlock-init do, or with FAKE_INIT_PROTOCOL
// when that is set (an init of another release).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == sandboxinit.ProtocolArg {
		if v := os.Getenv("FAKE_INIT_PROTOCOL"); v != "" {
			fmt.Println(v)
			os.Exit(0)
		}
	}
	if code, ok := sandboxinit.Dispatch(os.Args[1:], os.Stdout); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestSandboxInitChoice: airlock-init next to the executor is used when it
// speaks the same protocol; one of another release, or a dynamic binary, is
// passed over for the executor's own binary; an explicit --init-path of
// another release is refused.
func TestSandboxInitChoice(t *testing.T) {
	me, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := checkStatic(me); err != nil {
		t.Fatalf("run the tests with CGO_ENABLED=0: %v", err)
	}
	dir := t.TempDir()
	self := filepath.Join(dir, "airlock")
	sibling := filepath.Join(dir, InitBinaryName)
	copyFile(t, me, self)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	choose := func(explicit string) (string, error) { return sandboxInit(ctx, explicit, self, log) }

	if got, err := choose(""); err != nil || got != self {
		t.Errorf("no airlock-init: got %q, %v; want the executor itself", got, err)
	}
	copyFile(t, me, sibling)
	if got, err := choose(""); err != nil || got != sibling {
		t.Errorf("airlock-init of the same protocol: got %q, %v; want it", got, err)
	}
	if got, err := choose(self); err != nil || got != self {
		t.Errorf("explicit: got %q, %v; want the explicit path", got, err)
	}

	t.Setenv("FAKE_INIT_PROTOCOL", "airlock-init/0")
	if got, err := choose(""); err != nil || got != self {
		t.Errorf("airlock-init of another release: got %q, %v; want the executor itself", got, err)
	}
	if _, err := choose(sibling); err == nil || !strings.Contains(err.Error(), "airlock-init/0") {
		t.Errorf("explicit init of another release: err %v, want a refusal naming its protocol", err)
	}
	t.Setenv("FAKE_INIT_PROTOCOL", "")

	if dyn := "/bin/true"; checkStatic(dyn) != nil {
		copyFile(t, dyn, sibling)
		if got, err := choose(""); err != nil || got != self {
			t.Errorf("dynamic airlock-init: got %q, %v; want the executor itself", got, err)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}
