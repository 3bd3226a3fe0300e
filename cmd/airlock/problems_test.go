package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/executor"
	"github.com/airlockrun/airlock/services/gateway"
)

// splitProblem is the package of "print two positive integers whose sum
// is n" (many valid answers): tests n = 2 .. tests+1, each answer one
// valid split, judged by the checker in testdata/problem. The last test's
// input carries padding larger than several object-store chunks.
func splitProblem(t *testing.T, tests int) contracts.ProblemPackage {
	t.Helper()
	var files []contracts.File
	for _, name := range []string{"check.cpp", "check.h"} {
		data, err := os.ReadFile(filepath.Join("testdata", "problem", name))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, contracts.File{Name: name, Content: string(data)})
	}
	pkg := contracts.ProblemPackage{
		Checker: &contracts.JudgeProgram{Language: "c++", Files: files},
		Limits:  roomyLimits(contracts.Limits{}),
	}
	for i := range tests {
		n := i + 2
		in := fmt.Sprintf("%d\n", n)
		if i == tests-1 {
			in += "# " + strings.Repeat("padding ", 200_000) + "\n" // 1.6 MB
		}
		pkg.Tests = append(pkg.Tests, contracts.TestCase{Name: fmt.Sprintf("n=%d", n), Stdin: in,
			ExpectedOutput: ptr(fmt.Sprintf("%d %d", n-n/2, n/2)), Points: ptrTo(float64(1 + i%3))})
	}
	return pkg
}

// metricValue is the sum of the samples of name with the label
// executor="id" in a Prometheus text exposition (-1 when there is none).
func metricValue(text, name, id string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\{[^}]*executor="` + regexp.QuoteMeta(id) + `"[^}]*\} (\S+)$`)
	ms := re.FindAllStringSubmatch(text, -1)
	if ms == nil {
		return -1
	}
	var sum float64
	for _, m := range ms {
		v, _ := strconv.ParseFloat(m[1], 64)
		sum += v
	}
	return sum
}

// gathered is the value of a counter of reg (-1 when there is none).
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return -1
}

// TestProblemPackages: a 200-test package with a C++ checker is uploaded
// once, then 20 submissions name it. Their bodies and their jobs carry no
// test data; each is judged right; each executor (two) compiles the
// checker at most once and reads the package at most once. Then the
// package's rules: idempotent upload, a new version, tenants, unknown
// problems, bounds and delete.
func TestProblemPackages(t *testing.T) {
	const setterKey, otherKey = "setter-key-0123456789", "other-key-0123456789"
	s := startDev(t, func(c *config) {
		c.Gateway.APIKeys = []gateway.APIKey{{Tenant: "setter", Key: setterKey}, {Tenant: "other", Key: otherKey}}
		c.Executor.Languages = []string{"python", "c++"}
		c.Gateway.MaxProblemBodyBytes = 8 << 20
		c.Gateway.Policy.MaxProblemBytes = 4 << 20
	})
	setter := map[string]string{"Authorization": "Bearer " + setterKey}
	other := map[string]string{"Authorization": "Bearer " + otherKey}

	// A second executor with a registry of its own.
	regB := prometheus.NewRegistry()
	exB := executor.DefaultConfig()
	exB.ID, exB.Slots, exB.Languages, exB.Registry = s.ExecutorID+"-b", 1, []string{"python", "c++"}, regB
	ncB, err := nats.Connect(s.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	ctxB, stopB := context.WithCancel(context.Background())
	doneB := make(chan error, 1)
	go func() { doneB <- executor.Run(ctxB, exB, ncB, testLogger(t)) }()
	t.Cleanup(func() {
		stopB()
		if err := <-doneB; err != nil {
			t.Errorf("executor b: %v", err)
		}
		ncB.Close()
		assertNoContainers(t, exB.ID)
	})
	testkitWaitExecutors(t, s, 2)

	pkg := splitProblem(t, 200)
	code, _, body := request(t, "PUT", s.URL+"/v1/problems/split", pkg, setter)
	if code != 201 {
		t.Fatalf("PUT /v1/problems/split = %d: %.400s", code, body)
	}
	var manifest contracts.ProblemManifest
	if err := json.Unmarshal(body, &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest.Tests) != 200 || manifest.Checker == nil || !contracts.ValidProblemVersion(manifest.Version) ||
		manifest.Tests[199].Input.Size < 1_600_000 || bytes.Contains(body, []byte("padding")) {
		t.Fatalf("manifest: %.600s", body)
	}
	t.Logf("package: %d tests, %d bytes of test data, version %s, max score %v", len(manifest.Tests), manifest.TestBytes, manifest.Version[:12], manifest.MaxScore)

	// Every job published on the bus, as the executors receive it.
	var jobsMu sync.Mutex
	var jobs [][]byte
	sub, err := s.NATS.Subscribe("airlock.jobs.>", func(m *nats.Msg) {
		jobsMu.Lock()
		jobs = append(jobs, m.Data)
		jobsMu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = s.NATS.Flush()

	type submission struct {
		name    string
		body    []byte
		id      string
		wrongAt int // -1: accepted
	}
	var subs []*submission
	add := func(name, lang, file, code string, wrongAt int) {
		req := map[string]any{"language": lang, "files": []contracts.File{{Name: file, Content: code}},
			"problem": "split", "stop_on_first_failure": true}
		b, _ := json.Marshal(req)
		subs = append(subs, &submission{name: name, body: b, wrongAt: wrongAt})
	}
	add("python 1, n-1", "python", "main.py", "n = int(input())\nprint(1, n - 1)\n", -1)
	add("python halves", "python", "main.py", "n = int(input())\nprint(n // 2, n - n // 2)\n", -1)
	add("c++ n-1, 1", "c++", "main.cpp", "#include <iostream>\nint main() { long long n; std::cin >> n; std::cout << n - 1 << ' ' << 1 << '\\n'; }\n", -1)
	add("c++ halves", "c++", "main.cpp", "#include <iostream>\nint main() { long long n; std::cin >> n; std::cout << n / 2 << ' ' << n - n / 2 << '\\n'; }\n", -1)
	for k := range 16 {
		bad := 3 + k // wrong on n = bad: test bad-2
		add(fmt.Sprintf("python wrong at n=%d", bad), "python", "main.py",
			fmt.Sprintf("n = int(input())\nprint(1, n if n == %d else n - 1)\n", bad), bad-2)
	}
	start := time.Now()
	for _, sb := range subs {
		if len(sb.body) > 1024 || bytes.Contains(sb.body, []byte(`"tests"`)) || bytes.Contains(sb.body, []byte("expected_output")) ||
			bytes.Contains(sb.body, []byte("quit(")) {
			t.Fatalf("%s: the body sent carries more than the program: %s", sb.name, sb.body)
		}
		code, _, data := request(t, "POST", s.URL+"/v1/executions", json.RawMessage(sb.body), setter)
		if code != 202 {
			t.Fatalf("%s: POST /v1/executions = %d: %s", sb.name, code, data)
		}
		var acc contracts.Accepted
		_ = json.Unmarshal(data, &acc)
		sb.id = acc.ID
	}
	var maxBody int
	for _, sb := range subs {
		maxBody = max(maxBody, len(sb.body))
		code, data := awaitExecution(t, s.URL+"/v1/executions/"+sb.id, func(url string) (int, []byte) {
			code, _, body := request(t, "GET", url, nil, setter)
			return code, body
		})
		var e contracts.Execution
		if err := json.Unmarshal(data, &e); code != 200 || err != nil {
			t.Fatalf("%s: %d %s", sb.name, code, data)
		}
		switch {
		case sb.wrongAt < 0:
			if e.Verdict != contracts.VerdictAccepted || len(e.Tests) != 200 || *e.Score != manifest.MaxScore || e.FailedTest != nil {
				t.Errorf("%s: want accepted with all 200 tests: %.800s", sb.name, data)
			}
			for i, tr := range e.Tests {
				if tr.Verdict != contracts.VerdictAccepted || !strings.HasPrefix(tr.CheckerMessage, strconv.Itoa(i+2)+" = ") {
					t.Errorf("%s: test %d: %s %q", sb.name, i, tr.Verdict, tr.CheckerMessage)
					break
				}
			}
		default:
			k := sb.wrongAt
			if e.Verdict != contracts.VerdictWrongAnswer || e.FailedTest == nil || *e.FailedTest != k || len(e.Tests) != 200 ||
				e.Tests[k].CheckerMessage != fmt.Sprintf("1 + %d != %d", k+2, k+2) || !e.Tests[k+1].Skipped {
				t.Errorf("%s: want wrong_answer at test %d, the rest skipped: %.1200s", sb.name, k, data)
			}
		}
	}
	took := time.Since(start)

	// The jobs on the bus carried the problem's id and version, no tests.
	jobsMu.Lock()
	defer jobsMu.Unlock()
	if len(jobs) != len(subs) {
		t.Fatalf("%d jobs published, want %d", len(jobs), len(subs))
	}
	var maxJob int
	for _, data := range jobs {
		var job contracts.Job
		if err := json.Unmarshal(data, &job); err != nil {
			t.Fatal(err)
		}
		maxJob = max(maxJob, len(data))
		if job.Request.Problem != "split" || job.Request.ProblemVersion != manifest.Version || job.Request.Tests != nil ||
			job.Request.Checker != nil || len(data) > 4096 || bytes.Contains(data, []byte("padding")) {
			t.Errorf("a job carries more than the problem's reference: %.600s", data)
		}
	}

	// Each executor compiled the checker, and read the package, at most
	// once: exactly once if it ran any of the submissions.
	_, _, metricsA := request(t, "GET", s.URL+"/metrics", nil, setter)
	ranA := metricValue(string(metricsA), "airlock_executions_total", s.ExecutorID)
	compilesA := metricValue(string(metricsA), "airlock_executor_checker_compiles_total", s.ExecutorID)
	loadsA := metricValue(string(metricsA), "airlock_executor_problem_loads_total", s.ExecutorID)
	compilesB, loadsB := gathered(t, regB, "airlock_executor_checker_compiles_total"), gathered(t, regB, "airlock_executor_problem_loads_total")
	var ranB float64
	if mfs, err := regB.Gather(); err == nil {
		for _, mf := range mfs {
			if mf.GetName() == "airlock_executions_total" {
				for _, m := range mf.GetMetric() {
					ranB += m.GetCounter().GetValue()
				}
			}
		}
	}
	if ranA < 0 {
		ranA = 0
	}
	t.Logf("%d submissions judged in %s; largest submission body %d bytes, largest job %d bytes", len(subs), took.Round(time.Millisecond), maxBody, maxJob)
	t.Logf("executor a: %v executions, %v checker compiles, %v package reads", ranA, compilesA, loadsA)
	t.Logf("executor b: %v executions, %v checker compiles, %v package reads", ranB, compilesB, loadsB)
	for _, e := range []struct {
		name                 string
		ran, compiles, loads float64
	}{{"a", ranA, compilesA, loadsA}, {"b", ranB, compilesB, loadsB}} {
		want := 0.0
		if e.ran > 0 {
			want = 1
		}
		if e.compiles != want || e.loads != want {
			t.Errorf("executor %s ran %v executions, compiled the checker %v times and read the package %v times; want %v each",
				e.name, e.ran, e.compiles, e.loads, want)
		}
	}
	if ranA+ranB != float64(len(subs)) {
		t.Errorf("the executors ran %v executions, want %d", ranA+ranB, len(subs))
	}

	t.Run("the same package again writes nothing", func(t *testing.T) {
		before := objectMessages(t, s)
		code, _, again := request(t, "PUT", s.URL+"/v1/problems/split", pkg, setter)
		if code != 200 || !bytes.Equal(again, body) {
			t.Fatalf("PUT again = %d, want 200 and the same manifest:\n%.300s\n%.300s", code, again, body)
		}
		if after := objectMessages(t, s); after != before {
			t.Errorf("the store went from %d to %d messages", before, after)
		}
	})

	t.Run("a changed package is a new version; the old one stays pinned", func(t *testing.T) {
		changed := pkg
		changed.Tests = append([]contracts.TestCase(nil), pkg.Tests[:3]...)
		code, _, data := request(t, "PUT", s.URL+"/v1/problems/split", changed, setter)
		var m contracts.ProblemManifest
		_ = json.Unmarshal(data, &m)
		if code != 200 || m.Version == manifest.Version || len(m.Tests) != 3 {
			t.Fatalf("PUT changed = %d: %.300s", code, data)
		}
		_, _, data = request(t, "GET", s.URL+"/v1/problems/split", nil, setter)
		if !bytes.Contains(data, []byte(m.Version)) {
			t.Errorf("GET shows another version: %.300s", data)
		}
		// A submission that pins the first version runs its 200 tests.
		req := map[string]any{"language": "python", "files": []contracts.File{{Name: "main.py", Content: "n = int(input())\nprint(1, n - 1)\n"}},
			"problem": "split", "problem_version": manifest.Version}
		code, _, data = request(t, "POST", s.URL+"/v1/execute?timeout=300s", req, setter)
		var e contracts.Execution
		_ = json.Unmarshal(data, &e)
		if code != 200 || e.Verdict != contracts.VerdictAccepted || len(e.Tests) != 200 {
			t.Errorf("pinned submission = %d: %.300s", code, data)
		}
	})

	t.Run("another tenant cannot read, use or delete it", func(t *testing.T) {
		for _, c := range []struct {
			method, path string
			body         any
			want         int
			has          string
		}{
			{"GET", "/v1/problems/split", nil, 404, `"code":"not_found"`},
			{"DELETE", "/v1/problems/split", nil, 404, `"code":"not_found"`},
			{"POST", "/v1/executions", map[string]any{"language": "python", "files": []contracts.File{{Name: "main.py", Content: "print(1)"}}, "problem": "split"}, 422, `"code":"unknown_problem"`},
			{"POST", "/v1/executions", map[string]any{"language": "python", "files": []contracts.File{{Name: "main.py", Content: "print(1)"}}, "problem": "split", "problem_version": manifest.Version}, 422, `"field":"problem_version"`},
		} {
			code, _, data := request(t, c.method, s.URL+c.path, c.body, other)
			if code != c.want || !strings.Contains(string(data), c.has) {
				t.Errorf("%s %s as another tenant = %d %s, want %d %s", c.method, c.path, code, data, c.want, c.has)
			}
		}
		if code, _, _ := request(t, "GET", s.URL+"/v1/problems/split", nil, setter); code != 200 {
			t.Errorf("the owner lost the problem: %d", code)
		}
	})

	t.Run("refused requests and packages", func(t *testing.T) {
		many := contracts.ProblemPackage{Tests: make([]contracts.TestCase, 1001)}
		big := contracts.ProblemPackage{Tests: []contracts.TestCase{{Stdin: strings.Repeat("x", 2<<20)}, {Stdin: strings.Repeat("y", 2<<20)}, {Stdin: "z"}}}
		for _, c := range []struct {
			method, path string
			body         any
			want         int
			has          string
		}{
			{"POST", "/v1/executions", map[string]any{"language": "python", "files": []contracts.File{{Name: "main.py", Content: "print(1)"}}, "problem": "nope"}, 422, `"code":"unknown_problem","message":"no problem \"nope\" is stored for this tenant; PUT /v1/problems/{id} stores one","field":"problem"`},
			{"POST", "/v1/executions", map[string]any{"language": "python", "files": []contracts.File{{Name: "main.py", Content: "print(1)"}}, "problem": "split", "tests": []any{map[string]any{}}}, 422, `"field":"tests"`},
			{"POST", "/v1/executions", map[string]any{"language": "python", "files": []contracts.File{{Name: "main.py", Content: "print(1)"}}, "problem": "../x"}, 422, `"field":"problem"`},
			{"GET", "/v1/problems/nope", nil, 404, `"code":"not_found"`},
			{"PUT", "/v1/problems/bad..id!", splitProblem(t, 1), 422, `"field":"id"`},
			{"PUT", "/v1/problems/many", many, 422, `at most 1000 tests are allowed, got 1001`},
			{"PUT", "/v1/problems/big", big, 422, `the maximum is 4194304`},
			{"PUT", "/v1/problems/huge", contracts.ProblemPackage{Tests: []contracts.TestCase{{Stdin: strings.Repeat("x", 9<<20)}}}, 413, `"code":"body_too_large"`},
			{"PUT", "/v1/problems/none", contracts.ProblemPackage{}, 422, `"field":"tests"`},
		} {
			code, _, data := request(t, c.method, s.URL+c.path, c.body, setter)
			if code != c.want || !strings.Contains(string(data), c.has) {
				t.Errorf("%s %s = %d %.300s, want %d %s", c.method, c.path, code, data, c.want, c.has)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		if code, _, data := request(t, "DELETE", s.URL+"/v1/problems/split", nil, setter); code != 204 {
			t.Fatalf("DELETE = %d %s", code, data)
		}
		if code, _, _ := request(t, "GET", s.URL+"/v1/problems/split", nil, setter); code != 404 {
			t.Errorf("GET after DELETE = %d", code)
		}
		if code, _, _ := request(t, "DELETE", s.URL+"/v1/problems/split", nil, setter); code != 404 {
			t.Errorf("DELETE again = %d", code)
		}
		req := map[string]any{"language": "python", "files": []contracts.File{{Name: "main.py", Content: "print(1)"}}, "problem": "split"}
		if code, _, data := request(t, "POST", s.URL+"/v1/executions", req, setter); code != 422 || !strings.Contains(string(data), "unknown_problem") {
			t.Errorf("submission after DELETE = %d %s", code, data)
		}
		// Nothing of the problem is left in the store.
		left := objectNames(t, s, "setter/split/")
		if len(left) != 0 {
			t.Errorf("objects left after DELETE: %v", left)
		}
	})
}

// testkitWaitExecutors waits until n executors have announced themselves.
func testkitWaitExecutors(t *testing.T, s *stack, n int) {
	t.Helper()
	kv, err := s.JS.KeyValue(context.Background(), contracts.ExecutorsBucket)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		keys, _ := kv.Keys(context.Background())
		if len(keys) >= n {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("fewer than %d executors announced themselves", n)
}

// objectMessages is the number of messages in the problems store's stream.
func objectMessages(t *testing.T, s *stack) uint64 {
	t.Helper()
	st, err := s.JS.Stream(context.Background(), "OBJ_"+contracts.ProblemsStore)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// objectNames lists the live objects of the problems store under prefix.
func objectNames(t *testing.T, s *stack, prefix string) []string {
	t.Helper()
	obs, err := s.JS.ObjectStore(context.Background(), contracts.ProblemsStore)
	if err != nil {
		t.Fatal(err)
	}
	list, err := obs.List(context.Background())
	if err != nil && !strings.Contains(err.Error(), "no objects found") {
		t.Fatal(err)
	}
	var out []string
	for _, o := range list {
		if strings.HasPrefix(o.Name, prefix) {
			out = append(out, o.Name)
		}
	}
	return out
}
