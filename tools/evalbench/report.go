package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/airlockrun/airlock/tools/internal/figures"
)

// targetPrograms is the smallest evaluation the target speaks of.
const targetPrograms = 300

// ratios compares the wall time of each mode with the bare run's (the
// target, namespace within 2x of bare, holds for at least 300 programs) and
// the container mode's with the namespace mode's.
func ratios(runs []*modeRun, b *bareRun, n int) []figures.Ratio {
	var out []figures.Ratio
	wall := func(name string, num, den time.Duration, t *figures.Target) figures.Ratio {
		return figures.Ratio{Name: "wall time, " + name, Num: num.Seconds(), Den: den.Seconds(), Target: t,
			Detail: fmt.Sprintf("%.1f s / %.1f s", num.Seconds(), den.Seconds())}
	}
	var ns, ct *modeRun
	for _, r := range runs {
		switch r.mode {
		case "namespace":
			ns = r
		case "container":
			ct = r
		}
		if b == nil {
			continue
		}
		var t *figures.Target
		if r.mode == "namespace" && n >= targetPrograms {
			t = figures.AtMost(2)
		}
		out = append(out, wall(r.mode+" / bare", r.wall, b.wall, t))
	}
	if ns != nil && ct != nil {
		out = append(out, wall("container / namespace", ct.wall, ns.wall, nil))
	}
	return out
}

// summaryText is the wall time and programs per second of every run.
func summaryText(runs []*modeRun, b *bareRun) string {
	rows := [][]string{{"run", "wall time", "programs/s"}}
	for _, r := range runs {
		rows = append(rows, []string{"airlock " + r.mode, r.wall.Round(10 * time.Millisecond).String(), fmt.Sprintf("%.1f", r.rate())})
	}
	if b != nil {
		rows = append(rows, []string{fmt.Sprintf("bare python3, %d at a time", b.parallel), b.wall.Round(10 * time.Millisecond).String(), fmt.Sprintf("%.1f", b.rate())})
	}
	return figures.Columns(rows)
}

// meanDurations is the mean time of each verdict's candidates.
func meanDurations(verdicts []string, durations []time.Duration) map[string]time.Duration {
	sum, count := map[string]time.Duration{}, map[string]int{}
	for i, v := range verdicts {
		sum[v] += durations[i]
		count[v]++
	}
	out := map[string]time.Duration{}
	for v, s := range sum {
		out[v] = s / time.Duration(count[v])
	}
	return out
}

// mdTable writes a Markdown table: a header, then rows; every column but
// the first is aligned right.
func mdTable(b *strings.Builder, header []string, rows [][]string) {
	b.WriteString("| " + strings.Join(header, " | ") + " |\n|---|" + strings.Repeat("---:|", len(header)-1) + "\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
}

func report(path string, cfg settings, size int, built map[string]int, runs []*modeRun, bare *bareRun, machine, commit string, now time.Time) error {
	var b strings.Builder
	b.WriteString("# Evaluation benchmark\n\n")
	b.WriteString("<!-- Written by `go tool task eval-bench` (tools/evalbench). Do not edit: run it again. -->\n\n")
	fmt.Fprintf(&b, "One evaluation (`POST /v1/evaluations`, see [ai-evaluation.md](ai-evaluation.md)) of **%d small Python programs** "+
		"over %d problems, judged by a harness (`main.py` imports the candidate's `solution.py`, one test compares its "+
		"answer) with limits of 1 s CPU, 3 s wall and 64 MB. The programs are built to end in known verdicts; the run fails "+
		"unless every candidate gets exactly the verdict it was built for. ", cfg.n, cfg.problems)
	var modes []string
	for _, r := range runs {
		modes = append(modes, "`"+r.mode+"`")
	}
	stack := fmt.Sprintf("`airlock dev --isolation <mode> --languages python --slots %d --pool python=%d --queue-max %d`",
		cfg.slots, cfg.slots, cfg.queueMax)
	if cfg.defaults {
		stack = fmt.Sprintf("`airlock dev --isolation <mode> --languages python --queue-max %d`, with the executor's "+
			"default slots (%d here) and warm pool", cfg.queueMax, cfg.slots)
	}
	fmt.Fprintf(&b, "The same evaluation ran once per isolation mode (%s), one after the other, each on a stack of its own "+
		"started for it and stopped before the next: %s.", strings.Join(modes, ", "), stack)
	if bare != nil {
		fmt.Fprintf(&b, " Then the very same programs (the files, stdin and expected output the evaluation was sent, read back "+
			"from its request) ran as bare processes on the host, `%s main.py` in a fresh directory each, %d at a time, "+
			"with no sandbox: the floor. Their limits: %s.", bare.python, bare.parallel, bare.caps)
	}
	fmt.Fprintf(&b, " Measured %s from %s, on %s.\n\n", now.UTC().Format("2006-01-02 15:04 UTC"), commit, machine)

	header := []string{"figure"}
	for _, r := range runs {
		header = append(header, "airlock "+r.mode)
	}
	if bare != nil {
		header = append(header, "bare python3")
	}
	row := func(name string, mode func(r *modeRun) string, bareCell string) []string {
		out := []string{name}
		for _, r := range runs {
			out = append(out, mode(r))
		}
		if bare != nil {
			out = append(out, bareCell)
		}
		return out
	}
	var bareWall, bareRate, bareCPU, bareBusy string
	if bare != nil {
		bareWall, bareRate = fmt.Sprintf("%.1f s", bare.wall.Seconds()), fmt.Sprintf("%.1f", bare.rate())
		bareCPU = fmt.Sprintf("%.1f s", bare.cpu.Seconds())
		bareBusy = fmt.Sprintf("%.0f%% of %d workers", 100*bare.busy(), bare.parallel)
	}
	mdTable(&b, header, [][]string{
		row("programs", func(*modeRun) string { return fmt.Sprintf("%d (request %d KiB)", cfg.n, size>>10) }, fmt.Sprint(cfg.n)),
		row("wall time (Airlock: POST to completed)", func(r *modeRun) string { return fmt.Sprintf("%.1f s", r.wall.Seconds()) }, bareWall),
		row("programs per second", func(r *modeRun) string { return fmt.Sprintf("%.1f", r.rate()) }, bareRate),
		row("POST answered (202) after", func(r *modeRun) string { return fmt.Sprintf("%d ms", r.accepted.Milliseconds()) }, ""),
		row("queue-full answers retried by the gateway", func(r *modeRun) string { return fmt.Sprint(r.ev.Progress.QueueFullRetries) }, ""),
		row("CPU time of the programs (sum)", func(r *modeRun) string { return fmt.Sprintf("%.1f s", float64(r.ev.Summary.CPUTimeMS)/1000) }, bareCPU),
		row("slots busy (slot-seconds / (slots × wall time); bare: its workers)", func(r *modeRun) string {
			return fmt.Sprintf("%.0f%% of %d slots", 100*float64(r.ev.Summary.DurationMS)/1000/(float64(cfg.slots)*r.wall.Seconds()), cfg.slots)
		}, bareBusy),
	})

	if bare != nil {
		b.WriteString("\nThe target (issue 16): the evaluation in the namespace mode within 2× of the same programs as bare " +
			"processes, for at least 300 programs. Nothing fails on it: this page says whether this run met it.\n\n")
		b.WriteString(figures.Markdown(ratios(runs, bare, cfg.n)))
	}

	// Mean time a candidate of each verdict took: in Airlock, the time it
	// held an executor slot (started_at..finished_at: sandbox start, the run,
	// the clean-up); bare, the time from writing its files to removing them.
	got := []map[string]int{}
	means := []map[string]time.Duration{}
	header = []string{"verdict", "built for"}
	for _, r := range runs {
		var verdicts []string
		var durations []time.Duration
		for _, c := range r.ev.Candidates {
			verdicts = append(verdicts, c.Verdict)
			durations = append(durations, time.Duration(c.DurationMS)*time.Millisecond)
		}
		got, means = append(got, r.ev.Summary.ByVerdict), append(means, meanDurations(verdicts, durations))
		header = append(header, "got, "+r.mode)
	}
	if bare != nil {
		got, means = append(got, bare.counts()), append(means, meanDurations(bare.verdicts, bare.durations))
		header = append(header, "got, bare")
	}
	for _, r := range runs {
		header = append(header, "mean time in a slot, "+r.mode)
	}
	if bare != nil {
		header = append(header, "mean time, bare")
	}
	all := built
	for _, g := range got {
		all = union(all, g)
	}
	var rows [][]string
	for _, v := range sortedKeys(all) {
		r := []string{"`" + v + "`", fmt.Sprint(built[v])}
		for _, g := range got {
			r = append(r, fmt.Sprint(g[v]))
		}
		for _, m := range means {
			r = append(r, fmt.Sprintf("%d ms", m[v].Milliseconds()))
		}
		rows = append(rows, r)
	}
	b.WriteString("\n")
	mdTable(&b, header, rows)

	header, rows = []string{"pass@k"}, nil
	for _, r := range runs {
		header = append(header, r.mode)
	}
	for i, e := range runs[0].ev.PassAtK.Estimates {
		r := []string{fmt.Sprintf("pass@%d over %d problems", e.K, e.Problems)}
		for _, run := range runs {
			cell := "n/a"
			if es := run.ev.PassAtK.Estimates; i < len(es) && es[i].Value != nil {
				cell = fmt.Sprintf("%.4f", *es[i].Value)
			}
			r = append(r, cell)
		}
		rows = append(rows, r)
	}
	b.WriteString("\n")
	mdTable(&b, header, rows)

	fmt.Fprintf(&b, "\nA slot is held from `started_at` to `finished_at` (sandbox start, the run, the clean-up); each "+
		"evaluation's wall time covers %d slots. A program that loops forever holds its slot until its CPU (1 s) or wall (3 s) "+
		"limit. The queue bound is smaller than the evaluation on purpose: the gateway feeds the candidates into the "+
		"queue as it drains and retries the 429s itself; slots busy close to 100%% means the executors, not the "+
		"gateway, set the pace.", cfg.slots)
	if bare != nil {
		fmt.Fprintf(&b, " The bare run has %d workers where each stack has %d slots: a program that sleeps until its wall "+
			"limit holds a worker for 3 s just as it holds a slot, so those programs weigh more in the bare wall time. Its verdicts are this tool's reading of each exit "+
			"(wall or CPU limit: `time_limit_exceeded`; a Python `MemoryError`: `memory_limit_exceeded`; another failure: "+
			"`runtime_error`; else the output compared as the judge's default `trim` does), not Airlock's judge.",
			bare.parallel, cfg.slots)
	}
	b.WriteString(" The machine is shared (see the load average): the figures are this run's, not a ceiling.\n\n" +
		"Rerun: `go tool task eval-bench` (`-- -modes namespace` for one mode).\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
