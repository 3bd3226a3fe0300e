package catalog

import (
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
