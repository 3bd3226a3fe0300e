package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/client"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/executor/internal/catalog"
	"github.com/airlockrun/airlock/services/executor/internal/runner"
	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
)

// served is a language this executor runs and the runtime (version) its
// image has.
type served struct {
	lang    *catalog.Language
	runtime contracts.Runtime
}

// detect finds the languages whose image exists and reads each toolchain's
// version by running its version command in a sandbox.
func detect(ctx context.Context, cli *client.Client, sb *sandbox.Launcher, cat *catalog.Catalog, only []string, iso runner.Isolation, log *slog.Logger) ([]served, error) {
	var out []served
	var mu sync.Mutex
	var wg sync.WaitGroup
	var missing []string
	// One sandbox per image runs the version commands of all its languages
	// one after another (about 16 containers instead of 60: start-up cost is
	// mostly the engine creating containers). Each command keeps its own
	// argv (catalog constants, never user input), environment, stdout and
	// stderr, so the result is what a container of its own would give.
	present := map[string]bool{}
	byImage := map[string][]*catalog.Language{}
	var images []string
	for _, l := range cat.Languages {
		if len(only) > 0 && !slices.Contains(only, l.Name) {
			continue
		}
		ok, checked := present[l.Image]
		if !checked {
			_, err := cli.ImageInspect(ctx, l.Image)
			ok = err == nil
			present[l.Image] = ok
			if ok {
				images = append(images, l.Image)
			}
		}
		if !ok {
			missing = append(missing, l.Name+" ("+l.Image+")")
			continue
		}
		byImage[l.Image] = append(byImage[l.Image], l)
	}
	quote := func(args []string) string {
		q := make([]string, len(args))
		for i, a := range args {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		return strings.Join(q, " ")
	}
	// The version commands run in a container of their own, under gVisor
	// when that is the default (the engine's default runtime may then be
	// unfit for programs: no seccomp).
	mode := sandbox.IsolationContainer
	if iso.Mode("", "") == sandbox.IsolationGVisor {
		mode = sandbox.IsolationGVisor
	}
	const marker = "@@airlock-version"
	markerRE := regexp.MustCompile(`(?m)^` + marker + ` (\d+) (\d+)$`)
	sem := make(chan struct{}, 4)
	for _, image := range images {
		langs := byImage[image]
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			// Per language: its stdout, then its stderr (as the executor
			// always read them), then "marker index exit-status".
			var script strings.Builder
			for i, l := range langs {
				fmt.Fprintf(&script, "env -i %s </dev/null >/tmp/version.out 2>/tmp/version.err; s=$?\n", quote(append(slices.Clone(l.FullEnv), l.Version...)))
				fmt.Fprintf(&script, "cat /tmp/version.out /tmp/version.err; printf '\\n%s %d %%d\\n' \"$s\"\n", marker, i)
			}
			n := time.Duration(len(langs))
			o, err := sb.Run(ctx, sandbox.Spec{
				JobID: "version-" + image, Stage: "version", Image: image, Argv: []string{"sh", "-c", script.String()}, Env: langs[0].FullEnv,
				Isolation: mode, OCIRuntime: iso.OCIRuntime(mode, ""),
				CPUTime: n * 10 * time.Second, WallTime: n * 20 * time.Second, MemoryBytes: 512 << 20, Processes: 64, OutputBytes: 1 << 20,
			})
			text := string(o.Stdout)
			results := map[int]string{}
			status := map[int]string{}
			start := 0
			for _, m := range markerRE.FindAllStringSubmatchIndex(text, -1) {
				var i int
				if _, err := fmt.Sscan(text[m[2]:m[3]], &i); err != nil {
					continue
				}
				results[i] = strings.TrimSuffix(text[start:m[0]], "\n")
				status[i] = text[m[4]:m[5]]
				start = m[1]
			}
			for i, l := range langs {
				out1, ok := results[i]
				v := catalog.ParseVersion(out1)
				if err != nil || !ok || status[i] != "0" || v == "" {
					log.Error("language disabled: version command failed", "language", l.Name, "err", err, "exit", status[i],
						"output", strings.TrimSpace(out1), "sandbox_exit", o.ExitCode, "sandbox_stderr", strings.TrimSpace(string(o.Stderr)))
					continue
				}
				mu.Lock()
				out = append(out, served{lang: l, runtime: l.Runtime(v)})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(missing) > 0 {
		log.Warn("languages without an image are not served; build them with deploy/images/build.sh", "languages", strings.Join(missing, ", "))
	}
	if len(out) == 0 {
		return nil, errors.New("no language can be served: no image found or every version check failed (run deploy/images/build.sh)")
	}
	slices.SortFunc(out, func(a, b served) int { return strings.Compare(a.runtime.Language, b.runtime.Language) })
	return out, nil
}

// prepareCells readies namespace isolation when some execution can use it:
// cells sized for the largest default stage of the languages served, one
// stage run in a cell to prove the host supports them (bubblewrap in the
// images, user namespaces, the host's cgroups), and the warm cells --pool
// asks for (for the default tenant).
func prepareCells(ctx context.Context, sb *sandbox.Launcher, cfg Config, iso runner.Isolation, langs []served) error {
	var cellMem int64
	var probe *served
	for i, l := range langs {
		if !iso.Reaches(sandbox.IsolationNamespace, l.runtime.Language) {
			continue
		}
		d := l.runtime.Defaults
		cellMem = max(cellMem, d.MemoryMB<<20, d.CompileMemoryMB<<20)
		if probe == nil || l.lang.Image == "airlock/base" {
			probe = &langs[i]
		}
	}
	if probe == nil {
		return nil
	}
	sb.SetCellMemory(cellMem)
	o, err := sb.Run(ctx, sandbox.Spec{
		JobID: "probe", Stage: "probe", Image: probe.lang.Image, Isolation: sandbox.IsolationNamespace,
		Tenant: contracts.DefaultTenant, Argv: []string{"true"}, Env: probe.lang.FullEnv,
		CPUTime: 10 * time.Second, WallTime: 30 * time.Second, MemoryBytes: 64 << 20, Processes: 16, OutputBytes: 4096,
	})
	if err == nil && (o.ExitCode != 0 || o.InitError != "") {
		err = fmt.Errorf("exit %d: %s%s", o.ExitCode, o.InitError, bytes.TrimSpace(o.Stderr))
	}
	if err != nil {
		return fmt.Errorf("namespace isolation does not work on this host (a stage in a cell of %s: %w); "+
			"rebuild the images (deploy/images/build.sh: bubblewrap), run the executor as root with the host's /sys/fs/cgroup, or choose --isolation container", probe.lang.Image, err)
	}
	for _, l := range langs {
		n := cfg.Pool[l.runtime.Language]
		if n == 0 || iso.Mode(contracts.DefaultTenant, l.runtime.Language) != sandbox.IsolationNamespace {
			continue
		}
		d := l.runtime.Defaults
		sb.WarmCells(ctx, sandbox.Spec{Image: l.lang.Image, Tenant: contracts.DefaultTenant,
			MemoryBytes: d.MemoryMB << 20, Processes: d.Processes}, n)
	}
	return nil
}

// find is the served language and runtime that answer language and version
// (nil: none).
func find(langs []served, language, version string) (*catalog.Language, contracts.Runtime) {
	rt, verr := contracts.FindRuntime(runtimesOf(langs), language, version)
	if verr != nil {
		return nil, contracts.Runtime{}
	}
	for _, l := range langs {
		if l.runtime.Language == rt.Language && l.runtime.Version == rt.Version {
			return l.lang, l.runtime
		}
	}
	return nil, contracts.Runtime{}
}

// runtimesOf is the runtimes of the served languages.
func runtimesOf(langs []served) []contracts.Runtime {
	rts := make([]contracts.Runtime, len(langs))
	for i, l := range langs {
		rts[i] = l.runtime
	}
	return rts
}
