package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
	"github.com/airlockrun/airlock/services/executor"
	"github.com/airlockrun/airlock/services/executor/sandboxinit"
	"github.com/airlockrun/airlock/services/gateway"
	"github.com/airlockrun/airlock/services/results"
)

// The test binary is also the sandbox init that the executor mounts into
// containers, exactly like the airlock binary (build with CGO_ENABLED=0).
func TestMain(m *testing.M) {
	if code, ok := sandboxinit.Dispatch(os.Args[1:], os.Stdout); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// stack is a running Airlock for one test: its HTTP base URL, a NATS
// connection for inspecting streams, and the executor id that labels its
// containers.
type stack struct {
	URL        string
	NATSURL    string
	NATS       *nats.Conn
	JS         jetstream.JetStream
	ExecutorID string
}

func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("AIRLOCK_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("test", t.Name())
}

// startDev runs the real `airlock dev` stack (embedded NATS, gateway,
// executor, results) on random loopback ports.
func startDev(t *testing.T, mutate func(*config)) *stack {
	t.Helper()
	testkit.RequireDocker(t)
	cfg, err := parseConfig("dev", nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = t.TempDir()
	cfg.NATSListen = "127.0.0.1:0"
	cfg.Gateway.Listen = "127.0.0.1:0"
	cfg.Executor.ID = "e2e-" + strings.ToLower(contracts.NewID()[:10])
	cfg.Executor.Slots = 2
	if mutate != nil {
		mutate(cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gwAddr := make(chan string, 1)
	natsURL := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- dev(ctx, cfg, testLogger(t), &devHooks{
			onGateway: func(a string) { gwAddr <- a },
			onNATS:    func(u string) { natsURL <- u },
		})
	}()
	s := &stack{ExecutorID: cfg.Executor.ID}
	select {
	case u := <-natsURL:
		nc, err := nats.Connect(u)
		if err != nil {
			t.Fatal(err)
		}
		s.NATS, s.NATSURL = nc, u
		s.JS, _ = jetstream.New(nc)
	case err := <-done:
		cancel()
		t.Fatalf("stack did not start: %v", err)
	}
	select {
	case a := <-gwAddr:
		s.URL = "http://" + a
	case err := <-done:
		cancel()
		t.Fatalf("stack did not start: %v", err)
	}
	t.Cleanup(func() {
		s.NATS.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stack stopped with error: %v", err)
		}
		assertNoContainers(t, s.ExecutorID)
	})
	waitReady(t, s.URL)
	return s
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("stack not ready within 2 minutes")
}

// assertNoContainers fails if any container labelled with this executor id
// is left once the stack has stopped.
func assertNoContainers(t *testing.T, executorID string) {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=run.airlock.executor="+executorID).Output()
	if err != nil {
		t.Errorf("docker ps: %v", err)
		return
	}
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		t.Errorf("%d container(s) of executor %s remain: %v", len(ids), executorID, ids)
	}
}

func request(t *testing.T, method, url string, body any, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data
}

// execute runs req, with roomy time limits, through POST /v1/execute and
// returns the completed execution. A wait that ends before the result (202)
// goes on with GET ?wait=true, as docs/api.md tells a client to.
func execute(t *testing.T, s *stack, req contracts.ExecutionRequest) contracts.Execution {
	t.Helper()
	code, hdr, data := request(t, "POST", s.URL+"/v1/execute?timeout=120s", roomy(req), nil)
	if code == 202 {
		code, data = awaitExecution(t, s.URL+hdr.Get("Location"), nil)
	}
	if code != 200 {
		t.Fatalf("POST /v1/execute = %d: %s", code, data)
	}
	var e contracts.Execution
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("decode execution: %v: %s", err, data)
	}
	return e
}

// awaitExecution long-polls url (GET /v1/executions/{id}) with ?wait=true
// until the execution is completed, within testkit.Patience, and returns the
// last answer. get sends one poll (nil: a plain request). A 202 (the poll
// ended first) and a 404 are polled again: an id is known once its first
// status event is stored, which for a job published straight onto NATS, or
// whose queued event the gateway could not publish, is when an executor
// takes it.
func awaitExecution(t *testing.T, url string, get func(url string) (int, []byte)) (code int, body []byte) {
	t.Helper()
	if get == nil {
		get = func(url string) (int, []byte) {
			code, _, body := request(t, "GET", url, nil, nil)
			return code, body
		}
	}
	testkit.Eventually(testkit.Patience, func() bool {
		code, body = get(url + "?wait=true&timeout=120s")
		return code != 202 && code != 404
	})
	return code, body
}

// roomy gives req time limits far above what it needs on a slow, loaded
// machine (a stage's CPU time includes its container's set-up), so that only
// what a test is about decides the verdict. A limit req sets stays.
func roomy(req contracts.ExecutionRequest) contracts.ExecutionRequest {
	req.Limits = roomyLimits(req.Limits)
	return req
}

// roomyLimits is l with the time limits it leaves unset far above need.
func roomyLimits(l contracts.Limits) contracts.Limits {
	for _, f := range []struct {
		limit *int64
		value int64
	}{{&l.CPUTimeMS, 10000}, {&l.WallTimeMS, 30000}, {&l.CompileCPUTimeMS, 30000}, {&l.CompileWallTimeMS, 60000}} {
		if *f.limit == 0 {
			*f.limit = f.value
		}
	}
	return l
}

func src(lang, name, content string) contracts.ExecutionRequest {
	return contracts.ExecutionRequest{Language: lang, Files: []contracts.File{{Name: name, Content: content}}}
}

func dump(e contracts.Execution) string {
	b, _ := json.MarshalIndent(e, "", "  ")
	return string(b)
}

// The programs read a word from stdin and print it with their first argument.
var echoPrograms = []struct{ lang, file, code string }{
	{"python", "main.py", "import sys\nprint(input().strip(), sys.argv[1])\n"},
	{"c", "main.c", "#include <stdio.h>\nint main(int argc, char **argv) { char b[64]; if (scanf(\"%63s\", b) != 1) return 1; printf(\"%s %s\\n\", b, argv[1]); return 0; }\n"},
	{"c++", "main.cpp", "#include <iostream>\n#include <string>\nint main(int argc, char **argv) { std::string s; std::cin >> s; std::cout << s << ' ' << argv[1] << '\\n'; }\n"},
	{"java", "Main.java", "import java.util.Scanner;\npublic class Main { public static void main(String[] a) { Scanner s = new Scanner(System.in); System.out.println(s.next() + \" \" + a[0]); } }\n"},
	{"javascript", "main.js", "const w = require('fs').readFileSync(0, 'utf8').trim();\nconsole.log(w + ' ' + process.argv[2]);\n"},
	{"go", "main.go", "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() {\n\tvar s string\n\tfmt.Scan(&s)\n\tfmt.Println(s, os.Args[1])\n}\n"},
	{"bash", "main.sh", "read -r w\necho \"$w $1\"\n"},
}

func TestStack(t *testing.T) {
	s := startDev(t, nil)

	t.Run("runtimes", func(t *testing.T) {
		code, _, data := request(t, "GET", s.URL+"/v1/runtimes", nil, nil)
		if code != 200 {
			t.Fatalf("GET /v1/runtimes = %d: %s", code, data)
		}
		var body struct{ Runtimes []contracts.Runtime }
		if err := json.Unmarshal(data, &body); err != nil {
			t.Fatal(err)
		}
		got := map[string]contracts.Runtime{}
		for _, r := range body.Runtimes {
			got[r.Language] = r
		}
		for _, p := range echoPrograms {
			r, ok := got[p.lang]
			if !ok {
				t.Errorf("runtime %s missing from %s", p.lang, data)
				continue
			}
			if r.Version == "" || r.Defaults.CPUTimeMS == 0 || r.Maximums.MemoryMB == 0 {
				t.Errorf("runtime %s incomplete: %+v", p.lang, r)
			}
		}
		if got["c++"].Defaults.CPUTimeMS != 1000 || got["python"].Defaults.CPUTimeMS != 2000 || got["java"].Defaults.CPUTimeMS != 3000 {
			t.Errorf("reference CPU limits wrong: c++ %d python %d java %d", got["c++"].Defaults.CPUTimeMS, got["python"].Defaults.CPUTimeMS, got["java"].Defaults.CPUTimeMS)
		}
	})

	t.Run("languages echo stdin with args", func(t *testing.T) {
		for _, p := range echoPrograms {
			t.Run(p.lang, func(t *testing.T) {
				req := src(p.lang, p.file, p.code)
				req.Stdin, req.Args = "airlock\n", []string{"arg1"}
				e := execute(t, s, req)
				if e.Verdict != contracts.VerdictAccepted || e.Run == nil || e.Run.Stdout != "airlock arg1\n" {
					t.Fatalf("want accepted with %q, got %s", "airlock arg1\n", dump(e))
				}
				compiled := p.lang == "c" || p.lang == "c++" || p.lang == "java" || p.lang == "go"
				if compiled != (e.Compile != nil) {
					t.Errorf("compile stage present = %v, want %v", e.Compile != nil, compiled)
				}
				if e.Status != contracts.StatusCompleted || e.StartedAt == nil || e.FinishedAt == nil || e.Version == "" {
					t.Errorf("incomplete execution: %s", dump(e))
				}
			})
		}
	})

	t.Run("compile error", func(t *testing.T) {
		e := execute(t, s, src("c", "main.c", "int main() { return undefined_name; }\n"))
		if e.Verdict != contracts.VerdictCompileError || e.Run != nil || e.Compile == nil {
			t.Fatalf("want compile_error without a run stage, got %s", dump(e))
		}
		if !strings.Contains(e.Compile.Stderr, "undefined_name") || e.Compile.ExitCode == 0 {
			t.Errorf("compiler message or exit code missing: %s", dump(e))
		}
	})

	t.Run("runtime error exit code", func(t *testing.T) {
		e := execute(t, s, src("python", "main.py", "import sys\nprint('before')\nsys.exit(3)\n"))
		if e.Verdict != contracts.VerdictRuntimeError || e.Run.ExitCode != 3 || e.Run.Stdout != "before\n" {
			t.Fatalf("want runtime_error with exit 3, got %s", dump(e))
		}
	})

	t.Run("runtime error signal", func(t *testing.T) {
		e := execute(t, s, src("c", "main.c", "int main() { volatile int *p = 0; return *p; }\n"))
		if e.Verdict != contracts.VerdictRuntimeError || e.Run.Signal != "SIGSEGV" {
			t.Fatalf("want runtime_error with SIGSEGV, got %s", dump(e))
		}
	})

	t.Run("infinite loop is a time limit", func(t *testing.T) {
		req := src("python", "main.py", "while True:\n    pass\n")
		req.Limits = contracts.Limits{CPUTimeMS: 1000, WallTimeMS: 3000}
		e := execute(t, s, req)
		if e.Verdict != contracts.VerdictTimeLimitExceeded {
			t.Fatalf("want time_limit_exceeded, got %s", dump(e))
		}
		// On a busy machine the loop may get less than a core and reach the
		// wall limit first: either limit ends it, and the verdict is the same.
		if e.Run.CPUTimeMS < 1000 && e.Run.WallTimeMS < 3000 {
			t.Errorf("cpu_time_ms = %d and wall_time_ms = %d: neither limit was reached", e.Run.CPUTimeMS, e.Run.WallTimeMS)
		}
	})

	t.Run("sleeping past the wall limit", func(t *testing.T) {
		req := src("bash", "main.sh", "sleep 60\n")
		req.Limits = contracts.Limits{WallTimeMS: 1500}
		e := execute(t, s, req)
		if e.Verdict != contracts.VerdictTimeLimitExceeded || e.Run.Signal != "SIGKILL" || e.Run.WallTimeMS < 1500 {
			t.Fatalf("want time_limit_exceeded by the wall clock, got %s", dump(e))
		}
	})

	t.Run("memory bomb", func(t *testing.T) {
		req := src("python", "main.py", "a = []\nwhile True:\n    a.append(bytearray(1 << 20))\n")
		req.Limits = contracts.Limits{MemoryMB: 64}
		e := execute(t, s, req)
		if e.Verdict != contracts.VerdictMemoryLimitExceeded {
			t.Fatalf("want memory_limit_exceeded, got %s", dump(e))
		}
		// memory_kb is the program's own peak: the limit less what the
		// sandbox held when the program started (the init, the files), a
		// few MB; never more than the limit.
		if e.Run.MemoryKB < 40*1024 || e.Run.MemoryKB > 64*1024 {
			t.Errorf("memory_kb = %d, want most of the 64 MB limit and no more", e.Run.MemoryKB)
		}
	})

	t.Run("output flood", func(t *testing.T) {
		req := src("python", "main.py", "while True:\n    print('x' * 1000)\n")
		req.Limits = contracts.Limits{OutputBytes: 10000}
		e := execute(t, s, req)
		if e.Verdict != contracts.VerdictOutputLimitExceeded || !e.Run.Truncated || len(e.Run.Stdout) != 10000 {
			t.Fatalf("want output_limit_exceeded with 10000 bytes, got verdict %s truncated %v len %d", e.Verdict, e.Run.Truncated, len(e.Run.Stdout))
		}
	})

	t.Run("fork bomb is contained", func(t *testing.T) {
		bomb := src("bash", "main.sh", "f() { f | f & }; f; sleep 3\n")
		bomb.Limits = contracts.Limits{WallTimeMS: 4000}
		code, _, data := request(t, "POST", s.URL+"/v1/executions", bomb, nil)
		if code != 202 {
			t.Fatalf("submit bomb: %d %s", code, data)
		}
		var acc contracts.Accepted
		_ = json.Unmarshal(data, &acc)
		hello := execute(t, s, src("python", "main.py", "print('still here')\n"))
		if hello.Verdict != contracts.VerdictAccepted || hello.Run.Stdout != "still here\n" {
			t.Errorf("hello beside the bomb: %s", dump(hello))
		}
		code, data = awaitExecution(t, s.URL+"/v1/executions/"+acc.ID, nil)
		var e contracts.Execution
		_ = json.Unmarshal(data, &e)
		if code != 200 || e.Status != contracts.StatusCompleted || e.Verdict == contracts.VerdictInternalError {
			t.Fatalf("bomb result: %d %s", code, data)
		}
	})

	t.Run("async submit then wait", func(t *testing.T) {
		code, hdr, data := request(t, "POST", s.URL+"/v1/executions", src("python", "main.py", "print(6*7)\n"), nil)
		var acc contracts.Accepted
		_ = json.Unmarshal(data, &acc)
		if code != 202 || acc.Status != contracts.StatusQueued || !contracts.ValidID(acc.ID) || hdr.Get("Location") != "/v1/executions/"+acc.ID {
			t.Fatalf("submit: %d %v %s", code, hdr, data)
		}
		code, data = awaitExecution(t, s.URL+hdr.Get("Location"), nil)
		var e contracts.Execution
		_ = json.Unmarshal(data, &e)
		if code != 200 || e.Verdict != contracts.VerdictAccepted || e.Run.Stdout != "42\n" {
			t.Fatalf("wait: %d %s", code, data)
		}
		code, _, data = request(t, "GET", s.URL+"/v1/executions/"+acc.ID, nil, nil)
		if code != 200 || !bytes.Contains(data, []byte(`"completed"`)) {
			t.Fatalf("plain GET after completion: %d %s", code, data)
		}
	})

	t.Run("idempotency key runs once", func(t *testing.T) {
		jobs, err := s.JS.Stream(context.Background(), contracts.JobsStream)
		if err != nil {
			t.Fatal(err)
		}
		before, _ := jobs.Info(context.Background())
		key := map[string]string{"Idempotency-Key": "e2e-" + contracts.NewID()}
		req := src("python", "main.py", "print('once')\n")
		var ids []string
		for i := 0; i < 3; i++ {
			code, _, data := request(t, "POST", s.URL+"/v1/executions", req, key)
			var acc contracts.Accepted
			_ = json.Unmarshal(data, &acc)
			if code != 202 {
				t.Fatalf("submit %d: %d %s", i, code, data)
			}
			ids = append(ids, acc.ID)
		}
		if ids[0] != ids[1] || ids[1] != ids[2] {
			t.Fatalf("ids differ: %v", ids)
		}
		after, _ := jobs.Info(context.Background())
		if n := after.State.LastSeq - before.State.LastSeq; n != 1 {
			t.Errorf("%d jobs published for one key, want 1", n)
		}
		code, data := awaitExecution(t, s.URL+"/v1/executions/"+ids[0], nil)
		var e contracts.Execution
		_ = json.Unmarshal(data, &e)
		if code != 200 || e.Attempt != 1 || e.Run.Stdout != "once\n" {
			t.Fatalf("result: %d %s", code, data)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		cases := []struct {
			name   string
			body   string
			ctype  string
			status int
			code   string
		}{
			{"malformed json", `{"language":`, "application/json", 400, contracts.CodeInvalidJSON},
			{"wrong content type", `{}`, "text/plain", 415, contracts.CodeUnsupportedMediaType},
			{"unknown language", `{"language":"cobol-9000","files":[{"name":"a","content":""}]}`, "application/json", 422, contracts.CodeUnknownLanguage},
			{"path traversal", `{"language":"python","files":[{"name":"../etc/passwd","content":""}]}`, "application/json", 422, contracts.CodeInvalidRequest},
			{"limit over max", `{"language":"python","files":[{"name":"main.py","content":""}],"limits":{"memory_mb":999999}}`, "application/json", 422, contracts.CodeLimitTooHigh},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				resp, err := http.Post(s.URL+"/v1/executions", tc.ctype, strings.NewReader(tc.body))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var eb contracts.ErrorBody
				_ = json.NewDecoder(resp.Body).Decode(&eb)
				if resp.StatusCode != tc.status || eb.Error.Code != tc.code || eb.Error.Message == "" {
					t.Errorf("got %d %+v, want %d %s", resp.StatusCode, eb.Error, tc.status, tc.code)
				}
			})
		}
		code, _, _ := request(t, "GET", s.URL+"/v1/executions/"+contracts.NewID(), nil, nil)
		if code != 404 {
			t.Errorf("unknown id: %d, want 404", code)
		}
	})
}

// TestQueueFull fills a two-job queue behind a one-slot executor.
func TestQueueFull(t *testing.T) {
	s := startDev(t, func(c *config) {
		c.Topology.QueueMax = 2
		c.Gateway.Topology, c.Executor.Topology, c.Results.Topology = c.Topology, c.Topology, c.Topology
		c.Executor.Slots = 1
		c.Executor.Languages = []string{"bash"}
	})
	slow := src("bash", "main.sh", "sleep 3\n")
	var codes []int
	var retryAfter string
	for i := 0; i < 4; i++ {
		code, hdr, _ := request(t, "POST", s.URL+"/v1/executions", slow, nil)
		codes = append(codes, code)
		if code == 429 {
			retryAfter = hdr.Get("Retry-After")
		}
	}
	if codes[0] != 202 || codes[1] != 202 || codes[3] != 429 || retryAfter == "" {
		t.Fatalf("codes %v (Retry-After %q), want 202 202 ... 429 with Retry-After", codes, retryAfter)
	}
}

// TestResultsRestart stops the results service while a job finishes: the
// result waits in the RESULTS stream and reaches the bucket once the service
// is back.
func TestResultsRestart(t *testing.T) {
	testkit.RequireDocker(t)
	n := testkit.StartNATS(t, "")
	topo := contracts.DefaultTopology()
	log := testLogger(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var wg sync.WaitGroup
	// runSvc runs a service; the channel it returns closes when it has stopped.
	runSvc := func(ctx context.Context, run func(context.Context) error) <-chan struct{} {
		stopped := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(stopped)
			if err := run(ctx); err != nil {
				t.Errorf("service: %v", err)
			}
		}()
		return stopped
	}
	conn := func() *nats.Conn {
		nc, err := nats.Connect(n.Server.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gw := gateway.DefaultConfig()
	gw.Listener, gw.Topology = ln, topo
	ex := executor.DefaultConfig()
	ex.ID, ex.Topology, ex.Languages, ex.Slots = "e2e-"+strings.ToLower(contracts.NewID()[:10]), topo, []string{"python"}, 1
	rs := results.DefaultConfig()
	rs.Topology = topo
	defer func() {
		cancel()
		wg.Wait()
		assertNoContainers(t, ex.ID)
	}()
	runSvc(ctx, func(ctx context.Context) error { return gateway.Run(ctx, gw, conn(), log) })
	runSvc(ctx, func(ctx context.Context) error { return executor.Run(ctx, ex, conn(), log) })
	resCtx, stopResults := context.WithCancel(ctx)
	resultsStopped := runSvc(resCtx, func(ctx context.Context) error { return results.Run(ctx, rs, conn(), log) })
	url := "http://" + ln.Addr().String()
	waitReady(t, url)

	stopResults()
	<-resultsStopped
	code, _, data := request(t, "POST", url+"/v1/executions", src("python", "main.py", "print('kept')\n"), nil)
	if code != 202 {
		t.Fatalf("submit: %d %s", code, data)
	}
	var acc contracts.Accepted
	_ = json.Unmarshal(data, &acc)

	// Wait until the executor has stored the completed event in RESULTS.
	stream, err := n.JS.Stream(ctx, contracts.ResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	if !testkit.Eventually(testkit.Patience, func() bool {
		m, err := stream.GetLastMsgForSubject(ctx, topo.EventSubject(acc.ID))
		return err == nil && bytes.Contains(m.Data, []byte(`"completed"`))
	}) {
		t.Fatal("the executor never published the result")
	}
	kv, err := n.JS.KeyValue(ctx, contracts.ExecutionsBucket)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, acc.ID); err == nil {
		t.Fatalf("bucket written while the results service was down: %s", e.Value())
	}

	runSvc(ctx, func(ctx context.Context) error { return results.Run(ctx, rs, conn(), log) })
	var stored contracts.Execution
	if !testkit.Eventually(testkit.Patience, func() bool {
		e, err := kv.Get(ctx, acc.ID)
		stored = contracts.Execution{}
		return err == nil && json.Unmarshal(e.Value(), &stored) == nil && stored.Status == contracts.StatusCompleted
	}) {
		t.Fatal("the result never reached the bucket after the restart")
	}
	if stored.Run == nil || stored.Run.Stdout != "kept\n" {
		t.Fatalf("stored result: %s", dump(stored))
	}
	code, _, data = request(t, "GET", fmt.Sprintf("%s/v1/executions/%s", url, acc.ID), nil, nil)
	if code != 200 || !bytes.Contains(data, []byte("kept")) {
		t.Fatalf("GET after restart: %d %s", code, data)
	}
}
