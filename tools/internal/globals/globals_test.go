package globals

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestNoPackageLevelMutableState: no package of the workspace assigns,
// increments or takes the address of a package-level variable outside its
// declaration (docs: STYLE, "no package-level mutable state").
func TestNoPackageLevelMutableState(t *testing.T) {
	root, modules := workspace(t)
	findings, err := Check([]string{root}, modules)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		t.Error(f)
	}
}

// TestPlanted: on a planted example, exactly the lines marked "// want
// <what>" are found, and nothing on the allowed uses.
func TestPlanted(t *testing.T) {
	dir := filepath.Join("testdata", "planted")
	findings, err := Check([]string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range findings {
		got[filepath.Base(f.Pos.Filename)+":"+itoa(f.Pos.Line)] = f.What
	}
	want := map[string]string{}
	marker := regexp.MustCompile(`// want (.+)$`)
	for _, name := range []string{"planted.go", "other.go"} {
		fh, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for line := 1; sc.Scan(); line++ {
			if m := marker.FindStringSubmatch(sc.Text()); m != nil {
				want[name+":"+itoa(line)] = m[1]
			}
		}
		_ = fh.Close()
	}
	if len(want) < 9 {
		t.Fatalf("the planted example has %d markers, want at least 9", len(want))
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: found %q, want %q", k, got[k], w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: found %q on an allowed use", k, g)
		}
	}
}

// TestAnotherPackagesVariable: pkg.Var = x is found when pkg is a module
// package whose variable Var is.
func TestAnotherPackagesVariable(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/m\n")
	write("a/a.go", "package a\n\nvar Hook func()\n\nvar Table = []int{1}\n")
	write("b/b_test.go", "package b\n\nimport \"example.com/m/a\"\n\nfunc set() { a.Hook = nil; _ = a.Table[0] }\n")
	modules, err := Modules([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	findings, err := Check([]string{dir}, modules)
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 1 || findings[0].Name != "a.Hook" || findings[0].What != "assigned" {
		t.Fatalf("findings %v, want a.Hook assigned", findings)
	}
}

// workspace finds the go.work above this directory and its modules.
func workspace(t *testing.T) (string, map[string]string) {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.work")); err == nil {
			var dirs []string
			inUse := false
			for line := range strings.Lines(string(data)) {
				line = strings.TrimSpace(line)
				switch {
				case strings.HasPrefix(line, "use ("):
					inUse = true
				case inUse && line == ")":
					inUse = false
				case inUse && line != "":
					dirs = append(dirs, filepath.Join(dir, line))
				case strings.HasPrefix(line, "use "):
					dirs = append(dirs, filepath.Join(dir, strings.TrimSpace(strings.TrimPrefix(line, "use "))))
				}
			}
			modules, err := Modules(dirs)
			if err != nil {
				t.Fatal(err)
			}
			return dir, modules
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.work above the test's directory")
		}
		dir = parent
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
