package catalog

import (
	"regexp"
	"strings"
	"testing"

	"github.com/airlockrun/airlock/contracts"
)

// FuzzParse parses arbitrary catalogs (an operator can pass one with
// --catalog): no panic, and every accepted language has a valid name, an
// image, run and version commands, a plain entry file, defaults within its
// maximums, and is found by its name.
func FuzzParse(f *testing.F) {
	f.Add(builtin)
	f.Add([]byte(`{"defaults":{"limits":{"cpu_time_ms":1000,"wall_time_ms":2000,"memory_mb":64,"processes":8,"output_bytes":100,"compile_cpu_time_ms":1,"compile_wall_time_ms":1,"compile_memory_mb":1},"max":{"cpu_time_ms":1000,"wall_time_ms":2000,"memory_mb":64,"processes":8,"output_bytes":100,"compile_cpu_time_ms":1,"compile_wall_time_ms":1,"compile_memory_mb":1}},"languages":[{"name":"x","image":"i","entry_file":"m.x","version":["v"],"run":["r","{entry}"]}]}`))
	f.Add([]byte(`{"languages":[null]}`))
	f.Add([]byte(`{"languages":[{"name":"x","aliases":["x"]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		for _, l := range c.Languages {
			if !nameRE.MatchString(l.Name) || l.Image == "" || len(l.Run) == 0 || len(l.Version) == 0 ||
				!contracts.ValidFileName(l.EntryFile) || strings.Contains(l.EntryFile, "/") {
				t.Fatalf("invalid entry accepted: %+v", l)
			}
			if err := within(l.Defaults, l.Maximums); err != nil {
				t.Fatalf("%s: %v", l.Name, err)
			}
			if c.Find(l.Name) != l {
				t.Fatalf("%s is not found by its name", l.Name)
			}
			_ = l.Expand(l.Run, []string{l.EntryFile, "b.x"})
			_ = l.Runtime("1.0")
		}
	})
}

var versionShape = regexp.MustCompile(`^\d+(\.\d+)+$`)

// FuzzParseVersion reads versions out of arbitrary version-command output:
// the answer is empty or a dotted number taken from the output.
func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"Python 3.11.2", "gcc (Debian 12.2.0-14) 12.2.0", "openjdk 17.0.9 2023-10-17", "go version go1.19.8 linux/amd64", "v18", "1..2", "١٢.٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, out string) {
		v := ParseVersion(out)
		if v != "" && (!versionShape.MatchString(v) || !strings.Contains(out, v)) {
			t.Fatalf("version %q from %q", v, out)
		}
	})
}
