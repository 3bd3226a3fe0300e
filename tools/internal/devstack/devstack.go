// Package devstack runs `airlock dev` as a process on free loopback ports,
// for the benchmarks in tools/.
package devstack

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Stack is a running `airlock dev` process.
type Stack struct {
	URL  string
	cmd  *exec.Cmd
	dir  string
	done chan struct{}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs bin dev with a fresh data directory, an executor id starting
// with name, and args; it returns once /readyz answers 200.
func Start(bin, name string, args ...string) (*Stack, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "airlock-"+name+"-")
	if err != nil {
		return nil, err
	}
	st := &Stack{URL: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir, done: make(chan struct{})}
	all := append([]string{"dev", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--nats-listen", "", "--data-dir", dir,
		"--executor-id", name + "-" + strconv.Itoa(port), "--log-level", "warn"}, args...)
	st.cmd = exec.Command(bin, all...)
	st.cmd.Stderr = os.Stderr
	if err := st.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	go func() { _ = st.cmd.Wait(); close(st.done) }()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(st.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return st, nil
			}
		}
		select {
		case <-st.done:
			_ = os.RemoveAll(dir)
			return nil, errors.New("airlock dev exited")
		case <-time.After(200 * time.Millisecond):
		}
	}
	st.Stop()
	return nil, errors.New("stack not ready within 3 minutes")
}

// Stop interrupts the process (it shuts down gracefully), kills it after 90
// seconds, and removes its data directory.
func (s *Stack) Stop() {
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(90 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	_ = os.RemoveAll(s.dir)
}

// Executor is what the stack's (first) executor reports on GET /v1/fleet.
type Executor struct {
	Slots    int            `json:"slots"`
	Busy     int            `json:"busy"`
	WarmPool map[string]int `json:"warm_pool"`
}

// Fleet reads the stack's first executor from GET /v1/fleet (ok false
// while none has announced itself).
func (s *Stack) Fleet() (e Executor, ok bool) {
	resp, err := fleetClient.Get(s.URL + "/v1/fleet")
	if err != nil {
		return e, false
	}
	defer resp.Body.Close()
	var f struct {
		Executors []Executor `json:"executors"`
	}
	if json.NewDecoder(resp.Body).Decode(&f) != nil || len(f.Executors) == 0 {
		return e, false
	}
	return f.Executors[0], true
}

var fleetClient = &http.Client{Timeout: 10 * time.Second}

// Settle waits until the stack's executor is idle and its warm sandboxes
// of image have stopped changing for six seconds, longer than the
// executor's heartbeat (5 s), which is how often /v1/fleet learns them: the
// refills are over, and no series shares the machine with them. A minute
// at most. It returns what the executor reports then.
func (s *Stack) Settle(image string) Executor {
	var last Executor
	stable := 0
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		e, ok := s.Fleet()
		if !ok {
			continue
		}
		if e.Busy == 0 && e.WarmPool[image] == last.WarmPool[image] && last.Slots != 0 {
			if stable++; stable >= 30 {
				return e
			}
		} else {
			stable = 0
		}
		last = e
	}
	fmt.Printf("   warning: the executor did not settle within a minute (busy %d, warm %d); going on\n", last.Busy, last.WarmPool[image])
	return last
}

// PeakRSS is VmHWM of the process, in bytes.
func (s *Stack) PeakRSS() int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Machine describes this machine for a report.
func Machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
		if len(f) > 1 {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			mem = fmt.Sprintf(", %d GiB", kb>>20)
		}
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = ", load average " + strings.Join(strings.Fields(string(b))[:3], " ")
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	dv, _ := exec.Command("docker", "version", "--format", "{{.Server.Version}}").Output()
	return fmt.Sprintf("%d cores (%s)%s, kernel %s, Docker %s, %s/%s%s", runtime.NumCPU(), cpu, mem,
		strings.TrimSpace(string(kernel)), strings.TrimSpace(string(dv)), runtime.GOOS, runtime.GOARCH, load)
}

// Commit names the checkout the benchmark ran from: the short commit, with
// "+ uncommitted changes" when the tree differs from it.
func Commit() string {
	rev, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown commit"
	}
	c := "commit " + strings.TrimSpace(string(rev))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		c += " + uncommitted changes"
	}
	return c
}

// Modes are the isolation modes `airlock dev --isolation` takes.
var Modes = []string{"namespace", "container", "gvisor"}

// ParseModes reads a -modes flag: a comma-separated list of isolation modes,
// or "none" (or nothing) for no Airlock at all.
func ParseModes(s string) ([]string, error) {
	if s = strings.TrimSpace(s); s == "" || s == "none" {
		return nil, nil
	}
	var out []string
	for _, m := range strings.Split(s, ",") {
		switch m = strings.TrimSpace(m); {
		case !slices.Contains(Modes, m):
			return nil, fmt.Errorf("-modes: %q is not one of %s (or none)", m, strings.Join(Modes, ", "))
		case slices.Contains(out, m):
			return nil, fmt.Errorf("-modes: %q twice", m)
		}
		out = append(out, m)
	}
	return out, nil
}
