package contracts_test

import (
	"strings"
	"testing"

	"github.com/airlockrun/airlock/contracts"
)

func TestValidFileName(t *testing.T) {
	good := []string{"main.py", "Main.java", "src/util.c", "a/b/c/d/e/f/g/h.txt", ".env", "x+y@z_1-2.c", strings.Repeat("a", 100)}
	bad := []string{"", "/abs", "../x", "a/../b", "a/./b", ".", "..", "-o", "a/-rf", "a//b", "a/", "a\x00b", "a\nb", "a b",
		"a/b/c/d/e/f/g/h/i.txt", strings.Repeat("a", 101), "naïve.py", `a\b`, "*", "$(x)"}
	for _, n := range good {
		if !contracts.ValidFileName(n) {
			t.Errorf("%q rejected", n)
		}
	}
	for _, n := range bad {
		if contracts.ValidFileName(n) {
			t.Errorf("%q accepted", n)
		}
	}
}

func TestValidatorRequest(t *testing.T) {
	v := contracts.NewValidator(contracts.Policy{MaxFiles: 3, MaxFileBytes: 10, MaxSourceBytes: 15, MaxStdinBytes: 5})
	file := func(name, content string) contracts.File { return contracts.File{Name: name, Content: content} }
	ok := func() contracts.ExecutionRequest {
		return contracts.ExecutionRequest{Language: "python", Files: []contracts.File{file("main.py", "print(1)")}}
	}
	cases := []struct {
		name   string
		mutate func(*contracts.ExecutionRequest)
		code   string
		field  string
	}{
		{"valid", func(r *contracts.ExecutionRequest) {}, "", ""},
		{"language normalised", func(r *contracts.ExecutionRequest) { r.Language = " Python " }, "", ""},
		{"missing language", func(r *contracts.ExecutionRequest) { r.Language = "" }, contracts.CodeInvalidRequest, "language"},
		{"language with spaces inside", func(r *contracts.ExecutionRequest) { r.Language = "py thon" }, contracts.CodeInvalidRequest, "language"},
		{"language too long", func(r *contracts.ExecutionRequest) { r.Language = strings.Repeat("a", 65) }, contracts.CodeInvalidRequest, "language"},
		{"version too long", func(r *contracts.ExecutionRequest) { r.Version = strings.Repeat("1", 65) }, contracts.CodeInvalidRequest, "version"},
		{"no files", func(r *contracts.ExecutionRequest) { r.Files = nil }, contracts.CodeInvalidRequest, "files"},
		{"empty files", func(r *contracts.ExecutionRequest) { r.Files = []contracts.File{} }, contracts.CodeInvalidRequest, "files"},
		{"too many files", func(r *contracts.ExecutionRequest) {
			r.Files = []contracts.File{file("a", ""), file("b", ""), file("c", ""), file("d", "")}
		}, contracts.CodeInvalidRequest, "files"},
		{"file without name", func(r *contracts.ExecutionRequest) { r.Files[0].Name = "" }, contracts.CodeInvalidRequest, "files[0].name"},
		{"traversal", func(r *contracts.ExecutionRequest) { r.Files[0].Name = "../etc/passwd" }, contracts.CodeInvalidRequest, "files[0].name"},
		{"absolute", func(r *contracts.ExecutionRequest) { r.Files[0].Name = "/etc/passwd" }, contracts.CodeInvalidRequest, "files[0].name"},
		{"option-like", func(r *contracts.ExecutionRequest) { r.Files[0].Name = "-o" }, contracts.CodeInvalidRequest, "files[0].name"},
		{"nul in name", func(r *contracts.ExecutionRequest) { r.Files[0].Name = "a\x00" }, contracts.CodeInvalidRequest, "files[0].name"},
		{"bad encoding", func(r *contracts.ExecutionRequest) { r.Files[0].Encoding = "hex" }, contracts.CodeInvalidRequest, "files[0].encoding"},
		{"bad base64", func(r *contracts.ExecutionRequest) {
			r.Files[0] = contracts.File{Name: "a", Content: "!!", Encoding: "base64"}
		}, contracts.CodeInvalidRequest, "files[0].content"},
		{"good base64", func(r *contracts.ExecutionRequest) {
			r.Files[0] = contracts.File{Name: "a", Content: "aGk=", Encoding: "base64"}
		}, "", ""},
		{"file too big", func(r *contracts.ExecutionRequest) { r.Files[0].Content = strings.Repeat("x", 11) }, contracts.CodeInvalidRequest, "files[0].content"},
		{"base64 counted decoded", func(r *contracts.ExecutionRequest) {
			r.Files[0] = contracts.File{Name: "a", Content: "YWFhYWFhYWFhYQ==", Encoding: "base64"} // 10 bytes
		}, "", ""},
		{"total too big", func(r *contracts.ExecutionRequest) {
			r.Files = []contracts.File{file("a", strings.Repeat("x", 8)), file("b", strings.Repeat("x", 8))}
		}, contracts.CodeInvalidRequest, "files"},
		{"duplicate names", func(r *contracts.ExecutionRequest) { r.Files = append(r.Files, file("main.py", "")) }, contracts.CodeInvalidRequest, "files[1].name"},
		{"file and directory", func(r *contracts.ExecutionRequest) { r.Files = append(r.Files, file("main.py/x", "")) }, contracts.CodeInvalidRequest, "files"},
		{"stdin too big", func(r *contracts.ExecutionRequest) { r.Stdin = "123456" }, contracts.CodeInvalidRequest, "stdin"},
		{"too many args", func(r *contracts.ExecutionRequest) { r.Args = make([]string, 129) }, contracts.CodeInvalidRequest, "args"},
		{"arg with nul", func(r *contracts.ExecutionRequest) { r.Args = []string{"a\x00b"} }, contracts.CodeInvalidRequest, "args[0]"},
		{"arg too long", func(r *contracts.ExecutionRequest) { r.Args = []string{strings.Repeat("a", 4097)} }, contracts.CodeInvalidRequest, "args[0]"},
		{"negative limit", func(r *contracts.ExecutionRequest) { r.Limits.MemoryMB = -1 }, contracts.CodeInvalidRequest, "limits.memory_mb"},
		{"points", func(r *contracts.ExecutionRequest) {
			r.Tests = []contracts.TestCase{{Points: ptr(2.5)}, {Points: ptr(0.0)}}
		}, "", ""},
		{"negative points", func(r *contracts.ExecutionRequest) { r.Tests = []contracts.TestCase{{Points: ptr(-1.0)}} }, contracts.CodeInvalidRequest, "tests[0].points"},
		{"too many points", func(r *contracts.ExecutionRequest) { r.Tests = []contracts.TestCase{{Points: ptr(2e9)}} }, contracts.CodeInvalidRequest, "tests[0].points"},
		{"checker", func(r *contracts.ExecutionRequest) {
			r.Tests = []contracts.TestCase{{}}
			r.Checker = &contracts.JudgeProgram{Language: " Python ", Files: []contracts.File{file("check.py", "")}}
		}, "", ""},
		{"checker without tests", func(r *contracts.ExecutionRequest) {
			r.Checker = &contracts.JudgeProgram{Language: "python", Files: []contracts.File{file("check.py", "")}}
		}, contracts.CodeInvalidRequest, "checker"},
		{"checker without files", func(r *contracts.ExecutionRequest) {
			r.Tests = []contracts.TestCase{{}}
			r.Checker = &contracts.JudgeProgram{Language: "python"}
		}, contracts.CodeInvalidRequest, "checker.files"},
		{"checker file named as a test file", func(r *contracts.ExecutionRequest) {
			r.Tests = []contracts.TestCase{{}}
			r.Checker = &contracts.JudgeProgram{Language: "python", Files: []contracts.File{file("check.py", ""), file("answer.txt", "")}}
		}, contracts.CodeInvalidRequest, "checker.files[1].name"},
		{"checker file traversal", func(r *contracts.ExecutionRequest) {
			r.Tests = []contracts.TestCase{{}}
			r.Checker = &contracts.JudgeProgram{Language: "python", Files: []contracts.File{file("../x", "")}}
		}, contracts.CodeInvalidRequest, "checker.files[0].name"},
		{"checker files too big", func(r *contracts.ExecutionRequest) {
			r.Tests = []contracts.TestCase{{}}
			r.Checker = &contracts.JudgeProgram{Language: "python", Files: []contracts.File{file("a", strings.Repeat("x", 8)), file("b", strings.Repeat("x", 8))}}
		}, contracts.CodeInvalidRequest, "checker.files"},
		{"interactor", func(r *contracts.ExecutionRequest) {
			r.Tests = []contracts.TestCase{{}}
			r.Interactor = &contracts.JudgeProgram{Language: "Python", Files: []contracts.File{file("i.py", "")}}
		}, "", ""},
		{"interactor without tests", func(r *contracts.ExecutionRequest) {
			r.Interactor = &contracts.JudgeProgram{Language: "python", Files: []contracts.File{file("i.py", "")}}
		}, contracts.CodeInvalidRequest, "interactor"},
		{"interactor file named as a test file", func(r *contracts.ExecutionRequest) {
			r.Tests = []contracts.TestCase{{}}
			r.Interactor = &contracts.JudgeProgram{Language: "python", Files: []contracts.File{file("input.txt", "")}}
		}, contracts.CodeInvalidRequest, "interactor.files[0].name"},
		{"interactor without a language", func(r *contracts.ExecutionRequest) {
			r.Tests = []contracts.TestCase{{}}
			r.Interactor = &contracts.JudgeProgram{Files: []contracts.File{file("i.py", "")}}
		}, contracts.CodeInvalidRequest, "interactor.language"},
		{"output files", func(r *contracts.ExecutionRequest) { r.OutputFiles = []string{"out.txt", "dir/b.bin"} }, "", ""},
		{"output file traversal", func(r *contracts.ExecutionRequest) { r.OutputFiles = []string{"../../etc/passwd"} }, contracts.CodeInvalidRequest, "output_files[0]"},
		{"output file twice", func(r *contracts.ExecutionRequest) { r.OutputFiles = []string{"a", "a"} }, contracts.CodeInvalidRequest, "output_files[1]"},
		{"too many output files", func(r *contracts.ExecutionRequest) { r.OutputFiles = make([]string, 17) }, contracts.CodeInvalidRequest, "output_files"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := ok()
			tc.mutate(&req)
			err := v.Request(&req)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want %s on %s", tc.code, tc.field)
			}
			if err.Code != tc.code || err.Field != tc.field || err.Message == "" {
				t.Errorf("got %s on %q (%s), want %s on %q", err.Code, err.Field, err.Message, tc.code, tc.field)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestTestsBound(t *testing.T) {
	v := contracts.NewValidator(contracts.DefaultPolicy())
	req := contracts.ExecutionRequest{Language: "python", Files: []contracts.File{{Name: "main.py"}}, Tests: make([]contracts.TestCase, 1000)}
	if err := v.Request(&req); err != nil {
		t.Fatalf("1,000 tests refused: %v", err)
	}
	req.Tests = append(req.Tests, contracts.TestCase{})
	if err := v.Request(&req); err == nil || err.Field != "tests" {
		t.Fatalf("1,001 tests: %v, want a refusal on tests", err)
	}
}

// TestResolveChecker: a checker's language must be served, and its limits
// default to the judge's (bounded by the runtime's maximums).
func TestResolveChecker(t *testing.T) {
	v := contracts.NewValidator(contracts.DefaultPolicy())
	rts := []contracts.Runtime{runtimeFixture()}
	req := func(c contracts.JudgeProgram) *contracts.ExecutionRequest {
		return &contracts.ExecutionRequest{Language: "py", Files: []contracts.File{{Name: "main.py"}}, Tests: []contracts.TestCase{{}}, Checker: &c}
	}
	r := req(contracts.JudgeProgram{Language: "PY", Files: []contracts.File{{Name: "check.py"}}})
	if _, err := v.Resolve(r, rts); err != nil || r.Checker.Language != "python" || r.Checker.Version != "3.11.2" {
		t.Fatalf("resolve: %v, checker %s %s", err, r.Checker.Language, r.Checker.Version)
	}
	ir := &contracts.ExecutionRequest{Language: "py", Files: []contracts.File{{Name: "main.py"}}, Tests: []contracts.TestCase{{}},
		Interactor: &contracts.JudgeProgram{Language: "cobol", Files: []contracts.File{{Name: "i"}}}}
	if _, err := v.Resolve(ir, rts); err == nil || err.Field != "interactor.language" {
		t.Errorf("unserved interactor language: %v", err)
	}
	if _, err := v.Resolve(req(contracts.JudgeProgram{Language: "cobol", Files: []contracts.File{{Name: "c"}}}), rts); err == nil ||
		err.Code != contracts.CodeUnknownLanguage || err.Field != "checker.language" {
		t.Errorf("unserved checker language: %v", err)
	}
	if _, err := v.Resolve(req(contracts.JudgeProgram{Language: "python", Files: []contracts.File{{Name: "c"}}, Limits: contracts.Limits{CPUTimeMS: 16000}}), rts); err == nil ||
		err.Code != contracts.CodeLimitTooHigh || err.Field != "checker.limits.cpu_time_ms" {
		t.Errorf("checker limit above the maximum: %v", err)
	}
	jr := contracts.JudgeRuntime(runtimeFixture())
	want := contracts.LimitSet{CPUTimeMS: 10000, WallTimeMS: 20000, MemoryMB: 512, Processes: 64, OutputBytes: 1 << 20,
		CompileCPUTimeMS: 30000, CompileWallTimeMS: 60000, CompileMemoryMB: 512}
	if jr.Defaults != want {
		t.Errorf("judge defaults %+v, want %+v", jr.Defaults, want)
	}
	low := runtimeFixture()
	low.Maximums.CPUTimeMS, low.Maximums.CompileWallTimeMS = 5000, 40000
	if d := contracts.JudgeRuntime(low).Defaults; d.CPUTimeMS != 5000 || d.CompileWallTimeMS != 40000 {
		t.Errorf("judge defaults above a lower maximum: %+v", d)
	}
	if got := contracts.ClampLimits(contracts.Limits{CPUTimeMS: 99999, MemoryMB: 1}, jr); got.CPUTimeMS != 15000 || got.MemoryMB != contracts.MinMemoryMB || got.CompileCPUTimeMS != 30000 {
		t.Errorf("clamped %+v", got)
	}
}

func runtimeFixture() contracts.Runtime {
	return contracts.Runtime{
		Language: "python", Aliases: []string{"py"}, Version: "3.11.2",
		Defaults: contracts.LimitSet{CPUTimeMS: 2000, WallTimeMS: 5000, MemoryMB: 256, Processes: 64, OutputBytes: 1 << 20,
			CompileCPUTimeMS: 10000, CompileWallTimeMS: 20000, CompileMemoryMB: 512},
		Maximums: contracts.LimitSet{CPUTimeMS: 15000, WallTimeMS: 30000, MemoryMB: 2048, Processes: 256, OutputBytes: 8 << 20,
			CompileCPUTimeMS: 30000, CompileWallTimeMS: 60000, CompileMemoryMB: 2048},
	}
}

func TestResolveLimits(t *testing.T) {
	rt := runtimeFixture()
	got, err := contracts.ResolveLimits(contracts.Limits{}, rt)
	if err != nil || got != rt.Defaults {
		t.Fatalf("defaults: %+v %v", got, err)
	}
	got, err = contracts.ResolveLimits(contracts.Limits{CPUTimeMS: 500, MemoryMB: 64}, rt)
	if err != nil || got.CPUTimeMS != 500 || got.MemoryMB != 64 || got.WallTimeMS != 5000 {
		t.Fatalf("override: %+v %v", got, err)
	}
	// Raising the CPU limit above the default wall limit raises the wall limit with it.
	got, _ = contracts.ResolveLimits(contracts.Limits{CPUTimeMS: 10000}, rt)
	if got.WallTimeMS != 11000 {
		t.Errorf("wall follows cpu: %d, want 11000", got.WallTimeMS)
	}
	// ...but an explicit wall limit is kept.
	got, _ = contracts.ResolveLimits(contracts.Limits{CPUTimeMS: 10000, WallTimeMS: 3000}, rt)
	if got.WallTimeMS != 3000 {
		t.Errorf("explicit wall: %d", got.WallTimeMS)
	}
	for _, tc := range []struct {
		limits contracts.Limits
		field  string
	}{
		{contracts.Limits{CPUTimeMS: 15001}, "limits.cpu_time_ms"},
		{contracts.Limits{WallTimeMS: 30001}, "limits.wall_time_ms"},
		{contracts.Limits{MemoryMB: 2049}, "limits.memory_mb"},
		{contracts.Limits{Processes: 257}, "limits.processes"},
		{contracts.Limits{OutputBytes: 8<<20 + 1}, "limits.output_bytes"},
		{contracts.Limits{CompileCPUTimeMS: 30001}, "limits.compile_cpu_time_ms"},
		{contracts.Limits{CompileWallTimeMS: 60001}, "limits.compile_wall_time_ms"},
		{contracts.Limits{CompileMemoryMB: 2049}, "limits.compile_memory_mb"},
	} {
		_, err := contracts.ResolveLimits(tc.limits, rt)
		if err == nil || err.Code != contracts.CodeLimitTooHigh || err.Field != tc.field || !strings.Contains(err.Message, "maximum") {
			t.Errorf("%+v: got %v, want limit_too_high on %s", tc.limits, err, tc.field)
		}
	}
	if _, err := contracts.ResolveLimits(contracts.Limits{Processes: -1}, rt); err == nil || err.Code != contracts.CodeInvalidRequest {
		t.Errorf("negative: %v", err)
	}
}

func TestFindRuntime(t *testing.T) {
	a := runtimeFixture()
	b := runtimeFixture()
	b.Version = "3.12.1"
	rts := []contracts.Runtime{b, a}
	cases := []struct {
		lang, version, want, errCode string
	}{
		{"python", "", "3.12.1", ""},
		{"py", "*", "3.12.1", ""},
		{"PY", "3.11", "3.11.2", ""},
		{"python", "3.11.2", "3.11.2", ""},
		{"python", "3.1", "", contracts.CodeUnknownLanguage},
		{"python", "4", "", contracts.CodeUnknownLanguage},
		{"ruby", "", "", contracts.CodeUnknownLanguage},
	}
	for _, tc := range cases {
		rt, err := contracts.FindRuntime(rts, tc.lang, tc.version)
		switch {
		case tc.errCode != "" && (err == nil || err.Code != tc.errCode):
			t.Errorf("%s %s: err %v, want %s", tc.lang, tc.version, err, tc.errCode)
		case tc.errCode == "" && (err != nil || rt.Version != tc.want):
			t.Errorf("%s %s: got %v %v, want %s", tc.lang, tc.version, rt, err, tc.want)
		}
	}
}

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := contracts.NewID()
		if !contracts.ValidID(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
	a, b := contracts.IDFromKey("t", "k"), contracts.IDFromKey("t", "k")
	if a != b || !contracts.ValidID(a) {
		t.Errorf("key ids: %q %q", a, b)
	}
	if contracts.IDFromKey("t", "k") == contracts.IDFromKey("u", "k") || contracts.IDFromKey("t", "k") == contracts.IDFromKey("t", "l") {
		t.Error("different tenants or keys share an id")
	}
	for _, bad := range []string{"", "ABC", "../x", strings.Repeat("a", 27), "aaaaaaaaaaaaaaaaaaaaaaaaa1"} {
		if contracts.ValidID(bad) {
			t.Errorf("%q valid", bad)
		}
	}
}

// TestProblemRules: a request that names a problem sets nothing the
// package gives; a package is bounded like a request's tests, with its
// own total.
func TestProblemRules(t *testing.T) {
	p := contracts.DefaultPolicy()
	p.MaxProblemBytes = 100
	v := contracts.NewValidator(p)
	one := "1"
	base := func() contracts.ExecutionRequest {
		return contracts.ExecutionRequest{Language: "python", Files: []contracts.File{{Name: "main.py"}}, Problem: "sum.v2"}
	}
	for _, c := range []struct {
		field string
		set   func(*contracts.ExecutionRequest)
	}{
		{"", func(*contracts.ExecutionRequest) {}},
		{"tests", func(r *contracts.ExecutionRequest) { r.Tests = []contracts.TestCase{{}} }},
		{"checker", func(r *contracts.ExecutionRequest) {
			r.Checker = &contracts.JudgeProgram{Language: "python", Files: []contracts.File{{Name: "c.py"}}}
		}},
		{"compare", func(r *contracts.ExecutionRequest) { r.Compare = contracts.CompareExact }},
		{"abs_tolerance", func(r *contracts.ExecutionRequest) { r.AbsTolerance = 1 }},
		{"expected_output", func(r *contracts.ExecutionRequest) { r.ExpectedOutput = &one }},
		{"problem", func(r *contracts.ExecutionRequest) { r.Problem = "-x" }},
		{"problem_version", func(r *contracts.ExecutionRequest) { r.ProblemVersion = "abc" }},
		{"problem_version", func(r *contracts.ExecutionRequest) { r.Problem, r.ProblemVersion = "", strings.Repeat("a", 64) }},
	} {
		r := base()
		c.set(&r)
		verr := v.Request(&r)
		if (verr == nil) != (c.field == "") || verr != nil && verr.Field != c.field {
			t.Errorf("field %q: %v", c.field, verr)
		}
	}
	for _, c := range []struct {
		field string
		pkg   contracts.ProblemPackage
	}{
		{"", contracts.ProblemPackage{Tests: []contracts.TestCase{{Stdin: strings.Repeat("x", 100)}}}},
		{"tests", contracts.ProblemPackage{}},
		{"tests", contracts.ProblemPackage{Tests: []contracts.TestCase{{Stdin: strings.Repeat("x", 60)}, {Stdin: strings.Repeat("x", 41)}}}},
		{"tests", contracts.ProblemPackage{Tests: make([]contracts.TestCase, 1001)}},
		{"checker.files[0].name", contracts.ProblemPackage{Tests: []contracts.TestCase{{}},
			Checker: &contracts.JudgeProgram{Language: "python", Files: []contracts.File{{Name: "answer.txt"}}}}},
		{"compare", contracts.ProblemPackage{Tests: []contracts.TestCase{{}}, Compare: "fuzzy"}},
	} {
		verr := v.Problem(&c.pkg)
		if (verr == nil) != (c.field == "") || verr != nil && verr.Field != c.field {
			t.Errorf("package, field %q: %v", c.field, verr)
		}
	}
}
