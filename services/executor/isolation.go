package executor

import (
	"cmp"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/executor/internal/catalog"
	"github.com/airlockrun/airlock/services/executor/internal/runner"
	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
)

// NormalizeIsolation checks the isolation settings and folds the older
// runtime settings into them: a gVisor Runtime becomes Isolation gvisor
// (GVisorRuntime names it), and each entry of LanguageRuntimes becomes its
// language's mode, gvisor for a gVisor runtime and container for another.
// It refuses a mode that is not one of Isolations, a tenant name that is not
// one, and settings that contradict each other. It is idempotent; Run calls
// it.
func (c *Config) NormalizeIsolation() error {
	if sandbox.IsGVisor(c.OCIRuntime) {
		if c.Isolation != "" && c.Isolation != sandbox.IsolationGVisor {
			return fmt.Errorf("--runtime %s runs every sandbox under gVisor, which contradicts --isolation %s: drop --runtime (it names the runtime of container sandboxes), or give --isolation gvisor", c.OCIRuntime, c.Isolation)
		}
		if c.GVisorRuntime != "" && c.GVisorRuntime != c.OCIRuntime {
			return fmt.Errorf("--runtime %s contradicts the gVisor runtime %s", c.OCIRuntime, c.GVisorRuntime)
		}
		c.Isolation, c.GVisorRuntime, c.OCIRuntime = sandbox.IsolationGVisor, c.OCIRuntime, ""
	}
	c.Isolation = cmp.Or(c.Isolation, sandbox.IsolationNamespace)
	if err := checkMode("--isolation", "", c.Isolation); err != nil {
		return err
	}
	if c.GVisorRuntime != "" && !sandbox.IsGVisor(c.GVisorRuntime) {
		return fmt.Errorf("gVisor runtime %q: its name must start with runsc", c.GVisorRuntime)
	}
	for _, lang := range slices.Sorted(maps.Keys(c.LanguageIsolation)) {
		if err := checkMode("--language-isolation", lang+"=", c.LanguageIsolation[lang]); err != nil {
			return err
		}
	}
	for _, tenant := range slices.Sorted(maps.Keys(c.TenantIsolation)) {
		if !contracts.ValidTenant(tenant) {
			return fmt.Errorf("--tenant-isolation: %q is not a tenant name (letters, digits, - and _)", tenant)
		}
		if err := checkMode("--tenant-isolation", tenant+"=", c.TenantIsolation[tenant]); err != nil {
			return err
		}
	}
	var langs map[string]string
	for _, lang := range slices.Sorted(maps.Keys(c.LanguageRuntimes)) {
		rt := c.LanguageRuntimes[lang]
		mode := sandbox.IsolationContainer
		if sandbox.IsGVisor(rt) {
			mode = sandbox.IsolationGVisor
		}
		if m, ok := c.LanguageIsolation[lang]; ok && m != mode {
			return fmt.Errorf("--language-runtimes %s=%s puts %s in %s isolation, which contradicts --language-isolation %s=%s: give one of them", lang, rt, lang, mode, lang, m)
		}
		if langs == nil {
			langs = maps.Clone(c.LanguageIsolation)
			if langs == nil {
				langs = map[string]string{}
			}
		}
		langs[lang] = mode
	}
	if langs != nil {
		c.LanguageIsolation = langs
	}
	return nil
}

func checkMode(flag, key, mode string) error {
	if !slices.Contains(sandbox.Isolations, mode) {
		return fmt.Errorf("%s: %s%q is not an isolation mode (valid: %s)", flag, key, mode, strings.Join(sandbox.Isolations, ", "))
	}
	return nil
}

// isolation is the runner's view of a normalized configuration.
func (c Config) isolation() runner.Isolation {
	return runner.Isolation{
		Default: c.Isolation, Languages: c.LanguageIsolation, Tenants: c.TenantIsolation,
		Runtimes: c.LanguageRuntimes, GVisorRuntime: c.GVisorRuntime,
	}
}

// runtimes lists the OCI runtimes a normalized configuration may run
// sandboxes under, without repeats ("" = the engine's default).
func (c Config) runtimes() []string {
	iso := c.isolation()
	// "" stands for every language the settings do not name.
	langs := append([]string{""}, slices.Sorted(maps.Keys(iso.Languages))...)
	langs = append(langs, slices.Sorted(maps.Keys(iso.Runtimes))...)
	tenantModes := slices.Sorted(maps.Values(iso.Tenants))
	var out []string
	for _, lang := range langs {
		for _, mode := range append([]string{iso.Mode("", lang)}, tenantModes...) {
			// "" for namespace and container: the runner's own.
			if rt := cmp.Or(iso.OCIRuntime(mode, lang), c.OCIRuntime); !slices.Contains(out, rt) {
				out = append(out, rt)
			}
		}
	}
	return out
}

// pooled reports whether warm containers can serve language's stages: they
// serve container stages under the runner's own runtime only (namespace
// stages run in cells, and gVisor sandboxes are never pooled).
func (c Config) pooled(language string) bool {
	iso := c.isolation()
	return iso.Reaches(sandbox.IsolationContainer, language) &&
		cmp.Or(iso.OCIRuntime(sandbox.IsolationContainer, language), c.OCIRuntime) == c.OCIRuntime
}

// canonicalLanguages keys m by the catalog's language names (an alias
// becomes its language's name). A name the catalog does not know is kept,
// with a warning: it matches no execution.
func canonicalLanguages(flag string, m map[string]string, cat *catalog.Catalog, log *slog.Logger) (map[string]string, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]string, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		canon := name
		if l := cat.Find(name); l != nil {
			canon = l.Name
		} else {
			log.Warn(flag+": the catalog has no such language", "language", name)
		}
		if v, ok := out[canon]; ok && v != m[name] {
			return nil, fmt.Errorf("%s: %s is given twice, as %s and as %s", flag, canon, v, m[name])
		}
		out[canon] = m[name]
	}
	return out, nil
}

// formatModes writes a language's or a tenant's modes as the flags take them.
func formatModes(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}
