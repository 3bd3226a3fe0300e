package executor

import (
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/airlockrun/airlock/services/executor/internal/catalog"
)

// TestIsolationRuntimesAndPool: the runtimes the preflight checks and the
// languages the warm pool serves follow the resolved modes.
func TestIsolationRuntimesAndPool(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      Config
		runtimes []string
		pooled   []string // of bash, java, python
	}{
		{name: "namespace default", runtimes: []string{""}},
		{name: "container default", cfg: Config{Isolation: "container"}, runtimes: []string{""}, pooled: []string{"bash", "java", "python"}},
		// Everything under gVisor needs no other runtime (nor seccomp).
		{name: "runsc", cfg: Config{OCIRuntime: "runsc"}, runtimes: []string{"runsc"}},
		{name: "runsc, python under runc", cfg: Config{OCIRuntime: "runsc", LanguageRuntimes: map[string]string{"python": "runc"}},
			runtimes: []string{"runsc", "runc"}},
		{name: "a language's own runtime is not pooled", cfg: Config{OCIRuntime: "runsc-x", Isolation: "gvisor", LanguageRuntimes: map[string]string{"python": "runc"}},
			runtimes: []string{"runsc-x", "runc"}},
		{name: "container runtime", cfg: Config{Isolation: "container", OCIRuntime: "crun", LanguageRuntimes: map[string]string{"java": "runsc", "bash": "runc"}},
			runtimes: []string{"crun", "runc", "runsc"}, pooled: []string{"python"}},
		{name: "a language in container", cfg: Config{LanguageIsolation: map[string]string{"java": "container", "python": "gvisor"}},
			runtimes: []string{"", "runsc"}, pooled: []string{"java"}},
		// A tenant in container reaches every language not under gVisor by its own runtime.
		{name: "a tenant in container", cfg: Config{TenantIsolation: map[string]string{"acme": "container"}, LanguageRuntimes: map[string]string{"java": "runsc"}},
			runtimes: []string{"", "runsc"}, pooled: []string{"bash", "java", "python"}},
		{name: "a tenant in gvisor", cfg: Config{Isolation: "container", TenantIsolation: map[string]string{"acme": "gvisor"}},
			runtimes: []string{"", "runsc"}, pooled: []string{"bash", "java", "python"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if err := cfg.NormalizeIsolation(); err != nil {
				t.Fatal(err)
			}
			if got := cfg.runtimes(); !slices.Equal(got, tc.runtimes) {
				t.Errorf("runtimes %q, want %q", got, tc.runtimes)
			}
			var pooled []string
			for _, l := range []string{"bash", "java", "python"} {
				if cfg.pooled(l) {
					pooled = append(pooled, l)
				}
			}
			if !slices.Equal(pooled, tc.pooled) {
				t.Errorf("pooled %q, want %q", pooled, tc.pooled)
			}
			again := cfg
			if err := again.NormalizeIsolation(); err != nil || again.Isolation != cfg.Isolation ||
				!maps.Equal(again.LanguageIsolation, cfg.LanguageIsolation) || again.GVisorRuntime != cfg.GVisorRuntime {
				t.Errorf("normalizing twice changed the configuration: %v %+v", err, again)
			}
		})
	}
}

func TestCanonicalLanguages(t *testing.T) {
	cat, err := catalog.Load("")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	got, err := canonicalLanguages("--language-isolation", map[string]string{"py": "gvisor", "java": "container", "nosuch": "container"}, cat, log)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"python": "gvisor", "java": "container", "nosuch": "container"}; !maps.Equal(got, want) {
		t.Errorf("%v, want %v", got, want)
	}
	_, err = canonicalLanguages("--language-isolation", map[string]string{"py": "gvisor", "python": "container"}, cat, log)
	if err == nil || !strings.Contains(err.Error(), "python is given twice") {
		t.Errorf("an alias and its language with two modes: %v", err)
	}
}
