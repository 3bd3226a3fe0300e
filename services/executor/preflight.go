package executor

import (
	"context"
	"debug/elf"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/client"

	"github.com/airlockrun/airlock/services/executor/internal/catalog"
	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
	"github.com/airlockrun/airlock/services/executor/sandboxinit"
)

// checkStatic refuses an init binary that needs a dynamic loader: it would
// not start inside images with another libc.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("sandbox init %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("sandbox init %s is dynamically linked; build airlock with CGO_ENABLED=0", path)
		}
	}
	return nil
}

// InitBinaryName is the lean init binary the executor looks for next to its
// own executable (cmd/airlock-init).
const InitBinaryName = "airlock-init"

// sandboxInit picks the binary mounted into sandboxes as their init:
// explicit when set (it must be static and speak this build's protocol);
// otherwise airlock-init next to self when it is there, static and of the
// same protocol; otherwise self, which contains the init too.
func sandboxInit(ctx context.Context, explicit, self string, log *slog.Logger) (string, error) {
	if explicit != "" {
		if err := checkInit(ctx, explicit, self); err != nil {
			return "", err
		}
		return explicit, nil
	}
	if sibling := filepath.Join(filepath.Dir(self), InitBinaryName); fileExists(sibling) {
		if err := checkInit(ctx, sibling, self); err != nil {
			log.Warn("not using the init binary next to the executor: the executor's own binary serves as the init", "path", sibling, "err", err)
		} else {
			log.Info("sandbox init", "path", sibling)
			return sibling, nil
		}
	}
	if err := checkStatic(self); err != nil {
		return "", err
	}
	return self, nil
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// checkInit makes sure path can serve as the sandbox init: a static binary
// that, unless it is self, answers this build's protocol version.
func checkInit(ctx context.Context, path, self string) error {
	if err := checkStatic(path); err != nil {
		return err
	}
	if same, err := sameFile(path, self); err == nil && same {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(pctx, path, sandboxinit.ProtocolArg).Output()
	if err != nil {
		return fmt.Errorf("sandbox init %s does not answer its protocol version: %w", path, err)
	}
	if got := strings.TrimSpace(string(out)); got != sandboxinit.Protocol {
		return fmt.Errorf("sandbox init %s speaks %q, this executor %q: install the init of the same release", path, got, sandboxinit.Protocol)
	}
	return nil
}

func sameFile(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}

// preflight refuses to start on an engine that cannot enforce the sandbox:
// a missing cgroup controller, no seccomp under runc, a runtime that is not
// registered (or gVisor registered without --network=none), or a sandbox
// configuration the engine accepts only with warnings (a limit it would
// silently drop). Each message says what to fix.
func preflight(ctx context.Context, cli *client.Client, cfg Config) error {
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	info, err := cli.Info(pctx)
	if err != nil {
		return fmt.Errorf("docker engine does not answer (is dockerd running? scripts/docker-up.sh starts one): %w", err)
	}
	var missing []string
	if !info.MemoryLimit {
		missing = append(missing, "memory limit (enable the memory cgroup)")
	}
	if !info.SwapLimit {
		missing = append(missing, "swap limit (boot with swapaccount=1 or use cgroup v2)")
	}
	if !info.PidsLimit {
		missing = append(missing, "pids limit (enable the pids cgroup)")
	}
	if !info.CPUCfsQuota {
		missing = append(missing, "CPU quota (CFS)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("docker engine cannot enforce: %s", strings.Join(missing, "; "))
	}
	runtimes := cfg.runtimes()
	for _, rt := range runtimes {
		if rt == "" {
			rt = info.DefaultRuntime
		}
		reg, ok := info.Runtimes[rt]
		if !ok {
			return fmt.Errorf("runtime %q is not registered with the docker engine (add it to /etc/docker/daemon.json and reload dockerd; scripts/docker-up.sh registers runsc)", rt)
		}
		if sandbox.IsGVisor(rt) && !slices.Contains(reg.Args, "--network=none") {
			return fmt.Errorf("runtime %q is registered without --network=none: add \"runtimeArgs\": [\"--network=none\"] to its entry in /etc/docker/daemon.json and reload dockerd", rt)
		}
		if !sandbox.IsGVisor(rt) && !slices.ContainsFunc(info.SecurityOptions, func(o string) bool { return strings.Contains(o, "name=seccomp") }) {
			return fmt.Errorf("docker engine has no seccomp support (security options %v): sandboxes under %q need it; install libseccomp and a docker built with it, or run every language and tenant under gVisor (--isolation gvisor)", info.SecurityOptions, rt)
		}
	}
	// Create (without starting) one sandbox per runtime from an image that
	// is present: the engine must accept every limit without a warning.
	cat, err := catalog.Load(cfg.CatalogPath)
	if err != nil {
		return err
	}
	image := ""
	for _, l := range cat.Languages {
		if _, err := cli.ImageInspect(pctx, l.Image); err == nil {
			image = l.Image
			break
		}
	}
	if image == "" {
		return nil // detect reports the missing images
	}
	probe := sandbox.NewLauncher(cli, sandbox.Options{
		ExecutorID: cfg.ID, InitPath: cfg.InitPath, OCIRuntime: cfg.OCIRuntime, WorkDirBytes: cfg.WorkDirMB << 20,
	}, slog.New(slog.DiscardHandler))
	for _, rt := range runtimes {
		if err := probe.Probe(pctx, image, rt); err != nil {
			return fmt.Errorf("preflight: %w", err)
		}
	}
	return nil
}
