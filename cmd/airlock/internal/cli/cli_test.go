package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airlockrun/airlock/contracts"
)

// TestCLIHelpers covers the parts of the CLI that need no server.
func TestCLIHelpers(t *testing.T) {
	t.Run("splitWords", func(t *testing.T) {
		cases := map[string][]string{
			`a b  c`:              {"a", "b", "c"},
			`'x y' "z \" w" v\ u`: {"x y", `z " w`, "v u"},
			`"" ''`:               {"", ""},
			"  ":                  nil,
			`a"b"'c'`:             {"abc"},
		}
		for in, want := range cases {
			if got, err := splitWords(in); err != nil || !slices.Equal(got, want) {
				t.Errorf("splitWords(%q) = %q, %v; want %q", in, got, err, want)
			}
		}
		for _, bad := range []string{`'open`, `"open`, `trailing\`} {
			if _, err := splitWords(bad); err == nil {
				t.Errorf("splitWords(%q): no error", bad)
			}
		}
	})

	t.Run("naturalCompare", func(t *testing.T) {
		names := []string{"10", "2", "b", "test10", "1", "test9", "a", "01", "test2b", "test2a"}
		slices.SortFunc(names, naturalCompare)
		want := []string{"01", "1", "2", "10", "a", "b", "test2a", "test2b", "test9", "test10"}
		if !slices.Equal(names, want) {
			t.Errorf("got %q, want %q", names, want)
		}
	})

	t.Run("readTests", func(t *testing.T) {
		dir := t.TempDir()
		put(t, filepath.Join(dir, "2.in"), "two")
		put(t, filepath.Join(dir, "10.in"), "ten")
		put(t, filepath.Join(dir, "10.out"), "TEN")
		put(t, filepath.Join(dir, "only-out.ans"), "X")
		put(t, filepath.Join(dir, "notes.txt"), "ignored")
		tests, err := readTests(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(tests) != 3 || tests[0].Name != "2" || tests[0].Stdin != "two" || tests[0].ExpectedOutput != nil ||
			tests[1].Name != "10" || *tests[1].ExpectedOutput != "TEN" || tests[2].Name != "only-out" || tests[2].Stdin != "" || *tests[2].ExpectedOutput != "X" {
			t.Errorf("tests: %+v", tests)
		}
		put(t, filepath.Join(dir, "10.ans"), "again")
		if _, err := readTests(dir); err == nil || !strings.Contains(err.Error(), "both") {
			t.Errorf("both .out and .ans: %v", err)
		}
	})

	t.Run("detectLanguage", func(t *testing.T) {
		rts := []contracts.Runtime{
			{Language: "c", EntryFile: "main.c"}, {Language: "clang", EntryFile: "main.c"},
			{Language: "python", Aliases: []string{"py"}, EntryFile: "main.py"}, {Language: "pypy", EntryFile: "main.py"},
			{Language: "bash", EntryFile: "main.sh"}, {Language: "zsh", EntryFile: "main.zsh"},
			{Language: "perl", EntryFile: "main.pl"}, {Language: "prolog", EntryFile: "main.pl"},
			{Language: "sml", EntryFile: "main.sml"}, {Language: "java", EntryFile: "Main.java"},
		}
		for file, want := range map[string]string{"x/a.c": "c", "main.py": "python", "run.sh": "bash", "s.pl": "perl",
			"prog.sml": "sml", "Solution.java": "java", "MAIN.PY": "python", "s.zsh": "zsh"} {
			if got, err := detectLanguage(file, rts); err != nil || got != want {
				t.Errorf("detectLanguage(%q) = %q, %v; want %q", file, got, err, want)
			}
		}
		if _, err := detectLanguage("a.c", []contracts.Runtime{{Language: "clang", EntryFile: "main.c"}, {Language: "tcc", EntryFile: "main.c"}}); err == nil || !strings.Contains(err.Error(), "clang, tcc") {
			t.Errorf("ambiguous: %v", err)
		}
		if _, err := detectLanguage("Makefile", rts); err == nil || !strings.Contains(err.Error(), "--lang") {
			t.Errorf("no extension: %v", err)
		}
	})
}

// put writes a file of a test's directory.
func put(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
