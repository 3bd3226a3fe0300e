package gateway_test

// Tests of the Piston-compatible API (POST /api/v2/execute, GET
// /api/v2/runtimes). Request bodies are in Piston's documented format and
// live in testdata/compat/piston; responses are compared field by field with
// the recorded expectations next to them. There is no executor in this
// module: fakeExecutor takes the jobs off the JOBS stream and stores the
// Execution a test chose, as an executor and the results service would.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
	"github.com/airlockrun/airlock/services/gateway"
)

// compatRuntimes are the runtimes of the simulated executor.
func compatRuntimes() []contracts.Runtime {
	defaults := contracts.LimitSet{CPUTimeMS: 2000, WallTimeMS: 5000, MemoryMB: 256, Processes: 64, OutputBytes: 65536,
		CompileCPUTimeMS: 10000, CompileWallTimeMS: 20000, CompileMemoryMB: 512}
	maxs := contracts.LimitSet{CPUTimeMS: 10000, WallTimeMS: 20000, MemoryMB: 1024, Processes: 256, OutputBytes: 1 << 20,
		CompileCPUTimeMS: 30000, CompileWallTimeMS: 60000, CompileMemoryMB: 2048}
	rt := func(lang, version, entry string, compiled bool, aliases ...string) contracts.Runtime {
		if aliases == nil {
			aliases = []string{}
		}
		return contracts.Runtime{Language: lang, Aliases: aliases, Version: version, Compiled: compiled,
			EntryFile: entry, Defaults: defaults, Maximums: maxs}
	}
	return []contracts.Runtime{
		rt("python", "3.12.3", "main.py", false, "py", "python3"),
		rt("c", "13.2.0", "main.c", true, "gcc"),
		rt("c++", "13.2.0", "main.cpp", true, "cpp", "g++"),
		rt("javascript", "15.10.0", "main.js", false, "js", "node"),
		rt("java", "17.0.9", "Main.java", true),
		rt("go", "1.22.2", "main.go", true, "golang"),
		rt("bash", "5.2.15", "main.sh", false, "sh"),
		rt("ruby", "3.2.3", "main.rb", false, "rb"),
	}
}

// fakeExecutor consumes the JOBS stream and answers every job with the
// Execution result returns (its id, status, times and language are filled
// in when empty). It records the jobs it took.
type fakeExecutor struct {
	mu   sync.Mutex
	jobs map[string]contracts.Job
}

func (e *env) startFakeExecutor(result func(contracts.Job) contracts.Execution) *fakeExecutor {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	// The executors' shared consumer (the gateway created it).
	cons, err := contracts.EnsureConsumer(ctx, e.nats.JS, contracts.JobsStream, e.topo.ExecutorConsumerConfig(), contracts.As(contracts.RoleExecutor))
	if err != nil {
		e.t.Fatal(err)
	}
	f := &fakeExecutor{jobs: map[string]contracts.Job{}}
	done := make(chan struct{})
	e.t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			batch, err := cons.Fetch(1, jetstream.FetchMaxWait(200*time.Millisecond))
			if err != nil {
				continue
			}
			for msg := range batch.Messages() {
				var job contracts.Job
				if err := json.Unmarshal(msg.Data(), &job); err != nil {
					e.t.Errorf("undecodable job: %v", err)
					continue
				}
				f.mu.Lock()
				f.jobs[job.ID] = job
				f.mu.Unlock()
				exec := result(job)
				if exec.ID == "" {
					exec.ID = job.ID
				}
				if exec.Status == "" {
					exec.Status = contracts.StatusCompleted
				}
				if exec.Language == "" {
					exec.Language, exec.Version = job.Request.Language, job.Request.Version
				}
				if exec.CreatedAt.IsZero() {
					exec.CreatedAt = job.CreatedAt
				}
				data, _ := json.Marshal(exec)
				if _, err := e.executions.Put(context.Background(), exec.ID, data); err != nil {
					e.t.Errorf("store execution: %v", err)
				}
				_ = msg.Ack()
			}
		}
	}()
	return f
}

// job returns the job the executor took for id.
func (f *fakeExecutor) job(t *testing.T, id string) contracts.Job {
	t.Helper()
	deadline := time.Now().Add(testkit.Patience)
	for {
		f.mu.Lock()
		job, ok := f.jobs[id]
		f.mu.Unlock()
		if ok {
			return job
		}
		if time.Now().After(deadline) {
			t.Fatalf("no job %s was queued", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitQueued waits until the JOBS stream holds n jobs.
func (e *env) waitQueued(n uint64) {
	e.t.Helper()
	ctx := context.Background()
	st, err := e.nats.JS.Stream(ctx, contracts.JobsStream)
	if err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(testkit.Patience)
	for {
		info, err := st.Info(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if info.State.Msgs >= n {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("JOBS holds %d jobs, want %d", info.State.Msgs, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readTestdata reads testdata/compat/<name>.
func readTestdata(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "compat", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// jsonEqual compares two JSON documents field by field and reports every
// difference with its path.
func jsonEqual(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: response is not JSON: %v: %s", what, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: expectation is not JSON: %v", what, err)
	}
	var diffs []string
	diffJSON("$", g, w, &diffs)
	for _, d := range diffs {
		t.Errorf("%s: %s", what, d)
	}
	if len(diffs) > 0 {
		t.Logf("%s: whole response: %s", what, got)
	}
}

func diffJSON(path string, got, want any, diffs *[]string) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			*diffs = append(*diffs, fmt.Sprintf("%s is %v, want an object", path, got))
			return
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				*diffs = append(*diffs, fmt.Sprintf("%s.%s is missing", path, k))
				continue
			}
			diffJSON(path+"."+k, gv, wv, diffs)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				*diffs = append(*diffs, fmt.Sprintf("%s.%s is unexpected (%v)", path, k, g[k]))
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			*diffs = append(*diffs, fmt.Sprintf("%s is %v, want %v", path, got, want))
			return
		}
		for i := range w {
			diffJSON(fmt.Sprintf("%s[%d]", path, i), g[i], w[i], diffs)
		}
	default:
		if !reflect.DeepEqual(got, want) {
			*diffs = append(*diffs, fmt.Sprintf("%s is %#v, want %#v", path, got, want))
		}
	}
}

// stage is a shorthand for a measured stage.
func stage(verdict contracts.Verdict, stdout, stderr string, exit int, signal string, cpu, wall, memKB int64) *contracts.Stage {
	return &contracts.Stage{Stdout: stdout, Stderr: stderr, ExitCode: exit, Signal: signal, CPUTimeMS: cpu,
		WallTimeMS: wall, MemoryKB: memKB, Verdict: verdict}
}

func limitsOf(req contracts.ExecutionRequest, rt contracts.Runtime) *contracts.LimitSet {
	l, verr := contracts.ResolveLimits(req.Limits, rt)
	if verr != nil {
		return nil
	}
	return &l
}

func runtimeOf(lang string) contracts.Runtime {
	for _, rt := range compatRuntimes() {
		if rt.Language == lang {
			return rt
		}
	}
	panic(lang)
}

func TestPistonRuntimes(t *testing.T) {
	e := start(t, nil)
	r := e.do(call{path: "/api/v2/runtimes"})
	if r.status != 200 || strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("no executor: %d %s", r.status, r.body)
	}
	e.heartbeat("exec-1", "", compatRuntimes())
	r = e.do(call{path: "/api/v2/runtimes"})
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("runtimes: %d %s", r.status, r.body)
	}
	jsonEqual(t, "runtimes", r.body, `[
		{"language":"bash","version":"5.2.15","aliases":["sh"]},
		{"language":"c","version":"13.2.0","aliases":["gcc"]},
		{"language":"c++","version":"13.2.0","aliases":["cpp","g++"]},
		{"language":"go","version":"1.22.2","aliases":["golang"]},
		{"language":"java","version":"17.0.9","aliases":[]},
		{"language":"javascript","version":"15.10.0","aliases":["js","node"]},
		{"language":"python","version":"3.12.3","aliases":["py","python3"]},
		{"language":"ruby","version":"3.2.3","aliases":["rb"]}]`)
	if r := e.do(call{method: "POST", path: "/api/v2/runtimes", body: "{}"}); r.status != 405 || r.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST runtimes: %d %s", r.status, r.body)
	}
}

func TestPistonExecute(t *testing.T) {
	e := start(t, nil)
	e.heartbeat("exec-1", "", compatRuntimes())
	results := map[string]func(contracts.Job) contracts.Execution{}
	exec := e.startFakeExecutor(func(job contracts.Job) contracts.Execution {
		return results[job.ID](job)
	})

	completed := func(verdict contracts.Verdict, compile, run *contracts.Stage) func(contracts.Job) contracts.Execution {
		return func(job contracts.Job) contracts.Execution {
			now := time.Now().UTC()
			return contracts.Execution{Status: contracts.StatusCompleted, Verdict: verdict, Compile: compile, Run: run,
				Limits: limitsOf(job.Request, runtimeOf(job.Request.Language)), Executor: "exec-1",
				StartedAt: &now, FinishedAt: &now}
		}
	}
	tests := []struct {
		name        string
		contentType string // default application/json
		result      func(contracts.Job) contracts.Execution
		check       func(t *testing.T, req contracts.ExecutionRequest)
	}{
		{
			name: "readme_execute",
			result: completed(contracts.VerdictAccepted, nil, stage(contracts.VerdictAccepted,
				"[\n  '/usr/local/bin/node',\n  '/work/my_cool_code.js',\n  '1',\n  '2',\n  '3'\n]\n", "", 0, "", 8, 154, 1133)),
			check: func(t *testing.T, req contracts.ExecutionRequest) {
				want := contracts.ExecutionRequest{Language: "javascript", Version: "15.10.0",
					Files: []contracts.File{{Name: "my_cool_code.js", Content: "console.log(process.argv)"}},
					Stdin: "\n", Args: []string{"1", "2", "3"},
					Limits: contracts.Limits{CompileWallTimeMS: 10000, WallTimeMS: 3000, CompileCPUTimeMS: 10000, CPUTimeMS: 3000}}
				if !reflect.DeepEqual(req, want) {
					t.Errorf("job request\n got %+v\nwant %+v", req, want)
				}
			},
		},
		{
			// What the npm piston-client sends: no file name, no Content-Type
			// header (node-fetch then says text/plain).
			name: "client_cpp", contentType: "text/plain;charset=UTF-8",
			result: completed(contracts.VerdictAccepted, stage(contracts.VerdictAccepted, "", "", 0, "", 812, 905, 51200),
				stage(contracts.VerdictAccepted, "hello 3\n", "", 0, "", 3, 11, 3072)),
			check: func(t *testing.T, req contracts.ExecutionRequest) {
				if req.Language != "c++" || len(req.Files) != 1 || req.Files[0].Name != "main.cpp" || req.Stdin != "hello\n" ||
					!reflect.DeepEqual(req.Args, []string{"1", "2", "3"}) ||
					req.Limits != (contracts.Limits{CompileWallTimeMS: 10000, WallTimeMS: 3000}) {
					t.Errorf("job request %+v", req)
				}
			},
		},
		{
			name: "compile_error",
			result: completed(contracts.VerdictCompileError, stage(contracts.VerdictCompileError, "",
				"main.cpp:1:21: error: 'x' was not declared in this scope\n", 1, "", 350, 420, 40960), nil),
		},
		{
			name: "timeout",
			result: completed(contracts.VerdictTimeLimitExceeded, nil,
				stage(contracts.VerdictTimeLimitExceeded, "", "", 137, "SIGKILL", 20, 1000, 8192)),
			check: func(t *testing.T, req contracts.ExecutionRequest) {
				if req.Limits != (contracts.Limits{WallTimeMS: 1000}) || req.Version != "3.12.3" {
					t.Errorf("job request %+v", req)
				}
			},
		},
		{
			name: "segfault",
			result: completed(contracts.VerdictRuntimeError, stage(contracts.VerdictAccepted, "", "", 0, "", 300, 340, 30720),
				stage(contracts.VerdictRuntimeError, "", "", 139, "SIGSEGV", 1, 3, 1024)),
		},
		{
			name: "memory",
			result: completed(contracts.VerdictMemoryLimitExceeded, nil,
				stage(contracts.VerdictMemoryLimitExceeded, "", "", 137, "SIGKILL", 40, 60, 65536)),
			check: func(t *testing.T, req contracts.ExecutionRequest) {
				if req.Limits != (contracts.Limits{MemoryMB: 64}) || req.Files[0].Name != "main.py" {
					t.Errorf("job request %+v", req)
				}
			},
		},
		{
			name: "output_limit",
			result: completed(contracts.VerdictOutputLimitExceeded, nil,
				&contracts.Stage{Stdout: "y\ny\ny\ny\n", ExitCode: 137, Signal: "SIGKILL", CPUTimeMS: 30, WallTimeMS: 45,
					MemoryKB: 4096, Truncated: true, Verdict: contracts.VerdictOutputLimitExceeded}),
		},
		{
			name: "files",
			result: completed(contracts.VerdictAccepted, nil,
				stage(contracts.VerdictAccepted, "b'\\x00\\x01\\x02\\xff'\n", "", 0, "", 15, 20, 7168)),
			check: func(t *testing.T, req contracts.ExecutionRequest) {
				want := []contracts.File{
					{Name: "main.py", Content: "import helper\nhelper.main()\n"},
					{Name: "data.bin", Content: "AAEC/w==", Encoding: "base64"},
					{Name: "helper.py", Content: "def main():\n    print(open('data.bin','rb').read())\n"},
					{Name: "blob.hex", Content: "yv4=", Encoding: "base64"},
					{Name: "file4.code", Content: "notes"},
				}
				if !reflect.DeepEqual(req.Files, want) || req.Stdin != "line\n" || len(req.Args) != 0 {
					t.Errorf("job request %+v", req)
				}
			},
		},
		{
			name: "runtime_error",
			result: completed(contracts.VerdictRuntimeError, nil,
				stage(contracts.VerdictRuntimeError, "", "bye\n", 3, "", 12, 18, 6144)),
		},
		{
			name: "internal_error",
			result: func(job contracts.Job) contracts.Execution {
				return contracts.Execution{Verdict: contracts.VerdictInternalError, Message: "the sandbox could not start the program"}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "piston-" + tc.name
			id := contracts.IDFromKey(contracts.DefaultTenant, key)
			results[id] = tc.result
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			r := e.do(call{method: "POST", path: "/api/v2/execute", body: readTestdata(t, "piston/"+tc.name+".request.json"),
				contentType: ct, headers: map[string][]string{"Idempotency-Key": {key}}})
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			jsonEqual(t, tc.name, r.body, readTestdata(t, "piston/"+tc.name+".response.json"))
			if tc.check != nil {
				tc.check(t, exec.job(t, id).Request)
			}
		})
	}
}

func TestPistonErrors(t *testing.T) {
	e := start(t, func(c *gateway.Config) { c.Topology.QueueMax, c.MaxWaitTimeout = 1, 3*time.Second })
	py := `{"language":"python","version":"3.12.3","files":[{"content":"print(1)"}]}`

	// No executor at all.
	r := e.do(call{method: "POST", path: "/api/v2/execute", body: py})
	if r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Errorf("no executor: %d %s", r.status, r.body)
	}
	jsonEqual(t, "no executor", r.body, `{"message":"no executor is running"}`)
	e.heartbeat("exec-1", "", compatRuntimes())

	tests := []struct {
		name, body, contentType string
		status                  int
		message                 string
	}{
		{"no content type", "language=python", "-", 415, "requests must be of type application/json"},
		{"xml", `<execute language="python"/>`, "application/xml", 415, "requests must be of type application/json"},
		{"malformed", `{"language":`, "", 400, "the request body is not valid JSON (byte 12: unexpected end of JSON input)"},
		{"array body", `[1]`, "", 400, "language is required as a string"},
		{"no language", `{"version":"*","files":[]}`, "", 400, "language is required as a string"},
		{"language not a string", `{"language":5,"version":"*","files":[]}`, "", 400, "language is required as a string"},
		{"no version", `{"language":"python","files":[]}`, "", 400, "version is required as a string"},
		{"no files", `{"language":"python","version":"*"}`, "", 400, "files is required as an array"},
		{"files not an array", `{"language":"python","version":"*","files":{}}`, "", 400, "files is required as an array"},
		{"no content", `{"language":"python","version":"*","files":[{"name":"a.py"}]}`, "", 400, "files[0].content is required as a string"},
		{"content not a string", `{"language":"python","version":"*","files":[{"content":"x"},{"content":1}]}`, "", 400, "files[1].content is required as a string"},
		{"unknown language", `{"language":"cobol","version":"3.0.0","files":[{"content":"x"}]}`, "", 400, "cobol-3.0.0 runtime is unknown"},
		{"unknown version", `{"language":"python","version":"2.x","files":[{"content":"x"}]}`, "", 400, "python-2.x runtime is unknown"},
		{"bad range", `{"language":"python","version":"latest","files":[{"content":"x"}]}`, "", 400, "python-latest runtime is unknown"},
		{"no utf8 file", `{"language":"python","version":"*","files":[{"content":"eA==","encoding":"base64"}]}`, "", 400, "files must include at least one utf8 encoded file"},
		{"limit not a number", `{"language":"python","version":"*","files":[{"content":"x"}],"run_memory_limit":"64MB"}`, "", 400, "If specified, run_memory_limit must be a number"},
		{"limit too high", `{"language":"python","version":"*","files":[{"content":"x"}],"run_timeout":20001}`, "", 400, "run_timeout cannot exceed the configured limit of 20000"},
		{"memory under the floor", `{"language":"python","version":"*","files":[{"content":"x"}],"run_memory_limit":1000000}`, "", 400, "run_memory_limit must be at least 16777216"},
		{"memory too high", `{"language":"python","version":"*","files":[{"content":"x"}],"compile_memory_limit":2147483649}`, "", 400, "compile_memory_limit cannot exceed the configured limit of 2147483648"},
		{"negative limit", `{"language":"python","version":"*","files":[{"content":"x"}],"run_cpu_time":-5}`, "", 400, "run_cpu_time must be non-negative"},
		{"stdin not a string", `{"language":"python","version":"*","files":[{"content":"x"}],"stdin":5}`, "", 400, "stdin must be a string"},
		{"args not strings", `{"language":"python","version":"*","files":[{"content":"x"}],"args":[1]}`, "", 400, "args must be an array of strings"},
		{"bad hex", `{"language":"python","version":"*","files":[{"content":"x"},{"name":"b","content":"zz","encoding":"hex"}]}`, "", 400, "files[1].content is not valid hex"},
		{"bad file name", `{"language":"python","version":"*","files":[{"name":"x.bin","content":"AA==","encoding":"base64"},{"name":"../main.py","content":"x"}]}`, "", 400,
			"files[1].name: must be a plain relative path (letters, digits, . _ + @ -; no '..', no leading '/' or '-', at most 8 levels deep, 255 bytes)"},
		{"duplicate names", `{"language":"python","version":"*","files":[{"name":"a.py","content":"x"},{"name":"a.py","content":"y"}]}`, "", 400, `files[1].name: duplicate file name "a.py"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(call{method: "POST", path: "/api/v2/execute", body: tc.body, contentType: tc.contentType})
			if r.status != tc.status {
				t.Errorf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			jsonEqual(t, tc.name, r.body, fmt.Sprintf(`{"message":%q}`, tc.message))
		})
	}

	// The queue holds one job: the first execution waits (nobody runs it)
	// until the wait limit, the second is refused.
	first := make(chan response, 1)
	go func() {
		resp, err := http.Post(e.base+"/api/v2/execute", "application/json", strings.NewReader(py))
		if err != nil {
			first <- response{}
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		first <- response{status: resp.StatusCode, body: body}
	}()
	e.waitQueued(1)
	r = e.do(call{method: "POST", path: "/api/v2/execute", body: py})
	if r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Errorf("queue full: %d %s", r.status, r.body)
	}
	jsonEqual(t, "queue full", r.body, `{"message":"the job queue is full; retry later"}`)
	r = <-first
	if r.status != 504 || !strings.Contains(string(r.body), "did not finish within 3s; GET /v1/executions/") {
		t.Errorf("unfinished execution: %d %s", r.status, r.body)
	}

	if r := e.do(call{path: "/api/v2/execute"}); r.status != 405 || r.header.Get("Allow") != "POST" {
		t.Errorf("GET execute: %d %s", r.status, r.body)
	}
}
