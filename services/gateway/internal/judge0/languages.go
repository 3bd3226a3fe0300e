package judge0

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/airlockrun/airlock/contracts"
)

// judge0Language is a language id of Judge0 CE (db/languages/active.rb in
// judge0/judge0 1.13) and the Airlock languages that can serve it. An id is
// served when a runtime whose name or alias is one of names is served; it is
// then listed by GET /languages, named after format with the runtime's
// version. When none of names is served but one of fallback is, the id is
// still accepted (old ids of the same language, Clang ids on GCC) but not
// listed. Ids are resolved against the live runtimes on every request, so a
// language added to the catalog gets its Judge0 id without a code change.
// Names that state a compiler Airlock may not use (DMD, GNU Prolog, Clang
// for Objective-C) are given without it.
type judge0Language struct {
	id       int
	format   string // Judge0's name with %s for the version
	names    []string
	fallback []string
	source   string // Judge0's source_file, for GET /languages/{id} when the runtime has none
}

var judge0Languages = []judge0Language{
	{id: 45, format: "Assembly (NASM %s)", names: []string{"nasm", "assembly", "asm"}, source: "main.asm"},
	{id: 46, format: "Bash (%s)", names: []string{"bash"}, source: "script.sh"},
	{id: 47, format: "Basic (FBC %s)", names: []string{"freebasic", "fbc"}, source: "main.bas"}, // not yabasic
	{id: 48, format: "C (GCC %s)", fallback: []string{"c"}, source: "main.c"},
	{id: 49, format: "C (GCC %s)", fallback: []string{"c"}, source: "main.c"},
	{id: 50, format: "C (GCC %s)", names: []string{"c"}, source: "main.c"},
	{id: 51, format: "C# (Mono %s)", names: []string{"csharp", "c#", "cs", "mono"}, source: "Main.cs"},
	{id: 52, format: "C++ (GCC %s)", fallback: []string{"c++"}, source: "main.cpp"},
	{id: 53, format: "C++ (GCC %s)", fallback: []string{"c++"}, source: "main.cpp"},
	{id: 54, format: "C++ (GCC %s)", names: []string{"c++"}, source: "main.cpp"},
	{id: 55, format: "Common Lisp (SBCL %s)", names: []string{"commonlisp", "common-lisp", "lisp", "sbcl"}, source: "script.lisp"},
	{id: 56, format: "D (%s)", names: []string{"d", "dmd", "dlang"}, source: "main.d"},
	{id: 57, format: "Elixir (%s)", names: []string{"elixir"}, source: "script.exs"},
	{id: 58, format: "Erlang (OTP %s)", names: []string{"erlang", "escript"}, source: "main.erl"},
	{id: 59, format: "Fortran (GFortran %s)", names: []string{"fortran", "gfortran"}, source: "main.f90"},
	{id: 60, format: "Go (%s)", names: []string{"go", "golang"}, source: "main.go"},
	{id: 61, format: "Haskell (GHC %s)", names: []string{"haskell", "ghc"}, source: "main.hs"},
	{id: 62, format: "Java (OpenJDK %s)", names: []string{"java"}, source: "Main.java"},
	{id: 63, format: "JavaScript (Node.js %s)", names: []string{"javascript", "js", "node", "nodejs"}, source: "script.js"},
	{id: 64, format: "Lua (%s)", names: []string{"lua"}, source: "script.lua"},
	{id: 65, format: "OCaml (%s)", names: []string{"ocaml"}, source: "main.ml"},
	{id: 66, format: "Octave (%s)", names: []string{"octave"}, source: "script.m"},
	{id: 67, format: "Pascal (FPC %s)", names: []string{"pascal", "fpc", "freepascal"}, source: "main.pas"},
	{id: 68, format: "PHP (%s)", names: []string{"php"}, source: "script.php"},
	{id: 69, format: "Prolog (%s)", names: []string{"gprolog", "prolog"}, source: "main.pro"},
	{id: 70, format: "Python (%s)", names: []string{"python2", "python2.7"}, source: "script.py"},
	{id: 71, format: "Python (%s)", names: []string{"python", "python3"}, source: "script.py"},
	{id: 72, format: "Ruby (%s)", names: []string{"ruby"}, source: "script.rb"},
	{id: 73, format: "Rust (%s)", names: []string{"rust"}, source: "main.rs"},
	{id: 74, format: "TypeScript (%s)", names: []string{"typescript", "ts"}, source: "script.ts"},
	{id: 75, format: "C (Clang %s)", names: []string{"clang"}, fallback: []string{"c"}, source: "main.c"},
	{id: 76, format: "C++ (Clang %s)", names: []string{"clang++"}, fallback: []string{"c++"}, source: "main.cpp"},
	{id: 77, format: "COBOL (GnuCOBOL %s)", names: []string{"cobol", "gnucobol"}, source: "main.cob"},
	{id: 78, format: "Kotlin (%s)", names: []string{"kotlin"}, source: "Main.kt"},
	{id: 79, format: "Objective-C (%s)", names: []string{"objective-c", "objc"}, source: "main.m"},
	{id: 80, format: "R (%s)", names: []string{"r", "rscript"}, source: "script.r"},
	{id: 81, format: "Scala (%s)", names: []string{"scala"}, source: "Main.scala"},
	{id: 82, format: "SQL (SQLite %s)", names: []string{"sqlite3", "sqlite", "sql"}, source: "script.sql"},
	{id: 83, format: "Swift (%s)", names: []string{"swift"}, source: "Main.swift"},
	{id: 84, format: "Visual Basic.Net (vbnc %s)", names: []string{"vbnet", "vb", "visualbasic"}, source: "Main.vb"},
	{id: 85, format: "Perl (%s)", names: []string{"perl"}, source: "script.pl"},
	{id: 86, format: "Clojure (%s)", names: []string{"clojure"}, source: "main.clj"},
	{id: 87, format: "F# (.NET Core SDK %s)", names: []string{"fsharp", "f#"}, source: "script.fsx"},
	{id: 88, format: "Groovy (%s)", names: []string{"groovy"}, source: "script.groovy"},
}

// Judge0's archived language ids (db/languages/archived.rb): refused with
// their own message.
const (
	judge0FirstArchived = 1
	judge0LastArchived  = 42
)

// judge0LanguageByID finds an id of the table.
func judge0LanguageByID(id int) *judge0Language {
	for _, l := range judge0Languages {
		if l.id == id {
			return &l
		}
	}
	return nil
}

// findByName finds the runtime (newest first, as runtimes are sorted) whose
// canonical name is one of names, then one whose alias is.
func findByName(runtimes []contracts.Runtime, names []string) *contracts.Runtime {
	for _, n := range names {
		for i := range runtimes {
			if runtimes[i].Language == n {
				return &runtimes[i]
			}
		}
	}
	for _, n := range names {
		for i := range runtimes {
			if slices.Contains(runtimes[i].Aliases, n) {
				return &runtimes[i]
			}
		}
	}
	return nil
}

// resolve returns the runtime serving the id, and whether the id is listed
// (served through one of its own names rather than a fallback).
func (l *judge0Language) resolve(runtimes []contracts.Runtime) (*contracts.Runtime, bool) {
	if rt := findByName(runtimes, l.names); rt != nil {
		return rt, true
	}
	return findByName(runtimes, l.fallback), false
}

// name is the language's name in Judge0's form with the runtime's version.
func (l *judge0Language) name(rt *contracts.Runtime) string {
	return fmt.Sprintf(l.format, rt.Version)
}

// judge0Listed is one listed language.
type judge0Listed struct {
	lang *judge0Language
	rt   *contracts.Runtime
}

// judge0ListLanguages lists the served ids, sorted by name as Judge0 does.
func judge0ListLanguages(runtimes []contracts.Runtime) []judge0Listed {
	var out []judge0Listed
	for _, l := range judge0Languages {
		if rt, listed := l.resolve(runtimes); rt != nil && listed {
			out = append(out, judge0Listed{lang: &l, rt: rt})
		}
	}
	slices.SortStableFunc(out, func(a, b judge0Listed) int {
		return cmp.Compare(a.lang.name(a.rt), b.lang.name(b.rt))
	})
	return out
}

// judge0IDOf is the listed id of an Airlock language (the one a submission
// reports as language_id): the first id whose own names resolve to it.
func judge0IDOf(language string, runtimes []contracts.Runtime) (int, string) {
	for _, l := range judge0Languages {
		if slices.Contains(l.names, language) {
			return l.id, l.format
		}
	}
	// Matched through an alias of the runtime.
	for i := range runtimes {
		if runtimes[i].Language != language {
			continue
		}
		for _, l := range judge0Languages {
			for _, n := range l.names {
				if slices.Contains(runtimes[i].Aliases, n) {
					return l.id, l.format
				}
			}
		}
	}
	return 0, ""
}
