// Command loadtest fires a burst of submissions at a fresh `airlock dev`
// stack with a bounded queue and checks that nothing is lost: every request
// is answered (202, or 429 with Retry-After), every accepted job completes,
// and the number of stored results equals the number accepted. It prints
// the figures and the peak RSS of the airlock process, and exits non-zero
// when anything is lost or unanswered.
//
//	go run ./tools/loadtest -bin bin/airlock            (or: go tool task load)
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type options struct {
	bin         string
	n           int
	concurrency int
	queueMax    int
	slots       int
	timeout     time.Duration
	keep        bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/airlock", "the airlock binary (static; go tool task build)")
	flag.IntVar(&o.n, "n", 2000, "submissions in the burst")
	flag.IntVar(&o.concurrency, "concurrency", 2000, "requests in flight at once (the whole burst by default)")
	flag.IntVar(&o.queueMax, "queue-max", 500, "the stack's --queue-max")
	flag.IntVar(&o.slots, "slots", 0, "the executor's --slots (0: airlock's default, one per core)")
	// A failure bound that a slow, loaded machine stays far within; a stuck
	// stack is caught sooner, when nothing completes for 3 minutes (collect).
	flag.DurationVar(&o.timeout, "timeout", time.Hour, "how long accepted jobs may take to complete")
	flag.BoolVar(&o.keep, "keep", false, "keep the data directory and log")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("loadtest: PASS")
}

// stack is the airlock dev process under test.
type stack struct {
	cmd     *exec.Cmd
	done    chan error
	logPath string
	base    string
}

var listeningRE = regexp.MustCompile(`gateway listening.*? (?:url=http://|addr=)(\S+)`)

func startStack(ctx context.Context, o options, dir string) (*stack, error) {
	logPath := filepath.Join(dir, "airlock.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := []string{"dev", "--data-dir", filepath.Join(dir, "data"), "--nats-listen", "",
		"--listen", "127.0.0.1:0", "--queue-max", strconv.Itoa(o.queueMax), "--languages", "bash",
		"--log-format", "text", "--log-level", "info"}
	if o.slots > 0 {
		args = append(args, "--slots", strconv.Itoa(o.slots))
	}
	cmd := exec.Command(o.bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", o.bin, err)
	}
	s := &stack{cmd: cmd, done: make(chan error, 1), logPath: logPath}
	go func() { s.done <- cmd.Wait(); logFile.Close() }()
	fmt.Printf("loadtest: started %s (pid %d), log %s\n", strings.Join(cmd.Args, " "), cmd.Process.Pid, logPath)

	deadline := time.Now().Add(3 * time.Minute)
	for s.base == "" {
		if b, err := os.ReadFile(logPath); err == nil {
			if m := listeningRE.FindSubmatch(b); m != nil {
				s.base = "http://" + string(m[1])
				break
			}
		}
		select {
		case err := <-s.done:
			return nil, fmt.Errorf("airlock dev exited before listening (%v); log:\n%s", err, tail(logPath))
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("airlock dev did not listen within 3 minutes; log:\n%s", tail(logPath))
		}
	}
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("airlock dev not ready within 3 minutes; log:\n%s", tail(logPath))
		}
		select {
		case err := <-s.done:
			return nil, fmt.Errorf("airlock dev exited (%v); log:\n%s", err, tail(logPath))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and waits; it returns the exit error.
func (s *stack) stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		return err
	case <-time.After(3 * time.Minute):
		_ = s.cmd.Process.Kill()
		<-s.done
		return errors.New("did not exit within 3 minutes of SIGTERM; killed")
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// peakRSS reads VmHWM (the peak resident set) of a process, in kB.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// burst is what the submissions got.
type burst struct {
	accepted   []string
	rejected   int
	noRetry    int // 429 without Retry-After
	other      map[string]int
	unanswered int
	samples    []string
	took       time.Duration
}

func fire(ctx context.Context, o options, base string) *burst {
	body, _ := json.Marshal(map[string]any{
		"language": "bash",
		"files":    []map[string]string{{"name": "main.sh", "content": "echo hi\n"}},
	})
	client := &http.Client{
		Timeout:   5 * time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency, MaxConnsPerHost: 0, DisableCompression: true},
	}
	b := &burst{other: map[string]int{}}
	var mu sync.Mutex
	sample := func(s string) {
		if len(b.samples) < 5 {
			b.samples = append(b.samples, s)
		}
	}
	sem := make(chan struct{}, o.concurrency)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < o.n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			sem <- struct{}{}
			defer func() { <-sem }()
			req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/executions", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				mu.Lock()
				b.unanswered++
				sample("no answer: " + err.Error())
				mu.Unlock()
				return
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			switch resp.StatusCode {
			case http.StatusAccepted:
				var acc struct{ ID string }
				if json.Unmarshal(data, &acc) != nil || acc.ID == "" {
					b.other["202 without id"]++
					sample("202: " + string(data))
					return
				}
				b.accepted = append(b.accepted, acc.ID)
			case http.StatusTooManyRequests:
				b.rejected++
				if resp.Header.Get("Retry-After") == "" {
					b.noRetry++
					sample("429 without Retry-After: " + string(data))
				}
			default:
				b.other[strconv.Itoa(resp.StatusCode)]++
				sample(fmt.Sprintf("%d: %s", resp.StatusCode, data))
			}
		}()
	}
	begin := time.Now()
	close(start)
	wg.Wait()
	b.took = time.Since(begin)
	return b
}

// execution is the part of an execution the load test reads.
type execution struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Verdict string `json:"verdict"`
	Message string `json:"message"`
}

// collect polls GET /v1/executions?ids= (100 at a time) until every id is
// completed or the timeout passes; it returns the completed executions.
func collect(ctx context.Context, base string, ids []string, timeout time.Duration) (map[string]execution, error) {
	done := map[string]execution{}
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Minute}
	lastReport, progress := time.Now(), time.Now()
	const stall = 3 * time.Minute
	for {
		var pending []string
		for _, id := range ids {
			if _, ok := done[id]; !ok {
				pending = append(pending, id)
			}
		}
		if len(pending) == 0 {
			return done, nil
		}
		if time.Now().After(deadline) {
			return done, fmt.Errorf("%d accepted job(s) not completed within %v", len(pending), timeout)
		}
		if time.Since(progress) > stall {
			return done, fmt.Errorf("%d accepted job(s) not completed, and none completed for %v", len(pending), stall)
		}
		if time.Since(lastReport) > 15*time.Second {
			fmt.Printf("loadtest: %d of %d completed\n", len(done), len(ids))
			lastReport = time.Now()
		}
		for i := 0; i < len(pending); i += 100 {
			chunk := pending[i:min(i+100, len(pending))]
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/executions?ids="+strings.Join(chunk, ","), nil)
			resp, err := client.Do(req)
			if err != nil {
				if ctx.Err() != nil {
					return done, ctx.Err()
				}
				fmt.Println("loadtest: list executions:", err)
				break
			}
			var list struct {
				Executions []struct {
					ID        string     `json:"id"`
					Execution *execution `json:"execution"`
					Error     *struct {
						Code string `json:"code"`
					} `json:"error"`
				} `json:"executions"`
			}
			err = json.NewDecoder(resp.Body).Decode(&list)
			resp.Body.Close()
			if resp.StatusCode != 200 || err != nil {
				fmt.Printf("loadtest: list executions: %d %v\n", resp.StatusCode, err)
				break
			}
			for _, e := range list.Executions {
				if e.Error == nil && e.Execution != nil && e.Execution.Status == "completed" {
					done[e.ID] = *e.Execution
					progress = time.Now()
				}
			}
		}
		select {
		case <-ctx.Done():
			return done, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func run(ctx context.Context, o options) (err error) {
	if o.n < 1 || o.concurrency < 1 {
		return errors.New("-n and -concurrency must be positive")
	}
	dir, err := os.MkdirTemp("", "airlock-loadtest-")
	if err != nil {
		return err
	}
	defer func() {
		if o.keep || err != nil {
			fmt.Println("loadtest: kept", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()
	s, err := startStack(ctx, o, dir)
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = s.stop()
		}
	}()
	pid := s.cmd.Process.Pid
	idle, _ := peakRSS(pid)
	fmt.Printf("loadtest: ready at %s; firing %d submissions, %d at once, queue max %d\n", s.base, o.n, o.concurrency, o.queueMax)

	b := fire(ctx, o, s.base)
	burstRSS, _ := peakRSS(pid)
	other := 0
	for _, c := range b.other {
		other += c
	}
	fmt.Printf("loadtest: burst answered in %v: %d accepted (202), %d rejected (429), %d other, %d unanswered\n",
		b.took.Round(time.Millisecond), len(b.accepted), b.rejected, other, b.unanswered)
	for _, s := range b.samples {
		fmt.Println("loadtest:   e.g.", s)
	}

	begin := time.Now()
	done, cerr := collect(ctx, s.base, b.accepted, o.timeout)
	drain := time.Since(begin)
	peak, rerr := peakRSS(pid)
	stopped = true
	stopErr := s.stop()

	verdicts := map[string]int{}
	for _, e := range done {
		verdicts[e.Verdict]++
	}
	var vs []string
	for v, c := range verdicts {
		vs = append(vs, fmt.Sprintf("%s=%d", v, c))
	}
	sort.Strings(vs)
	lost := len(b.accepted) - len(done)
	fmt.Println()
	fmt.Printf("submitted  %d\n", o.n)
	fmt.Printf("accepted   %d\n", len(b.accepted))
	fmt.Printf("rejected   %d (429 with Retry-After: %d)\n", b.rejected, b.rejected-b.noRetry)
	fmt.Printf("other      %d %v\n", other, b.other)
	fmt.Printf("unanswered %d\n", b.unanswered)
	fmt.Printf("completed  %d (%s)\n", len(done), strings.Join(vs, " "))
	fmt.Printf("lost       %d\n", lost)
	fmt.Printf("burst      %v; accepted jobs done %v later (%.1f jobs/s)\n", b.took.Round(time.Millisecond),
		drain.Round(time.Millisecond), float64(len(done))/drain.Seconds())
	if rerr == nil {
		fmt.Printf("peak RSS   %d MB (airlock dev: NATS, gateway, executor, results; %d MB when idle, %d MB after the burst)\n",
			peak/1024, idle/1024, burstRSS/1024)
	} else {
		fmt.Printf("peak RSS   unknown: %v\n", rerr)
	}
	fmt.Println()

	var problems []string
	if cerr != nil {
		problems = append(problems, cerr.Error())
	}
	if lost != 0 {
		problems = append(problems, fmt.Sprintf("%d accepted job(s) lost", lost))
	}
	if b.unanswered > 0 || other > 0 {
		problems = append(problems, fmt.Sprintf("%d request(s) unanswered and %d answered neither 202 nor 429", b.unanswered, other))
	}
	if b.noRetry > 0 {
		problems = append(problems, fmt.Sprintf("%d 429 answer(s) without Retry-After", b.noRetry))
	}
	if len(b.accepted) == 0 {
		problems = append(problems, "nothing was accepted")
	}
	if verdicts["internal_error"] > 0 {
		for _, e := range done {
			if e.Verdict == "internal_error" {
				problems = append(problems, fmt.Sprintf("%d internal_error result(s), e.g. %s: %s", verdicts["internal_error"], e.ID, e.Message))
				break
			}
		}
	}
	if stopErr != nil {
		problems = append(problems, "airlock dev on SIGTERM: "+stopErr.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s (log: %s)", strings.Join(problems, "; "), s.logPath)
	}
	return nil
}
