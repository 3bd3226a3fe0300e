package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
)

func ptr(s string) *string { return &s }

func ptrTo[T any](v T) *T { return &v }

// compileContainers counts the compile-stage containers the engine created
// for an executor between since and until, from the engine's own events.
func compileContainers(t *testing.T, executorID string, since, until time.Time) int {
	t.Helper()
	out, err := exec.Command("docker", "events",
		"--since", strconv.FormatInt(since.Unix()-1, 10), "--until", strconv.FormatInt(until.Unix()+1, 10),
		"--filter", "type=container", "--filter", "event=create",
		"--filter", "label=run.airlock.executor="+executorID, "--filter", "label=run.airlock.stage=compile",
		"--format", "{{.ID}}").Output()
	if err != nil {
		t.Fatalf("docker events: %v", err)
	}
	return len(strings.Fields(string(out)))
}

const sumCpp = `#include <iostream>
int main() { long long a, b; std::cin >> a >> b; std::cout << a + b << "\n"; }
`

func TestJudge(t *testing.T) {
	// A job no executor serves waits this long (passed back) before it
	// ends as internal_error.
	s := startDev(t, func(c *config) { c.Executor.UnservedGrace = 3 * time.Second })

	t.Run("c++ with 20 tests compiles once", func(t *testing.T) {
		req := src("c++", "main.cpp", sumCpp)
		for i := 0; i < 20; i++ {
			want := strconv.Itoa(i + 2*i)
			if i == 7 {
				want = "-1" // the one wrong expectation
			}
			req.Tests = append(req.Tests, contracts.TestCase{Name: fmt.Sprintf("case %d", i), Stdin: fmt.Sprintf("%d %d\n", i, 2*i), ExpectedOutput: ptr(want)})
		}
		since := time.Now()
		e := execute(t, s, req)
		until := time.Now()
		if e.Compile == nil || e.Compile.Verdict != contracts.VerdictAccepted || e.Run != nil {
			t.Fatalf("want one compile stage and no run stage: %s", dump(e))
		}
		// A container per compile stage in container mode: exactly one.
		// In namespace mode the stages run in cells, which the engine
		// created before (none for this job); that the runner compiles
		// once is TestJudgeModeCompilesOnce in internal/runner.
		want := 1
		if e.Isolation == "namespace" {
			want = 0
		}
		if n := compileContainers(t, s.ExecutorID, since, until); n != want {
			t.Errorf("the engine created %d compile containers, want %d (isolation %s)", n, want, e.Isolation)
		}
		if e.Verdict != contracts.VerdictWrongAnswer || e.FailedTest == nil || *e.FailedTest != 7 || len(e.Tests) != 20 {
			t.Fatalf("want wrong_answer at test 7: %s", dump(e))
		}
		for i, tr := range e.Tests {
			want := contracts.VerdictAccepted
			if i == 7 {
				want = contracts.VerdictWrongAnswer
			}
			if tr.Verdict != want || tr.Name != fmt.Sprintf("case %d", i) || tr.Stdout != strconv.Itoa(3*i)+"\n" {
				t.Errorf("test %d: verdict %s name %q stdout %q", i, tr.Verdict, tr.Name, tr.Stdout)
			}
		}
	})

	t.Run("tests are isolated from each other", func(t *testing.T) {
		req := src("bash", "main.sh", "ls /tmp/mark /dev/shm/mark mark 2>/dev/null | wc -l; touch /tmp/mark /dev/shm/mark mark\n")
		req.Tests = []contracts.TestCase{{ExpectedOutput: ptr("0")}, {ExpectedOutput: ptr("0")}}
		e := execute(t, s, req)
		if e.Verdict != contracts.VerdictAccepted {
			t.Fatalf("a test saw what the previous one wrote: %s", dump(e))
		}
	})

	t.Run("a checker decides, with points", func(t *testing.T) {
		// Many valid answers: any a, b > 0 with a + b = n.
		req := src("python", "main.py", "n = int(input())\nprint(1, n - 1 if n > 5 else n)\n")
		req.Checker = &contracts.JudgeProgram{Language: "c++", Files: []contracts.File{{Name: "check.cpp", Content: `#include <fstream>
#include <iostream>
int main(int argc, char **argv) {
  std::ifstream in(argv[1]), out(argv[2]);
  long long n, a, b;
  in >> n;
  if (!(out >> a >> b)) { std::cerr << "two numbers expected"; return 2; }
  if (a <= 0 || b <= 0 || a + b != n) { std::cerr << a << " + " << b << " is not " << n; return 1; }
  std::cerr << "ok";
}
`}}}
		req.Tests = []contracts.TestCase{{Stdin: "10", ExpectedOutput: ptr("5 5"), Points: ptrTo(4.0)}, {Stdin: "3", Points: ptrTo(6.0)}}
		e := execute(t, s, req)
		t.Logf("verdict %s score %v/%v tests %s / %s", e.Verdict, *e.Score, *e.MaxScore, e.Tests[0].CheckerMessage, e.Tests[1].CheckerMessage)
		if e.Verdict != contracts.VerdictWrongAnswer || *e.FailedTest != 1 || *e.Score != 4 || *e.MaxScore != 10 ||
			e.Tests[0].CheckerMessage != "ok" || e.Tests[1].CheckerMessage != "1 + 3 is not 3" || e.Tests[0].PointsAwarded != 4 {
			t.Errorf("%s", dump(e))
		}
		// The gateway refuses a checker in a language no executor serves.
		bad := req
		bad.Checker = &contracts.JudgeProgram{Language: "no-such-language", Files: []contracts.File{{Name: "c.x"}}}
		code, _, body := request(t, "POST", s.URL+"/v1/execute", bad, nil)
		if code != 422 || !strings.Contains(string(body), `"field":"checker.language"`) {
			t.Errorf("unserved checker language: %d %s", code, body)
		}
	})

	t.Run("1,000 tests, the most a request may have", func(t *testing.T) {
		req := src("bash", "main.sh", "read n; echo $((n * 2))\n")
		for i := range 1000 {
			tc := contracts.TestCase{Stdin: strconv.Itoa(i), ExpectedOutput: ptr(strconv.Itoa(2 * i)), Points: ptrTo(0.5)}
			if i == 999 {
				tc.ExpectedOutput = ptr("wrong")
			}
			req.Tests = append(req.Tests, tc)
		}
		start := time.Now()
		e := execute(t, s, req)
		t.Logf("1,000 tests in %s: verdict %s score %v/%v", time.Since(start).Round(time.Millisecond), e.Verdict, *e.Score, *e.MaxScore)
		if len(e.Tests) != 1000 || e.Verdict != contracts.VerdictWrongAnswer || *e.FailedTest != 999 || *e.Score != 499.5 || *e.MaxScore != 500 {
			t.Errorf("verdict %s failed_test %v score %v/%v, %d tests", e.Verdict, e.FailedTest, *e.Score, *e.MaxScore, len(e.Tests))
		}
	})

	t.Run("stop on first failure", func(t *testing.T) {
		req := src("python", "main.py", "n = int(input())\nassert n != 2\nprint(n)\n")
		req.StopOnFirstFailure = true
		for i := 1; i <= 4; i++ {
			req.Tests = append(req.Tests, contracts.TestCase{Stdin: strconv.Itoa(i), ExpectedOutput: ptr(strconv.Itoa(i))})
		}
		e := execute(t, s, req)
		if e.Verdict != contracts.VerdictRuntimeError || *e.FailedTest != 1 {
			t.Fatalf("want runtime_error at 1: %s", dump(e))
		}
		if !e.Tests[2].Skipped || !e.Tests[3].Skipped || e.Tests[2].Verdict != contracts.VerdictSkipped || e.Tests[0].Verdict != contracts.VerdictAccepted {
			t.Errorf("tests after the failure should be skipped: %s", dump(e))
		}
	})

	t.Run("comparison modes", func(t *testing.T) {
		cases := []struct {
			mode     contracts.CompareMode
			out, exp string
			want     contracts.Verdict
		}{
			{"", "1 2  \n\n", "1 2", contracts.VerdictAccepted},
			{contracts.CompareExact, "1 2  \n", "1 2\n", contracts.VerdictWrongAnswer},
			{contracts.CompareTokens, "1\n2\n", "1 2", contracts.VerdictAccepted},
			{contracts.CompareFloat, "0.3333333\n", "0.333333333", contracts.VerdictAccepted},
			{contracts.CompareFloat, "0.34\n", "0.333333333", contracts.VerdictWrongAnswer},
		}
		for _, tc := range cases {
			req := src("python", "main.py", fmt.Sprintf("import sys\nsys.stdout.write(%q)\n", tc.out))
			req.Compare, req.ExpectedOutput = tc.mode, ptr(tc.exp)
			if e := execute(t, s, req); e.Verdict != tc.want {
				t.Errorf("mode %q, output %q vs %q: %s, want %s", tc.mode, tc.out, tc.exp, e.Verdict, tc.want)
			}
		}
	})

	t.Run("every verdict", func(t *testing.T) {
		cases := []struct {
			name   string
			req    contracts.ExecutionRequest
			want   contracts.Verdict
			verify func(t *testing.T, e contracts.Execution)
		}{
			{"accepted", withExpected(src("c", "main.c", "#include <stdio.h>\nint main(){puts(\"ok\");}\n"), "ok"), contracts.VerdictAccepted, nil},
			{"wrong answer", withExpected(src("c", "main.c", "#include <stdio.h>\nint main(){puts(\"no\");}\n"), "ok"), contracts.VerdictWrongAnswer, nil},
			{"compile error", src("java", "Main.java", "public class Main { void f() { int x = ; } }\n"), contracts.VerdictCompileError, func(t *testing.T, e contracts.Execution) {
				if e.Run != nil || !strings.Contains(e.Compile.Stderr, "error") {
					t.Errorf("%s", dump(e))
				}
			}},
			{"runtime error", src("javascript", "main.js", "throw new Error('boom')\n"), contracts.VerdictRuntimeError, func(t *testing.T, e contracts.Execution) {
				if e.Run.ExitCode == 0 || !strings.Contains(e.Run.Stderr, "boom") {
					t.Errorf("%s", dump(e))
				}
			}},
			// Each limit far above the other, so that only the one meant can end the program.
			{"time limit on cpu", withLimits(src("c++", "main.cpp", "int main(){volatile unsigned long x=0; for(;;) x++;}\n"), contracts.Limits{CPUTimeMS: 500, WallTimeMS: 30000}), contracts.VerdictTimeLimitExceeded, func(t *testing.T, e contracts.Execution) {
				if e.Run.CPUTimeMS < 500 || e.Run.WallTimeMS >= 30000 {
					t.Errorf("want the CPU limit to end it (cpu %d ms, wall %d ms)", e.Run.CPUTimeMS, e.Run.WallTimeMS)
				}
			}},
			{"time limit on wall clock", withLimits(src("python", "main.py", "import time\ntime.sleep(60)\n"), contracts.Limits{CPUTimeMS: 10000, WallTimeMS: 1500}), contracts.VerdictTimeLimitExceeded, func(t *testing.T, e contracts.Execution) {
				if e.Run.WallTimeMS < 1500 || e.Run.CPUTimeMS >= 10000 {
					t.Errorf("want the wall limit to end it, with the CPU time reported (cpu %d ms, wall %d ms)", e.Run.CPUTimeMS, e.Run.WallTimeMS)
				}
			}},
			{"memory limit", withLimits(src("c++", "main.cpp", "#include <vector>\nint main(){std::vector<char*> v; for(;;){char*p=new char[1<<20]; for(int i=0;i<(1<<20);i+=4096)p[i]=1; v.push_back(p);}}\n"), contracts.Limits{MemoryMB: 64}), contracts.VerdictMemoryLimitExceeded, nil},
			{"output limit", withLimits(src("go", "main.go", "package main\nimport \"fmt\"\nfunc main(){ for { fmt.Println(\"flood\") } }\n"), contracts.Limits{OutputBytes: 4096}), contracts.VerdictOutputLimitExceeded, func(t *testing.T, e contracts.Execution) {
				if !e.Run.Truncated || len(e.Run.Stdout) != 4096 {
					t.Errorf("truncated %v len %d", e.Run.Truncated, len(e.Run.Stdout))
				}
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := execute(t, s, tc.req)
				if e.Verdict != tc.want {
					t.Fatalf("verdict %s, want %s: %s", e.Verdict, tc.want, dump(e))
				}
				if tc.verify != nil {
					tc.verify(t, e)
				}
			})
		}
	})

	t.Run("internal error for a job no executor serves", func(t *testing.T) {
		// Internal services may publish straight onto NATS; the executor
		// validates again, passes the job back while no executor serves its
		// language, and ends it after the grace, naming the language.
		id := contracts.NewID()
		job := contracts.Job{ID: id, CreatedAt: time.Now().UTC(), Request: src("brainfuck-3000", "main.bf", "+"), ResultToken: resultToken(t, s, id)}
		data, _ := json.Marshal(job)
		topo := contracts.DefaultTopology()
		if _, err := s.JS.Publish(context.Background(), topo.JobSubject(""), data, jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
		// Airlock knows the id once the executor has taken the job (nothing
		// went through the gateway): until then a GET answers 404.
		code, body := awaitExecution(t, s.URL+"/v1/executions/"+id, nil)
		var e contracts.Execution
		_ = json.Unmarshal(body, &e)
		if code != 200 || e.Verdict != contracts.VerdictInternalError || !strings.Contains(e.Message, "no executor serves brainfuck-3000: none has announced it for") {
			t.Fatalf("%d %s", code, body)
		}
	})

	t.Run("verdicts are reproducible", func(t *testing.T) {
		req := src("python", "main.py", "import sys\nn = int(input())\nif n == 1:\n    print('one')\nelif n == 2:\n    sys.exit(4)\nelif n == 3:\n    while True: pass\nelse:\n    print('x' * 100000)\n")
		// Limits far above what tests 1, 2 and 4 need: only test 3 runs into one.
		req.Limits = contracts.Limits{CPUTimeMS: 5000, WallTimeMS: 15000, OutputBytes: 1000}
		for i := 1; i <= 4; i++ {
			req.Tests = append(req.Tests, contracts.TestCase{Stdin: strconv.Itoa(i), ExpectedOutput: ptr("one")})
		}
		first, second := execute(t, s, req), execute(t, s, req)
		want := []contracts.Verdict{contracts.VerdictAccepted, contracts.VerdictRuntimeError, contracts.VerdictTimeLimitExceeded, contracts.VerdictOutputLimitExceeded}
		for i := range want {
			if first.Tests[i].Verdict != want[i] || second.Tests[i].Verdict != want[i] {
				t.Errorf("test %d: %s then %s, want %s", i, first.Tests[i].Verdict, second.Tests[i].Verdict, want[i])
			}
		}
	})

	t.Run("batch then list", func(t *testing.T) {
		body := map[string]any{"executions": []any{
			roomy(src("python", "main.py", "print('a')\n")),
			src("nope", "x", ""),
			roomy(withExpected(src("bash", "main.sh", "echo b\n"), "b")),
		}}
		code, _, data := request(t, "POST", s.URL+"/v1/executions/batch", body, nil)
		var resp contracts.BatchResponse
		_ = json.Unmarshal(data, &resp)
		if code != 200 || len(resp.Executions) != 3 || resp.Executions[1].Error == nil || resp.Executions[1].Error.Code != contracts.CodeUnknownLanguage {
			t.Fatalf("batch: %d %s", code, data)
		}
		ids := resp.Executions[0].ID + "," + resp.Executions[2].ID
		var list contracts.ExecutionList
		if !testkit.Eventually(testkit.Patience, func() bool {
			_, _, data = request(t, "GET", s.URL+"/v1/executions?ids="+ids, nil, nil)
			list = contracts.ExecutionList{}
			_ = json.Unmarshal(data, &list)
			return len(list.Executions) == 2 && !slices.ContainsFunc(list.Executions, func(x contracts.ExecutionOrError) bool {
				return x.Execution == nil || !x.Execution.Terminal()
			})
		}) {
			t.Fatalf("batch not finished: %s", data)
		}
		for _, x := range list.Executions {
			if x.Execution.Verdict != contracts.VerdictAccepted {
				t.Errorf("%s: %s", x.ID, x.Execution.Verdict)
			}
		}
	})
}

func withExpected(r contracts.ExecutionRequest, expected string) contracts.ExecutionRequest {
	r.ExpectedOutput = &expected
	return r
}

func withLimits(r contracts.ExecutionRequest, l contracts.Limits) contracts.ExecutionRequest {
	r.Limits = l
	return r
}

// resultToken is the result token of job id in stack s, for a test that
// publishes a job straight onto NATS as a service with the gateway's rights
// would (contracts/client stamps it on every job it queues).
func resultToken(t *testing.T, s *stack, id string) string {
	t.Helper()
	sealer, err := contracts.LoadResultSealer(context.Background(), s.JS)
	if err != nil {
		t.Fatal(err)
	}
	return sealer.Token(id)
}
