package main

import (
	"slices"
	"testing"

	"github.com/airlockrun/airlock/contracts"
)

// idioms are stdin → stdout programs written the way each language's
// documentation and judge sites write them, under the file names their users
// send: the JVM entry point is whichever class or object has main, whatever
// the file is called; a standard program idiom runs its main exactly once.
// Each reads a word and prints "OK <word>" once.
var idioms = []struct {
	name, lang, file, code string
}{
	{"java public class Solution in a.java", "java", "a.java",
		"import java.util.*;\n\npublic class Solution {\n    public static void main(String[] args) {\n        Scanner in = new Scanner(System.in);\n        System.out.println(\"OK \" + in.next());\n    }\n}\n"},
	{"java class Main beside a helper in prog.java", "java", "prog.java",
		"import java.io.*;\n\nclass Helper {\n    static String answer(String s) { return \"OK \" + s; }\n}\n\nclass Main {\n    public static void main(String[] args) throws IOException {\n        BufferedReader r = new BufferedReader(new InputStreamReader(System.in));\n        System.out.println(Helper.answer(r.readLine().trim()));\n    }\n}\n"},
	{"java class in a package", "java", "Main.java",
		"package app;\n\npublic class Main {\n    public static void main(String... args) {\n        System.out.println(\"OK \" + new java.util.Scanner(System.in).next());\n    }\n}\n"},
	{"kotlin top-level main in a.kt", "kotlin", "a.kt",
		"fun main() {\n    val word = readLine()!!.trim()\n    println(\"OK $word\")\n}\n"},
	{"kotlin object with JvmStatic main", "kotlin", "solution.kt",
		"object Solution {\n    @JvmStatic\n    fun main(args: Array<String>) {\n        println(\"OK \" + readLine()!!.trim())\n    }\n}\n"},
	{"scala object extends App in a.scala", "scala", "a.scala",
		"object Solution extends App {\n  println(\"OK \" + scala.io.StdIn.readLine().trim)\n}\n"},
	{"scala object with main in Main.scala", "scala", "Main.scala",
		"object Prog {\n  def main(args: Array[String]): Unit = {\n    println(\"OK \" + scala.io.StdIn.readLine().trim)\n  }\n}\n"},
	{"prolog initialization(main, main)", "prolog", "main.pl",
		":- initialization(main, main).\n\nmain :-\n    read_term(X, []),\n    format(\"OK ~w~n\", [X]).\n"},
	{"prolog initialization(main)", "prolog", "main.pl",
		":- initialization(main).\n\nmain :-\n    read_term(X, []),\n    format(\"OK ~w~n\", [X]).\n"},
	{"prolog main without a directive", "prolog", "main.pl",
		"main :-\n    read_term(X, []),\n    format(\"OK ~w~n\", [X]).\n"},
}

// TestLanguageIdioms runs the idiom table through the native API, and the
// JVM programs once more through the Piston API without a file name (the
// main file then gets the runtime's entry file name, Main.java etc.).
func TestLanguageIdioms(t *testing.T) {
	var langs []string
	for _, c := range idioms {
		if !slices.Contains(langs, c.lang) {
			langs = append(langs, c.lang)
		}
	}
	s := startDev(t, func(c *config) { c.Executor.Languages = langs })
	// Prolog reads a term (the word and a full stop), the others a word.
	stdin := func(lang string) string {
		if lang == "prolog" {
			return acceptWord + ".\n"
		}
		return acceptWord + "\n"
	}
	want := "OK " + acceptWord + "\n"
	for _, c := range idioms {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			req := src(c.lang, c.file, c.code)
			req.Stdin = stdin(c.lang)
			e := execute(t, s, req)
			if e.Verdict != contracts.VerdictAccepted || e.Run == nil || e.Run.Stdout != want || e.Run.Stderr != "" {
				t.Fatalf("want accepted with stdout %q and no stderr, got %s", want, dump(e))
			}
			if e.Compile != nil && e.Compile.Stderr != "" {
				t.Errorf("compile stderr not empty: %q", e.Compile.Stderr)
			}
			if c.lang == "prolog" {
				return
			}
			var res pistonResultE2E
			body := map[string]any{"language": c.lang, "version": "*", "files": []map[string]any{{"content": c.code}},
				"stdin": acceptWord, "run_cpu_time": 10000, "run_timeout": 30000, "compile_cpu_time": 30000, "compile_timeout": 60000}
			if code := compatCall(t, "POST", s.URL+"/api/v2/execute", body, &res); code != 200 || res.Run == nil {
				t.Fatalf("piston execute: %d %+v", code, res)
			}
			if got := res.Run.Stdout; got != want {
				t.Errorf("piston, no file name: stdout %q, want %q (%v)", got, want, res.Run)
			}
		})
	}
}
