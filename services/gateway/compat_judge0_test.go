package gateway_test

// Tests of the Judge0-compatible API. Request bodies are in Judge0's
// documented format (docs/api/submissions in judge0/judge0; the archived
// language id 4 of the docs is replaced by 50, C (GCC), where the docs
// expect success) and live in testdata/compat/judge0 with the responses
// they must get, compared field by field. $TOKEN in an expectation is the
// submission's token (the execution id, fixed by an Idempotency-Key).

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/gateway"
)

// judge0Result answers jobs by the first line their source prints, so that a
// test can choose the outcome per submission.
type judge0Result func(job contracts.Job) contracts.Execution

func fixedTime(s string) *time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return &t
}

// judge0Env starts a gateway with the compat runtimes and a fake executor
// whose answer for a job is looked up by execution id in results (default:
// accepted, printing the program's stdin).
func judge0Env(t *testing.T, mutate func(*gateway.Config)) (*env, map[string]judge0Result, *fakeExecutor) {
	e := start(t, mutate)
	e.heartbeat("exec-1", "", compatRuntimes())
	results := map[string]judge0Result{}
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	f := e.startFakeExecutor(func(job contracts.Job) contracts.Execution {
		<-mu
		res := results[job.ID]
		mu <- struct{}{}
		if res != nil {
			return res(job)
		}
		return acceptedWith("hello, " + job.Request.Stdin + "\n")(job)
	})
	return e, results, f
}

// acceptedWith is an accepted run printing stdout, measured as in Judge0's docs.
func acceptedWith(stdout string) judge0Result {
	return func(job contracts.Job) contracts.Execution {
		verdict := contracts.VerdictAccepted
		if job.Request.ExpectedOutput != nil && strings.TrimSpace(*job.Request.ExpectedOutput) != strings.TrimSpace(stdout) {
			verdict = contracts.VerdictWrongAnswer
		}
		rt := runtimeOf(job.Request.Language)
		var compile *contracts.Stage
		if rt.Compiled {
			compile = stage(contracts.VerdictAccepted, "", "", 0, "", 300, 350, 30000)
		}
		return contracts.Execution{Verdict: verdict, Compile: compile,
			Run:    stage(verdict, stdout, "", 0, "", 1, 3, 380),
			Limits: limitsOf(job.Request, rt), Executor: "exec-1"}
	}
}

func withToken(s string, tokens ...string) string {
	for i, tok := range tokens {
		s = strings.ReplaceAll(s, fmt.Sprintf("$TOKEN%d", i), tok)
	}
	if len(tokens) > 0 {
		s = strings.ReplaceAll(s, "$TOKEN", tokens[0])
	}
	return s
}

// waitCompleted polls the native API until the execution is completed.
func (e *env) waitCompleted(id string) {
	e.t.Helper()
	r := e.do(call{path: "/v1/executions/" + id + "?wait=true&timeout=2m"})
	if r.status != 200 {
		e.t.Fatalf("execution %s did not complete: %d %s", id, r.status, r.body)
	}
}

func keyHeader(key string) map[string][]string {
	return map[string][]string{"Idempotency-Key": {key}}
}

func TestJudge0Statuses(t *testing.T) {
	e := start(t, nil)
	r := e.do(call{path: "/statuses"})
	if r.status != 200 {
		t.Fatalf("statuses: %d %s", r.status, r.body)
	}
	jsonEqual(t, "statuses", r.body, `[
		{"id":1,"description":"In Queue"},{"id":2,"description":"Processing"},{"id":3,"description":"Accepted"},
		{"id":4,"description":"Wrong Answer"},{"id":5,"description":"Time Limit Exceeded"},
		{"id":6,"description":"Compilation Error"},{"id":7,"description":"Runtime Error (SIGSEGV)"},
		{"id":8,"description":"Runtime Error (SIGXFSZ)"},{"id":9,"description":"Runtime Error (SIGFPE)"},
		{"id":10,"description":"Runtime Error (SIGABRT)"},{"id":11,"description":"Runtime Error (NZEC)"},
		{"id":12,"description":"Runtime Error (Other)"},{"id":13,"description":"Internal Error"},
		{"id":14,"description":"Exec Format Error"}]`)
	if r := e.do(call{path: "/statuses/"}); r.status != 200 {
		t.Errorf("statuses/: %d", r.status)
	}
}

func TestJudge0Languages(t *testing.T) {
	e := start(t, nil)
	if r := e.do(call{path: "/languages"}); r.status != 200 || strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("no executor: %d %s", r.status, r.body)
	}
	e.heartbeat("exec-1", "", compatRuntimes())
	r := e.do(call{path: "/languages"})
	jsonEqual(t, "languages", r.body, `[
		{"id":46,"name":"Bash (5.2.15)"},
		{"id":50,"name":"C (GCC 13.2.0)"},
		{"id":54,"name":"C++ (GCC 13.2.0)"},
		{"id":60,"name":"Go (1.22.2)"},
		{"id":62,"name":"Java (OpenJDK 17.0.9)"},
		{"id":63,"name":"JavaScript (Node.js 15.10.0)"},
		{"id":71,"name":"Python (3.12.3)"},
		{"id":72,"name":"Ruby (3.2.3)"}]`)
	r = e.do(call{path: "/languages/all"})
	var all []map[string]any
	if err := json.Unmarshal(r.body, &all); err != nil || len(all) != 8 || all[0]["is_archived"] != false {
		t.Errorf("languages/all: %s", r.body)
	}
	for path, want := range map[string]string{
		"/languages/71": `{"id":71,"name":"Python (3.12.3)","is_archived":false,"source_file":"main.py","compile_cmd":null,"run_cmd":null}`,
		"/languages/48": `{"id":48,"name":"C (GCC 13.2.0)","is_archived":false,"source_file":"main.c","compile_cmd":null,"run_cmd":null}`,
		"/languages/76": `{"id":76,"name":"C++ (GCC 13.2.0)","is_archived":false,"source_file":"main.cpp","compile_cmd":null,"run_cmd":null}`,
	} {
		r := e.do(call{path: path})
		if r.status != 200 {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
		jsonEqual(t, path, r.body, want)
	}
	for _, path := range []string{"/languages/70", "/languages/4", "/languages/abc"} {
		if r := e.do(call{path: path}); r.status != 404 {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
	}
	if r := e.do(call{method: "POST", path: "/languages", body: "{}"}); r.status != 405 {
		t.Errorf("POST /languages: %d", r.status)
	}
}

func TestJudge0Submissions(t *testing.T) {
	e, results, f := judge0Env(t, nil)
	fixed := func(job contracts.Job) contracts.Execution {
		exec := acceptedWith("['a b', 'c'] Judge0\n")(job)
		exec.Run.CPUTimeMS, exec.Run.WallTimeMS, exec.Run.MemoryKB = 21, 34, 7168
		exec.CreatedAt = *fixedTime("2026-01-02T03:04:05.678Z")
		exec.StartedAt, exec.FinishedAt = fixedTime("2026-01-02T03:04:06.5Z"), fixedTime("2026-01-02T03:04:07.001Z")
		return exec
	}
	tests := []struct {
		name   string
		query  string // of the POST
		status int
		result judge0Result
		// get, when set, is the query of a GET /submissions/{token} whose
		// answer must be <name>.get.response.json.
		get   string
		check func(t *testing.T, req contracts.ExecutionRequest)
	}{
		{name: "create", status: 201, get: "?base64_encoded=false",
			check: func(t *testing.T, req contracts.ExecutionRequest) {
				want := contracts.ExecutionRequest{Language: "c", Version: "13.2.0", Compare: contracts.CompareTrim, Stdin: "world",
					Files: []contracts.File{{Name: "main.c", Content: "#include <stdio.h>\n\nint main(void) {\n  char name[10];\n  scanf(\"%s\", name);\n  printf(\"hello, %s\\n\", name);\n  return 0;\n}"}}}
				if !reflect.DeepEqual(req, want) {
					t.Errorf("job request\n got %+v\nwant %+v", req, want)
				}
			}},
		{name: "create_archived_language", status: 422},
		{name: "create_missing_language", status: 422},
		{name: "create_unknown_language", status: 422},
		{name: "create_limits", status: 422},
		{name: "create_base64", query: "?base64_encoded=true&wait=true", status: 201,
			check: func(t *testing.T, req contracts.ExecutionRequest) {
				if req.Stdin != "Judge0" || !strings.HasPrefix(req.Files[0].Content, "#include <stdio.h>\n") {
					t.Errorf("job request %+v", req)
				}
			}},
		{name: "create_wait", query: "?base64_encoded=false&wait=true", status: 201,
			check: func(t *testing.T, req contracts.ExecutionRequest) {
				if req.ExpectedOutput == nil || *req.ExpectedOutput != "hello, Judge0" || req.Compare != contracts.CompareTrim {
					t.Errorf("job request %+v", req)
				}
			}},
		{name: "all_fields", query: "?wait=true&fields=*", status: 201, result: fixed, get: "?fields=*",
			check: func(t *testing.T, req contracts.ExecutionRequest) {
				want := contracts.Limits{CPUTimeMS: 1500, WallTimeMS: 3000, MemoryMB: 125, Processes: 30}
				if req.Limits != want || !reflect.DeepEqual(req.Args, []string{"a b", "c"}) || req.Files[0].Name != "main.py" {
					t.Errorf("job request %+v", req)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "judge0-" + tc.name
			id := contracts.IDFromKey(contracts.DefaultTenant, key)
			if tc.result != nil {
				results[id] = tc.result
			}
			r := e.do(call{method: "POST", path: "/submissions" + tc.query,
				body: readTestdata(t, "judge0/"+tc.name+".request.json"), headers: keyHeader(key)})
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			want := withToken(readTestdata(t, "judge0/"+tc.name+".response.json"), id)
			jsonEqual(t, tc.name, r.body, want)
			if tc.status == 201 {
				if tc.name == "all_fields" {
					wantKeys := objectKeys(t, []byte(want))
					if got := objectKeys(t, r.body); !reflect.DeepEqual(got, wantKeys) {
						t.Errorf("field order\n got %v\nwant %v", got, wantKeys)
					}
				}
				if tc.check != nil {
					tc.check(t, f.job(t, id).Request)
				}
			}
			if tc.get != "" {
				e.waitCompleted(id)
				r := e.do(call{path: "/submissions/" + id + tc.get})
				if r.status != 200 {
					t.Fatalf("GET: %d %s", r.status, r.body)
				}
				file := "judge0/" + tc.name + ".get.response.json"
				if tc.name == "all_fields" {
					file = "judge0/all_fields.response.json"
				}
				jsonEqual(t, tc.name+" GET", r.body, withToken(readTestdata(t, file), id))
			}
		})
	}
}

// objectKeys lists the keys of a JSON object in order.
func objectKeys(t *testing.T, data []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", data)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestJudge0Outcomes(t *testing.T) {
	e, results, _ := judge0Env(t, nil)
	limits := &contracts.LimitSet{CPUTimeMS: 1000, WallTimeMS: 3000, MemoryMB: 64, Processes: 64, OutputBytes: 1024,
		CompileCPUTimeMS: 10000, CompileWallTimeMS: 20000, CompileMemoryMB: 512}
	done := func(verdict contracts.Verdict, compile, run *contracts.Stage, msg string) judge0Result {
		return func(contracts.Job) contracts.Execution {
			return contracts.Execution{Verdict: verdict, Compile: compile, Run: run, Message: msg, Limits: limits}
		}
	}
	ok := stage(contracts.VerdictAccepted, "", "", 0, "", 200, 250, 20000)
	fields := "status,message,exit_code,exit_signal,stdout,stderr,compile_output,time,wall_time,memory"
	tests := []struct {
		name   string
		result judge0Result
		want   string
	}{
		{"wrong answer", done(contracts.VerdictWrongAnswer, nil, stage(contracts.VerdictWrongAnswer, "2\n", "", 0, "", 10, 12, 900), ""),
			`{"status":{"id":4,"description":"Wrong Answer"},"message":null,"exit_code":0,"exit_signal":null,"stdout":"2\n","stderr":null,"compile_output":null,"time":"0.01","wall_time":"0.012","memory":900}`},
		{"cpu time limit", done(contracts.VerdictTimeLimitExceeded, nil, stage(contracts.VerdictTimeLimitExceeded, "", "", 152, "SIGXCPU", 2024, 2100, 900), ""),
			`{"status":{"id":5,"description":"Time Limit Exceeded"},"message":"Time limit exceeded","exit_code":0,"exit_signal":24,"stdout":null,"stderr":null,"compile_output":null,"time":"2.024","wall_time":"2.1","memory":900}`},
		{"wall time limit", done(contracts.VerdictTimeLimitExceeded, nil, stage(contracts.VerdictTimeLimitExceeded, "", "", 137, "SIGKILL", 5, 3000, 900), ""),
			`{"status":{"id":5,"description":"Time Limit Exceeded"},"message":"Time limit exceeded (wall clock)","exit_code":0,"exit_signal":9,"stdout":null,"stderr":null,"compile_output":null,"time":"0.005","wall_time":"3.0","memory":900}`},
		{"compile error", done(contracts.VerdictCompileError, stage(contracts.VerdictCompileError, "", "main.c:1: error\n", 1, "", 100, 120, 9000), nil, ""),
			`{"status":{"id":6,"description":"Compilation Error"},"message":null,"exit_code":null,"exit_signal":null,"stdout":null,"stderr":null,"compile_output":"main.c:1: error\n","time":null,"wall_time":null,"memory":null}`},
		{"compile time limit", done(contracts.VerdictCompileError, stage(contracts.VerdictTimeLimitExceeded, "", "", 137, "SIGKILL", 100, 20000, 9000), nil, ""),
			`{"status":{"id":6,"description":"Compilation Error"},"message":null,"exit_code":null,"exit_signal":null,"stdout":null,"stderr":null,"compile_output":"Compilation time limit exceeded.","time":null,"wall_time":null,"memory":null}`},
		{"compiler warnings", done(contracts.VerdictAccepted, stage(contracts.VerdictAccepted, "", "warning: unused\n", 0, "", 100, 120, 9000), stage(contracts.VerdictAccepted, "1\n", "", 0, "", 1, 2, 3), ""),
			`{"status":{"id":3,"description":"Accepted"},"message":null,"exit_code":0,"exit_signal":null,"stdout":"1\n","stderr":null,"compile_output":"warning: unused\n","time":"0.001","wall_time":"0.002","memory":3}`},
		{"sigsegv", done(contracts.VerdictRuntimeError, ok, stage(contracts.VerdictRuntimeError, "", "", 139, "SIGSEGV", 1, 2, 3), ""),
			`{"status":{"id":7,"description":"Runtime Error (SIGSEGV)"},"message":"Caught fatal signal 11","exit_code":0,"exit_signal":11,"stdout":null,"stderr":null,"compile_output":null,"time":"0.001","wall_time":"0.002","memory":3}`},
		{"sigfpe", done(contracts.VerdictRuntimeError, nil, stage(contracts.VerdictRuntimeError, "", "", 136, "SIGFPE", 1, 2, 3), ""),
			`{"status":{"id":9,"description":"Runtime Error (SIGFPE)"},"message":"Caught fatal signal 8","exit_code":0,"exit_signal":8,"stdout":null,"stderr":null,"compile_output":null,"time":"0.001","wall_time":"0.002","memory":3}`},
		{"sigabrt", done(contracts.VerdictRuntimeError, nil, stage(contracts.VerdictRuntimeError, "", "abort\n", 134, "SIGABRT", 1, 2, 3), ""),
			`{"status":{"id":10,"description":"Runtime Error (SIGABRT)"},"message":"Caught fatal signal 6","exit_code":0,"exit_signal":6,"stdout":null,"stderr":"abort\n","compile_output":null,"time":"0.001","wall_time":"0.002","memory":3}`},
		{"other signal", done(contracts.VerdictRuntimeError, nil, stage(contracts.VerdictRuntimeError, "", "", 143, "SIGTERM", 1, 2, 3), ""),
			`{"status":{"id":12,"description":"Runtime Error (Other)"},"message":"Caught fatal signal 15","exit_code":0,"exit_signal":15,"stdout":null,"stderr":null,"compile_output":null,"time":"0.001","wall_time":"0.002","memory":3}`},
		{"nzec", done(contracts.VerdictRuntimeError, nil, stage(contracts.VerdictRuntimeError, "", "Traceback\n", 1, "", 20, 25, 7000), ""),
			`{"status":{"id":11,"description":"Runtime Error (NZEC)"},"message":"Exited with error status 1","exit_code":1,"exit_signal":null,"stdout":null,"stderr":"Traceback\n","compile_output":null,"time":"0.02","wall_time":"0.025","memory":7000}`},
		{"memory limit", done(contracts.VerdictMemoryLimitExceeded, nil, stage(contracts.VerdictMemoryLimitExceeded, "", "", 137, "SIGKILL", 40, 60, 65536), ""),
			`{"status":{"id":12,"description":"Runtime Error (Other)"},"message":"Memory limit exceeded","exit_code":0,"exit_signal":9,"stdout":null,"stderr":null,"compile_output":null,"time":"0.04","wall_time":"0.06","memory":65536}`},
		{"output limit", done(contracts.VerdictOutputLimitExceeded, nil, stage(contracts.VerdictOutputLimitExceeded, "yyyy", "", 137, "SIGKILL", 40, 60, 2000), ""),
			`{"status":{"id":8,"description":"Runtime Error (SIGXFSZ)"},"message":"Output limit exceeded","exit_code":0,"exit_signal":25,"stdout":"yyyy","stderr":null,"compile_output":null,"time":"0.04","wall_time":"0.06","memory":2000}`},
		{"internal error", done(contracts.VerdictInternalError, nil, nil, "no executor serves the language"),
			`{"status":{"id":13,"description":"Internal Error"},"message":"no executor serves the language","exit_code":null,"exit_signal":null,"stdout":null,"stderr":null,"compile_output":null,"time":null,"wall_time":null,"memory":null}`},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("outcome-%d", i)
			id := contracts.IDFromKey(contracts.DefaultTenant, key)
			results[id] = tc.result
			body := `{"source_code":"x","language_id":50}`
			r := e.do(call{method: "POST", path: "/submissions?wait=true&fields=" + fields, body: body, headers: keyHeader(key)})
			if r.status != 201 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			jsonEqual(t, "wait", r.body, tc.want)
			r = e.do(call{path: "/submissions/" + id + "?fields=" + fields})
			jsonEqual(t, "get", r.body, tc.want)
		})
	}

	// base64_encoded=true encodes stdout, stderr, compile_output and message
	// as Ruby's Base64.encode64 does.
	key := "outcome-base64"
	id := contracts.IDFromKey(contracts.DefaultTenant, key)
	results[id] = done(contracts.VerdictRuntimeError, stage(contracts.VerdictAccepted, "", "warn\n", 0, "", 1, 1, 1),
		stage(contracts.VerdictRuntimeError, strings.Repeat("x", 50), "err\n", 2, "", 1, 1, 1), "")
	r := e.do(call{method: "POST", path: "/submissions?wait=true&base64_encoded=true&fields=stdout,stderr,compile_output,message",
		body: `{"source_code":"eA==","language_id":50}`, headers: keyHeader(key)})
	jsonEqual(t, "base64", r.body, `{"stdout":"eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4\neHh4eHg=\n",
		"stderr":"ZXJyCg==\n","compile_output":"d2Fybgo=\n","message":"RXhpdGVkIHdpdGggZXJyb3Igc3RhdHVzIDI=\n"}`)
}

func TestJudge0States(t *testing.T) {
	e := start(t, nil)
	e.heartbeat("exec-1", "", compatRuntimes())
	// No executor takes the job: the submission stays In Queue.
	r := e.do(call{method: "POST", path: "/submissions", body: `{"source_code":"print(1)","language_id":71}`})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var created map[string]string
	if err := json.Unmarshal(r.body, &created); err != nil || len(created) != 1 || !contracts.ValidID(created["token"]) {
		t.Fatalf("create answer %s", r.body)
	}
	id := created["token"]
	r = e.do(call{path: "/submissions/" + id})
	jsonEqual(t, "queued", r.body, withToken(`{"token":"$TOKEN","time":null,"memory":null,"stdout":null,"stderr":null,
		"compile_output":null,"message":null,"status":{"id":1,"description":"In Queue"}}`, id))
	now := time.Now().UTC()
	e.putExecution(contracts.Execution{ID: id, Status: contracts.StatusRunning, Language: "python", Version: "3.12.3",
		Executor: "exec-1", CreatedAt: now, StartedAt: &now})
	r = e.do(call{path: "/submissions/" + id + "?fields=status_id,language_id,finished_at,execution_host"})
	jsonEqual(t, "running", r.body, `{"status_id":2,"language_id":71,"finished_at":null,"execution_host":"airlock"}`)

	for path, status := range map[string]int{
		"/submissions/aaaaaaaaaaaaaaaaaaaaaaaaaa":           404,
		"/submissions/d85cd024-1548-4165-96c7-7bc88673f194": 404,
		"/submissions/" + id + "?fields=stdout,bogus,x":     400,
	} {
		r := e.do(call{path: path})
		if r.status != status {
			t.Errorf("%s: %d, want %d: %s", path, r.status, status, r.body)
		}
		if status == 404 {
			jsonEqual(t, path, r.body, `{"error":"Not Found"}`)
		} else {
			jsonEqual(t, path, r.body, `{"error":"invalid fields: [bogus, x]"}`)
		}
	}
	if r := e.do(call{method: "POST", path: "/submissions?fields=nope", body: `{"source_code":"x","language_id":71}`}); r.status != 400 {
		t.Errorf("POST with bad fields: %d %s", r.status, r.body)
	}
	for _, c := range []call{{path: "/submissions"}, {method: "DELETE", path: "/submissions/" + id}} {
		if r := e.do(c); r.status != 403 {
			t.Errorf("%s %s: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	if r := e.do(call{method: "PUT", path: "/submissions/" + id, body: "{}"}); r.status != 405 || r.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("PUT: %d %v", r.status, r.header)
	}
	// A trailing slash works as in Rails.
	if r := e.do(call{method: "POST", path: "/submissions/?base64_encoded=false&wait=false",
		body: `{"source_code":"print(1)","language_id":71}`}); r.status != 201 {
		t.Errorf("POST /submissions/: %d %s", r.status, r.body)
	}
}

func TestJudge0Validation(t *testing.T) {
	e := start(t, nil)
	e.heartbeat("exec-1", "", compatRuntimes())
	tests := []struct{ name, body, want string }{
		{"blank source", `{"source_code":"  \n","language_id":71}`, `{"source_code":["can't be blank"]}`},
		{"nothing", `{}`, `{"source_code":["can't be blank"],"language_id":["can't be blank"]}`},
		{"not numbers", `{"source_code":"x","language_id":71,"cpu_time_limit":"fast","memory_limit":true}`,
			`{"cpu_time_limit":["is not a number"],"memory_limit":["is not a number"]}`},
		{"ranges", `{"source_code":"x","language_id":71,"number_of_runs":0,"cpu_time_limit":-1,"cpu_extra_time":6,"wall_time_limit":0.5,
			"memory_limit":1024,"stack_limit":128001,"max_processes_and_or_threads":0,"max_file_size":4097}`,
			`{"number_of_runs":["must be greater than 0"],"cpu_time_limit":["must be greater than or equal to 0"],
			"cpu_extra_time":["must be less than or equal to 5.0"],"wall_time_limit":["must be greater than or equal to 1"],
			"memory_limit":["must be greater than or equal to 16384"],"stack_limit":["must be less than or equal to 128000"],
			"max_processes_and_or_threads":["must be greater than 0"],"max_file_size":["must be less than or equal to 4096"]}`},
		{"Judge0's own minimum is under Airlock's floor", `{"source_code":"x","language_id":71,"memory_limit":2048}`,
			`{"memory_limit":["must be greater than or equal to 16384"]}`},
		{"maxima of the runtime", `{"source_code":"x","language_id":71,"cpu_time_limit":10.5,"memory_limit":1048577,"max_processes_and_or_threads":257,"number_of_runs":21}`,
			`{"number_of_runs":["must be less than or equal to 20"],"cpu_time_limit":["must be less than or equal to 10.0"],
			"memory_limit":["must be less than or equal to 1048576"],"max_processes_and_or_threads":["must be less than or equal to 256"]}`},
		{"unsupported options", `{"source_code":"x","language_id":71,"compiler_options":"-O2","callback_url":"http://example.com/cb",
			"enable_network":true,"redirect_stderr_to_stdout":"true","enable_per_process_and_thread_time_limit":true}`,
			`{"enable_per_process_and_thread_time_limit":["this option cannot be enabled"],"compiler_options":["setting compiler options is not allowed"],
			"callback_url":["setting callback is not allowed"],"enable_network":["enabling network is not allowed"],
			"redirect_stderr_to_stdout":["redirecting stderr to stdout is not supported"]}`},
		{"long arguments", `{"source_code":"x","language_id":71,"command_line_arguments":"` + strings.Repeat("a", 513) + `"}`,
			`{"command_line_arguments":["is too long (maximum is 512 characters)"]}`},
		{"python 2 is not served", `{"source_code":"print 1","language_id":70}`, `{"language_id":["language with id 70 doesn't exist"]}`},
		{"multi-file programs", `{"additional_files":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==","language_id":89}`,
			`{"source_code":["can't be blank"],"language_id":["language with id 89 doesn't exist"]}`},
		{"bad zip", `{"source_code":"x","language_id":71,"additional_files":"bm90IGEgemlw"}`,
			`{"additional_files":["must be a base64 encoded zip archive: zip: not a valid zip file"]}`},
		{"valid", `{"source_code":"x","language_id":71,"stdin":"` + strings.Repeat("a", 64) + `"}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(call{method: "POST", path: "/submissions", body: tc.body})
			if tc.want == "" {
				if r.status != 201 {
					t.Errorf("status %d: %s", r.status, r.body)
				}
				return
			}
			if r.status != 422 {
				t.Errorf("status %d, want 422: %s", r.status, r.body)
			}
			jsonEqual(t, tc.name, r.body, tc.want)
			if got, want := objectKeys(t, r.body), objectKeys(t, []byte(tc.want)); !reflect.DeepEqual(got, want) {
				t.Errorf("error order %v, want %v", got, want)
			}
		})
	}
	// Errors found by Airlock's own rules are given the Judge0 field to blame.
	r := e.do(call{method: "POST", path: "/submissions", body: `{"source_code":"x","language_id":71,"command_line_arguments":"a\u0000b"}`})
	if r.status != 422 || !strings.Contains(string(r.body), `"command_line_arguments":["must not contain a NUL byte"]`) {
		t.Errorf("NUL argument: %d %s", r.status, r.body)
	}
	// Malformed JSON is a 400.
	if r := e.do(call{method: "POST", path: "/submissions", body: `{"source_code":`}); r.status != 400 || !strings.Contains(string(r.body), `"error":`) {
		t.Errorf("malformed: %d %s", r.status, r.body)
	}
}

func TestJudge0FormAndFiles(t *testing.T) {
	e, _, f := judge0Env(t, nil)
	// Rails also reads form fields.
	form := url.Values{"source_code": {"print(input())"}, "language_id": {"71"}, "stdin": {"hi"}, "cpu_time_limit": {"2.5"}}
	r := e.do(call{method: "POST", path: "/submissions", body: form.Encode(), contentType: "application/x-www-form-urlencoded",
		headers: keyHeader("form")})
	if r.status != 201 {
		t.Fatalf("form: %d %s", r.status, r.body)
	}
	req := f.job(t, contracts.IDFromKey(contracts.DefaultTenant, "form")).Request
	if req.Language != "python" || req.Stdin != "hi" || req.Limits.CPUTimeMS != 2500 || req.Files[0].Content != "print(input())" {
		t.Errorf("form job %+v", req)
	}

	// additional_files: a zip whose files join the source file (never
	// replacing it), in archive order.
	zipB64 := buildZip(t, "data.txt", "d", "main.py", "overwritten?", "lib/", "", "lib/util.py", "X = 1\n")
	body := fmt.Sprintf(`{"source_code":"import lib.util","language_id":71,"additional_files":%q}`, zipB64)
	r = e.do(call{method: "POST", path: "/submissions", body: body, headers: keyHeader("zip")})
	if r.status != 201 {
		t.Fatalf("zip: %d %s", r.status, r.body)
	}
	req = f.job(t, contracts.IDFromKey(contracts.DefaultTenant, "zip")).Request
	names := []string{}
	for _, file := range req.Files {
		names = append(names, file.Name)
	}
	if !reflect.DeepEqual(names, []string{"main.py", "data.txt", "lib/util.py"}) || req.Files[0].Content != "import lib.util" ||
		req.Files[2].Encoding != "base64" || req.Files[2].Content != "WCA9IDEK" {
		t.Errorf("zip job files %+v", req.Files)
	}
}

func TestJudge0Batch(t *testing.T) {
	e, results, _ := judge0Env(t, func(c *gateway.Config) { c.MaxBatch = 4 })
	key := "batch"
	tokens := make([]string, 3)
	for i := range tokens {
		tokens[i] = contracts.IDFromKey(contracts.DefaultTenant, fmt.Sprintf("%s#%d", key, i))
	}
	results[tokens[0]] = acceptedWith("hello from Bash\n")
	results[tokens[1]] = acceptedWith("hello from Python\n")
	results[tokens[2]] = acceptedWith("hello from Ruby\n")
	r := e.do(call{method: "POST", path: "/submissions/batch?base64_encoded=false", body: readTestdata(t, "judge0/batch.request.json"),
		headers: keyHeader(key)})
	if r.status != 201 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	jsonEqual(t, "batch", r.body, withToken(readTestdata(t, "judge0/batch.response.json"), tokens...))
	for _, tok := range tokens {
		e.waitCompleted(tok)
	}
	r = e.do(call{path: "/submissions/batch?tokens=" + strings.Join(tokens, ",") + ",aaaaaaaaaaaaaaaaaaaaaaaaaa&base64_encoded=false&fields=token,stdout,stderr,status_id,language_id"})
	if r.status != 200 {
		t.Fatalf("batch get: %d %s", r.status, r.body)
	}
	jsonEqual(t, "batch get", r.body, withToken(readTestdata(t, "judge0/batch.get.response.json"), tokens...))

	// One valid entry is enough for 201; the others get their errors.
	r = e.do(call{method: "POST", path: "/submissions/batch", body: readTestdata(t, "judge0/batch_errors.request.json"),
		headers: keyHeader("batch-errors")})
	if r.status != 201 {
		t.Fatalf("batch with errors: %d %s", r.status, r.body)
	}
	jsonEqual(t, "batch with errors", r.body, withToken(readTestdata(t, "judge0/batch_errors.response.json"),
		contracts.IDFromKey(contracts.DefaultTenant, "batch-errors#0")))

	for _, tc := range []struct {
		call   call
		status int
		want   string
	}{
		{call{method: "POST", path: "/submissions/batch", body: `{"submissions":[{"language_id":46}]}`}, 422, `[{"source_code":["can't be blank"]}]`},
		{call{method: "POST", path: "/submissions/batch", body: `{"submissions":[]}`}, 400, `{"error":"there should be at least one submission in a batch"}`},
		{call{method: "POST", path: "/submissions/batch", body: `{}`}, 400, `{"error":"there should be at least one submission in a batch"}`},
		{call{method: "POST", path: "/submissions/batch", body: `{"submissions":[{},{},{},{},{}]}`}, 400, `{"error":"number of submissions in a batch should be less than or equal to 4"}`},
		{call{path: "/submissions/batch?tokens="}, 400, `{"error":"there should be at least one submission in a batch"}`},
		{call{path: "/submissions/batch?tokens=a,b,c,d,e"}, 400, `{"error":"number of submissions in a batch should be less than or equal to 4"}`},
		{call{path: "/submissions/batch", headers: map[string][]string{"tokens": {tokens[0]}}}, 200, ""},
		{call{path: "/submissions/batch?tokens=x&fields=nope"}, 400, `{"error":"invalid fields: [nope]"}`},
	} {
		r := e.do(tc.call)
		if r.status != tc.status {
			t.Errorf("%s %s: %d, want %d: %s", tc.call.method, tc.call.path, r.status, tc.status, r.body)
		}
		if tc.want != "" {
			jsonEqual(t, tc.call.path, r.body, tc.want)
		}
	}
}

func TestJudge0QueueFullAndNoExecutor(t *testing.T) {
	e := start(t, func(c *gateway.Config) { c.Topology.QueueMax = 1 })
	body := `{"source_code":"print(1)","language_id":71}`
	r := e.do(call{method: "POST", path: "/submissions", body: body})
	if r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Errorf("no executor: %d %s", r.status, r.body)
	}
	jsonEqual(t, "no executor", r.body, `{"error":"no executor is running"}`)
	e.heartbeat("exec-1", "", compatRuntimes())
	if r := e.do(call{method: "POST", path: "/submissions", body: body}); r.status != 201 {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	r = e.do(call{method: "POST", path: "/submissions", body: body})
	if r.status != 503 {
		t.Errorf("queue full: %d %s", r.status, r.body)
	}
	jsonEqual(t, "queue full", r.body, `{"error":"queue is full"}`)
	r = e.do(call{method: "POST", path: "/submissions/batch", body: `{"submissions":[` + body + `]}`})
	if r.status != 422 {
		t.Errorf("batch into a full queue: %d %s", r.status, r.body)
	}
	jsonEqual(t, "batch queue full", r.body, `[{"error":"queue is full"}]`)
}

// buildZip makes a base64 zip archive of name, content pairs (a name ending
// in / is a directory).
func buildZip(t *testing.T, pairs ...string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < len(pairs); i += 2 {
		w, err := zw.Create(pairs[i])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(pairs[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}
