// Package catalog loads the language catalog: for each language its image,
// entry-file convention, compile and run commands (argv arrays, never shell
// strings), environment and limits. Adding a language is a catalog entry
// plus an image, not Go code.
package catalog

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"

	"github.com/airlockrun/airlock/contracts"
)

//go:embed languages.json
var builtin []byte

// Language is one catalog entry.
type Language struct {
	Name      string   `json:"name"`
	Aliases   []string `json:"aliases"`
	Image     string   `json:"image"`
	EntryFile string   `json:"entry_file"`
	SourceExt []string `json:"source_ext"`
	// Version is an argv that prints the toolchain version; the executor
	// runs it in a sandbox at start, so the version is read from the image.
	Version []string `json:"version"`
	// Compile and Run are argv templates: {entry} is the entry file name,
	// {stem} the entry file name without its extension, {sources} expands to
	// every file with one of SourceExt (entry first).
	Compile []string         `json:"compile,omitempty"`
	Run     []string         `json:"run"`
	Env     []string         `json:"env,omitempty"`
	Limits  contracts.Limits `json:"limits"`
	Max     contracts.Limits `json:"max"`

	// Filled in by Load.
	Defaults contracts.LimitSet `json:"-"`
	Maximums contracts.LimitSet `json:"-"`
	FullEnv  []string           `json:"-"`
}

// Compiled reports whether the language has a compile stage.
func (l *Language) Compiled() bool { return len(l.Compile) > 0 }

// Catalog is the loaded set of languages.
type Catalog struct {
	Languages []*Language
}

type file struct {
	Defaults struct {
		Env    []string           `json:"env"`
		Limits contracts.LimitSet `json:"limits"`
		Max    contracts.LimitSet `json:"max"`
	} `json:"defaults"`
	Languages []*Language `json:"languages"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+#._-]*$`)

// versionRE finds a toolchain version in the output of a version command:
// the first run of digits with at least one dot ("12.2.0", "1.6", "2022.12").
var versionRE = regexp.MustCompile(`\d+(\.\d+)+`)

// ParseVersion returns the version a Language's Version command printed, or
// "" when the output holds none. The executor (GET /v1/runtimes) and the
// docs/languages.md generator both use it, so they agree.
func ParseVersion(output string) string { return versionRE.FindString(output) }

// Load reads the catalog at path, or the built-in one when path is empty.
func Load(path string) (*Catalog, error) {
	data := builtin
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read catalog: %w", err)
		}
		data = b
	}
	return Parse(data)
}

// Parse decodes and checks a catalog.
func Parse(data []byte) (*Catalog, error) {
	var f file
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode catalog: %w", err)
	}
	seen := map[string]string{}
	for i, l := range f.Languages {
		if l == nil {
			return nil, fmt.Errorf("catalog entry %d is null", i)
		}
		if !nameRE.MatchString(l.Name) || l.Image == "" || len(l.Run) == 0 || len(l.Version) == 0 ||
			!contracts.ValidFileName(l.EntryFile) || strings.Contains(l.EntryFile, "/") {
			return nil, fmt.Errorf("catalog entry %q: needs a lower-case name, image, run, version and a plain entry_file", l.Name)
		}
		for _, n := range append([]string{l.Name}, l.Aliases...) {
			if other, dup := seen[n]; dup {
				return nil, fmt.Errorf("catalog: name %q used by %s and %s", n, other, l.Name)
			}
			seen[n] = l.Name
		}
		l.Defaults = merge(f.Defaults.Limits, l.Limits)
		l.Maximums = merge(f.Defaults.Max, l.Max)
		if err := within(l.Defaults, l.Maximums); err != nil {
			return nil, fmt.Errorf("catalog entry %q: %w", l.Name, err)
		}
		l.FullEnv = append(append([]string(nil), f.Defaults.Env...), l.Env...)
	}
	return &Catalog{Languages: f.Languages}, nil
}

func merge(base contracts.LimitSet, o contracts.Limits) contracts.LimitSet {
	pick := func(b, v int64) int64 {
		if v > 0 {
			return v
		}
		return b
	}
	return contracts.LimitSet{
		CPUTimeMS:         pick(base.CPUTimeMS, o.CPUTimeMS),
		WallTimeMS:        pick(base.WallTimeMS, o.WallTimeMS),
		MemoryMB:          pick(base.MemoryMB, o.MemoryMB),
		Processes:         pick(base.Processes, o.Processes),
		OutputBytes:       pick(base.OutputBytes, o.OutputBytes),
		CompileCPUTimeMS:  pick(base.CompileCPUTimeMS, o.CompileCPUTimeMS),
		CompileWallTimeMS: pick(base.CompileWallTimeMS, o.CompileWallTimeMS),
		CompileMemoryMB:   pick(base.CompileMemoryMB, o.CompileMemoryMB),
	}
}

func within(d, m contracts.LimitSet) error {
	pairs := []struct {
		name string
		d, m int64
	}{
		{"cpu_time_ms", d.CPUTimeMS, m.CPUTimeMS}, {"wall_time_ms", d.WallTimeMS, m.WallTimeMS},
		{"memory_mb", d.MemoryMB, m.MemoryMB}, {"processes", d.Processes, m.Processes},
		{"output_bytes", d.OutputBytes, m.OutputBytes}, {"compile_cpu_time_ms", d.CompileCPUTimeMS, m.CompileCPUTimeMS},
		{"compile_wall_time_ms", d.CompileWallTimeMS, m.CompileWallTimeMS}, {"compile_memory_mb", d.CompileMemoryMB, m.CompileMemoryMB},
	}
	for _, p := range pairs {
		if p.d <= 0 || p.m <= 0 || p.d > p.m {
			return fmt.Errorf("limit %s: default %d must be positive and at most the maximum %d", p.name, p.d, p.m)
		}
	}
	return nil
}

// Find returns the language with this name or alias.
func (c *Catalog) Find(name string) *Language {
	name = strings.ToLower(name)
	for _, l := range c.Languages {
		if l.Name == name {
			return l
		}
		for _, a := range l.Aliases {
			if a == name {
				return l
			}
		}
	}
	return nil
}

// Expand fills an argv template. Every file name was validated by the
// contracts rules (no leading "-"), so none can be read as an option.
func (l *Language) Expand(tmpl []string, files []string) []string {
	if len(files) == 0 {
		return append([]string(nil), tmpl...)
	}
	entry := files[0]
	stem := strings.TrimSuffix(entry, path.Ext(entry))
	var out []string
	for _, a := range tmpl {
		switch {
		case a == "{sources}":
			for _, f := range files {
				if l.isSource(f) {
					out = append(out, f)
				}
			}
		default:
			a = strings.ReplaceAll(a, "{entry}", entry)
			a = strings.ReplaceAll(a, "{stem}", stem)
			out = append(out, a)
		}
	}
	return out
}

func (l *Language) isSource(name string) bool {
	ext := path.Ext(name)
	for _, e := range l.SourceExt {
		if e == ext {
			return true
		}
	}
	return false
}

// Runtime describes the language for the wire, with the detected version.
func (l *Language) Runtime(version string) contracts.Runtime {
	return contracts.Runtime{
		Language:  l.Name,
		Aliases:   append([]string{}, l.Aliases...),
		Version:   version,
		Compiled:  l.Compiled(),
		EntryFile: l.EntryFile,
		Defaults:  l.Defaults,
		Maximums:  l.Maximums,
	}
}
