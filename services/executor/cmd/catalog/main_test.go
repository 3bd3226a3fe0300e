package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/airlockrun/airlock/services/executor/internal/catalog"
)

const docPath = "../../../../docs/languages.md"

// TestDocUpToDate fails when docs/languages.md no longer matches the
// catalog. It needs no Docker: the versions are taken from the file itself
// (cmd/airlock's TestLanguages checks those against the images).
func TestDocUpToDate(t *testing.T) {
	cat, err := catalog.Load("")
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("%v: generate it with `go tool task languages-doc`", err)
	}
	doc, err := Render(cat, ParseVersions(old))
	if err != nil {
		t.Fatalf("docs/languages.md lacks languages of the catalog (%v): run `go tool task languages-doc`", err)
	}
	if !bytes.Equal(doc, old) {
		oldLines, newLines := strings.Split(string(old), "\n"), strings.Split(string(doc), "\n")
		for i := 0; i < len(oldLines) || i < len(newLines); i++ {
			var o, n string
			if i < len(oldLines) {
				o = oldLines[i]
			}
			if i < len(newLines) {
				n = newLines[i]
			}
			if o != n {
				t.Fatalf("docs/languages.md is out of date (run `go tool task languages-doc`, or `go run ./services/executor/cmd/catalog doc -keep-versions` without Docker); first difference at line %d:\n file: %s\n want: %s", i+1, o, n)
			}
		}
	}
}

func TestParseVersionsRoundTrip(t *testing.T) {
	cat, err := catalog.Load("")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i, l := range cat.Languages {
		want[l.Name] = strings.Repeat("1.", i%3+1) + "0"
	}
	doc, err := Render(cat, want)
	if err != nil {
		t.Fatal(err)
	}
	got := ParseVersions(doc)
	if len(got) != len(want) {
		t.Fatalf("parsed %d versions, want %d", len(got), len(want))
	}
	for n, v := range want {
		if got[n] != v {
			t.Errorf("%s: parsed %q, want %q", n, got[n], v)
		}
	}
	if _, err := Render(cat, map[string]string{}); err == nil {
		t.Error("Render without versions succeeded")
	}
}

func TestArgv(t *testing.T) {
	got := argv([]string{"erl", "-eval", "io:put_chars(V), halt().", "{entry}", "it's", "a|b"})
	want := `erl -eval 'io:put_chars(V), halt().' {entry} 'it'\''s' 'a|b'`
	if got != want {
		t.Errorf("argv = %s, want %s", got, want)
	}
	if c := code("a|b"); c != "`a\\|b`" {
		t.Errorf("code = %s", c)
	}
}
