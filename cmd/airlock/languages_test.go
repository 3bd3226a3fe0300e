package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/airlockrun/airlock/contracts"
)

// The acceptance programs: testdata/languages/<language>/<entry file> reads
// a word from stdin and prints "OK <word>"; for a compiled language
// testdata/languages/<language>/compile_error/<entry file> must not compile.
const (
	languagesDir = "testdata/languages"
	catalogFile  = "../../services/executor/internal/catalog/languages.json"
	languagesDoc = "../../docs/languages.md"
	acceptWord   = "airlock"
)

// catalogEntry is the part of a catalog entry these tests need (the catalog
// package is internal to the executor, so its file is read directly).
type catalogEntry struct {
	Name      string   `json:"name"`
	Aliases   []string `json:"aliases"`
	EntryFile string   `json:"entry_file"`
	Compile   []string `json:"compile"`
	SourceExt []string `json:"source_ext"`
}

func loadCatalog(t *testing.T) []catalogEntry {
	t.Helper()
	data, err := os.ReadFile(catalogFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Languages []catalogEntry }
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Languages) == 0 {
		t.Fatal("empty catalog")
	}
	return f.Languages
}

// TestLanguageTestdata (no Docker) checks that every catalog language has an
// acceptance program, every compiled one a compile_error program, and that
// nothing in testdata/languages is left without a catalog entry.
func TestLanguageTestdata(t *testing.T) {
	langs := loadCatalog(t)
	if len(langs) < 50 {
		t.Errorf("catalog has %d languages, want at least 50", len(langs))
	}
	known := map[string]catalogEntry{}
	for _, l := range langs {
		known[l.Name] = l
		if _, err := os.Stat(filepath.Join(languagesDir, l.Name, l.EntryFile)); err != nil {
			t.Errorf("%s: no acceptance program: %v", l.Name, err)
		}
		_, err := os.Stat(filepath.Join(languagesDir, l.Name, "compile_error", l.EntryFile))
		if compiled := len(l.Compile) > 0; compiled && err != nil {
			t.Errorf("%s: compiled language without a compile_error program: %v", l.Name, err)
		} else if !compiled && err == nil {
			t.Errorf("%s: compile_error program for a language without a compile stage", l.Name)
		}
	}
	dirs, err := os.ReadDir(languagesDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		l, ok := known[d.Name()]
		if !ok {
			t.Errorf("%s/%s has no catalog entry", languagesDir, d.Name())
			continue
		}
		files, _ := os.ReadDir(filepath.Join(languagesDir, d.Name()))
		for _, f := range files {
			if f.Name() != l.EntryFile && f.Name() != "compile_error" {
				t.Errorf("%s/%s/%s: unexpected file (want only %s and compile_error/)", languagesDir, d.Name(), f.Name(), l.EntryFile)
			}
		}
	}
}

// docVersions reads the version column of docs/languages.md.
func docVersions(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(languagesDoc)
	if err != nil {
		t.Fatal(err)
	}
	v := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if cols := strings.SplitN(line, " | ", 4); strings.HasPrefix(line, "| `") && len(cols) == 4 {
			v[strings.Trim(strings.TrimPrefix(cols[0], "| "), "`")] = strings.TrimSpace(cols[2])
		}
	}
	return v
}

type langStat struct {
	name                string
	compileMS, runMS    int64
	compileKB, runKB    int64
	compileWall, runWal int64
}

// TestLanguages runs every language's acceptance program (and compile_error
// program) through the real API of one stack, as many at a time as the
// executor has slots.
func TestLanguages(t *testing.T) {
	langs := loadCatalog(t)
	slots := min(max(runtime.NumCPU(), 2), 8)
	s := startDev(t, func(c *config) { c.Executor.Slots = slots })

	runtimes := map[string]contracts.Runtime{}
	t.Run("runtimes", func(t *testing.T) {
		code, _, data := request(t, "GET", s.URL+"/v1/runtimes", nil, nil)
		if code != 200 {
			t.Fatalf("GET /v1/runtimes = %d: %s", code, data)
		}
		var body struct{ Runtimes []contracts.Runtime }
		if err := json.Unmarshal(data, &body); err != nil {
			t.Fatal(err)
		}
		for _, r := range body.Runtimes {
			runtimes[r.Language] = r
		}
		doc := docVersions(t)
		for _, l := range langs {
			r, ok := runtimes[l.Name]
			switch {
			case !ok:
				t.Errorf("%s: not served (image missing or its version command failed; see the executor log)", l.Name)
				continue
			case r.Version == "":
				t.Errorf("%s: empty version", l.Name)
			case doc[l.Name] != r.Version:
				t.Errorf("%s: docs/languages.md says version %q, the image has %q: run `go tool task languages-doc`", l.Name, doc[l.Name], r.Version)
			}
			if !slices.Equal(r.Aliases, append([]string{}, l.Aliases...)) || r.EntryFile != l.EntryFile || r.Compiled != (len(l.Compile) > 0) {
				t.Errorf("%s: runtime %+v does not match the catalog entry %+v", l.Name, r, l)
			}
		}
		if len(runtimes) != len(langs) {
			var extra []string
			for n := range runtimes {
				if !slices.ContainsFunc(langs, func(l catalogEntry) bool { return l.Name == n }) {
					extra = append(extra, n)
				}
			}
			t.Errorf("GET /v1/runtimes lists %d languages, the catalog %d (not in the catalog: %v)", len(runtimes), len(langs), extra)
		}
	})

	var mu sync.Mutex
	var stats []langStat
	sem := make(chan struct{}, slots)
	t.Run("programs", func(t *testing.T) {
		for _, l := range langs {
			t.Run(l.Name, func(t *testing.T) {
				t.Parallel()
				sem <- struct{}{}
				defer func() { <-sem }()
				st := langStat{name: l.Name}

				dir := filepath.Join(languagesDir, l.Name)
				req := src(l.Name, l.EntryFile, readFile(t, filepath.Join(dir, l.EntryFile)))
				req.Stdin = acceptWord + "\n"
				e := execute(t, s, req)
				want := "OK " + acceptWord + "\n"
				if e.Verdict != contracts.VerdictAccepted || e.Run == nil || e.Run.Stdout != want {
					t.Fatalf("want accepted with stdout %q, got %s", want, dump(e))
				}
				if e.Run.Stderr != "" {
					t.Errorf("run stderr not empty: %q", e.Run.Stderr)
				}
				if compiled := len(l.Compile) > 0; compiled != (e.Compile != nil) {
					t.Errorf("compile stage present = %v, want %v", e.Compile != nil, compiled)
				} else if compiled && e.Compile.Stderr != "" {
					// A clean program compiles silently: noise here (a JVM
					// warning, a banner) would end up in every user's result.
					t.Errorf("compile stderr not empty: %q", e.Compile.Stderr)
				}
				if r, ok := runtimes[l.Name]; ok && e.Version != r.Version {
					t.Errorf("execution version %q, runtime version %q", e.Version, r.Version)
				}
				st.runMS, st.runKB, st.runWal = e.Run.CPUTimeMS, e.Run.MemoryKB, e.Run.WallTimeMS
				if e.Compile != nil {
					st.compileMS, st.compileKB, st.compileWall = e.Compile.CPUTimeMS, e.Compile.MemoryKB, e.Compile.WallTimeMS
				}
				mu.Lock()
				stats = append(stats, st)
				mu.Unlock()

				if len(l.Compile) == 0 {
					return
				}
				bad := src(l.Name, l.EntryFile, readFile(t, filepath.Join(dir, "compile_error", l.EntryFile)))
				e = execute(t, s, bad)
				if e.Verdict != contracts.VerdictCompileError || e.Compile == nil || e.Run != nil {
					t.Fatalf("compile_error program: want verdict compile_error without a run stage, got %s", dump(e))
				}
				// The compiler's own diagnostic names the file it rejects.
				if e.Compile.ExitCode == 0 || !strings.Contains(e.Compile.Stderr, l.EntryFile) {
					t.Errorf("compile_error program: want a non-zero exit and the compiler's message naming %s in compile.stderr, got %s", l.EntryFile, dump(e))
				}
			})
		}
	})

	sort.Slice(stats, func(i, j int) bool { return stats[i].name < stats[j].name })
	var b strings.Builder
	fmt.Fprintf(&b, "%-14s %10s %10s %10s %8s %8s %8s\n", "language", "compileCPU", "compileWall", "compileMB", "runCPU", "runWall", "runMB")
	for _, st := range stats {
		fmt.Fprintf(&b, "%-14s %10d %10d %10d %8d %8d %8d\n", st.name, st.compileMS, st.compileWall, st.compileKB/1024, st.runMS, st.runWal, st.runKB/1024)
	}
	t.Logf("accepted programs (ms, MB):\n%s", b.String())
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
