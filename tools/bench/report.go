package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/airlockrun/airlock/tools/internal/devstack"
	"github.com/airlockrun/airlock/tools/internal/figures"
)

// measured is everything one run measured; a system not measured is nil.
type measured struct {
	modes       []string
	airlock     map[string]*pair // by isolation mode
	rss         map[string]int64 // peak RSS of the airlock process, by mode
	docker      *pair
	bare        *pair
	bareVersion string
	results     []*series // in the order they ran
	asyncRate   float64
	asyncRSS    int64
	// slots is the -slots flag; observed is what the last stack's executor
	// reported once it had settled after its start.
	slots    int
	observed devstack.Executor
}

// The targets of issue 16, for the namespace mode against `docker run`.
var (
	throughputTarget = figures.AtLeast(5)  // c=8 throughput, namespace / docker run
	latencyTarget    = figures.AtMost(0.1) // c=1 p50 latency, namespace / docker run
)

func fdur(d time.Duration) float64 { return float64(d) }

// ratios compares every Airlock mode with `docker run` (the targets are the
// namespace mode's) and with the bare process (the floor), then `docker run`
// with the bare process.
func ratios(m *measured) []figures.Ratio {
	var out []figures.Ratio
	p50 := func(name string, a, b *series, t *figures.Target) figures.Ratio {
		return figures.Ratio{Name: "c=1 p50 latency, " + name, Num: fdur(a.q(.5)), Den: fdur(b.q(.5)), Target: t,
			Detail: fmt.Sprintf("%v / %v", ms(a.q(.5)), ms(b.q(.5)))}
	}
	tput := func(name string, a, b *series, t *figures.Target) figures.Ratio {
		return figures.Ratio{Name: "c=8 throughput, " + name, Num: a.throughput(), Den: b.throughput(), Target: t,
			Detail: fmt.Sprintf("%.1f/s / %.1f/s", a.throughput(), b.throughput())}
	}
	cpu := func(name string, a, b *series) figures.Ratio {
		return figures.Ratio{Name: "c=8 busy CPU per request, " + name, Num: fdur(a.cpuPerRequest()), Den: fdur(b.cpuPerRequest()),
			Detail: fmt.Sprintf("%v / %v", ms(a.cpuPerRequest()), ms(b.cpuPerRequest()))}
	}
	for _, mode := range m.modes {
		a := m.airlock[mode]
		if a == nil {
			continue
		}
		if d := m.docker; d != nil {
			var lt, tt *figures.Target
			if mode == "namespace" {
				lt, tt = latencyTarget, throughputTarget
			}
			name := mode + " / docker run"
			out = append(out, tput(name, a.c8, d.c8, tt), p50(name, a.c1, d.c1, lt), cpu(name, a.c8, d.c8))
		}
	}
	for _, mode := range m.modes {
		a := m.airlock[mode]
		if a == nil || m.bare == nil {
			continue
		}
		name := mode + " / bare"
		out = append(out, tput(name, a.c8, m.bare.c8, nil), p50(name, a.c1, m.bare.c1, nil), cpu(name, a.c8, m.bare.c8))
	}
	if d, b := m.docker, m.bare; d != nil && b != nil {
		name := "docker run / bare"
		out = append(out, tput(name, d.c8, b.c8, nil), p50(name, d.c1, b.c1, nil), cpu(name, d.c8, b.c8))
	}
	return out
}

// seriesRows is the table of every series, a header first.
func seriesRows(res []*series) [][]string {
	rows := [][]string{{"series", "requests", "errors", "p50", "p95", "p99", "throughput", "busy CPU per request"}}
	for _, s := range res {
		rows = append(rows, []string{s.name, fmt.Sprint(len(s.latencies)), fmt.Sprint(s.errors),
			ms(s.q(.5)).String(), ms(s.q(.95)).String(), ms(s.q(.99)).String(),
			fmt.Sprintf("%.1f/s", s.throughput()), ms(s.cpuPerRequest()).String()})
	}
	return rows
}

func seriesText(res []*series) string { return figures.Columns(seriesRows(res)) }

func seriesMarkdown(res []*series) string {
	rows := seriesRows(res)
	var b strings.Builder
	b.WriteString("| " + strings.Join(rows[0], " | ") + " |\n|---|" + strings.Repeat("---:|", len(rows[0])-1) + "\n")
	for _, r := range rows[1:] {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}

// notesHeading starts the hand-written part of the report, kept on rewrite.
const notesHeading = "## Runs and noise"

// modeWords says what each isolation mode runs a program in.
var modeWords = map[string]string{
	"namespace": "each run gets a fresh sandbox (new namespaces by bubblewrap, a cgroup of its own)\n  inside a long-lived locked-down container, a cell",
	"container": "each run gets a fresh container, taken from the warm pool",
	"gvisor":    "each run gets a fresh container under gVisor (runsc)",
}

func report(path string, m *measured, machine, commit string, now time.Time) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `go tool task bench` (tools/bench) on %s from %s, on %s.\n\n",
		now.UTC().Format("2006-01-02 15:04 MST"), commit, machine)
	b.WriteString("Every figure on this page comes from one run that measures Airlock and its baselines one after the\n" +
		"other, never two at the same time. The program is a Python hello (`print('hi')`), sent at concurrency 1\n" +
		"and 8 (the same number of requests to each system):\n\n")
	for _, mode := range m.modes {
		fmt.Fprintf(&b, "- **airlock %s**: through `POST /v1/execute` of a stack started for this mode alone (`airlock dev\n"+
			"  --isolation %s --languages python%s`: embedded NATS, gateway, executor, results\n"+
			"  service) and stopped before the next system; %s;\n", mode, mode, m.slotArgs(), modeWords[mode])
	}
	if m.docker != nil {
		b.WriteString("- **docker run**: bare `docker run --rm` with the same image and limits (no network, 256 MB, 1 CPU,\n" +
			"  read-only root, non-root, no capabilities), with no Airlock stack up;\n")
	}
	if m.bare != nil {
		fmt.Fprintf(&b, "- **bare python3**: `/usr/bin/python3 -c \"print('hi')\"` as a plain process on the host (%s), no\n"+
			"  sandbox and no container: the floor that every sandbox adds to.\n", m.bareVersion)
	}
	b.WriteString("\nThe machine is shared and noisy: compare the ratios, not the absolute numbers.\n\n")
	b.WriteString(seriesMarkdown(m.results))
	b.WriteString("\nBusy CPU per request is the whole machine's (both cores, every process: the engine, containerd,\n" +
		"the shims, runc, the containers, Airlock, the docker CLI or the bare process) while the series ran,\n" +
		"divided by its requests.\n\n")
	b.WriteString("The targets (issue 16) are the namespace mode's against `docker run`: c=8 throughput at least 5×, c=1\n" +
		"p50 latency at most 0.1×. The ratios against the bare process say how far each system is from the floor.\n" +
		"Nothing fails on a target: this page says whether this run met it.\n\n")
	b.WriteString(figures.Markdown(ratios(m)))
	b.WriteString("\n| figure | value | target |\n|---|---|---|\n")
	if m.asyncRate > 0 {
		fmt.Fprintf(&b, "| async submit rate (executor paused, isolation %s), submissions/s | %.0f | at least 3000 |\n", m.modes[0], m.asyncRate)
	}
	for _, mode := range m.modes {
		fmt.Fprintf(&b, "| peak RSS of the whole one-process stack, isolation %s, %d slots | %d MB | executor under 150 MB |\n",
			mode, m.stackSlots(), m.rss[mode]>>20)
	}
	if m.asyncRSS > 0 {
		fmt.Fprintf(&b, "| peak RSS after the async submit run | %d MB | |\n", m.asyncRSS>>20)
	}
	b.WriteString("\nThe RSS figure is the `airlock dev` process, which holds the gateway, the executor, the results\n" +
		"service and the embedded NATS server together, so it bounds the executor's from above.\n\n")
	svgName := strings.TrimSuffix(filepath.Base(path), ".md") + "-latency.svg"
	fmt.Fprintf(&b, "![Latency distributions](%s)\n\nRerun: `go tool task bench` (a few minutes: one stack per mode, then `docker run`\n"+
		"and the bare process); `go tool task bench -- -modes namespace` measures one mode.\n", svgName)
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
	return os.WriteFile(filepath.Join(filepath.Dir(path), svgName), chart(m.results), 0o644)
}

// chart draws the latency distribution of each series as a CDF, log-scaled
// time: a colour per system, dashed at concurrency 1, solid at 8.
func chart(res []*series) []byte {
	const w, h, left, bottom, top, right = 800, 420, 60, 50, 20, 240
	lo, hi := 5.0, 5000.0 // ms
	x := func(ms float64) float64 {
		ms = math.Max(lo, math.Min(hi, ms))
		return left + (math.Log10(ms)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*(w-left-right)
	}
	y := func(f float64) float64 { return top + (1-f)*(h-top-bottom) }
	colors := []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"}
	var systems []string
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
		if !slices.Contains(systems, s.system) {
			systems = append(systems, s.system)
		}
		c := colors[slices.Index(systems, s.system)%len(colors)]
		dash := ""
		if s.conc == 1 {
			dash = ` stroke-dasharray="5,3"`
		}
		l := slices.Clone(s.latencies)
		slices.Sort(l)
		var pts []string
		for j, d := range l {
			ms := float64(d.Microseconds()) / 1000
			pts = append(pts, fmt.Sprintf("%.1f,%.1f %.1f,%.1f", x(ms), y(float64(j)/float64(len(l))), x(ms), y(float64(j+1)/float64(len(l)))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`, c, dash, strings.Join(pts, " "))
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"%s/><text x="%d" y="%d">%s (p50 %v)</text>`,
			w-right+10, top+12+i*20, w-right+30, top+12+i*20, c, dash, w-right+36, top+16+i*20, s.name, ms(s.q(.5)))
	}
	b.WriteString(`</svg>`)
	return b.Bytes()
}

// slotArgs are the flags the stacks were started with beyond the mode: the
// slots and warm pool of -slots, or none (the executor's defaults, what
// `go tool task up` runs).
func (m *measured) slotArgs() string {
	if m.slots > 0 {
		return fmt.Sprintf(" --slots %d --pool python=%d", m.slots, m.slots)
	}
	return fmt.Sprintf("`, the executor's defaults: %d slots, warm pool `python=%d", m.observed.Slots, m.observed.WarmPool[pythonImage])
}

// stackSlots is the stacks' number of slots.
func (m *measured) stackSlots() int {
	if m.slots > 0 {
		return m.slots
	}
	return m.observed.Slots
}
