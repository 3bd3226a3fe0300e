package runner

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/executor/internal/catalog"
	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
)

func TestCheckerVerdict(t *testing.T) {
	const sec = time.Second
	for _, tc := range []struct {
		name    string
		out     sandbox.Outcome
		points  float64
		want    contracts.Verdict
		awarded float64
		message string
	}{
		{"0 accepted", sandbox.Outcome{Stderr: []byte("ok")}, 3, contracts.VerdictAccepted, 3, "ok"},
		{"1 wrong answer", sandbox.Outcome{ExitCode: 1, Stderr: []byte("expected 2")}, 3, contracts.VerdictWrongAnswer, 0, "expected 2"},
		{"2 presentation", sandbox.Outcome{ExitCode: 2}, 3, contracts.VerdictPresentationError, 0, ""},
		{"8 unexpected eof", sandbox.Outcome{ExitCode: 8}, 3, contracts.VerdictPresentationError, 0, ""},
		{"3 fail", sandbox.Outcome{ExitCode: 3, Stderr: []byte("bad answer")}, 3, contracts.VerdictJudgeError, 0, "bad answer"},
		{"7 partial", sandbox.Outcome{ExitCode: 7, Stderr: []byte("points 1.5 half right\n")}, 3, contracts.VerdictPartial, 1.5, "points 1.5 half right"},
		{"7 partial, all the points", sandbox.Outcome{ExitCode: 7, Stderr: []byte("points 3")}, 3, contracts.VerdictPartial, 3, "points 3"},
		{"7 partial, zero", sandbox.Outcome{ExitCode: 7, Stderr: []byte("points 0 none\n")}, 3, contracts.VerdictPartial, 0, "points 0"},
		{"7 above the test's points", sandbox.Outcome{ExitCode: 7, Stderr: []byte("points 4 x")}, 3, contracts.VerdictJudgeError, 0, "more than the test's 3"},
		{"7 negative", sandbox.Outcome{ExitCode: 7, Stderr: []byte("points -1 x")}, 3, contracts.VerdictJudgeError, 0, "negative"},
		{"7 nan", sandbox.Outcome{ExitCode: 7, Stderr: []byte("points NaN x")}, 3, contracts.VerdictJudgeError, 0, "not a number"},
		{"7 inf", sandbox.Outcome{ExitCode: 7, Stderr: []byte("points +Inf x")}, 3, contracts.VerdictJudgeError, 0, "not a number"},
		{"7 not at the start", sandbox.Outcome{ExitCode: 7, Stderr: []byte("ok\npoints 1")}, 3, contracts.VerdictJudgeError, 0, "does not start"},
		{"another code", sandbox.Outcome{ExitCode: 4}, 3, contracts.VerdictJudgeError, 0, "exited 4"},
		{"a signal", sandbox.Outcome{ExitCode: 139, Signal: 11}, 3, contracts.VerdictJudgeError, 0, "killed by SIGSEGV"},
		{"out of time", sandbox.Outcome{TimedOut: true}, 3, contracts.VerdictJudgeError, 0, "time_limit_exceeded"},
		{"out of memory, exit 0", sandbox.Outcome{OOMKilled: true}, 3, contracts.VerdictJudgeError, 0, "memory_limit_exceeded"},
		{"too much output", sandbox.Outcome{OutputExceeded: true, ExitCode: 1}, 3, contracts.VerdictJudgeError, 0, "output_limit_exceeded"},
		{"cpu over the limit, exit 0", sandbox.Outcome{CPUTime: 2 * sec}, 3, contracts.VerdictJudgeError, 0, "time_limit_exceeded"},
	} {
		got := CheckerVerdict(tc.out, sec, tc.points)
		if got.Verdict != tc.want || got.Points != tc.awarded || !strings.Contains(got.Message, tc.message) {
			t.Errorf("%s: %+v, want %s %v %q", tc.name, got, tc.want, tc.awarded, tc.message)
		}
	}
}

func TestCheckerMessageCapped(t *testing.T) {
	long := strings.Repeat("é", CheckerMessageMax) // 2 bytes each
	got := CheckerVerdict(sandbox.Outcome{ExitCode: 1, Stderr: []byte(long)}, time.Second, 1)
	if len(got.Message) > CheckerMessageMax || len(got.Message) < CheckerMessageMax-1 || !utf8.ValidString(got.Message) {
		t.Errorf("message of %d bytes (valid UTF-8 %v), want at most %d", len(got.Message), utf8.ValidString(got.Message), CheckerMessageMax)
	}
	if got := capMessage("a\xffb"); got != "a\uFFFDb" {
		t.Errorf("invalid UTF-8 kept: %q", got)
	}
}

func TestWithFiles(t *testing.T) {
	base, err := sandbox.TarFiles(map[string][]byte{"main": []byte("bin"), "output.txt": []byte("planted")}, []string{"main", "output.txt"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := withFiles(base, contracts.JudgeFileNames, [][]byte{[]byte("in"), []byte("out"), []byte("ans")})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		got[h.Name] = string(data)
		order = append(order, h.Name)
	}
	if len(order) != 4 || got["main"] != "bin" || got["input.txt"] != "in" || got["output.txt"] != "out" || got["answer.txt"] != "ans" {
		t.Errorf("entries %v: %v", order, got)
	}
}

// TestCompileCacheOnce: concurrent gets of one key build once; a failed
// build is not kept; the least recently used build goes first.
func TestCompileCacheOnce(t *testing.T) {
	c := newCompileCache(10)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := c.get(context.Background(), "k", func() ([]byte, error) { <-release; return []byte("build"), nil })
			if err != nil || string(b) != "build" {
				t.Errorf("get: %q %v", b, err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := c.builds.Load(); n != 1 {
		t.Errorf("%d builds for one key, want 1", n)
	}
	for range 2 {
		if b, _ := c.get(context.Background(), "bad", func() ([]byte, error) { return nil, nil }); b != nil {
			t.Errorf("a failed build gave %q", b)
		}
	}
	if n := c.builds.Load(); n != 3 {
		t.Errorf("%d builds, want 3 (a failed build is not kept)", n)
	}
	c.get(context.Background(), "k2", func() ([]byte, error) { return []byte("12345"), nil }) // 10 bytes: full
	c.get(context.Background(), "k", nil)                                                     // k used last
	c.get(context.Background(), "k3", func() ([]byte, error) { return []byte("xyz"), nil })   // evicts k2
	c.mu.Lock()
	_, k2 := c.entries["k2"]
	_, k := c.entries["k"]
	bytes := c.bytes
	c.mu.Unlock()
	if k2 || !k || bytes != 8 {
		t.Errorf("after eviction: k2 kept %v, k kept %v, %d bytes; want k2 dropped, k kept, 8 bytes", k2, k, bytes)
	}
}

// TestCheckerRunsInTheProgramsMode: the checker's stages get the mode of the
// program's language and the tenant, and /work holds the test's files.
func TestCheckerRunsInTheProgramsMode(t *testing.T) {
	fs := &fakeSandbox{}
	r := New(fs)
	r.Isolation = Isolation{Languages: map[string]string{"c++": sandbox.IsolationGVisor}}
	r.Languages = func(name, _ string) (*catalog.Language, contracts.Runtime) { l := cpp(); return l, l.Runtime("") }
	req := contracts.ExecutionRequest{Language: "c++", Files: []contracts.File{{Name: "main.cpp"}},
		Tests:   []contracts.TestCase{{Stdin: "1", Points: pts(2)}, {Stdin: "crash"}},
		Checker: &contracts.JudgeProgram{Language: "c++", Files: []contracts.File{{Name: "chk.cpp"}}}}
	res, err := r.Execute(context.Background(), "id", "acme", req, cpp(), limits())
	if err != nil {
		t.Fatal(err)
	}
	var stages []string
	for _, s := range fs.stages {
		stages = append(stages, s.Stage)
		if s.Isolation != sandbox.IsolationGVisor || s.Tenant != "acme" || s.OCIRuntime != "runsc" {
			t.Errorf("%s stage in %q/%q for %q", s.Stage, s.Isolation, s.OCIRuntime, s.Tenant)
		}
	}
	// The crashed test is not checked.
	if strings.Join(stages, ",") != "compile,checker-compile,run,checker,run" {
		t.Errorf("stages %v", stages)
	}
	if res.Verdict != contracts.VerdictRuntimeError || *res.Score != 2 || *res.MaxScore != 3 || res.Tests[0].PointsAwarded != 2 {
		t.Fatalf("verdict %s score %v/%v (%s)", res.Verdict, *res.Score, *res.MaxScore, res.Message)
	}
	chk := fs.stages[3]
	if strings.Join(chk.Argv, " ") != "./main input.txt output.txt answer.txt" || chk.CPUTime != 10*time.Second || chk.MemoryBytes != 512<<20 {
		t.Errorf("checker argv %v cpu %v memory %d", chk.Argv, chk.CPUTime, chk.MemoryBytes)
	}
	if cc := fs.stages[1]; cc.CPUTime != 30*time.Second || cc.WallTime != 60*time.Second {
		t.Errorf("checker compile limits %v/%v, want 30s/60s", cc.CPUTime, cc.WallTime)
	}
}

func TestOutputFilesRead(t *testing.T) {
	archive, err := sandbox.TarFiles(map[string][]byte{"b.bin": {0xff, 0}, "a.txt": []byte("héllo")}, []string{"b.bin", "a.txt"})
	if err != nil {
		t.Fatal(err)
	}
	files, err := outputFiles(archive, []string{"a.txt", "b.bin", "c.txt"})
	want := []contracts.OutputFile{{Name: "a.txt", Content: "héllo", Encoding: "utf8"}, {Name: "b.bin", Content: "/wA=", Encoding: "base64"}}
	if err != nil || !slices.Equal(files, want) {
		t.Errorf("files %+v (%v), want %+v", files, err, want)
	}
	// An entry nobody asked for means the init is not the one we wrote.
	if _, err := outputFiles(archive, []string{"a.txt"}); err == nil {
		t.Error("an entry not asked for was accepted")
	}
	if files, err := outputFiles(nil, []string{"a.txt"}); err != nil || files != nil {
		t.Errorf("no tar: %v %v", files, err)
	}
}

// TestCheckerLanguageNotServed: a checker in a language this executor does
// not serve is the fleet's fault (internal_error), not the problem's.
func TestCheckerLanguageNotServed(t *testing.T) {
	r := New(&fakeSandbox{})
	req := contracts.ExecutionRequest{Language: "c++", Files: []contracts.File{{Name: "main.cpp"}}, Tests: []contracts.TestCase{{Stdin: "1"}},
		Checker: &contracts.JudgeProgram{Language: "cobol", Files: []contracts.File{{Name: "c.cob"}}}}
	res, err := r.Execute(context.Background(), "id", "default", req, cpp(), limits())
	if err != nil || res.Verdict != contracts.VerdictInternalError || !strings.Contains(res.Message, `"cobol"`) || res.Tests != nil {
		t.Errorf("verdict %s message %q tests %v (%v)", res.Verdict, res.Message, res.Tests, err)
	}
}
