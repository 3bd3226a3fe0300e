package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockrun/airlock/contracts"
)

// The idiom table: testdata/idioms/<language>/<case>/ holds one program,
// written the way that language's documentation and judge sites write a
// stdin → stdout program, under the file name its users send (which is not
// always the catalog's entry file: the JVM languages, Haskell and Ada find
// their entry point in the code). A case reads testdata/idioms/stdin (a count,
// then that many integers on one line) and prints their sum,
// testdata/idioms/stdout; a case with its own stdin and stdout files (a
// language that cannot reasonably parse numbers, or an idiom that reads input
// another way) uses those.
const idiomsDir = "testdata/idioms"

// idiomFiles are the names in a case directory that are not its program.
var idiomFiles = []string{"stdin", "stdout"}

type idiomCase struct {
	lang, name    string // language, case directory
	file, code    string // the program
	stdin, stdout string
}

func (c idiomCase) String() string { return c.lang + "/" + c.name + "/" + c.file }

// loadIdioms reads the table; it fails the test on a malformed case.
func loadIdioms(t *testing.T) []idiomCase {
	t.Helper()
	stdin, stdout := readFile(t, filepath.Join(idiomsDir, "stdin")), readFile(t, filepath.Join(idiomsDir, "stdout"))
	langs, err := os.ReadDir(idiomsDir)
	if err != nil {
		t.Fatal(err)
	}
	var cases []idiomCase
	for _, l := range langs {
		if !l.IsDir() {
			continue
		}
		dirs, err := os.ReadDir(filepath.Join(idiomsDir, l.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dirs {
			dir := filepath.Join(idiomsDir, l.Name(), d.Name())
			files, err := os.ReadDir(dir)
			if err != nil {
				t.Fatalf("%s: a case is a directory: %v", dir, err)
			}
			c := idiomCase{lang: l.Name(), name: d.Name(), stdin: stdin, stdout: stdout}
			for _, f := range files {
				switch p := filepath.Join(dir, f.Name()); f.Name() {
				case "stdin":
					c.stdin = readFile(t, p)
				case "stdout":
					c.stdout = readFile(t, p)
				default:
					if c.file != "" {
						t.Fatalf("%s: two programs (%s, %s); a case holds one", dir, c.file, f.Name())
					}
					c.file, c.code = f.Name(), readFile(t, p)
				}
			}
			if c.file == "" {
				t.Fatalf("%s: no program", dir)
			}
			cases = append(cases, c)
		}
	}
	return cases
}

// TestIdiomTestdata (no Docker) checks that every catalog language has at
// least one idiomatic program, that every program is for a catalog language
// and carries one of its source extensions, and that a case's stdin and
// stdout come in pairs.
func TestIdiomTestdata(t *testing.T) {
	cases := loadIdioms(t)
	per := map[string]int{}
	for _, c := range cases {
		per[c.lang]++
	}
	exts := map[string][]string{}
	for _, l := range loadCatalog(t) {
		exts[l.Name] = l.SourceExt
		if per[l.Name] == 0 {
			t.Errorf("%s: no program in %s/%s", l.Name, idiomsDir, l.Name)
		}
	}
	for _, c := range cases {
		ext, ok := exts[c.lang]
		if !ok {
			t.Errorf("%s: no catalog language %q", c, c.lang)
			continue
		}
		if !slices.Contains(ext, filepath.Ext(c.file)) {
			t.Errorf("%s: not one of the language's source extensions %v", c, ext)
		}
		if !contracts.ValidFileName(c.file) {
			t.Errorf("%s: not a valid file name", c)
		}
		_, errIn := os.Stat(filepath.Join(idiomsDir, c.lang, c.name, "stdin"))
		_, errOut := os.Stat(filepath.Join(idiomsDir, c.lang, c.name, "stdout"))
		if (errIn == nil) != (errOut == nil) {
			t.Errorf("%s: a case's own stdin and stdout come together", c)
		}
	}
}

// pistonIdioms are the languages whose entry point is found from the code:
// their programs also go through the Piston API without a file name (the
// program then gets the runtime's entry file name: Main.java, main.kt, ...).
var pistonIdioms = []string{"java", "kotlin", "scala", "haskell", "ada"}

// TestLanguageIdioms runs the idiom table against one stack and the real
// images: every program must complete accepted with exactly the expected
// stdout, nothing on stderr, compile included. It prints each case's result
// and the suite's wall time. Run one language with
// -run 'TestLanguageIdioms/java$'.
func TestLanguageIdioms(t *testing.T) {
	cases := loadIdioms(t)
	slots := min(max(runtime.NumCPU(), 2), 8)
	var langs []string
	for _, c := range cases {
		if !slices.Contains(langs, c.lang) {
			langs = append(langs, c.lang)
		}
	}
	s := startDev(t, func(c *config) { c.Executor.Slots = slots })
	start := time.Now()

	var mu sync.Mutex
	results := map[string]string{}
	note := func(c idiomCase, res string) {
		mu.Lock()
		results[c.String()] = res
		mu.Unlock()
	}
	sem := make(chan struct{}, slots)
	t.Run("programs", func(t *testing.T) {
		for _, lang := range langs {
			t.Run(lang, func(t *testing.T) {
				t.Parallel()
				for _, c := range cases {
					if c.lang != lang {
						continue
					}
					t.Run(c.name, func(t *testing.T) {
						t.Parallel()
						sem <- struct{}{}
						defer func() { <-sem }()
						note(c, "FAIL")
						runIdiom(t, s, c)
						if slices.Contains(pistonIdioms, c.lang) {
							runIdiomPiston(t, s, c)
						}
						if !t.Failed() {
							note(c, "ok")
						}
					})
				}
			})
		}
	})

	keys := make([]string, 0, len(results))
	for k := range results {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	passed := 0
	for _, k := range keys {
		if results[k] == "ok" {
			passed++
		}
		fmt.Fprintf(&b, "%-4s %s\n", results[k], k)
	}
	t.Logf("idiom table: %d of %d programs in %d languages passed in %.1f s\n%s",
		passed, len(keys), len(langs), time.Since(start).Seconds(), b.String())
}

// runIdiom runs c through POST /v1/execute with its expected output, so the
// verdict is the comparison's, and checks the stdout byte for byte.
func runIdiom(t *testing.T, s *stack, c idiomCase) {
	t.Helper()
	req := src(c.lang, c.file, c.code)
	req.Stdin = c.stdin
	want := c.stdout
	req.ExpectedOutput = &want
	e := execute(t, s, req)
	if e.Status != contracts.StatusCompleted || e.Verdict != contracts.VerdictAccepted || e.Run == nil || e.Run.Stdout != c.stdout {
		t.Fatalf("%s: want completed, accepted, stdout %q; got %s", c, c.stdout, dump(e))
	}
	if e.Run.Stderr != "" {
		t.Errorf("%s: run stderr not empty: %q", c, e.Run.Stderr)
	}
	if e.Compile != nil && e.Compile.Stderr != "" {
		t.Errorf("%s: compile stderr not empty: %q", c, e.Compile.Stderr)
	}
}

// runIdiomPiston runs c through Piston's POST /api/v2/execute without a file
// name.
func runIdiomPiston(t *testing.T, s *stack, c idiomCase) {
	t.Helper()
	var res pistonResultE2E
	body := map[string]any{"language": c.lang, "version": "*", "files": []map[string]any{{"content": c.code}},
		"stdin": c.stdin, "run_cpu_time": 10000, "run_timeout": 30000, "compile_cpu_time": 30000, "compile_timeout": 60000}
	if code := compatCall(t, "POST", s.URL+"/api/v2/execute", body, &res); code != 200 || res.Run == nil {
		t.Fatalf("%s: piston execute: %d %+v", c, code, res)
	}
	if res.Run.Stdout != c.stdout || res.Run.Code == nil || *res.Run.Code != 0 {
		t.Errorf("%s: piston, no file name: stdout %q, want %q (%v)", c, res.Run.Stdout, c.stdout, res.Run)
	}
}
