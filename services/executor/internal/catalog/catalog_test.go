package catalog

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestBuiltinCatalogLoads(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"python", "c", "c++", "java", "javascript", "go", "bash"} {
		if c.Find(name) == nil {
			t.Errorf("language %q missing", name)
		}
	}
	if c.Find("py").Name != "python" || c.Find("CPP").Name != "c++" {
		t.Error("aliases do not resolve")
	}
	if got := c.Find("c++").Defaults.CPUTimeMS; got != 1000 {
		t.Errorf("c++ cpu default = %d, want 1000", got)
	}
	if got := c.Find("java").Defaults.CPUTimeMS; got != 3000 {
		t.Errorf("java cpu default = %d, want 3000", got)
	}
}

func TestExpand(t *testing.T) {
	l := &Language{SourceExt: []string{".c"}}
	got := l.Expand([]string{"gcc", "-o", "main", "{sources}", "run:{entry}", "{stem}"}, []string{"prog.c", "util.c", "data.txt"})
	want := []string{"gcc", "-o", "main", "prog.c", "util.c", "run:prog.c", "prog"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseRejects(t *testing.T) {
	cases := map[string]string{
		"unknown field": `{"languages":[{"name":"x","oops":1}]}`,
		"no run":        `{"defaults":{"limits":{"cpu_time_ms":1},"max":{"cpu_time_ms":1}},"languages":[{"name":"x","image":"i","entry_file":"m","version":["v"]}]}`,
		"duplicate":     `{"languages":[{"name":"x","image":"i","entry_file":"m","run":["r"],"version":["v"]},{"name":"y","aliases":["x"],"image":"i","entry_file":"m","run":["r"],"version":["v"]}]}`,
		"bad entry":     `{"languages":[{"name":"x","image":"i","entry_file":"../m","run":["r"],"version":["v"]}]}`,
	}
	for name, data := range cases {
		if _, err := Parse([]byte(data)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// pistonNames is every language name and alias in Piston's package catalog
// (engineer-man/piston packages/*/metadata.json, newest version of each)
// for a language Airlock serves, with the Airlock language it must resolve
// to. Left out, because they name something else here: Piston's "sh" (an
// alias of its bash; Airlock's sh is dash), "basic" and "vb" (Visual Basic
// on Mono; Airlock's basic is yabasic), "nasm32" (32-bit; Airlock's nasm is
// x86-64), version-bound names of newer toolchains ("python3.12",
// "typescript5", "ts5") and the .NET runtime's names ("csharp.net",
// "dotnet-cs", ...).
var pistonNames = map[string]string{
	"awk": "awk", "gawk": "awk",
	"bash":      "bash",
	"brainfuck": "brainfuck", "bf": "brainfuck",
	"c": "c", "gcc": "c",
	"c++": "c++", "cpp": "c++", "g++": "c++",
	"clojure": "clojure", "clj": "clojure",
	"cobol": "cobol", "cob": "cobol",
	"coffeescript": "coffeescript", "coffee": "coffeescript",
	"lisp": "common-lisp", "cl": "common-lisp", "sbcl": "common-lisp", "commonlisp": "common-lisp",
	"crystal": "crystal", "cr": "crystal",
	"csharp": "csharp", "mono": "csharp", "mono-csharp": "csharp", "mono-c#": "csharp", "mono-cs": "csharp", "c#": "csharp", "cs": "csharp",
	"d": "d", "gdc": "d",
	"dash":   "sh",
	"elixir": "elixir", "exs": "elixir",
	"emacs": "emacs-lisp", "el": "emacs-lisp", "elisp": "emacs-lisp",
	"erlang": "erlang", "erl": "erlang", "escript": "erlang",
	"forth": "forth", "gforth": "forth",
	"fortran": "fortran", "f90": "fortran",
	"go": "go", "golang": "go",
	"groovy": "groovy", "gvy": "groovy",
	"haskell": "haskell", "hs": "haskell",
	"java":       "java",
	"javascript": "javascript", "js": "javascript", "node-javascript": "javascript", "node-js": "javascript",
	"kotlin": "kotlin", "kt": "kotlin",
	"lua":  "lua",
	"nasm": "nasm", "nasm64": "nasm", "asm64": "nasm", "asm": "nasm",
	"nim":    "nim",
	"octave": "octave", "matlab": "octave", "m": "octave",
	"ocaml": "ocaml", "ml": "ocaml",
	"pascal": "pascal", "freepascal": "pascal", "pp": "pascal", "pas": "pascal",
	"perl": "perl", "pl": "perl",
	"php":    "php",
	"prolog": "prolog", "plg": "prolog",
	"python": "python", "py": "python", "py3": "python", "python3": "python",
	"racket": "racket", "rkt": "racket",
	"raku": "raku", "rakudo": "raku", "perl6": "raku", "p6": "raku", "pl6": "raku",
	"rscript": "r", "r": "r",
	"ruby": "ruby", "rb": "ruby",
	"rust": "rust", "rs": "rust",
	"scala": "scala", "sc": "scala",
	"sqlite3": "sqlite", "sqlite": "sqlite", "sql": "sqlite",
	"typescript": "typescript", "ts": "typescript", "node-ts": "typescript", "tsc": "typescript",
	"iverilog": "verilog", "verilog": "verilog", "vvp": "verilog",
}

func TestPistonNamesResolve(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range pistonNames {
		if l := c.Find(name); l == nil {
			t.Errorf("Piston name %q: not found, want %s", name, want)
		} else if l.Name != want {
			t.Errorf("Piston name %q resolves to %s, want %s", name, l.Name, want)
		}
	}
}

// The JVM languages take the class to run from the compiled code (the compile
// stage records the class with main in .airlock-main), never from the entry
// file's name, which Piston clients set to anything or leave out.
func TestJVMEntryPointFromCode(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"java", "kotlin", "scala"} {
		l := c.Find(name)
		run := strings.Join(l.Run, " ")
		if strings.Contains(run, "{stem}") || strings.Contains(run, "-jar") || !strings.Contains(run, ".airlock-main") {
			t.Errorf("%s: run %q does not take the main class from the compile stage", name, l.Run)
		}
		if compile := strings.Join(l.Compile, " "); !strings.Contains(compile, "> .airlock-main") {
			t.Errorf("%s: compile %q does not record the main class", name, l.Compile)
		}
	}
}

// SWI-Prolog runs a file's own initialization goals (initialization(main)
// after loading, initialization(main, main) as the program); the catalog
// calls main itself only when the program declares neither, so main runs
// exactly once.
func TestPrologMainOnce(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	run := c.Find("prolog").Run
	for i, a := range run {
		if a == "-g" && i+1 < len(run) && run[i+1] == "main" {
			t.Errorf("prolog run %q calls main unconditionally: a program with an initialization directive runs it twice", run)
		}
	}
}

// everyName is every name and alias of the built-in catalog with the
// language it resolves to: adding, removing or moving a name means changing
// this table, so the change is seen in review. pistonNames and the Judge0 ids
// (services/gateway/internal/judge0) are checked against the same catalog.
var everyName = map[string]string{
	"python": "python", "py": "python", "python3": "python", "py3": "python",
	"python-sci": "python-sci", "pysci": "python-sci", "python3-sci": "python-sci",
	"c": "c", "gcc": "c", "c17": "c",
	"c++": "c++", "cpp": "c++", "g++": "c++", "cxx": "c++", "c++17": "c++",
	"java": "java", "jdk": "java", "openjdk": "java",
	"javascript": "javascript", "js": "javascript", "node": "javascript", "nodejs": "javascript", "node-javascript": "javascript", "node-js": "javascript",
	"go": "go", "golang": "go",
	"bash": "bash", "shell": "bash",
	"sh": "sh", "dash": "sh", "posix-sh": "sh",
	"clang": "clang", "c-clang": "clang",
	"clang++": "clang++", "cpp-clang": "clang++", "c++-clang": "clang++", "clangxx": "clang++",
	"fortran": "fortran", "gfortran": "fortran", "f90": "fortran", "f95": "fortran",
	"d": "d", "dlang": "d", "gdc": "d",
	"ada": "ada", "gnat": "ada",
	"objective-c": "objective-c", "objc": "objective-c", "gobjc": "objective-c",
	"pascal": "pascal", "fpc": "pascal", "freepascal": "pascal", "pas": "pascal", "pp": "pascal",
	"nasm": "nasm", "asm": "nasm", "assembly": "nasm", "nasm-x86-64": "nasm", "nasm64": "nasm", "asm64": "nasm",
	"cobol": "cobol", "cob": "cobol", "gnucobol": "cobol", "cobc": "cobol",
	"nim": "nim", "nimlang": "nim",
	"crystal": "crystal", "cr": "crystal",
	"vala": "vala", "valac": "vala",
	"rust": "rust", "rs": "rust", "rustc": "rust",
	"haskell": "haskell", "hs": "haskell", "ghc": "haskell",
	"ocaml": "ocaml", "ml": "ocaml", "ocamlopt": "ocaml",
	"sml": "sml", "standard-ml": "sml", "polyml": "sml",
	"kotlin": "kotlin", "kt": "kotlin", "kotlinc": "kotlin",
	"scala": "scala", "scalac": "scala", "sc": "scala",
	"groovy": "groovy", "gvy": "groovy",
	"clojure": "clojure", "clj": "clojure",
	"typescript": "typescript", "ts": "typescript", "tsc": "typescript", "node-ts": "typescript",
	"coffeescript": "coffeescript", "coffee": "coffeescript",
	"pypy": "pypy", "pypy3": "pypy",
	"zsh": "zsh",
	"ksh": "ksh", "ksh93": "ksh",
	"perl": "perl", "pl": "perl", "perl5": "perl",
	"raku": "raku", "perl6": "raku", "rakudo": "raku", "p6": "raku", "pl6": "raku",
	"ruby": "ruby", "rb": "ruby",
	"php": "php", "php8": "php",
	"lua": "lua", "lua5.4": "lua",
	"luajit": "luajit",
	"tcl":    "tcl", "tclsh": "tcl",
	"awk": "awk", "gawk": "awk",
	"jq":     "jq",
	"sqlite": "sqlite", "sqlite3": "sqlite", "sql": "sqlite",
	"basic": "basic", "yabasic": "basic",
	"brainfuck": "brainfuck", "bf": "brainfuck", "beef": "brainfuck",
	"forth": "forth", "gforth": "forth",
	"prolog": "prolog", "swipl": "prolog", "swi-prolog": "prolog", "plg": "prolog",
	"verilog": "verilog", "iverilog": "verilog", "icarus": "verilog", "vvp": "verilog",
	"algol68": "algol68", "a68g": "algol68", "algol": "algol68",
	"rexx": "rexx", "regina": "rexx",
	"icon": "icon", "icont": "icon",
	"common-lisp": "common-lisp", "lisp": "common-lisp", "sbcl": "common-lisp", "cl": "common-lisp", "commonlisp": "common-lisp",
	"scheme": "scheme", "guile": "scheme", "scm": "scheme",
	"racket": "racket", "rkt": "racket",
	"emacs-lisp": "emacs-lisp", "elisp": "emacs-lisp", "emacs": "emacs-lisp", "el": "emacs-lisp",
	"picolisp": "picolisp", "pil": "picolisp",
	"erlang": "erlang", "erl": "erlang", "escript": "erlang",
	"elixir": "elixir", "ex": "elixir", "exs": "elixir",
	"csharp": "csharp", "cs": "csharp", "c#": "csharp", "mono": "csharp", "mono-csharp": "csharp", "mono-c#": "csharp", "mono-cs": "csharp",
	"r": "r", "rscript": "r", "rlang": "r",
	"octave": "octave", "matlab": "octave", "m": "octave",
}

func TestEveryNameResolves(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, l := range c.Languages {
		for _, n := range append([]string{l.Name}, l.Aliases...) {
			listed[n] = true
			if want, ok := everyName[n]; !ok {
				t.Errorf("%s: name %q is not in everyName", l.Name, n)
			} else if want != l.Name {
				t.Errorf("name %q belongs to %s, everyName says %s", n, l.Name, want)
			}
		}
	}
	for n, want := range everyName {
		if !listed[n] {
			t.Errorf("everyName lists %q (%s), the catalog does not", n, want)
		}
		for _, typed := range []string{n, strings.ToUpper(n)} {
			if l := c.Find(typed); l == nil || l.Name != want {
				t.Errorf("Find(%q) = %v, want %s", typed, l, want)
			}
		}
	}
}

// runCompile runs language name's compile command for files in a fresh
// directory holding them (each with its content), with PATH leading to fake
// tools (name → bash script body), the way the sandbox runs it: argv, no
// shell string. It returns the directory, the combined output and the error.
func runCompile(t *testing.T, name string, files map[string]string, order []string, fakes map[string]string) (string, string, error) {
	t.Helper()
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	l := c.Find(name)
	dir, bin := t.TempDir(), t.TempDir()
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for tool, body := range fakes {
		if err := os.WriteFile(filepath.Join(bin, tool), []byte("#!/bin/bash\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	argv := l.Expand(l.Compile, order)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "LANG=C.UTF-8"}
	out, err := cmd.CombinedOutput()
	return dir, string(out), err
}

// Haskell: a module not named Main is built with -main-is; Main or no header
// is built as it is. The fake ghc prints its arguments.
func TestHaskellMainModuleFromCode(t *testing.T) {
	for _, c := range []struct{ code, want string }{
		{"main = print 1\n", "-O -v0 -o main main.hs"},
		{"module Main where\nmain = print 1\n", "-O -v0 -o main main.hs"},
		{"module Main (main) where\nmain = print 1\n", "-O -v0 -o main main.hs"},
		{"{-# LANGUAGE BangPatterns #-}\nmodule Solution (main) where\nmain = print 1\n", "-O -v0 -o main -main-is Solution main.hs"},
		{"-- a comment\nmodule Judge.Solution\n  ( main\n  ) where\nmain = print 1\n", "-O -v0 -o main -main-is Judge.Solution main.hs"},
		{"module Sol'n where\nmain = print 1\n", "-O -v0 -o main -main-is Sol'n main.hs"},
	} {
		_, out, err := runCompile(t, "haskell", map[string]string{"main.hs": c.code}, []string{"main.hs"},
			map[string]string{"ghc": `echo "$@"`})
		if err != nil || strings.TrimSpace(out) != c.want {
			t.Errorf("%q: ghc got %q (%v), want %q", c.code, out, err, c.want)
		}
	}
}

// Ada: a main procedure not named after its file is split out with
// gnatchop, then built by its own name.
func TestAdaMainProcedureFromCode(t *testing.T) {
	fakes := map[string]string{"gnatchop": `echo "gnatchop $*"`, "gnatmake": `echo "gnatmake $*"`}
	for _, c := range []struct{ file, code, want string }{
		{"main.adb", "procedure Main is\nbegin\n   null;\nend Main;\n", "gnatmake -q -O2 -o main main.adb"},
		{"main.adb", "with Ada.Text_IO;\nprocedure Solution is\nbegin\n   null;\nend Solution;\n",
			"gnatchop -q -w main.adb .\ngnatmake -q -O2 -o main solution.adb"},
		{"prog.adb", "package P is\n   procedure Q;\nend P;\nprocedure Hello_World\nis\nbegin\n   null;\nend Hello_World;\n",
			"gnatchop -q -w prog.adb .\ngnatmake -q -O2 -o main hello_world.adb"},
	} {
		_, out, err := runCompile(t, "ada", map[string]string{c.file: c.code}, []string{c.file}, fakes)
		if err != nil || strings.TrimSpace(out) != c.want {
			t.Errorf("%s %q: got %q (%v), want %q", c.file, c.code, out, err, c.want)
		}
	}
}

// The class the JVM compile stages record must be a Java name: the run stage
// hands it to java as one argument, where a name such as "-jar" would be an
// option. The fake javac writes a class file, the fake javap describes it
// with the name under test.
func TestJVMMainClassNameChecked(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{{"Solution", true}, {"app.Main", true}, {"Outer$Inner", true}, {"-jar", false}, {"1st", false}, {"a;b", false}, {"x..y", false}} {
		fakes := map[string]string{
			"javac": `touch Other.class`,
			"javap": "cat <<'X'\npublic class " + c.name + " {\n  public static void main(java.lang.String[]);\n}\nX",
		}
		dir, out, err := runCompile(t, "java", map[string]string{"Main.java": "class Other {}\n"}, []string{"Main.java"}, fakes)
		recorded, readErr := os.ReadFile(filepath.Join(dir, ".airlock-main"))
		if c.ok && (err != nil || strings.TrimSpace(string(recorded)) != c.name) {
			t.Errorf("%q: want it recorded, got %q, %q (%v)", c.name, recorded, out, err)
		}
		if !c.ok && (err == nil || readErr == nil || !strings.Contains(out, "not a Java name")) {
			t.Errorf("%q: want a compile error and nothing recorded, got %q, %q (%v)", c.name, recorded, out, err)
		}
	}
}
