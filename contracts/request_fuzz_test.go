package contracts_test

import (
	"bytes"
	"encoding/json"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/airlockrun/airlock/contracts"
)

// FuzzRequestJSON decodes arbitrary bytes as a request and validates it: the
// validator never panics, explains every rejection, and whatever it accepts
// keeps every rule and survives a JSON round trip unchanged (the executor
// validates the same request again after it crossed NATS).
func FuzzRequestJSON(f *testing.F) {
	f.Add([]byte(`{"language":"python","files":[{"name":"main.py","content":"print(1)"}]}`))
	f.Add([]byte(`{"language":" C++ ","version":"12","files":[{"name":"src/a.cpp","content":"aGk=","encoding":"base64"}],"args":["-x"],"limits":{"cpu_time_ms":1000}}`))
	f.Add([]byte(`{"language":"python","files":[{"name":"a","content":""},{"name":"a/b","content":""}]}`))
	f.Add([]byte(`{"language":"python","files":[{"name":"main.py","content":""}],"tests":[{"stdin":"1","expected_output":"1"}],"compare":"float","abs_tolerance":-0}`))
	v := contracts.NewValidator(contracts.DefaultPolicy())
	f.Fuzz(func(t *testing.T, data []byte) {
		var req contracts.ExecutionRequest
		if json.Unmarshal(data, &req) != nil {
			return
		}
		verr := v.Request(&req)
		if verr != nil {
			if verr.Code == "" || verr.Message == "" {
				t.Fatalf("rejection without code or message: %+v", verr)
			}
			return
		}
		checkValid(t, v.Policy(), &req)

		b, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("a valid request does not encode: %v", err)
		}
		var again contracts.ExecutionRequest
		if err := json.Unmarshal(b, &again); err != nil {
			t.Fatalf("a valid request does not decode after encoding: %v: %s", err, b)
		}
		if verr := v.Request(&again); verr != nil {
			t.Fatalf("valid request rejected after a round trip: %v: %s", verr, b)
		}
		b2, _ := json.Marshal(again)
		if !bytes.Equal(b, b2) {
			t.Fatalf("round trip changed the request:\n%s\n%s", b, b2)
		}
	})
}

// checkValid asserts the rules the validator promises for an accepted request.
func checkValid(t *testing.T, p contracts.Policy, req *contracts.ExecutionRequest) {
	t.Helper()
	if req.Language == "" || req.Language != strings.ToLower(strings.TrimSpace(req.Language)) {
		t.Fatalf("language %q not normalised", req.Language)
	}
	if len(req.Files) == 0 || len(req.Files) > p.MaxFiles {
		t.Fatalf("%d files accepted", len(req.Files))
	}
	if int64(len(req.Stdin)) > p.MaxStdinBytes {
		t.Fatalf("stdin of %d bytes accepted", len(req.Stdin))
	}
	seen := map[string]bool{}
	var total int64
	for _, fl := range req.Files {
		if !contracts.ValidFileName(fl.Name) || seen[fl.Name] {
			t.Fatalf("file name %q accepted", fl.Name)
		}
		seen[fl.Name] = true
		data, err := contracts.DecodeFile(fl)
		if err != nil {
			t.Fatalf("file %q accepted but does not decode: %v", fl.Name, err)
		}
		if int64(len(data)) > p.MaxFileBytes {
			t.Fatalf("file of %d bytes accepted", len(data))
		}
		total += int64(len(data))
	}
	if total > p.MaxSourceBytes {
		t.Fatalf("files of %d bytes accepted", total)
	}
	for name := range seen {
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			if seen[dir] {
				t.Fatalf("%q is both a file and a directory", dir)
			}
		}
	}
	for _, a := range req.Args {
		if strings.ContainsRune(a, 0) {
			t.Fatalf("argument with NUL accepted: %q", a)
		}
	}
	if len(req.Tests) > p.MaxTests {
		t.Fatalf("%d tests accepted", len(req.Tests))
	}
	if req.AbsTolerance < 0 || req.RelTolerance < 0 {
		t.Fatalf("negative tolerance accepted: %v %v", req.AbsTolerance, req.RelTolerance)
	}
}

// FuzzValidFileName checks that every accepted file name is a clean, local,
// printable ASCII path that no tool reads as an option.
func FuzzValidFileName(f *testing.F) {
	for _, s := range []string{"main.py", "src/util.c", ".env", "a/b/c", "../x", "/abs", "-o", "a//b", "a/./b", "a\x00b", "naïve.py", `a\b`, "a/", "C:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if !contracts.ValidFileName(name) {
			return
		}
		if len(name) > 255 || !utf8.ValidString(name) || !filepath.IsLocal(name) || path.Clean(name) != name {
			t.Fatalf("%q accepted but not a clean local path", name)
		}
		parts := strings.Split(name, "/")
		if len(parts) > contracts.MaxPathDepth {
			t.Fatalf("%q accepted with %d levels", name, len(parts))
		}
		for _, part := range parts {
			if part == "" || part == "." || part == ".." || strings.HasPrefix(part, "-") {
				t.Fatalf("%q accepted with component %q", name, part)
			}
		}
		for i := 0; i < len(name); i++ {
			if c := name[i]; c <= 0x20 || c >= 0x7f || c == '\\' || c == ':' || c == '*' || c == '$' {
				t.Fatalf("%q accepted with byte 0x%02x", name, c)
			}
		}
	})
}

// FuzzResolveLimits checks that resolved limits never pass the runtime's
// maximums, that nothing negative or zero comes out, and that a rejection
// names the limit.
func FuzzResolveLimits(f *testing.F) {
	f.Add(int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0))
	f.Add(int64(1000), int64(500), int64(64), int64(1), int64(1), int64(100), int64(0), int64(4096))
	f.Add(int64(-1), int64(1<<62), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0))
	rt := contracts.Runtime{
		Language: "c", Version: "12.2.0", Compiled: true,
		Defaults: contracts.LimitSet{CPUTimeMS: 1000, WallTimeMS: 3000, MemoryMB: 256, Processes: 64, OutputBytes: 65536,
			CompileCPUTimeMS: 10000, CompileWallTimeMS: 20000, CompileMemoryMB: 512},
		Maximums: contracts.LimitSet{CPUTimeMS: 10000, WallTimeMS: 30000, MemoryMB: 1024, Processes: 256, OutputBytes: 1 << 20,
			CompileCPUTimeMS: 30000, CompileWallTimeMS: 60000, CompileMemoryMB: 2048},
	}
	f.Fuzz(func(t *testing.T, cpu, wall, mem, procs, out, ccpu, cwall, cmem int64) {
		req := contracts.Limits{CPUTimeMS: cpu, WallTimeMS: wall, MemoryMB: mem, Processes: procs, OutputBytes: out,
			CompileCPUTimeMS: ccpu, CompileWallTimeMS: cwall, CompileMemoryMB: cmem}
		got, verr := contracts.ResolveLimits(req, rt)
		if verr != nil {
			if !strings.HasPrefix(verr.Field, "limits.") || verr.Message == "" {
				t.Fatalf("rejection without the limit's name: %+v", verr)
			}
			return
		}
		m := rt.Maximums
		pairs := [][3]int64{
			{cpu, got.CPUTimeMS, m.CPUTimeMS}, {wall, got.WallTimeMS, m.WallTimeMS}, {mem, got.MemoryMB, m.MemoryMB},
			{procs, got.Processes, m.Processes}, {out, got.OutputBytes, m.OutputBytes}, {ccpu, got.CompileCPUTimeMS, m.CompileCPUTimeMS},
			{cwall, got.CompileWallTimeMS, m.CompileWallTimeMS}, {cmem, got.CompileMemoryMB, m.CompileMemoryMB},
		}
		for i, p := range pairs {
			asked, res, mx := p[0], p[1], p[2]
			if res <= 0 || res > mx || (asked > 0 && res != asked) {
				t.Fatalf("limit %d: asked %d, resolved %d, maximum %d", i, asked, res, mx)
			}
		}
		if wall == 0 && got.WallTimeMS < min(got.CPUTimeMS, m.WallTimeMS) {
			t.Fatalf("default wall limit %d below the CPU limit %d", got.WallTimeMS, got.CPUTimeMS)
		}
	})
}
