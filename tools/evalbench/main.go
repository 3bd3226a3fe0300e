// Command evalbench measures an AI-evaluation workload end to end: once per
// isolation mode, one after the other, it starts `airlock dev --isolation
// <mode>` (python only) on free ports, submits N small Python programs as ONE
// evaluation (POST /v1/evaluations), waits for it, and prints the wall time,
// the programs per second and the verdict counts. The programs are built to
// end in known verdicts (half pass; the rest answer wrong, raise, loop
// forever or allocate too much), and the run fails unless every candidate got
// exactly the verdict it was built for in every mode.
//
// Then it runs the very same programs (the files, stdin and expected output
// of the request the evaluation was sent) as bare processes on the host,
// /usr/bin/python3 a program, as many at a time as the machine has cores,
// under the evaluation's wall limit (and, through prlimit, its CPU limit and
// its memory limit as an address-space cap): the floor. It prints the ratio
// of each mode's wall time to the bare run's beside the target (namespace
// within 2x of bare); a target not met is printed, not failed.
//
//	go run ./tools/evalbench -airlock bin/airlock [-n 500] [-modes namespace,container] [-out docs/benchmarks-eval.md]
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
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airlockrun/airlock/tools/internal/devstack"
	"github.com/airlockrun/airlock/tools/internal/figures"
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
	Candidates []candidateResult `json:"candidates"`
}

type candidateResult struct {
	Index      int    `json:"index"`
	ID         string `json:"id"`
	Verdict    string `json:"verdict"`
	Status     string `json:"status"`
	DurationMS int64  `json:"duration_ms"`
	Message    string `json:"message"`
	ExecID     string `json:"execution_id"`
}

// settings are the flags that shape the evaluation and its stacks.
type settings struct {
	bin                          string
	n, problems, slots, queueMax int
	defaults                     bool // the stacks ran the executor's default slots and pool
}

func run() error {
	var cfg settings
	flag.StringVar(&cfg.bin, "airlock", "bin/airlock", "the airlock binary")
	flag.IntVar(&cfg.n, "n", 500, "candidate programs in the evaluation (at least 300 for the target, 500 for the report)")
	flag.IntVar(&cfg.problems, "problems", 10, "problems the candidates are spread over (pass@k groups)")
	flag.IntVar(&cfg.slots, "slots", 0, "executor slots and warm Python sandboxes (0: the executor's defaults, which is what `go tool task up` runs)")
	flag.IntVar(&cfg.queueMax, "queue-max", 100, "JOBS queue bound (smaller than -n: the gateway feeds the queue as it drains)")
	modesFlag := flag.String("modes", "namespace,container", `isolation modes to run the evaluation in, one stack each, in this order (comma-separated; "none": no Airlock)`)
	bare := flag.Bool("bare", true, "run the same programs as bare processes on the host (the floor)")
	python := flag.String("python", "/usr/bin/python3", "the host's Python for the bare baseline (not a pyenv shim: it adds about 350 ms a start)")
	parallel := flag.Int("bare-parallel", 0, "bare programs at a time (0: as many as the stacks' slots)")
	prlimit := flag.String("prlimit", "/usr/bin/prlimit", "prlimit(1), to give the bare programs the evaluation's CPU and memory limits (empty or missing: wall limit only)")
	out := flag.String("out", "docs/benchmarks-eval.md", "report to write (empty: none)")
	flag.Parse()
	if cfg.n < 10 || cfg.problems < 1 || cfg.problems > cfg.n {
		return errors.New("need -n >= 10 and 1 <= -problems <= -n")
	}
	if *parallel < 0 {
		return errors.New("need -bare-parallel >= 0")
	}
	modes, err := devstack.ParseModes(*modesFlag)
	if err != nil {
		return err
	}
	if _, err := exec.LookPath(*python); *bare && err != nil { // before the stacks: it should not cost their minutes
		return fmt.Errorf("bare baseline: %w", err)
	}

	body, want := build(cfg.n, cfg.problems)
	payload, err := json.Marshal(body)
	if err != nil {
		return err
	}
	fmt.Printf("== %d candidates over %d problems (%d KiB request); building blocks:\n", cfg.n, cfg.problems, len(payload)>>10)
	counts := map[string]int{}
	for _, v := range want {
		counts[v]++
	}
	for _, v := range sortedKeys(counts) {
		fmt.Printf("   %-24s %4d\n", v, counts[v])
	}

	var runs []*modeRun
	bad := false
	for _, mode := range modes {
		r, err := evaluate(&cfg, mode, payload, want, counts)
		if err != nil {
			return fmt.Errorf("isolation %s: %w", mode, err)
		}
		runs = append(runs, r)
		bad = bad || len(r.wrong) > 0
	}

	var b *bareRun
	if *bare {
		// The very bytes the evaluation was sent, read back: the bare
		// programs are its files, stdin, expected output and limits.
		var sent evaluationRequest
		if err := json.Unmarshal(payload, &sent); err != nil {
			return err
		}
		jobs, err := bareJobs(sent)
		if err != nil {
			return err
		}
		if *prlimit != "" {
			if _, err := os.Stat(*prlimit); err != nil {
				fmt.Printf("   %s: %v; the bare programs get the wall limit only\n", *prlimit, err)
				*prlimit = ""
			}
		}
		if *parallel == 0 {
			*parallel = max(cfg.slots, 1) // the stacks' concurrency
		}
		fmt.Printf("== the same %d programs as bare processes on the host (%s, %d at a time)\n", len(jobs), *python, *parallel)
		if b, err = runBare(jobs, *python, *prlimit, *parallel); err != nil {
			return err
		}
		printBare(b, want, counts)
	}

	fmt.Println("== summary")
	fmt.Print(summaryText(runs, b))
	fmt.Println("== ratios")
	fmt.Print(figures.Text(ratios(runs, b, cfg.n)))
	if bad {
		return errors.New("the verdicts do not match what the programs were built to do")
	}
	switch {
	case *out == "":
	case len(runs) == 0:
		fmt.Println("no Airlock mode measured: no report written")
	default:
		if err := report(*out, cfg, len(payload), counts, runs, b, devstack.Machine(), devstack.Commit(), time.Now()); err != nil {
			return err
		}
		fmt.Println("wrote", *out)
	}
	return nil
}

// modeRun is the evaluation run in one isolation mode.
type modeRun struct {
	mode     string
	wall     time.Duration // POST to completed
	accepted time.Duration // POST to its 202
	ev       evaluation    // with every candidate
	wrong    []string      // how the verdicts differ from the programs
}

func (r *modeRun) rate() float64 { return float64(r.ev.Summary.Total) / r.wall.Seconds() }

// evaluate starts a stack in one isolation mode, submits the evaluation,
// waits for it, prints the results and stops the stack.
func evaluate(cfg *settings, mode string, payload []byte, want []string, built map[string]int) (*modeRun, error) {
	args := []string{"--isolation", mode, "--languages", "python", "--queue-max", strconv.Itoa(cfg.queueMax)}
	if cfg.slots > 0 {
		args = append(args, "--slots", strconv.Itoa(cfg.slots), "--pool", "python="+strconv.Itoa(cfg.slots))
	}
	st, err := devstack.Start(cfg.bin, "evalbench-"+mode, args...)
	if err != nil {
		return nil, err
	}
	defer st.Stop()
	e := st.Settle("airlock/python")
	if cfg.slots == 0 {
		cfg.slots, cfg.defaults = e.Slots, true // what the report names
	}
	fmt.Printf("== isolation %s: stack started (python only, slots %d, warm Python sandboxes %d, queue max %d)\n",
		mode, e.Slots, e.WarmPool["airlock/python"], cfg.queueMax)
	// Warm up: one execution through the whole path, in the mode asked for.
	if err := warmUp(st, mode); err != nil {
		return nil, err
	}

	fmt.Printf("== isolation %s: submitting the evaluation\n", mode)
	begin := time.Now()
	resp, err := httpClient.Post(st.URL+"/v1/evaluations", "application/json", bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	accBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r := &modeRun{mode: mode, accepted: time.Since(begin)}
	if resp.StatusCode != http.StatusAccepted {
		return nil, fmt.Errorf("POST /v1/evaluations = %d: %s", resp.StatusCode, accBody)
	}
	var acc struct {
		ID    string `json:"id"`
		Total int    `json:"total"`
	}
	if err := json.Unmarshal(accBody, &acc); err != nil {
		return nil, err
	}
	fmt.Printf("   202 after %v: evaluation %s, %d candidates\n", r.accepted.Round(time.Millisecond), acc.ID, acc.Total)

	lastPrint := time.Time{}
	for {
		ev, code, err := get(st, acc.ID, false)
		if err != nil {
			return nil, err
		}
		if code != 200 && code != 202 {
			return nil, fmt.Errorf("GET evaluation = %d", code)
		}
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
			return nil, errors.New("the evaluation did not complete within 2 hours")
		}
	}
	r.wall = time.Since(begin)
	// The full per-candidate list, for the exact check.
	if r.ev, _, err = get(st, acc.ID, true); err != nil {
		return nil, err
	}
	ev := &r.ev

	fmt.Printf("== isolation %s: results\n", mode)
	fmt.Printf("   wall time (POST to completed)  %v\n", r.wall.Round(10*time.Millisecond))
	fmt.Printf("   POST answered (202) after      %v\n", r.accepted.Round(time.Millisecond))
	fmt.Printf("   programs per second            %.1f\n", r.rate())
	fmt.Printf("   queue-full retries (429s)      %d\n", ev.Progress.QueueFullRetries)
	fmt.Printf("   CPU time of the programs       %.1f s (sum of every stage)\n", float64(ev.Summary.CPUTimeMS)/1000)
	fmt.Printf("   executor slots busy            %.0f%% (slot-seconds %.1f of %d slots x wall time)\n",
		100*float64(ev.Summary.DurationMS)/1000/(float64(cfg.slots)*r.wall.Seconds()), float64(ev.Summary.DurationMS)/1000, cfg.slots)
	printVerdicts(ev.Summary.ByVerdict, built)
	for _, e := range ev.PassAtK.Estimates {
		if e.Value != nil {
			fmt.Printf("   pass@%-3d %.4f over %d problems\n", e.K, *e.Value, e.Problems)
		}
	}
	r.wrong = check(ev, want)
	for _, w := range r.wrong {
		fmt.Println("   !", w)
	}
	if len(r.wrong) == 0 {
		fmt.Println("   every candidate got exactly the verdict it was built for")
	}
	return r, nil
}

// printVerdicts prints the verdict counts got beside those built for,
// marking each that differs.
func printVerdicts(got, built map[string]int) {
	fmt.Printf("   %-30s %8s %8s\n", "verdict", "got", "built")
	for _, v := range sortedKeys(union(built, got)) {
		mark := ""
		if built[v] != got[v] {
			mark = "  MISMATCH"
		}
		fmt.Printf("   %-30s %8d %8d%s\n", v, got[v], built[v], mark)
	}
}

// check lists how the evaluation's results differ from what the programs
// were built to do: the counts, and the first 20 candidates that differ.
func check(ev *evaluation, want []string) []string {
	var wrong []string
	n := len(want)
	if len(ev.Candidates) != n {
		wrong = append(wrong, fmt.Sprintf("%d candidate results, want %d", len(ev.Candidates), n))
	}
	shown := 0
	for _, c := range ev.Candidates {
		if c.Index < 0 || c.Index >= n || c.Verdict == want[c.Index] {
			continue
		}
		if shown++; shown <= 20 {
			wrong = append(wrong, fmt.Sprintf("candidate %d (%s): %s, built for %s %s (execution %s)", c.Index, c.ID, c.Verdict, want[c.Index], c.Message, c.ExecID))
		}
	}
	if shown > 20 {
		wrong = append(wrong, fmt.Sprintf("and %d more candidates", shown-20))
	}
	if ev.Summary.Completed != n || ev.Progress.Rejected != 0 {
		wrong = append(wrong, fmt.Sprintf("completed %d, rejected %d, want %d completed", ev.Summary.Completed, ev.Progress.Rejected, n))
	}
	built := map[string]int{}
	for _, v := range want {
		built[v]++
	}
	for _, v := range sortedKeys(union(built, ev.Summary.ByVerdict)) {
		if built[v] != ev.Summary.ByVerdict[v] {
			wrong = append(wrong, fmt.Sprintf("%d %s, built for %d", ev.Summary.ByVerdict[v], v, built[v]))
		}
	}
	return wrong
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

func warmUp(s *devstack.Stack, mode string) error {
	body := `{"language":"python","files":[{"name":"main.py","content":"print('hi')"}]}`
	for range 3 {
		resp, err := httpClient.Post(s.URL+"/v1/execute?timeout=120s", "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		var e struct {
			Verdict   string `json:"verdict"`
			Isolation string `json:"isolation"`
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := json.Unmarshal(data, &e); err != nil || resp.StatusCode != 200 || e.Verdict != "accepted" {
			return fmt.Errorf("warm-up execution: %d %s", resp.StatusCode, data)
		}
		if e.Isolation != mode {
			return fmt.Errorf("warm-up execution ran in isolation %q, want %q: %s", e.Isolation, mode, data)
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
