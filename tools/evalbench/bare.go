package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// bareJob is one candidate as the evaluation runs it: the problem's harness
// files, then the candidate's (the first file is the entry), its tests and
// its limits.
type bareJob struct {
	files  []file
	tests  []test
	limits map[string]int
}

// bareJobs turns an evaluation request into the programs it makes, in the
// candidates' order, as contracts.Harness.ExecutionRequest does.
func bareJobs(req evaluationRequest) ([]bareJob, error) {
	byID := map[string]harness{}
	for _, p := range req.Problems {
		byID[p.ID] = p.Harness
	}
	jobs := make([]bareJob, 0, len(req.Candidates))
	for _, c := range req.Candidates {
		h, ok := byID[c.Problem]
		if !ok {
			return nil, fmt.Errorf("candidate %s: no problem %q", c.ID, c.Problem)
		}
		tests := h.Tests
		if len(tests) == 0 {
			tests = []test{{Name: "run"}}
		}
		jobs = append(jobs, bareJob{files: append(append([]file{}, h.Files...), c.Files...), tests: tests, limits: h.Limits})
	}
	return jobs, nil
}

// bareRun is the programs run as bare processes on the host.
type bareRun struct {
	python    string
	parallel  int
	caps      string // the limits the programs ran under, in words
	wall      time.Duration
	verdicts  []string        // by candidate index
	durations []time.Duration // by candidate index: files written, every test run, files removed
	cpu       time.Duration   // user + system time of every process
}

func (b *bareRun) rate() float64 { return float64(len(b.verdicts)) / b.wall.Seconds() }

// busy is the share of the workers' time spent on a program.
func (b *bareRun) busy() float64 {
	var sum time.Duration
	for _, d := range b.durations {
		sum += d
	}
	return sum.Seconds() / (float64(b.parallel) * b.wall.Seconds())
}

// counts is the number of candidates of each verdict.
func (b *bareRun) counts() map[string]int {
	out := map[string]int{}
	for _, v := range b.verdicts {
		out[v]++
	}
	return out
}

// runBare runs every job as `python entry` in a fresh directory of its own,
// parallel at a time, under the job's wall limit (the process group is
// killed when it ends) and, with prlimit, its CPU limit (RLIMIT_CPU, whole
// seconds) and memory limit (RLIMIT_AS: address space, which a cgroup does
// not count, so a program that maps much and touches little fails here and
// not in a sandbox; the ones built here touch all they map).
func runBare(jobs []bareJob, python, prlimit string, parallel int) (*bareRun, error) {
	b := &bareRun{python: python, parallel: parallel, caps: capsText(jobs, prlimit),
		verdicts: make([]string, len(jobs)), durations: make([]time.Duration, len(jobs))}
	var mu sync.Mutex
	var firstErr error
	next := make(chan int)
	go func() {
		for i := range jobs {
			next <- i
		}
		close(next)
	}()
	begin := time.Now()
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for i := range next {
				t := time.Now()
				v, cpu, err := runJob(jobs[i], python, prlimit)
				d := time.Since(t)
				mu.Lock()
				b.verdicts[i], b.durations[i], b.cpu = v, d, b.cpu+cpu
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("bare program %d: %w", i, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	b.wall = time.Since(begin)
	return b, firstErr
}

// capsText says which limits the bare programs ran under.
func capsText(jobs []bareJob, prlimit string) string {
	if len(jobs) == 0 {
		return "none"
	}
	l := jobs[0].limits
	wall := fmt.Sprintf("wall %d ms (the process group killed)", l["wall_time_ms"])
	if prlimit == "" {
		return wall + "; no CPU or memory cap (no prlimit)"
	}
	return fmt.Sprintf("%s; CPU %d s (RLIMIT_CPU, whole seconds); memory %d MB as address space (RLIMIT_AS, via %s)",
		wall, cpuSeconds(l["cpu_time_ms"]), l["memory_mb"], prlimit)
}

func cpuSeconds(ms int) int { return (ms + 999) / 1000 }

// command is the argument list that runs entry under the limits.
func command(python, prlimit, entry string, limits map[string]int) []string {
	args := []string{python, entry}
	if prlimit == "" {
		return args
	}
	caps := []string{prlimit}
	if ms := limits["cpu_time_ms"]; ms > 0 {
		caps = append(caps, "--cpu="+strconv.Itoa(cpuSeconds(ms)))
	}
	if mb := limits["memory_mb"]; mb > 0 {
		caps = append(caps, "--as="+strconv.FormatInt(int64(mb)<<20, 10))
	}
	return append(append(caps, "--"), args...)
}

// runJob writes the job's files into a fresh directory, runs each test in
// turn until one fails, and removes the directory; it returns the verdict of
// the first test that failed (accepted if none) and the CPU time used.
func runJob(j bareJob, python, prlimit string) (string, time.Duration, error) {
	dir, err := os.MkdirTemp("", "evalbench-bare-")
	if err != nil {
		return "", 0, err
	}
	defer os.RemoveAll(dir)
	for _, f := range j.files {
		path := filepath.Join(dir, filepath.FromSlash(f.Name))
		if !strings.HasPrefix(path, dir+string(filepath.Separator)) {
			return "", 0, fmt.Errorf("file name %q leaves the directory", f.Name)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", 0, err
		}
		if err := os.WriteFile(path, []byte(f.Content), 0o644); err != nil {
			return "", 0, err
		}
	}
	wall := time.Duration(j.limits["wall_time_ms"]) * time.Millisecond
	if wall <= 0 {
		wall = 10 * time.Second
	}
	var cpu time.Duration
	for _, t := range j.tests {
		args := command(python, prlimit, j.files[0].Name, j.limits)
		ctx, cancel := context.WithTimeout(context.Background(), wall)
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE=1"}
		cmd.Stdin = strings.NewReader(t.Stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = time.Second
		err := cmd.Run()
		timedOut := err != nil && ctx.Err() != nil
		cancel()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) && !timedOut {
			return "", cpu, err // did not start
		}
		o := outcome{timedOut: timedOut, stdout: stdout.String(), stderr: stderr.String()}
		if st := cmd.ProcessState; st != nil {
			cpu += st.UserTime() + st.SystemTime()
			o.exitCode = st.ExitCode()
			if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				o.signal = ws.Signal()
			}
		}
		if v := o.verdict(t.ExpectedOutput); v != "accepted" {
			return v, cpu, nil
		}
	}
	return "accepted", cpu, nil
}

// outcome is how one bare process ended.
type outcome struct {
	timedOut       bool
	signal         syscall.Signal // 0: it exited
	exitCode       int
	stdout, stderr string
}

// verdict names the outcome the way the evaluation's verdicts do. It is this
// tool's reading of an exit, not Airlock's judge: the wall limit or the CPU
// limit (SIGXCPU, or SIGKILL at the hard limit) is time_limit_exceeded; a
// Python MemoryError (RLIMIT_AS refused the allocation) is
// memory_limit_exceeded; any other failure is runtime_error; otherwise the
// output is compared as the default "trim" comparison does.
func (o outcome) verdict(expected string) string {
	switch {
	case o.timedOut, o.signal == syscall.SIGXCPU, o.signal == syscall.SIGKILL:
		return "time_limit_exceeded"
	case o.signal != 0:
		return "runtime_error"
	case o.exitCode != 0 && strings.Contains(o.stderr, "MemoryError"):
		return "memory_limit_exceeded"
	case o.exitCode != 0:
		return "runtime_error"
	case trimOutput(o.stdout) != trimOutput(expected):
		return "wrong_answer"
	}
	return "accepted"
}

// trimOutput normalises an output for the "trim" comparison: \r\n line
// ends, blanks at the end of each line and blank lines at the end ignored.
func trimOutput(s string) string {
	var kept []string
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		kept = append(kept, strings.TrimRight(line, " \t\r\f\v"))
	}
	return strings.TrimRight(strings.Join(kept, "\n"), "\n")
}

// printBare prints the bare run beside the verdicts the programs were built for.
func printBare(b *bareRun, want []string, built map[string]int) {
	fmt.Printf("   limits                         %s\n", b.caps)
	fmt.Printf("   wall time                      %v\n", b.wall.Round(10*time.Millisecond))
	fmt.Printf("   programs per second            %.1f\n", b.rate())
	fmt.Printf("   CPU time of the programs       %.1f s (user + system of every process)\n", b.cpu.Seconds())
	fmt.Printf("   workers busy                   %.0f%% (%d at a time)\n", 100*b.busy(), b.parallel)
	printVerdicts(b.counts(), built)
	differ := 0
	for i, v := range b.verdicts {
		if v != want[i] {
			differ++
		}
	}
	if differ > 0 {
		fmt.Printf("   note: %d bare programs ended otherwise than built for; the bare verdicts are this tool's reading of exits, not the judge's\n", differ)
	} else {
		fmt.Println("   every bare program ended as it was built to")
	}
}
