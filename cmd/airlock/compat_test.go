package main

// End-to-end tests of the Piston- and Judge0-compatible APIs on a real dev
// stack (real containers): python and c++, a compile error, a time limit and
// a memory limit through each API, a Judge0 batch, and the npm piston-client
// run unchanged (when node and deploy/compat/node_modules are present).
// Build with CGO_ENABLED=0: go test -run Compat -count=1 .

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockrun/airlock/internal/testkit"
)

// compatCall posts (or gets, with body nil) and decodes a JSON answer.
func compatCall(t *testing.T, method, url string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d, undecodable answer %q: %v", method, url, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

type pistonStageE2E struct {
	Stdout   string   `json:"stdout"`
	Stderr   string   `json:"stderr"`
	Output   string   `json:"output"`
	Code     *int     `json:"code"`
	Signal   *string  `json:"signal"`
	Message  *string  `json:"message"`
	Status   *string  `json:"status"`
	Memory   *int64   `json:"memory"`
	CPUTime  *float64 `json:"cpu_time"`
	WallTime *float64 `json:"wall_time"`
}

type pistonResultE2E struct {
	Language string          `json:"language"`
	Version  string          `json:"version"`
	Run      *pistonStageE2E `json:"run"`
	Compile  *pistonStageE2E `json:"compile"`
	Message  string          `json:"message"`
}

func compatStr(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func (s *pistonStageE2E) String() string {
	if s == nil {
		return "<nil>"
	}
	code := "<nil>"
	if s.Code != nil {
		code = fmt.Sprint(*s.Code)
	}
	return fmt.Sprintf("{status %s signal %s code %s message %s stdout %q stderr %q}", compatStr(s.Status), compatStr(s.Signal), code, compatStr(s.Message), s.Stdout, s.Stderr)
}

const helloCpp = "#include <iostream>\n#include <string>\nint main(int argc, char **argv) { std::string s; std::cin >> s; std::cout << \"hello, \" << s << \" \" << argc - 1 << std::endl; }\n"

// compatRoomy adds to body the limits in fields (each a name and its value in
// the API's unit) that body does not set, like roomy for the native API.
func compatRoomy(body map[string]any, fields map[string]any) map[string]any {
	for k, v := range fields {
		if _, ok := body[k]; !ok {
			body[k] = v
		}
	}
	return body
}

func TestCompat(t *testing.T) {
	s := startDev(t, nil)

	t.Run("piston", func(t *testing.T) {
		var runtimes []map[string]any
		if code := compatCall(t, "GET", s.URL+"/api/v2/runtimes", nil, &runtimes); code != 200 {
			t.Fatalf("runtimes: %d", code)
		}
		langs := map[string]bool{}
		for _, rt := range runtimes {
			langs[fmt.Sprint(rt["language"])] = true
		}
		if !langs["python"] || !langs["c++"] {
			t.Fatalf("runtimes %v lack python or c++", runtimes)
		}

		// Every run gets time limits far above its need (ms), unless it sets its own.
		execute := func(t *testing.T, body map[string]any) pistonResultE2E {
			t.Helper()
			compatRoomy(body, map[string]any{"run_cpu_time": 10000, "run_timeout": 30000, "compile_cpu_time": 30000, "compile_timeout": 60000})
			var res pistonResultE2E
			if code := compatCall(t, "POST", s.URL+"/api/v2/execute", body, &res); code != 200 {
				t.Fatalf("execute: %d %+v", code, res)
			}
			return res
		}
		t.Run("python", func(t *testing.T) {
			res := execute(t, map[string]any{"language": "py", "version": "3.x",
				"files": []map[string]any{{"content": "import sys\nprint(input(), sys.argv[1:])\n"}}, "stdin": "world", "args": []string{"a b"}})
			if res.Language != "python" || res.Compile != nil || res.Run == nil || res.Run.Stdout != "world ['a b']\n" ||
				res.Run.Output != res.Run.Stdout || res.Run.Code == nil || *res.Run.Code != 0 || res.Run.Status != nil ||
				res.Run.Signal != nil || res.Run.Memory == nil || *res.Run.Memory <= 0 {
				t.Errorf("python: %+v run %s", res, res.Run)
			}
		})
		t.Run("c++", func(t *testing.T) {
			res := execute(t, map[string]any{"language": "c++", "version": "*",
				"files": []map[string]any{{"name": "main.cpp", "content": helloCpp}}, "stdin": "piston", "args": []string{"1", "2"},
				"compile_timeout": 60000, "run_timeout": 30000, "compile_memory_limit": -1, "run_memory_limit": -1})
			if res.Compile == nil || res.Compile.Code == nil || *res.Compile.Code != 0 || res.Run == nil || res.Run.Stdout != "hello, piston 2\n" {
				t.Errorf("c++: compile %s run %s", res.Compile, res.Run)
			}
		})
		t.Run("compile error", func(t *testing.T) {
			res := execute(t, map[string]any{"language": "cpp", "version": "*",
				"files": []map[string]any{{"content": "int main() { return x; }\n"}}})
			if res.Compile == nil || compatStr(res.Compile.Status) != "RE" || res.Compile.Code == nil || *res.Compile.Code == 0 ||
				!strings.Contains(res.Compile.Stderr, "error") || compatJSON(res.Run) != compatJSON(res.Compile) {
				t.Errorf("compile error: compile %s run %s", res.Compile, res.Run)
			}
		})
		t.Run("time limit", func(t *testing.T) {
			res := execute(t, map[string]any{"language": "python", "version": "*",
				"files": []map[string]any{{"content": "while True:\n    pass\n"}}, "run_cpu_time": 1000, "run_timeout": 10000})
			if res.Run == nil || compatStr(res.Run.Status) != "TO" || compatStr(res.Run.Signal) != "SIGKILL" || res.Run.Code != nil {
				t.Errorf("time limit: %s", res.Run)
			}
		})
		t.Run("memory limit", func(t *testing.T) {
			res := execute(t, map[string]any{"language": "python", "version": "*",
				"files": []map[string]any{{"content": "x = bytearray(512 << 20)\nprint(len(x))\n"}}, "run_memory_limit": 64 << 20})
			if res.Run == nil || compatStr(res.Run.Status) != "SG" || compatStr(res.Run.Signal) != "SIGKILL" || compatStr(res.Run.Message) != "Memory limit exceeded" {
				t.Errorf("memory limit: %s", res.Run)
			}
		})
		t.Run("errors", func(t *testing.T) {
			var res pistonResultE2E
			if code := compatCall(t, "POST", s.URL+"/api/v2/execute", map[string]any{"language": "python", "version": "2.7.0",
				"files": []map[string]any{{"content": "print 1"}}}, &res); code != 400 || res.Message != "python-2.7.0 runtime is unknown" {
				t.Errorf("unknown version: %d %+v", code, res)
			}
			if code := compatCall(t, "POST", s.URL+"/api/v2/execute", map[string]any{"language": "python", "version": "*",
				"files": []map[string]any{{"content": "print(1)"}}, "run_timeout": 10_000_000}, &res); code != 400 ||
				!strings.HasPrefix(res.Message, "run_timeout cannot exceed the configured limit of ") {
				t.Errorf("limit: %d %+v", code, res)
			}
		})
	})

	t.Run("judge0", func(t *testing.T) {
		type status struct {
			ID          int    `json:"id"`
			Description string `json:"description"`
		}
		type submission struct {
			Token         string  `json:"token"`
			Stdout        *string `json:"stdout"`
			Stderr        *string `json:"stderr"`
			CompileOutput *string `json:"compile_output"`
			Message       *string `json:"message"`
			Time          *string `json:"time"`
			Memory        *int64  `json:"memory"`
			ExitCode      *int    `json:"exit_code"`
			ExitSignal    *int    `json:"exit_signal"`
			LanguageID    int     `json:"language_id"`
			Status        status  `json:"status"`
			Error         string  `json:"error"`
		}
		const fields = "token,stdout,stderr,compile_output,message,time,memory,exit_code,exit_signal,language_id,status"
		// Every submission gets time limits far above its need (s), unless it sets its own.
		roomy := func(body map[string]any) map[string]any {
			return compatRoomy(body, map[string]any{"cpu_time_limit": 10, "wall_time_limit": 30})
		}
		wait := func(t *testing.T, body map[string]any) submission {
			t.Helper()
			roomy(body)
			var sub submission
			if code := compatCall(t, "POST", s.URL+"/submissions?wait=true&fields="+fields, body, &sub); code != 201 {
				t.Fatalf("create: %d %+v", code, sub)
			}
			return sub
		}
		// poll reads a submission until it is finished. A token is known once
		// its first status event is stored: a 404 is read again too.
		poll := func(t *testing.T, token string) submission {
			t.Helper()
			var sub submission
			var code int
			if !testkit.Eventually(testkit.Patience, func() bool {
				sub = submission{}
				code = compatCall(t, "GET", s.URL+"/submissions/"+token+"?fields="+fields, nil, &sub)
				if code != 200 && code != 404 {
					t.Fatalf("get: %d %+v", code, sub)
				}
				return code == 200 && sub.Status.ID > 2
			}) {
				t.Fatalf("submission %s still %d %+v", token, code, sub.Status)
			}
			return sub
		}

		var languages []map[string]any
		compatCall(t, "GET", s.URL+"/languages", nil, &languages)
		ids := map[float64]string{}
		for _, l := range languages {
			ids[l["id"].(float64)] = fmt.Sprint(l["name"])
		}
		if !strings.HasPrefix(ids[71], "Python (") || !strings.HasPrefix(ids[54], "C++ (GCC ") {
			t.Fatalf("languages %v lack 71 Python or 54 C++", languages)
		}

		t.Run("python accepted", func(t *testing.T) {
			sub := wait(t, map[string]any{"language_id": 71, "source_code": "print('hello, ' + input())", "stdin": "Judge0",
				"expected_output": "hello, Judge0"})
			if sub.Status != (status{3, "Accepted"}) || compatStr(sub.Stdout) != "hello, Judge0\n" || sub.Time == nil ||
				sub.Memory == nil || sub.ExitCode == nil || *sub.ExitCode != 0 || sub.LanguageID != 71 {
				t.Errorf("python: %+v", sub)
			}
		})
		t.Run("python wrong answer", func(t *testing.T) {
			sub := wait(t, map[string]any{"language_id": 71, "source_code": "print(41)", "expected_output": "42"})
			if sub.Status != (status{4, "Wrong Answer"}) || compatStr(sub.Stdout) != "41\n" {
				t.Errorf("wrong answer: %+v", sub)
			}
		})
		t.Run("c++ polled", func(t *testing.T) {
			var created map[string]string
			if code := compatCall(t, "POST", s.URL+"/submissions", roomy(map[string]any{"language_id": 54, "source_code": helloCpp,
				"stdin": "judge", "command_line_arguments": "x 'y z'"}), &created); code != 201 || created["token"] == "" {
				t.Fatalf("create: %d %v", code, created)
			}
			sub := poll(t, created["token"])
			if sub.Status != (status{3, "Accepted"}) || compatStr(sub.Stdout) != "hello, judge 2\n" || sub.LanguageID != 54 {
				t.Errorf("c++: %+v stdout %q compile %q", sub, compatStr(sub.Stdout), compatStr(sub.CompileOutput))
			}
		})
		t.Run("compile error", func(t *testing.T) {
			sub := wait(t, map[string]any{"language_id": 54, "source_code": "int main() { return x; }\n"})
			if sub.Status != (status{6, "Compilation Error"}) || !strings.Contains(compatStr(sub.CompileOutput), "error") ||
				sub.Stdout != nil || sub.Time != nil {
				t.Errorf("compile error: %+v compile_output %q", sub, compatStr(sub.CompileOutput))
			}
		})
		t.Run("time limit", func(t *testing.T) {
			sub := wait(t, map[string]any{"language_id": 71, "source_code": "while True:\n    pass\n", "cpu_time_limit": 1, "wall_time_limit": 10})
			if sub.Status != (status{5, "Time Limit Exceeded"}) || !strings.HasPrefix(compatStr(sub.Message), "Time limit exceeded") {
				t.Errorf("time limit: %+v message %q", sub, compatStr(sub.Message))
			}
		})
		t.Run("memory limit", func(t *testing.T) {
			sub := wait(t, map[string]any{"language_id": 71, "source_code": "x = bytearray(512 << 20)\n", "memory_limit": 65536})
			if sub.Status != (status{12, "Runtime Error (Other)"}) || compatStr(sub.Message) != "Memory limit exceeded" ||
				sub.ExitSignal == nil || *sub.ExitSignal != 9 {
				t.Errorf("memory limit: %+v message %q", sub, compatStr(sub.Message))
			}
		})
		t.Run("runtime error", func(t *testing.T) {
			sub := wait(t, map[string]any{"language_id": 71, "source_code": "import sys\nsys.exit(3)\n"})
			if sub.Status != (status{11, "Runtime Error (NZEC)"}) || sub.ExitCode == nil || *sub.ExitCode != 3 ||
				compatStr(sub.Message) != "Exited with error status 3" {
				t.Errorf("runtime error: %+v", sub)
			}
		})
		t.Run("base64 batch", func(t *testing.T) {
			var created []map[string]any
			code := compatCall(t, "POST", s.URL+"/submissions/batch?base64_encoded=true", map[string]any{"submissions": []map[string]any{
				roomy(map[string]any{"language_id": 71, "source_code": "cHJpbnQoaW5wdXQoKVs6Oi0xXSk=", "stdin": "YWJj"}), // print(input()[::-1]), "abc"
				roomy(map[string]any{"language_id": 46, "source_code": "ZWNobyBoaQ=="}),                                  // echo hi
				{"language_id": 999, "source_code": "eA=="},
			}}, &created)
			if code != 201 || len(created) != 3 || created[0]["token"] == nil || created[1]["token"] == nil || created[2]["language_id"] == nil {
				t.Fatalf("batch: %d %v", code, created)
			}
			tokens := []string{created[0]["token"].(string), created[1]["token"].(string)}
			poll(t, tokens[0])
			poll(t, tokens[1])
			var got struct {
				Submissions []*submission `json:"submissions"`
			}
			compatCall(t, "GET", s.URL+"/submissions/batch?base64_encoded=true&fields=token,stdout,status&tokens="+strings.Join(tokens, ","), nil, &got)
			if len(got.Submissions) != 2 || got.Submissions[0] == nil || got.Submissions[1] == nil ||
				compatStr(got.Submissions[0].Stdout) != "Y2JhCg==\n" || compatStr(got.Submissions[1].Stdout) != "aGkK\n" ||
				got.Submissions[0].Status.ID != 3 || got.Submissions[1].Status.ID != 3 {
				t.Errorf("batch results: %s", compatJSON(got))
			}
		})
	})

	t.Run("piston-client", func(t *testing.T) {
		dir, err := filepath.Abs(filepath.Join("..", "..", "deploy", "compat"))
		if err != nil {
			t.Fatal(err)
		}
		// Without node or the npm registry a laptop skips this check; in CI
		// (CI set) it must run, so a missing piece fails the test.
		skip := t.Skipf
		if os.Getenv("CI") != "" {
			skip = t.Fatalf
		}
		node, err := exec.LookPath("node")
		if err != nil {
			skip("node is not installed; the npm piston-client check needs it")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "piston-client")); err != nil {
			install := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
			install.Dir = dir
			if out, err := install.CombinedOutput(); err != nil {
				skip("piston-client could not be installed (npm ci in %s): %v\n%s", dir, err, out)
			}
		}
		cmd := exec.CommandContext(ctx, node, "piston-client-check.mjs", s.URL)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("piston-client-check.mjs: %v\n%s", err, stderr.String())
		}
		var got struct {
			Runtimes        []map[string]any `json:"runtimes"`
			Python          pistonResultE2E  `json:"python"`
			Cpp             pistonResultE2E  `json:"cpp"`
			CompileError    pistonResultE2E  `json:"compileError"`
			ExplicitVersion pistonResultE2E  `json:"explicitVersion"`
			Unknown         pistonResultE2E  `json:"unknown"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("undecodable output %q: %v", out, err)
		}
		if len(got.Runtimes) == 0 {
			t.Errorf("runtimes: %v", got.Runtimes)
		}
		if got.Python.Language != "python" || got.Python.Run == nil || got.Python.Run.Stdout != "world ['1', '2', '3']\n" {
			t.Errorf("python: %+v run %s", got.Python, got.Python.Run)
		}
		if got.Cpp.Compile == nil || got.Cpp.Run == nil || got.Cpp.Run.Stdout != "hi from c++\n" {
			t.Errorf("c++: compile %s run %s", got.Cpp.Compile, got.Cpp.Run)
		}
		if got.CompileError.Run == nil || compatStr(got.CompileError.Run.Status) != "RE" || !strings.Contains(got.CompileError.Run.Stderr, "error") {
			t.Errorf("compile error: run %s", got.CompileError.Run)
		}
		if got.ExplicitVersion.Run == nil || got.ExplicitVersion.Run.Stdout != "42\n" {
			t.Errorf("explicit version: %+v run %s", got.ExplicitVersion, got.ExplicitVersion.Run)
		}
		if got.Unknown.Message != "version is required as a string" {
			t.Errorf("unknown language: %+v", got.Unknown)
		}
	})
}

func compatJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
