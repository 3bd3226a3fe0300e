package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
	"github.com/airlockrun/airlock/services/executor/internal/catalog"
	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
	"github.com/airlockrun/airlock/services/executor/sandboxinit"
)

// The test binary doubles as the sandbox init: the sandbox runner mounts it
// into the sandboxes it starts (go test must build it with CGO_ENABLED=0).
func TestMain(m *testing.M) {
	if code, ok := sandboxinit.Dispatch(os.Args[1:], os.Stdout); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// judgeModes are the isolation modes of the sandbox tests (testkit.Runtimes:
// runc and namespace, and runsc when registered, which CI requires), by
// their isolation names.
func judgeModes(t *testing.T) []string {
	t.Helper()
	testkit.RequireDocker(t)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	var modes []string
	for _, rt := range testkit.Runtimes(t, func() (map[string]system.RuntimeWithStatus, error) {
		info, err := cli.Info(context.Background())
		return info.Runtimes, err
	}) {
		switch rt {
		case "runc":
			modes = append(modes, sandbox.IsolationContainer)
		case "runsc":
			modes = append(modes, sandbox.IsolationGVisor)
		default:
			modes = append(modes, rt)
		}
	}
	return modes
}

// realRunner is a Runner over the real sandbox in isolation mode, serving
// the catalog's languages.
func realRunner(t *testing.T, mode string) (*Runner, *catalog.Catalog) {
	t.Helper()
	testkit.RequireDocker(t)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sb := sandbox.NewLauncher(cli, sandbox.Options{ExecutorID: "runner-test", InitPath: self, Isolation: mode},
		slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	t.Cleanup(sb.Close)
	cat, err := catalog.Load("")
	if err != nil {
		t.Fatal(err)
	}
	r := New(sb)
	r.Isolation.Default = mode
	r.Languages = func(name, version string) (*catalog.Language, contracts.Runtime) {
		l := cat.Find(name)
		if l == nil {
			return nil, contracts.Runtime{}
		}
		return l, l.Runtime("")
	}
	return r, cat
}

// judgeFiles reads checker sources from testdata/judge.
func judgeFiles(t *testing.T, names ...string) []contracts.File {
	t.Helper()
	var files []contracts.File
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join("testdata", "judge", n))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, contracts.File{Name: n, Content: string(data)})
	}
	return files
}

func pts(p float64) *float64 { return &p }

// execute runs req through r as the executor would (limits resolved for
// the program's language) and logs the verdicts.
func execute(t *testing.T, r *Runner, cat *catalog.Catalog, req contracts.ExecutionRequest) Result {
	t.Helper()
	if verr := contracts.NewValidator(contracts.DefaultPolicy()).Request(&req); verr != nil {
		t.Fatalf("invalid request: %v", verr)
	}
	lang := cat.Find(req.Language)
	res, err := r.Execute(context.Background(), "judge-test", "default", req, lang, contracts.ClampLimits(req.Limits, lang.Runtime("")))
	if err != nil {
		t.Fatal(err)
	}
	tests, _ := json.Marshal(res.Tests)
	t.Logf("%s: verdict %s score %v/%v message %q tests %s", res.Isolation, res.Verdict, deref(res.Score), deref(res.MaxScore), res.Message, tests)
	return res
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// judgeCase is one problem: a program, a checker and tests, with the
// verdict and points each test must get.
type judgeCase struct {
	name     string
	language string
	program  string
	checker  *contracts.JudgeProgram
	tests    []contracts.TestCase
	want     []contracts.Verdict
	points   []float64
	message  []string // a substring of each test's checker_message
	verdict  contracts.Verdict
	score    float64
}

func cppChecker(t *testing.T, name string) *contracts.JudgeProgram {
	return &contracts.JudgeProgram{Language: "c++", Files: judgeFiles(t, name, "check.h")}
}

func pyChecker(t *testing.T, name string) *contracts.JudgeProgram {
	return &contracts.JudgeProgram{Language: "python", Files: judgeFiles(t, name)}
}

func judgeCases(t *testing.T) []judgeCase {
	const (
		ac  = contracts.VerdictAccepted
		wa  = contracts.VerdictWrongAnswer
		pe  = contracts.VerdictPresentationError
		pa  = contracts.VerdictPartial
		je  = contracts.VerdictJudgeError
		re  = contracts.VerdictRuntimeError
		tle = contracts.VerdictTimeLimitExceeded
	)
	return []judgeCase{{
		name: "accepted: many valid answers", language: "python",
		program: "n = int(input())\nprint(1, n - 1)\n", checker: cppChecker(t, "sum.cpp"),
		tests: []contracts.TestCase{
			{Stdin: "10\n", ExpectedOutput: str("5 5"), Points: pts(2)},
			{Stdin: "3\n", ExpectedOutput: str("1 2")},
		},
		want: []contracts.Verdict{ac, ac}, points: []float64{2, 1}, message: []string{"1 + 9 = 10", "1 + 2 = 3"},
		verdict: ac, score: 3,
	}, {
		name: "wrong_answer: integers", language: "python",
		program: "a, b = map(int, input().split())\nprint(abs(a + b))\n", checker: cppChecker(t, "int.cpp"),
		tests: []contracts.TestCase{
			{Stdin: "1 2\n", ExpectedOutput: str("3")},
			{Stdin: "-5 3\n", ExpectedOutput: str("-2")},
		},
		want: []contracts.Verdict{ac, wa}, points: []float64{1, 0}, message: []string{"1 integers", "integer 1: expected -2, found 2"},
		verdict: wa, score: 1,
	}, {
		name: "presentation_error: garbage and an output never flushed", language: "c++",
		program: "#include <cstdio>\n#include <cstring>\n#include <unistd.h>\nint main() { char w[8]; if (scanf(\"%7s\", w) == 1 && !strcmp(w, \"flush\")) { printf(\"1 2 3\"); _exit(0); } fwrite(\"\\xff\\xfe\\x00garbage\\n\", 1, 11, stdout); }\n",
		checker: pyChecker(t, "float.py"),
		tests: []contracts.TestCase{
			{Stdin: "garbage\n", ExpectedOutput: str("0.5")},
			{Stdin: "flush\n", ExpectedOutput: str("1 2 3")},
		},
		want: []contracts.Verdict{pe, pe}, points: []float64{0, 0}, message: []string{"output.txt: could not convert", "expected 3 numbers, found 0"},
		verdict: pe, score: 0,
	}, {
		name: "partial: points for the right ones", language: "python",
		program: "import sys\nprint(' '.join(str(i + 1) if i != 2 else '0' for i in range(4)))\n", checker: cppChecker(t, "partial.cpp"),
		tests: []contracts.TestCase{
			{Stdin: "points 10\n", ExpectedOutput: str("1 2 3 4"), Points: pts(10)},
			{Stdin: "points 5\n", ExpectedOutput: str("1 2 0 4"), Points: pts(5)},
		},
		want: []contracts.Verdict{pa, ac}, points: []float64{7.5, 5}, message: []string{"points 7.5 3 of 4 right", "all 4 right"},
		verdict: pa, score: 12.5,
	}, {
		name: "judge_error: a broken answer outranks an earlier wrong answer", language: "python",
		program: "print('YES')\n", checker: pyChecker(t, "yesno.py"),
		tests: []contracts.TestCase{
			{Stdin: "", ExpectedOutput: str("NO")},
			{Stdin: "", ExpectedOutput: str("MAYBE")},
			{Stdin: "", ExpectedOutput: str("yes")},
		},
		want: []contracts.Verdict{wa, je, ac}, points: []float64{0, 0, 1}, message: []string{"expected NO, found YES", "the answer is not YES or NO", "YES"},
		verdict: je, score: 1,
	}, {
		name: "judge_error: the checker's own failures", language: "python",
		program: "print(input())\n",
		checker: &contracts.JudgeProgram{Language: "python", Files: []contracts.File{{Name: "main.py", Content: "import sys\n" +
			"w = open(sys.argv[2]).read().split()[0]\n" +
			"if w == 'loop':\n    while True: pass\n" +
			"if w == 'five':\n    sys.exit(5)\n" +
			"if w == 'much':\n    sys.stderr.write('points 2 too many\\n'); sys.exit(7)\n" +
			"if w == 'nopoints':\n    sys.stderr.write('three points\\n'); sys.exit(7)\n"}},
			Limits: contracts.Limits{CPUTimeMS: 500}},
		tests: []contracts.TestCase{{Stdin: "loop"}, {Stdin: "five"}, {Stdin: "much"}, {Stdin: "nopoints"}, {Stdin: "fine"}},
		want:  []contracts.Verdict{je, je, je, je, ac}, points: []float64{0, 0, 0, 0, 1},
		message: []string{"the checker failed: time_limit_exceeded", "the checker exited 5", "2 points is more than the test's 1", `does not start with "points <value>"`, ""},
		verdict: je, score: 1,
	}, {
		name: "runtime_error and time_limit_exceeded: the checker does not run", language: "c++",
		program: "#include <cstdio>\nint main() { int n; scanf(\"%d\", &n); if (n == 1) { volatile int *p = nullptr; *p = 1; } if (n == 2) for (;;) {} puts(\"ok  \"); }\n",
		checker: pyChecker(t, "lines.py"),
		tests: []contracts.TestCase{
			{Stdin: "1", ExpectedOutput: str("ok")},
			{Stdin: "2", ExpectedOutput: str("ok")},
			{Stdin: "3", ExpectedOutput: str("ok\n\n")},
		},
		want: []contracts.Verdict{re, tle, ac}, points: []float64{0, 0, 1}, message: []string{"", "", "1 lines"},
		verdict: re, score: 1,
	}, {
		name: "wrong_answer and presentation_error: tokens", language: "python",
		program: "print(input())\n", checker: pyChecker(t, "tokens.py"),
		tests: []contracts.TestCase{
			{Stdin: "a  b\tc", ExpectedOutput: str("a b c")},
			{Stdin: "a b d", ExpectedOutput: str("a b c")},
			{Stdin: "a b", ExpectedOutput: str("a b c")},
		},
		want: []contracts.Verdict{ac, wa, pe}, points: []float64{1, 0, 0}, message: []string{"3 tokens", "token 3: expected b'c', found b'd'", "found the end of the output"},
		verdict: wa, score: 1,
	}}
}

func TestCheckers(t *testing.T) {
	for _, mode := range judgeModes(t) {
		t.Run(mode, func(t *testing.T) {
			r, cat := realRunner(t, mode)
			for _, jc := range judgeCases(t) {
				t.Run(jc.name, func(t *testing.T) {
					lang := cat.Find(jc.language)
					req := contracts.ExecutionRequest{Language: jc.language, Files: []contracts.File{{Name: lang.EntryFile, Content: jc.program}},
						Tests: jc.tests, Checker: jc.checker}
					res := execute(t, r, cat, req)
					if res.Isolation != mode {
						t.Errorf("isolation %q, want %q", res.Isolation, mode)
					}
					if res.Verdict != jc.verdict || res.Score == nil || *res.Score != jc.score {
						t.Errorf("verdict %s score %v, want %s %v", res.Verdict, deref(res.Score), jc.verdict, jc.score)
					}
					if len(res.Tests) != len(jc.want) {
						t.Fatalf("%d tests, want %d", len(res.Tests), len(jc.want))
					}
					for i, tr := range res.Tests {
						if tr.Verdict != jc.want[i] || tr.PointsAwarded != jc.points[i] || !strings.Contains(tr.CheckerMessage, jc.message[i]) {
							t.Errorf("test %d: verdict %s points %v message %q, want %s %v %q", i, tr.Verdict, tr.PointsAwarded, tr.CheckerMessage, jc.want[i], jc.points[i], jc.message[i])
						}
						if jc.message[i] == "" && tr.CheckerMessage != "" {
							t.Errorf("test %d: a checker message %q for a test the checker did not judge", i, tr.CheckerMessage)
						}
					}
				})
			}
			t.Run("judge_error: the checker does not compile", func(t *testing.T) {
				req := contracts.ExecutionRequest{Language: "python", Files: []contracts.File{{Name: "main.py", Content: "print(1)\n"}},
					Tests:   []contracts.TestCase{{ExpectedOutput: str("1")}},
					Checker: &contracts.JudgeProgram{Language: "c++", Files: []contracts.File{{Name: "main.cpp", Content: "int main() { return x; }\n"}}}}
				res := execute(t, r, cat, req)
				if res.Verdict != contracts.VerdictJudgeError || !strings.Contains(res.Message, "the checker did not compile") ||
					!strings.Contains(res.Message, "was not declared in this scope") || res.Tests != nil || *res.Score != 0 || *res.MaxScore != 1 {
					t.Errorf("verdict %s message %q tests %v", res.Verdict, res.Message, res.Tests)
				}
			})
			t.Run("the checker compiles once per executor", func(t *testing.T) {
				// A checker of its own (int.cpp with a line added), which no
				// other case compiled.
				chk := cppChecker(t, "int.cpp")
				chk.Files[0].Content += "// cached\n"
				req := contracts.ExecutionRequest{Language: "python", Files: []contracts.File{{Name: "main.py", Content: "print(int(input()) * 2)\n"}},
					Tests: []contracts.TestCase{{Stdin: "2", ExpectedOutput: str("4")}, {Stdin: "3", ExpectedOutput: str("6")}}, Checker: chk}
				before := r.CheckerCompiles()
				for range 3 {
					if res := execute(t, r, cat, req); res.Verdict != contracts.VerdictAccepted {
						t.Fatalf("verdict %s", res.Verdict)
					}
				}
				if n := r.CheckerCompiles() - before; n != 1 {
					t.Errorf("%d checker compilations for three executions with one checker, want 1", n)
				}
				t.Logf("checker compilations in this runner: %d", r.CheckerCompiles())
			})
		})
	}
}

// TestOutputFiles: the files named come back on each run stage, however the
// run ended: text as UTF-8, other bytes as base64; links, FIFOs,
// directories, missing files and files past the cap are left out.
func TestOutputFiles(t *testing.T) {
	const program = `import os, sys
n = int(sys.stdin.read() or "0")
open("out.txt", "w").write(f"answer {n}\n")
open("data.bin", "wb").write(bytes([0, 255, 254, n]))
os.makedirs("sub", exist_ok=True)
open("sub/x.txt", "w").write("nested")
os.symlink("/etc/passwd", "link.txt")
os.mkfifo("fifo")
open("big.txt", "w").write("x" * 5000)
sys.exit(n)
`
	for _, mode := range judgeModes(t) {
		t.Run(mode, func(t *testing.T) {
			r, cat := realRunner(t, mode)
			req := contracts.ExecutionRequest{Language: "python", Files: []contracts.File{{Name: "main.py", Content: program}},
				Limits:      contracts.Limits{OutputBytes: 4096},
				OutputFiles: []string{"out.txt", "data.bin", "sub/x.txt", "link.txt", "fifo", "sub", "missing.txt", "big.txt"},
				Tests:       []contracts.TestCase{{Stdin: "0"}, {Stdin: "3"}}}
			res := execute(t, r, cat, req)
			for i, want := range []contracts.Verdict{contracts.VerdictAccepted, contracts.VerdictRuntimeError} {
				tr := res.Tests[i]
				files, _ := json.Marshal(tr.Files)
				t.Logf("test %d (%s): files %s", i, tr.Verdict, files)
				wantFiles := []contracts.OutputFile{
					{Name: "out.txt", Content: "answer " + []string{"0", "3"}[i] + "\n", Encoding: "utf8"},
					{Name: "data.bin", Content: []string{"AP/+AA==", "AP/+Aw=="}[i], Encoding: "base64"},
					{Name: "sub/x.txt", Content: "nested", Encoding: "utf8"},
				}
				if tr.Verdict != want || !slices.Equal(tr.Files, wantFiles) {
					t.Errorf("test %d: verdict %s files %s", i, tr.Verdict, files)
				}
			}
			// Without tests, the run stage has them.
			single := req
			single.Tests, single.Stdin, single.OutputFiles = nil, "1", []string{"out.txt"}
			res = execute(t, r, cat, single)
			if res.Run == nil || len(res.Run.Files) != 1 || res.Run.Files[0].Content != "answer 1\n" {
				t.Errorf("single run: %+v", res.Run)
			}
		})
	}
}

// TestInteractors: guess-the-number against programs that pass, fail each
// way, crash, never flush and print garbage, and a 10,000-round-trip
// exchange, in every isolation mode.
func TestInteractors(t *testing.T) {
	const (
		ac  = contracts.VerdictAccepted
		wa  = contracts.VerdictWrongAnswer
		pe  = contracts.VerdictPresentationError
		je  = contracts.VerdictJudgeError
		tle = contracts.VerdictTimeLimitExceeded
	)
	binsearch, err := os.ReadFile(filepath.Join("testdata", "judge", "binsearch.cpp"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, language, program string
		limits                  contracts.Limits
		stdin                   string
		want                    contracts.Verdict
		message                 string
	}{
		{"accepted: binary search", "c++", string(binsearch), contracts.Limits{}, "777777", ac, "found 777777 in"},
		{"wrong_answer: a wrong final answer", "python", "print('? 5', flush=True)\ninput()\nprint('! 6', flush=True)\n", contracts.Limits{}, "5", wa, "answered 6, the number was 5"},
		{"wrong_answer: the program crashes", "python", "print('? 5', flush=True)\ninput()\nraise SystemExit(3)\n", contracts.Limits{}, "7", wa, "stopped after 1 questions"},
		{"presentation_error: garbage", "python", "import sys\nsys.stdout.buffer.write(b'\\xff\\x00 garbage\\n')\nsys.stdout.flush()\ninput()\n", contracts.Limits{}, "5", pe, "malformed line"},
		{"time_limit_exceeded: never flushes", "c++", "#include <cstdio>\nint main() { std::printf(\"? 5\\n\"); char r[4]; std::scanf(\"%3s\", r); std::printf(\"! 5\\n\"); }\n",
			contracts.Limits{WallTimeMS: 2000}, "5", tle, "stopped after 0 questions"},
		{"judge_error: a broken input", "python", "print('! 1', flush=True)\n", contracts.Limits{}, "not a number", je, "input.txt holds no number"},
	}
	for _, mode := range judgeModes(t) {
		t.Run(mode, func(t *testing.T) {
			r, cat := realRunner(t, mode)
			guess := pyChecker(t, "guess.py")
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					lang := cat.Find(tc.language)
					req := contracts.ExecutionRequest{Language: tc.language, Files: []contracts.File{{Name: lang.EntryFile, Content: tc.program}},
						Limits: tc.limits, Interactor: guess, Tests: []contracts.TestCase{{Stdin: tc.stdin, Points: pts(3)}}}
					res := execute(t, r, cat, req)
					if len(res.Tests) != 1 {
						t.Fatalf("%d tests", len(res.Tests))
					}
					tr := res.Tests[0]
					if tr.Interactor != nil {
						t.Logf("interactor: exit %d verdict %s files %v", tr.Interactor.ExitCode, tr.Interactor.Verdict, tr.Interactor.Files)
					}
					wantPoints := 0.0
					if tc.want == ac {
						wantPoints = 3
					}
					if res.Verdict != tc.want || tr.Verdict != tc.want || tr.PointsAwarded != wantPoints || tr.Interactor == nil ||
						!strings.Contains(tr.CheckerMessage, tc.message) {
						t.Errorf("verdict %s (test %s) points %v message %q, want %s %v %q", res.Verdict, tr.Verdict, tr.PointsAwarded, tr.CheckerMessage, tc.want, wantPoints, tc.message)
					}
				})
			}
			t.Run("10,000 round trips", func(t *testing.T) {
				// Under gVisor every round trip also crosses both sentries:
				// measured at 0.3 to 1 ms of CPU per side and round trip
				// on this shared machine, so it gets a tenth of the rounds.
				rounds := 10000
				if mode == sandbox.IsolationGVisor {
					rounds = 1000
				}
				req := contracts.ExecutionRequest{Language: "c++",
					Files: []contracts.File{{Name: "main.cpp", Content: "#include <cstdio>\nint main() { long x; while (std::scanf(\"%ld\", &x) == 1) { std::printf(\"%ld\\n\", x + 1); std::fflush(stdout); } }\n"}},
					// The CPU limit is generous: in container and gvisor mode
					// the relaying init (and gVisor's sentry) work inside the
					// program's sandbox, and that CPU time is the program's.
					Limits:     contracts.Limits{CPUTimeMS: 10000, WallTimeMS: 20000},
					Interactor: cppChecker(t, "rounds.cpp"),
					Tests:      []contracts.TestCase{{Stdin: strconv.Itoa(rounds)}}}
				res := execute(t, r, cat, req)
				tr := res.Tests[0]
				t.Logf("%s: %d round trips: verdict %s, program wall %d ms cpu %d ms, interactor wall %d ms cpu %d ms",
					mode, rounds, tr.Verdict, tr.WallTimeMS, tr.CPUTimeMS, tr.Interactor.WallTimeMS, tr.Interactor.CPUTimeMS)
				want := fmt.Sprintf("%d rounds\n", rounds)
				if tr.Verdict != contracts.VerdictAccepted || tr.CheckerMessage != want || len(tr.Interactor.Files) != 1 ||
					tr.Interactor.Files[0].Content != want || !strings.HasSuffix(tr.Stdout, fmt.Sprintf("%d\n", rounds+1)) {
					t.Errorf("verdict %s message %q files %v", tr.Verdict, tr.CheckerMessage, tr.Interactor.Files)
				}
			})
			t.Run("output caps bound the relay", func(t *testing.T) {
				// The floods are many writes of 64 KiB: under gVisor one
				// write of megabytes reaches the sandbox's stdout as 64 KiB
				// and the program exits 0 (seen on this host, and not only
				// in interactive tests), which would hide the cap.
				// The interactor floods a program that never reads: it is
				// stopped at its own output cap, before the program's wall
				// limit, and that failure is the problem's.
				flood := &contracts.JudgeProgram{Language: "python", Files: []contracts.File{{Name: "i.py", Content: "import sys\n" +
					"for _ in range(160):\n    sys.stdout.write('x' * 65536)\nsys.stdout.flush()\n"}}}
				req := contracts.ExecutionRequest{Language: "python", Files: []contracts.File{{Name: "main.py", Content: "import time\ntime.sleep(30)\n"}},
					Limits: contracts.Limits{WallTimeMS: 3000}, Interactor: flood, Tests: []contracts.TestCase{{}}}
				res := execute(t, r, cat, req)
				tr := res.Tests[0]
				if tr.Verdict != contracts.VerdictJudgeError || tr.Interactor.Verdict != contracts.VerdictOutputLimitExceeded ||
					!strings.Contains(tr.CheckerMessage, "output_limit_exceeded") {
					t.Errorf("flooding interactor: verdict %s, interactor %s, message %q", tr.Verdict, tr.Interactor.Verdict, tr.CheckerMessage)
				}
				// The program floods an interactor that reads everything: the
				// program is stopped at its cap, and the interactor saw at
				// most that much.
				count := &contracts.JudgeProgram{Language: "python", Files: []contracts.File{{Name: "i.py", Content: "import sys\n" +
					"n = len(sys.stdin.buffer.read())\nsys.stderr.write(f'read {n}\\n')\n"}}}
				req = contracts.ExecutionRequest{Language: "python", Files: []contracts.File{{Name: "main.py", Content: "import sys\nfor _ in range(160):\n    sys.stdout.write('y' * 65536)\n"}},
					Limits: contracts.Limits{OutputBytes: 65536}, Interactor: count, Tests: []contracts.TestCase{{}}}
				res = execute(t, r, cat, req)
				tr = res.Tests[0]
				var read int
				fmt.Sscanf(tr.CheckerMessage, "read %d", &read)
				if tr.Verdict != contracts.VerdictOutputLimitExceeded || read > 65536 || len(tr.Stdout) > 65536 {
					t.Errorf("flooding program: verdict %s, the interactor read %d bytes (message %q)", tr.Verdict, read, tr.CheckerMessage)
				}
			})
			t.Run("a checker judges the interactor's output.txt", func(t *testing.T) {
				req := contracts.ExecutionRequest{Language: "c++", Files: []contracts.File{{Name: "main.cpp", Content: string(binsearch)}},
					Interactor: guess,
					Checker: &contracts.JudgeProgram{Language: "python", Files: []contracts.File{{Name: "check.py", Content: "import sys\n" +
						"q = int(open(sys.argv[2]).read().split()[2])\n" +
						"if q > 15:\n    sys.stderr.write(f'points 1 {q} questions\\n'); sys.exit(7)\n"}}},
					Tests: []contracts.TestCase{{Stdin: "500000", Points: pts(2)}, {Stdin: "1"}}}
				res := execute(t, r, cat, req)
				if res.Verdict != contracts.VerdictPartial || *res.Score != 3 || res.Tests[0].Verdict != contracts.VerdictAccepted ||
					res.Tests[1].Verdict != contracts.VerdictPartial || !strings.Contains(res.Tests[1].CheckerMessage, "questions") {
					t.Errorf("verdict %s score %v", res.Verdict, deref(res.Score))
				}
			})
		})
	}
}
