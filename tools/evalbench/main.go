// Command evalbench measures an AI-evaluation workload end to end: it starts
// `airlock dev` (python only) on free ports, submits N small Python programs
// as ONE evaluation (POST /v1/evaluations), waits for it, and prints the wall
// time, the programs per second and the verdict counts. The programs are
// built to end in known verdicts (half pass; the rest answer wrong, raise,
// loop forever or allocate too much), and the run fails unless every
// candidate got exactly the verdict it was built for.
//
//	go run ./tools/evalbench -airlock bin/airlock [-n 500] [-out docs/benchmarks-eval.md]
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airlockrun/airlock/tools/internal/devstack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "evalbench:", err)
		os.Exit(1)
	}
}

// The kinds of candidate and the verdict each is built to get.
type kind struct {
	name    string
	verdict string
	share   float64 // of all candidates (the rest are "pass")
	code    func(i int) string
}

var kinds = []kind{
	{"raise", "runtime_error", 0.20, func(i int) string {
		return fmt.Sprintf("def solve(a, b):\n    raise ValueError('candidate %d gives up')\n", i)
	}},
	{"wrong", "wrong_answer", 0.10, func(i int) string {
		return fmt.Sprintf("def solve(a, b):\n    return a + b + %d\n", 1+i%7)
	}},
	{"loop", "time_limit_exceeded", 0.10, func(i int) string {
		if i%2 == 0 { // burns CPU until the CPU watchdog
			return fmt.Sprintf("def solve(a, b):\n    n = %d\n    while True:\n        n += 1\n", i)
		}
		// sleeps until the wall limit
		return fmt.Sprintf("import time\n\ndef solve(a, b):\n    while True:\n        time.sleep(0.%d + 0.1)\n", i%10)
	}},
	{"memory", "memory_limit_exceeded", 0.10, func(i int) string {
		return fmt.Sprintf("def solve(a, b):\n    hog = bytearray(%d << 20)\n    return len(hog)\n", 256+i%64)
	}},
	{"pass", "accepted", 0, func(i int) string {
		switch i % 3 {
		case 0:
			return fmt.Sprintf("# candidate %d\ndef solve(a, b):\n    return a + b\n", i)
		case 1:
			return fmt.Sprintf("# candidate %d\ndef solve(a, b):\n    return sum([a, b])\n", i)
		}
		return fmt.Sprintf("# candidate %d\nimport operator\n\ndef solve(a, b):\n    return operator.add(a, b)\n", i)
	}},
}

// The harness of every problem: main.py reads two numbers and prints the
// candidate's answer; one test compares it.
const harnessMain = "import sys\nfrom solution import solve\n\na, b = map(int, sys.stdin.read().split())\nprint(solve(a, b))\n"

type file struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

type test struct {
	Name           string `json:"name"`
	Stdin          string `json:"stdin"`
	ExpectedOutput string `json:"expected_output"`
}

type harness struct {
	Files  []file         `json:"files"`
	Tests  []test         `json:"tests"`
	Limits map[string]int `json:"limits"`
}

type problem struct {
	ID      string  `json:"id"`
	Harness harness `json:"harness"`
}

type candidate struct {
	ID      string `json:"id"`
	Problem string `json:"problem"`
	Files   []file `json:"files"`
}

type evaluationRequest struct {
	Language   string      `json:"language"`
	Problems   []problem   `json:"problems"`
	Candidates []candidate `json:"candidates"`
	K          []int       `json:"k"`
}

type evaluation struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	FinishedAt string `json:"finished_at"`
	Progress   struct {
		Total, Pending, Submitted, Queued, Running, Completed, Rejected int
		QueueFullRetries                                                int64 `json:"queue_full_retries"`
	} `json:"progress"`
	Summary struct {
		Total, Completed, Passed, Failed int
		ByVerdict                        map[string]int `json:"by_verdict"`
		CPUTimeMS                        int64          `json:"cpu_time_ms"`
		WallTimeMS                       int64          `json:"wall_time_ms"`
		DurationMS                       int64          `json:"duration_ms"`
	} `json:"summary"`
	PassAtK struct {
		Problems []struct {
			Problem string
			N, C    int
		} `json:"problems"`
		Estimates []struct {
			K        int
			Value    *float64
			Problems int
		} `json:"estimates"`
	} `json:"pass_at_k"`
	Candidates []struct {
		Index      int    `json:"index"`
		ID         string `json:"id"`
		Verdict    string `json:"verdict"`
		Status     string `json:"status"`
		DurationMS int64  `json:"duration_ms"`
		Message    string `json:"message"`
		ExecID     string `json:"execution_id"`
	} `json:"candidates"`
}

func run() error {
	bin := flag.String("airlock", "bin/airlock", "the airlock binary")
	n := flag.Int("n", 500, "candidate programs in the evaluation (at least 500 for the report)")
	problems := flag.Int("problems", 10, "problems the candidates are spread over (pass@k groups)")
	slots := flag.Int("slots", 4, "executor slots")
	queueMax := flag.Int("queue-max", 100, "JOBS queue bound (smaller than -n: the gateway feeds the queue as it drains)")
	out := flag.String("out", "docs/benchmarks-eval.md", "report to write (empty: none)")
	flag.Parse()
	if *n < 10 || *problems < 1 || *problems > *n {
		return errors.New("need -n >= 10 and 1 <= -problems <= -n")
	}

	body, want := build(*n, *problems)
	payload, err := json.Marshal(body)
	if err != nil {
		return err
	}
	fmt.Printf("== %d candidates over %d problems (%d KiB request); building blocks:\n", *n, *problems, len(payload)>>10)
	counts := map[string]int{}
	for _, v := range want {
		counts[v]++
	}
	for _, v := range sortedKeys(counts) {
		fmt.Printf("   %-24s %4d\n", v, counts[v])
	}

	fmt.Printf("== starting the stack (python only, slots %d, warm pool python=%d, queue max %d)\n", *slots, *slots, *queueMax)
	st, err := devstack.Start(*bin, "evalbench", "--languages", "python", "--slots", strconv.Itoa(*slots),
		"--pool", "python="+strconv.Itoa(*slots), "--queue-max", strconv.Itoa(*queueMax))
	if err != nil {
		return err
	}
	defer st.Stop()
	// Warm up: one execution through the whole path.
	if err := warmUp(st); err != nil {
		return err
	}

	fmt.Println("== submitting the evaluation")
	begin := time.Now()
	resp, err := httpClient.Post(st.URL+"/v1/evaluations", "application/json", bytes.NewReader(payload))
	if err != nil {
		return err
	}
	accBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	accepted := time.Since(begin)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST /v1/evaluations = %d: %s", resp.StatusCode, accBody)
	}
	var acc struct {
		ID    string `json:"id"`
		Total int    `json:"total"`
	}
	if err := json.Unmarshal(accBody, &acc); err != nil {
		return err
	}
	fmt.Printf("   202 after %v: evaluation %s, %d candidates\n", accepted.Round(time.Millisecond), acc.ID, acc.Total)

	var ev evaluation
	lastPrint := time.Time{}
	for {
		e, code, err := get(st, acc.ID, false)
		if err != nil {
			return err
		}
		if code != 200 && code != 202 {
			return fmt.Errorf("GET evaluation = %d", code)
		}
		ev = e
		if time.Since(lastPrint) >= 5*time.Second || ev.Status == "completed" {
			p := ev.Progress
			fmt.Printf("   %6.1fs %-10s pending %4d queued %4d running %2d completed %4d (queue-full retries %d)\n",
				time.Since(begin).Seconds(), ev.Status, p.Pending, p.Queued, p.Running, p.Completed, p.QueueFullRetries)
			lastPrint = time.Now()
		}
		if ev.Status == "completed" {
			break
		}
		if time.Since(begin) > 2*time.Hour {
			return errors.New("the evaluation did not complete within 2 hours")
		}
	}
	wall := time.Since(begin)
	// The full per-candidate list, for the exact check.
	ev, _, err = get(st, acc.ID, true)
	if err != nil {
		return err
	}
	rate := float64(*n) / wall.Seconds()

	fmt.Println("== results")
	fmt.Printf("   wall time (POST to completed)  %v\n", wall.Round(10*time.Millisecond))
	fmt.Printf("   POST answered (202) after      %v\n", accepted.Round(time.Millisecond))
	fmt.Printf("   programs per second            %.1f\n", rate)
	fmt.Printf("   queue-full retries (429s)      %d\n", ev.Progress.QueueFullRetries)
	fmt.Printf("   CPU time of the programs       %.1f s (sum of every stage)\n", float64(ev.Summary.CPUTimeMS)/1000)
	fmt.Printf("   executor slots busy            %.0f%% (slot-seconds %.1f of %d slots x wall time)\n",
		100*float64(ev.Summary.DurationMS)/1000/(float64(*slots)*wall.Seconds()), float64(ev.Summary.DurationMS)/1000, *slots)
	fmt.Printf("   %-30s %8s %8s\n", "verdict", "got", "built")
	bad := false
	for _, v := range sortedKeys(union(counts, ev.Summary.ByVerdict)) {
		mark := ""
		if counts[v] != ev.Summary.ByVerdict[v] {
			mark, bad = "  MISMATCH", true
		}
		fmt.Printf("   %-30s %8d %8d%s\n", v, ev.Summary.ByVerdict[v], counts[v], mark)
	}
	for _, e := range ev.PassAtK.Estimates {
		if e.Value != nil {
			fmt.Printf("   pass@%-3d %.4f over %d problems\n", e.K, *e.Value, e.Problems)
		}
	}
	var wrong []string
	if len(ev.Candidates) != *n {
		bad = true
		wrong = append(wrong, fmt.Sprintf("%d candidate results, want %d", len(ev.Candidates), *n))
	}
	for _, c := range ev.Candidates {
		if c.Index < len(want) && c.Verdict != want[c.Index] {
			bad = true
			if len(wrong) < 20 {
				wrong = append(wrong, fmt.Sprintf("candidate %d (%s): %s, built for %s %s (execution %s)", c.Index, c.ID, c.Verdict, want[c.Index], c.Message, c.ExecID))
			}
		}
	}
	if ev.Summary.Completed != *n || ev.Progress.Rejected != 0 {
		bad = true
		wrong = append(wrong, fmt.Sprintf("completed %d, rejected %d, want %d completed", ev.Summary.Completed, ev.Progress.Rejected, *n))
	}
	for _, w := range wrong {
		fmt.Println("   !", w)
	}
	if bad {
		return errors.New("the verdicts do not match what the programs were built to do")
	}
	fmt.Println("   every candidate got exactly the verdict it was built for")

	if *out != "" {
		if err := report(*out, *n, *problems, *slots, *queueMax, len(payload), wall, accepted, rate, counts, &ev); err != nil {
			return err
		}
		fmt.Println("wrote", *out)
	}
	return nil
}

// build makes the evaluation request and the verdict each candidate is built
// for. Kinds are interleaved so that every problem gets a mix.
func build(n, problems int) (evaluationRequest, []string) {
	req := evaluationRequest{Language: "python", K: []int{1, 5, 10}}
	for p := range problems {
		a, b := 1000+p*37, 337-p*11
		req.Problems = append(req.Problems, problem{ID: fmt.Sprintf("sum-%d", p), Harness: harness{
			Files:  []file{{Name: "main.py", Content: harnessMain}},
			Tests:  []test{{Name: "sum", Stdin: fmt.Sprintf("%d %d\n", a, b), ExpectedOutput: strconv.Itoa(a + b)}},
			Limits: map[string]int{"cpu_time_ms": 1000, "wall_time_ms": 3000, "memory_mb": 64},
		}})
	}
	// Exact counts per kind, the rest passing; then a fixed interleaving.
	var plan []kind
	left := n
	for _, k := range kinds[:len(kinds)-1] {
		c := int(math.Round(k.share * float64(n)))
		for range c {
			plan = append(plan, k)
		}
		left -= c
	}
	for range left {
		plan = append(plan, kinds[len(kinds)-1])
	}
	// A deterministic shuffle (stride coprime with n).
	stride := 7
	for gcd(stride, n) != 1 {
		stride += 2
	}
	want := make([]string, n)
	for i := range n {
		k := plan[(i*stride)%n]
		want[i] = k.verdict
		req.Candidates = append(req.Candidates, candidate{
			ID:      fmt.Sprintf("%s-%03d", k.name, i),
			Problem: fmt.Sprintf("sum-%d", i%problems),
			Files:   []file{{Name: "solution.py", Content: k.code(i)}},
		})
	}
	return req, want
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func union(a, b map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range a {
		out[k] += v
	}
	for k := range b {
		out[k] += 0
	}
	return out
}

func sortedKeys(m map[string]int) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

var httpClient = &http.Client{Timeout: 5 * time.Minute}

func warmUp(s *devstack.Stack) error {
	body := `{"language":"python","files":[{"name":"main.py","content":"print('hi')"}]}`
	for range 3 {
		resp, err := httpClient.Post(s.URL+"/v1/execute?timeout=120s", "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(data, []byte(`"verdict":"accepted"`)) {
			return fmt.Errorf("warm-up execution: %d %s", resp.StatusCode, data)
		}
	}
	return nil
}

// get long-polls the evaluation (up to 5 s); with full it includes the
// per-candidate list.
func get(s *devstack.Stack, id string, full bool) (evaluation, int, error) {
	url := s.URL + "/v1/evaluations/" + id + "?wait=true&timeout=5s"
	if !full {
		url += "&candidates=false"
	}
	var ev evaluation
	resp, err := httpClient.Get(url)
	if err != nil {
		return ev, 0, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&ev); err != nil {
		return ev, resp.StatusCode, err
	}
	return ev, resp.StatusCode, nil
}

func report(path string, n, problems, slots, queueMax, size int, wall, accepted time.Duration, rate float64, built map[string]int, ev *evaluation) error {
	var b strings.Builder
	b.WriteString("# Evaluation benchmark\n\n")
	b.WriteString("<!-- Written by `go tool task eval-bench` (tools/evalbench). Do not edit: run it again. -->\n\n")
	fmt.Fprintf(&b, "One evaluation (`POST /v1/evaluations`, see [ai-evaluation.md](ai-evaluation.md)) of **%d small Python programs** "+
		"over %d problems, judged by a harness (`main.py` imports the candidate's `solution.py`, one test compares its "+
		"answer) with limits of 1 s CPU, 3 s wall and 64 MB. The programs are built to end in known verdicts; the run fails "+
		"unless every candidate gets exactly the verdict it was built for. The stack is `airlock dev --languages python "+
		"--slots %d --pool python=%d --queue-max %d` on this machine: %s, measured %s.\n\n",
		n, problems, slots, slots, queueMax, devstack.Machine(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	b.WriteString("| figure | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| programs | %d (request %d KiB) |\n", n, size>>10)
	fmt.Fprintf(&b, "| wall time, POST to completed | %.1f s |\n", wall.Seconds())
	fmt.Fprintf(&b, "| programs per second | %.1f |\n", rate)
	fmt.Fprintf(&b, "| POST answered (202) after | %d ms |\n", accepted.Milliseconds())
	fmt.Fprintf(&b, "| queue-full answers retried by the gateway | %d |\n", ev.Progress.QueueFullRetries)
	fmt.Fprintf(&b, "| CPU time of the programs (sum) | %.1f s |\n", float64(ev.Summary.CPUTimeMS)/1000)
	fmt.Fprintf(&b, "| executor slots busy (slot-seconds / (slots × wall time)) | %.0f%% |\n",
		100*float64(ev.Summary.DurationMS)/1000/(float64(slots)*wall.Seconds()))
	// Mean time a candidate of each verdict held an executor slot
	// (started_at..finished_at: container start, the run, the clean-up).
	held, count := map[string]int64{}, map[string]int64{}
	for _, c := range ev.Candidates {
		held[c.Verdict] += c.DurationMS
		count[c.Verdict]++
	}
	b.WriteString("\n| verdict | built for | got | mean time in a slot | slot-seconds |\n|---|---:|---:|---:|---:|\n")
	for _, v := range sortedKeys(union(built, ev.Summary.ByVerdict)) {
		mean := int64(0)
		if count[v] > 0 {
			mean = held[v] / count[v]
		}
		fmt.Fprintf(&b, "| `%s` | %d | %d | %d ms | %.1f |\n", v, built[v], ev.Summary.ByVerdict[v], mean, float64(held[v])/1000)
	}
	b.WriteString("\n| pass@k | value | problems |\n|---|---:|---:|\n")
	for _, e := range ev.PassAtK.Estimates {
		if e.Value != nil {
			fmt.Fprintf(&b, "| pass@%d | %.4f | %d |\n", e.K, *e.Value, e.Problems)
		}
	}
	fmt.Fprintf(&b, "\nA slot is held from `started_at` to `finished_at` (container start, the run, the clean-up); the "+
		"wall time above covers %d slots. A program that loops forever holds its slot until its CPU (1 s) or wall (3 s) "+
		"limit. The queue bound is smaller than the evaluation on purpose: the gateway feeds the candidates into the "+
		"queue as it drains and retries the 429s itself; slots busy close to 100%% means the executors, not the "+
		"gateway, set the pace. The machine "+
		"is shared (see the load average): the figures are this run's, not a ceiling.\n", slots)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
