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
