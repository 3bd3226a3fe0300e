// Command bench measures Airlock beside its baselines in one run, on this
// machine: a Python hello at concurrency 1 and 8
//
//   - through the real HTTP API once per isolation mode: a fresh stack per
//     mode (`airlock dev --isolation <mode>`), one after the other, never two
//     at the same time;
//   - through `docker run --rm` with the same image and limits;
//   - as a bare process on the host (/usr/bin/python3, no sandbox at all: the
//     floor every sandbox adds to);
//
// then the asynchronous submit rate with the executor paused, and the peak
// RSS of the airlock process. It prints the figures and the ratios with
// their targets (met / not met) and writes docs/benchmarks.md with an SVG
// chart of the latency distributions. It asserts no time: a target not met
// is printed, not failed.
//
//	go run ./tools/bench -airlock bin/airlock [-modes namespace,container]
package main

import (
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
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlockrun/airlock/tools/internal/devstack"
	"github.com/airlockrun/airlock/tools/internal/figures"
)

const (
	hello       = `{"language":"python","files":[{"name":"main.py","content":"print('hi')"}]}`
	pythonImage = "airlock/python"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type series struct {
	name      string
	system    string // "airlock namespace", "docker run", "bare python3", ...
	conc      int
	latencies []time.Duration
	total     time.Duration
	cpu       time.Duration // busy CPU of the whole machine during the series
	errors    int
}

func (s *series) q(p float64) time.Duration {
	l := slices.Clone(s.latencies)
	slices.Sort(l)
	if len(l) == 0 {
		return 0
	}
	return l[min(int(math.Ceil(p*float64(len(l))))-1, len(l)-1)]
}

func (s *series) throughput() float64 {
	if s.total <= 0 {
		return 0
	}
	return float64(len(s.latencies)) / s.total.Seconds()
}

// cpuPerRequest is the machine's busy CPU time per request answered.
func (s *series) cpuPerRequest() time.Duration {
	if len(s.latencies) == 0 {
		return 0
	}
	return s.cpu / time.Duration(len(s.latencies))
}

// pair is one system measured at concurrency 1 and 8.
type pair struct{ c1, c8 *series }

// busyCPU is the time all CPUs of the machine have spent busy (not idle, not
// waiting for I/O) since boot, from /proc/stat.
func busyCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	var ticks int64
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		if i != 3 && i != 4 { // idle, iowait
			ticks += v
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// parallel calls f n times in all from conc goroutines, each call as soon
// as the goroutine's last one returned.
func parallel(n, conc int, f func()) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				f()
			}
		}()
	}
	wg.Wait()
}

// measure runs one n times from conc goroutines and prints the series.
func measure(name, system string, n, conc int, one func() error) *series {
	s := &series{name: name, system: system, conc: conc}
	var mu sync.Mutex
	cpu0 := busyCPU()
	begin := time.Now()
	parallel(n, conc, func() {
		t := time.Now()
		err := one()
		d := time.Since(t)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if s.errors == 0 {
				fmt.Printf("   %s: first error: %v\n", name, err)
			}
			s.errors++
		} else {
			s.latencies = append(s.latencies, d)
		}
	})
	s.total = time.Since(begin)
	s.cpu = busyCPU() - cpu0
	fmt.Printf("%-28s n=%d p50=%v p95=%v p99=%v throughput=%.1f/s cpu/request=%v errors=%d\n", name, len(s.latencies),
		ms(s.q(.5)), ms(s.q(.95)), ms(s.q(.99)), s.throughput(), ms(s.cpuPerRequest()), s.errors)
	return s
}

func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

func run() error {
	bin := flag.String("airlock", "bin/airlock", "the airlock binary")
	modesFlag := flag.String("modes", "namespace,container", `isolation modes to measure, one stack each, in this order (comma-separated; "none": no Airlock)`)
	docker := flag.Bool("docker", true, "measure `docker run --rm` (the baseline of the targets)")
	bare := flag.Bool("bare", true, "measure the bare process on the host (the floor)")
	python := flag.String("python", "/usr/bin/python3", "the host's Python for the bare baseline (not a pyenv shim: it adds about 350 ms a start)")
	slots := flag.Int("slots", 0, "executor slots and warm Python sandboxes of every stack (0: the executor's defaults, which is what `go tool task up` runs)")
	n1 := flag.Int("n1", 30, "requests at concurrency 1")
	n8 := flag.Int("n8", 120, "requests at concurrency 8")
	nAsync := flag.Int("async", 5000, "submissions for the async submit rate (0: skip)")
	out := flag.String("out", "docs/benchmarks.md", "report to write (empty: none)")
	flag.Parse()
	modes, err := devstack.ParseModes(*modesFlag)
	if err != nil {
		return err
	}
	if *n1 < 1 || *n8 < 1 {
		return errors.New("need -n1 >= 1 and -n8 >= 1")
	}

	m := &measured{modes: modes, airlock: map[string]*pair{}, rss: map[string]int64{}, slots: *slots}
	if *bare { // before the stacks: a missing Python should not cost their minutes
		v, err := exec.Command(*python, "--version").CombinedOutput()
		if err != nil {
			return fmt.Errorf("bare baseline: %s --version: %v", *python, err)
		}
		m.bareVersion = strings.TrimSpace(string(v))
	}
	for _, mode := range modes {
		p, rss, err := m.measureMode(*bin, mode, *n1, *n8)
		if err != nil {
			return fmt.Errorf("isolation %s: %w", mode, err)
		}
		m.airlock[mode], m.rss[mode] = p, rss
		m.results = append(m.results, p.c1, p.c8)
	}
	// The baselines run with no stack up: nothing of Airlock's is on the
	// machine while they are measured.
	if *docker {
		fmt.Println("== docker run --rm (same image and limits)")
		one := func() error {
			cmd := exec.Command("docker", "run", "--rm", "-i", "--network", "none", "--memory", "256m", "--memory-swap", "256m",
				"--cpus", "1", "--pids-limit", "76", "--read-only", "--tmpfs", "/tmp", "--user", "65534:65534", "--cap-drop", "ALL",
				"--security-opt", "no-new-privileges", pythonImage, "python3", "-c", "print('hi')")
			return expectHi("docker run", cmd)
		}
		m.docker = &pair{measure("docker run c=1", "docker run", *n1, 1, one), measure("docker run c=8", "docker run", *n8, 8, one)}
		m.results = append(m.results, m.docker.c1, m.docker.c8)
	}
	if *bare {
		fmt.Printf("== bare process on the host (%s, %s)\n", *python, m.bareVersion)
		one := func() error {
			cmd := exec.Command(*python, "-c", "print('hi')")
			cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE=1"}
			return expectHi("bare python3", cmd)
		}
		m.bare = &pair{measure("bare python3 c=1", "bare python3", *n1, 1, one), measure("bare python3 c=8", "bare python3", *n8, 8, one)}
		m.results = append(m.results, m.bare.c1, m.bare.c8)
	}

	if len(modes) > 0 && *nAsync > 0 {
		fmt.Printf("== async submit rate (executor paused, isolation %s)\n", modes[0])
		paused, err := devstack.Start(*bin, "bench", "--isolation", modes[0], "--languages", "python", "--paused", "--pool", "none",
			"--queue-max", strconv.Itoa(*nAsync+100))
		if err != nil {
			return err
		}
		var asyncErrs int
		m.asyncRate, asyncErrs = submitRate(paused, *nAsync, 64)
		m.asyncRSS = paused.PeakRSS()
		paused.Stop()
		fmt.Printf("async submit: %.0f/s over %d submissions (%d errors); peak RSS %d MB\n", m.asyncRate, *nAsync, asyncErrs, m.asyncRSS>>20)
	}

	fmt.Println("== figures")
	fmt.Print(seriesText(m.results))
	fmt.Println("== ratios")
	fmt.Print(figures.Text(ratios(m)))
	if len(modes) > 0 {
		if *nAsync > 0 {
			fmt.Printf("async submit rate: %.0f/s (target >= 3000)\n", m.asyncRate)
		}
		for _, mode := range modes {
			fmt.Printf("peak RSS of the airlock process, isolation %s (gateway + executor + results + NATS): %d MB (target: executor < 150)\n",
				mode, m.rss[mode]>>20)
		}
	}
	switch {
	case *out == "":
	case len(modes) == 0:
		fmt.Println("no Airlock mode measured: no report written")
	default:
		if err := report(*out, m, devstack.Machine(), devstack.Commit(), time.Now()); err != nil {
			return err
		}
		fmt.Println("wrote", *out)
	}
	return nil
}

// measureMode starts a stack in one isolation mode, measures the hello at
// concurrency 1 and 8 and stops it; it returns the series and the peak RSS.
// The stack runs with the executor's defaults (slots, warm pool) unless
// -slots names a number of slots (and as many warm Python sandboxes).
func (m *measured) measureMode(bin, mode string, n1, n8 int) (*pair, int64, error) {
	args := []string{"--isolation", mode, "--languages", "python"}
	if m.slots > 0 {
		args = append(args, "--slots", strconv.Itoa(m.slots), "--pool", "python="+strconv.Itoa(m.slots))
	}
	st, err := devstack.Start(bin, "bench-"+mode, args...)
	if err != nil {
		return nil, 0, err
	}
	defer st.Stop()
	e := st.Settle(pythonImage)
	m.observed = e
	fmt.Printf("== airlock, isolation %s: stack started (slots %d, warm Python sandboxes %d)\n", mode, e.Slots, e.WarmPool[pythonImage])
	for range 5 { // warm up; the first answer must say the mode it ran in
		if _, err := execute(st, mode); err != nil {
			return nil, 0, fmt.Errorf("warm-up: %w", err)
		}
	}
	// Each series starts with the executor idle and its pool settled.
	system := "airlock " + mode
	one := func() error { _, err := execute(st, mode); return err }
	st.Settle(pythonImage)
	c1 := measure(system+" c=1", system, n1, 1, one)
	st.Settle(pythonImage)
	c8 := measure(system+" c=8", system, n8, 8, one)
	return &pair{c1, c8}, st.PeakRSS(), nil
}

func expectHi(what string, cmd *exec.Cmd) error {
	out, err := cmd.Output()
	if err == nil && string(out) != "hi\n" {
		err = fmt.Errorf("%s printed %q", what, out)
	}
	return err
}

var client = &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}

// execute runs the hello through POST /v1/execute and checks that it was
// accepted in the isolation mode the stack was started with.
func execute(s *devstack.Stack, mode string) (map[string]any, error) {
	resp, err := client.Post(s.URL+"/v1/execute", "application/json", strings.NewReader(hello))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var e map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 || e["verdict"] != "accepted" {
		return e, fmt.Errorf("status %d verdict %v", resp.StatusCode, e["verdict"])
	}
	if e["isolation"] != mode {
		return e, fmt.Errorf("the execution reports isolation %v, want %q", e["isolation"], mode)
	}
	return e, nil
}

func submitRate(s *devstack.Stack, n, conc int) (float64, int) {
	var errs atomic.Int64
	begin := time.Now()
	parallel(n, conc, func() {
		resp, err := client.Post(s.URL+"/v1/executions", "application/json", strings.NewReader(hello))
		if err != nil {
			errs.Add(1)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 202 {
			errs.Add(1)
		}
	})
	return float64(n) / time.Since(begin).Seconds(), int(errs.Load())
}
