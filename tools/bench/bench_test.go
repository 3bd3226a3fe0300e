package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockrun/airlock/tools/internal/devstack"
	"github.com/airlockrun/airlock/tools/internal/figures"
)

// fake is a series of n requests of latency d each, over total, with cpu
// busy CPU per request.
func fake(name string, conc, n int, d, total, cpu time.Duration) *series {
	s := &series{name: name, system: strings.TrimSuffix(strings.TrimSuffix(name, " c=1"), " c=8"), conc: conc, total: total}
	for range n {
		s.latencies = append(s.latencies, d)
	}
	s.cpu = cpu * time.Duration(n)
	return s
}

func sample() *measured {
	ms := time.Millisecond
	m := &measured{modes: []string{"namespace", "container"}, airlock: map[string]*pair{}, rss: map[string]int64{},
		bareVersion: "Python 3.11.2", asyncRate: 7000, asyncRSS: 60 << 20}
	// namespace: 20 ms at c=1 (0.09 of docker's 220), 40/s at c=8 (5.7x docker's 7/s).
	m.airlock["namespace"] = &pair{fake("airlock namespace c=1", 1, 30, 20*ms, 600*ms, 30*ms), fake("airlock namespace c=8", 8, 120, 200*ms, 3*time.Second, 50*ms)}
	// container: 40 ms, 14/s.
	m.airlock["container"] = &pair{fake("airlock container c=1", 1, 30, 40*ms, 1200*ms, 140*ms), fake("airlock container c=8", 8, 140, 600*ms, 10*time.Second, 140*ms)}
	m.docker = &pair{fake("docker run c=1", 1, 30, 220*ms, 6600*ms, 260*ms), fake("docker run c=8", 8, 70, time.Second, 10*time.Second, 290*ms)}
	m.bare = &pair{fake("bare python3 c=1", 1, 30, 15*ms, 450*ms, 20*ms), fake("bare python3 c=8", 8, 120, 100*ms, 2*time.Second, 25*ms)}
	m.rss["namespace"], m.rss["container"] = 40<<20, 38<<20
	for _, s := range []string{"namespace", "container"} {
		m.results = append(m.results, m.airlock[s].c1, m.airlock[s].c8)
	}
	m.results = append(m.results, m.docker.c1, m.docker.c8, m.bare.c1, m.bare.c8)
	return m
}

func TestRatios(t *testing.T) {
	m := sample()
	got := map[string]string{}
	for _, r := range ratios(m) {
		got[r.Name] = strings.TrimSpace(strings.Join([]string{figures.Value(r.Value()), r.TargetText(), r.Mark()}, " "))
	}
	for name, want := range map[string]string{
		"c=8 throughput, namespace / docker run":     "5.71 at least 5 met",
		"c=1 p50 latency, namespace / docker run":    "0.091 at most 0.1 met",
		"c=8 throughput, container / docker run":     "2.00",
		"c=1 p50 latency, container / docker run":    "0.18",
		"c=8 throughput, namespace / bare":           "0.67",
		"c=1 p50 latency, namespace / bare":          "1.33",
		"c=8 busy CPU per request, namespace / bare": "2.00",
		"c=8 throughput, docker run / bare":          "0.12",
		"c=1 p50 latency, docker run / bare":         "14.67",
	} {
		if got[name] != want {
			t.Errorf("%s: %q, want %q", name, got[name], want)
		}
	}
	// Without docker run, no target can be judged; without bare, no floor.
	m.docker = nil
	for _, r := range ratios(m) {
		if r.Target != nil || strings.Contains(r.Name, "docker") {
			t.Errorf("without docker run: %s (target %v)", r.Name, r.Target)
		}
	}
	// A namespace mode too slow is marked.
	m = sample()
	m.airlock["namespace"].c1 = fake("airlock namespace c=1", 1, 30, 30*time.Millisecond, time.Second, 0)
	for _, r := range ratios(m) {
		if r.Name == "c=1 p50 latency, namespace / docker run" && r.Mark() != "NOT MET" {
			t.Errorf("30 ms against 220 ms marked %q", r.Mark())
		}
	}
}

func TestReportKeepsNotes(t *testing.T) {
	m := sample()
	m.slots = 8 // -slots 8
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := os.WriteFile(path, []byte("# old\n\nold figures\n\n## Runs and noise\n\nkept by hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := report(path, m, "2 cores", "commit abc", time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	doc := string(b)
	for _, want := range []string{
		"on 2026-12-02 10:00 UTC from commit abc, on 2 cores.",
		"`airlock dev\n  --isolation namespace --languages python --slots 8 --pool python=8`",
		"| airlock namespace c=1 | 30 | 0 | 20ms |",
		"| bare python3 c=8 | 120 | 0 | 100ms |",
		"| c=8 throughput, namespace / docker run | 5.71 | at least 5 | **met** |",
		"| peak RSS of the whole one-process stack, isolation container, 8 slots | 38 MB |",
		"Python 3.11.2",
		"\n## Runs and noise\n\nkept by hand\n",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q:\n%s", want, doc)
		}
	}
	if strings.Contains(doc, "old figures") {
		t.Error("the old generated part stayed")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "benchmarks-latency.svg")); err != nil {
		t.Error(err)
	}
}

// TestReportNamesTheDefaults: without -slots the stacks run the executor's
// defaults, and the report says which they were.
func TestReportNamesTheDefaults(t *testing.T) {
	m := sample()
	m.observed = devstack.Executor{Slots: 4, WarmPool: map[string]int{pythonImage: 2}}
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := report(path, m, "2 cores", "commit abc", time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for _, want := range []string{
		"--isolation namespace --languages python`, the executor's defaults: 4 slots, warm pool `python=2`",
		"| peak RSS of the whole one-process stack, isolation container, 4 slots |",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("report lacks %q:\n%s", want, b)
		}
	}
}
