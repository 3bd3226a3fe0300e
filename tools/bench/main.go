// Command bench measures Airlock against bare `docker run --rm` in the same
// run, on this machine: a Python hello at concurrency 1 and 8 through the
// real HTTP API (warm pool on) and through the docker CLI with the same image
// and limits; the asynchronous submit rate with the executor paused; and the
// peak RSS of the airlock process. It prints the figures and ratios and
// writes docs/benchmarks.md with an SVG chart of the latency distributions.
//
//	go run ./tools/bench -airlock bin/airlock
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlockrun/airlock/tools/internal/devstack"
)

const hello = `{"language":"python","files":[{"name":"main.py","content":"print('hi')"}]}`

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type series struct {
	name      string
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

func (s *series) throughput() float64 { return float64(len(s.latencies)) / s.total.Seconds() }

// cpuPerRequest is the machine's busy CPU time per request answered.
func (s *series) cpuPerRequest() time.Duration {
	if len(s.latencies) == 0 {
		return 0
	}
	return s.cpu / time.Duration(len(s.latencies))
}

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

func run() error {
	bin := flag.String("airlock", "bin/airlock", "the airlock binary")
	n1 := flag.Int("n1", 30, "requests at concurrency 1")
	n8 := flag.Int("n8", 120, "requests at concurrency 8")
	nAsync := flag.Int("async", 5000, "submissions for the async submit rate")
	out := flag.String("out", "docs/benchmarks.md", "report to write (empty: none)")
	flag.Parse()

	fmt.Println("== starting the stack (slots 8, warm pool python=8)")
	st, err := devstack.Start(*bin, "bench", "--languages", "python", "--slots", "8", "--pool", "python=8")
	if err != nil {
		return err
	}
	defer st.Stop()
	if err := waitPool(st, 8); err != nil {
		return err
	}
	for range 5 { // warm up
		_, _ = execute(st)
	}

	var results []*series
	measure := func(name string, n, conc int, one func() error) *series {
		s := &series{name: name}
		var mu sync.Mutex
		var next atomic.Int64
		cpu0 := busyCPU()
		begin := time.Now()
		var wg sync.WaitGroup
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
					t := time.Now()
					err := one()
					d := time.Since(t)
					mu.Lock()
					if err != nil {
						s.errors++
					} else {
						s.latencies = append(s.latencies, d)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		s.total = time.Since(begin)
		s.cpu = busyCPU() - cpu0
		fmt.Printf("%-28s n=%d p50=%v p90=%v p99=%v throughput=%.1f/s cpu/request=%v errors=%d\n", name, len(s.latencies),
			s.q(.5).Round(time.Millisecond), s.q(.9).Round(time.Millisecond), s.q(.99).Round(time.Millisecond), s.throughput(),
			s.cpuPerRequest().Round(time.Millisecond), s.errors)
		results = append(results, s)
		return s
	}
	airlock := func() error { _, err := execute(st); return err }
	docker := func() error {
		cmd := exec.Command("docker", "run", "--rm", "-i", "--network", "none", "--memory", "256m", "--memory-swap", "256m",
			"--cpus", "1", "--pids-limit", "76", "--read-only", "--tmpfs", "/tmp", "--user", "65534:65534", "--cap-drop", "ALL",
			"--security-opt", "no-new-privileges", "airlock/python", "python3", "-c", "print('hi')")
		outb, err := cmd.Output()
		if err == nil && string(outb) != "hi\n" {
			err = fmt.Errorf("docker run printed %q", outb)
		}
		return err
	}
	// Each series starts with the pool full and idle: the baseline never
	// shares the machine with Airlock refilling its pool.
	fmt.Println("== latency and throughput (same image and limits)")
	_ = waitPool(st, 8)
	a1 := measure("airlock c=1", *n1, 1, airlock)
	_ = waitPool(st, 8)
	d1 := measure("docker run c=1", *n1, 1, docker)
	_ = waitPool(st, 8)
	a8 := measure("airlock c=8", *n8, 8, airlock)
	_ = waitPool(st, 8)
	d8 := measure("docker run c=8", *n8, 8, docker)
	rss := st.PeakRSS()
	st.Stop()

	fmt.Println("== async submit rate (executor paused)")
	paused, err := devstack.Start(*bin, "bench", "--languages", "python", "--paused", "--pool", "none", "--queue-max", strconv.Itoa(*nAsync+100))
	if err != nil {
		return err
	}
	rate, asyncErrs := submitRate(paused, *nAsync, 64)
	asyncRSS := paused.PeakRSS()
	paused.Stop()
	fmt.Printf("async submit: %.0f/s over %d submissions (%d errors); peak RSS %d MB\n", rate, *nAsync, asyncErrs, asyncRSS>>20)

	r1 := float64(a1.q(.5)) / float64(d1.q(.5))
	r8 := a8.throughput() / d8.throughput()
	fmt.Println("== ratios")
	fmt.Printf("c=1 p50 latency: airlock / docker run = %.2f (target <= 0.25)\n", r1)
	fmt.Printf("c=8 throughput:  airlock / docker run = %.2f (target >= 1.8)\n", r8)
	fmt.Printf("c=8 CPU per request: docker run / airlock = %.2f (%v / %v)\n",
		float64(d8.cpuPerRequest())/float64(a8.cpuPerRequest()), d8.cpuPerRequest().Round(time.Millisecond), a8.cpuPerRequest().Round(time.Millisecond))
	fmt.Printf("async submit rate: %.0f/s (target >= 3000)\n", rate)
	fmt.Printf("peak RSS of the airlock process (gateway + executor + results + NATS, 8 warm containers): %d MB (target: executor < 150)\n", rss>>20)
	if *out != "" {
		if err := report(*out, results, r1, r8, rate, rss, asyncRSS); err != nil {
			return err
		}
		fmt.Println("wrote", *out)
	}
	return nil
}

var client = &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}

func execute(s *devstack.Stack) (map[string]any, error) {
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
	return e, nil
}

func waitPool(s *devstack.Stack, n int) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := client.Get(s.URL + "/v1/fleet")
		if err == nil {
			var f struct {
				Executors []struct {
					WarmPool map[string]int `json:"warm_pool"`
				} `json:"executors"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&f)
			resp.Body.Close()
			if len(f.Executors) > 0 && f.Executors[0].WarmPool["airlock/python"] >= n {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the warm pool did not reach %d", n)
}

func submitRate(s *devstack.Stack, n, conc int) (float64, int) {
	var next, errs atomic.Int64
	begin := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				resp, err := client.Post(s.URL+"/v1/executions", "application/json", strings.NewReader(hello))
				if err != nil {
					errs.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 202 {
					errs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(begin).Seconds(), int(errs.Load())
}

// notesHeading starts the hand-written part of the report, kept on rewrite.
const notesHeading = "## Runs and noise"

func report(path string, res []*series, r1, r8, rate float64, rss, asyncRSS int64) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `go tool task bench` (tools/bench) on %s, %s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), devstack.Machine())
	b.WriteString("Every figure comes from one run that measures Airlock and its baseline side by side: a Python\n" +
		"hello (`print('hi')`) through `POST /v1/execute` (the real stack: embedded NATS, gateway, executor with\n" +
		"8 slots and a warm pool of 8 Python containers, results service), and the same program through bare\n" +
		"`docker run --rm` with the same image and limits (no network, 256 MB, 1 CPU, read-only root, non-root,\n" +
		"no capabilities). The machine is shared and noisy: compare the ratios, not the absolute numbers.\n\n")
	b.WriteString("| series | requests | p50 | p90 | p99 | throughput | busy CPU per request |\n|---|---|---|---|---|---|---|\n")
	for _, s := range res {
		fmt.Fprintf(&b, "| %s | %d | %v | %v | %v | %.1f/s | %v |\n", s.name, len(s.latencies),
			s.q(.5).Round(time.Millisecond), s.q(.9).Round(time.Millisecond), s.q(.99).Round(time.Millisecond), s.throughput(),
			s.cpuPerRequest().Round(time.Millisecond))
	}
	b.WriteString("\nBusy CPU per request is the whole machine's (both cores, every process: the engine, containerd,\n" +
		"the shims, runc, the containers, Airlock or the docker CLI) while the series ran, divided by its requests.\n")
	fmt.Fprintf(&b, "\n| ratio | value | target |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| c=1 p50 latency, Airlock / docker run | %.2f | at most 0.25 |\n", r1)
	fmt.Fprintf(&b, "| c=8 throughput, Airlock / docker run | %.2f | at least 1.8 |\n", r8)
	fmt.Fprintf(&b, "| async submit rate (executor paused), submissions/s | %.0f | at least 3000 |\n", rate)
	fmt.Fprintf(&b, "| peak RSS of the whole one-process stack with 8 warm containers | %d MB | executor under 150 MB |\n", rss>>20)
	fmt.Fprintf(&b, "| peak RSS after the async submit run | %d MB | |\n", asyncRSS>>20)
	b.WriteString("\nThe RSS figure is the `airlock dev` process, which holds the gateway, the executor, the results\n" +
		"service and the embedded NATS server together, so it bounds the executor's from above.\n\n")
	svgName := strings.TrimSuffix(filepath.Base(path), ".md") + "-latency.svg"
	fmt.Fprintf(&b, "![Latency distributions](%s)\n\nRerun: `go tool task bench` (about two minutes).\n", svgName)
	// What people wrote under the figures stays.
	if old, err := os.ReadFile(path); err == nil {
		if i := bytes.Index(old, []byte("\n"+notesHeading)); i >= 0 {
			b.WriteString("\n")
			b.Write(old[i+1:])
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(filepath.Dir(path), svgName), chart(res), 0o644)
}

// chart draws the latency distribution of each series as a CDF, log-scaled time.
func chart(res []*series) []byte {
	const w, h, left, bottom, top, right = 760, 380, 60, 50, 20, 200
	lo, hi := 5.0, 5000.0 // ms
	x := func(ms float64) float64 {
		ms = math.Max(lo, math.Min(hi, ms))
		return left + (math.Log10(ms)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*(w-left-right)
	}
	y := func(f float64) float64 { return top + (1-f)*(h-top-bottom) }
	colors := []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`, w, h)
	for _, ms := range []float64{5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000} {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/><text x="%.1f" y="%d" text-anchor="middle">%g</text>`,
			x(ms), top, x(ms), h-bottom, x(ms), h-bottom+16, ms)
	}
	for _, f := range []float64{0, .25, .5, .75, 1} {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" text-anchor="end">%g%%</text>`,
			left, y(f), w-right, y(f), left-6, y(f)+4, f*100)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">latency (ms, log scale)</text>`, (w-right+left)/2, h-12)
	for i, s := range res {
		l := slices.Clone(s.latencies)
		slices.Sort(l)
		var pts []string
		for j, d := range l {
			ms := float64(d.Microseconds()) / 1000
			pts = append(pts, fmt.Sprintf("%.1f,%.1f %.1f,%.1f", x(ms), y(float64(j)/float64(len(l))), x(ms), y(float64(j+1)/float64(len(l)))))
		}
		c := colors[i%len(colors)]
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, c, strings.Join(pts, " "))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="14" height="4" fill="%s"/><text x="%d" y="%d">%s (p50 %v)</text>`,
			w-right+12, top+10+i*20, c, w-right+32, top+16+i*20, s.name, s.q(.5).Round(time.Millisecond))
	}
	b.WriteString(`</svg>`)
	return b.Bytes()
}
