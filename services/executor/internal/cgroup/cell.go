package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// The cgroups of a cell and of each of its runs, owned by the host: the
// executor (root on the host) makes a child cgroup of the cell's for every
// run, sets the run's limits there, moves the run's processes into it before
// the program starts, reads the program's figures from it and removes it.
// Nothing in the cell can write to any of them (the cgroup file systems are
// read-only in the container, and the cell runs without capabilities).
//
// cgroup v1 (as on hosts with Docker's cgroupfs driver and a hybrid
// hierarchy): the run gets a child in each of the cpu, cpuacct, memory and
// pids hierarchies, and stays in the cell's cgroup in the others. cgroup v2:
// a process may only sit in a leaf once the cell's controllers are handed
// to its children, so the cell's init moves to a child "home" when the cell
// starts, and every run is a sibling of it.

// v1Controllers are the hierarchies a run gets a cgroup of its own in.
var v1Controllers = []string{"cpu", "cpuacct", "memory", "pids"}

// Cell is where a cell's processes are accounted.
type Cell struct {
	v2 bool
	// parent: where runs are made (v1: per controller); home: where the
	// cell's init lives and where every process it starts appears first.
	parent, home map[string]string
}

// FindCell locates the cell container's cgroups (see Find).
func FindCell(id string) (Cell, error) {
	f, ok := Find(id)
	if !ok {
		return Cell{}, fmt.Errorf("the cell's cgroup is not under %s (namespace isolation needs the host's cgroup file system, as root)", Root)
	}
	if f.v2 {
		dir := filepath.Dir(f.cpu)
		c := Cell{v2: true, parent: map[string]string{"": dir}, home: map[string]string{"": filepath.Join(dir, "home")}}
		return c, nil
	}
	// v1: cpuacct.usage is <root>/cpuacct/<path>/cpuacct.usage.
	rel, err := filepath.Rel(filepath.Join(Root, "cpuacct"), filepath.Dir(f.cpu))
	if err != nil {
		return Cell{}, fmt.Errorf("cgroup path: %w", err)
	}
	c := Cell{parent: map[string]string{}, home: map[string]string{}}
	for _, ctrl := range v1Controllers {
		dir, err := filepath.EvalSymlinks(filepath.Join(Root, ctrl, rel))
		if err != nil {
			return Cell{}, fmt.Errorf("no %s cgroup for the cell: %w", ctrl, err)
		}
		c.parent[ctrl], c.home[ctrl] = dir, dir
	}
	return c, nil
}

// procsDir is the directory whose cgroup.procs lists the cell's own
// processes and those of a run not yet moved.
func (c Cell) procsDir() string {
	if c.v2 {
		return c.home[""]
	}
	return c.home["memory"]
}

// settle prepares a new cell's cgroup: under v2, moves its init (every
// process it has) into home and hands the controllers to the children.
func (c Cell) Settle() error {
	if !c.v2 {
		return nil
	}
	parent, home := c.parent[""], c.home[""]
	if err := os.Mkdir(home, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	pids, err := readProcs(parent)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := writeFile(filepath.Join(home, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return writeFile(filepath.Join(parent, "cgroup.subtree_control"), "+cpu +memory +pids")
}

// procs lists the processes in the cell's home cgroup.
func (c Cell) Procs() ([]int, error) { return readProcs(c.procsDir()) }

// Limits are what the kernel enforces on one run.
type Limits struct {
	Memory   int64 // bytes, memory and memory+swap
	Pids     int64
	NanoCPUs int64 // CPU bandwidth, 1e9 = one core
}

// Run is the host's cgroup of one run.
type Run struct {
	v2   bool
	dirs map[string]string // v1: per controller; v2: ""
	// Files are the run's accounting files.
	Files Files
}

// newRun makes the cgroup of a run named name (no limits of its own yet:
// the cell's bound it; limit sets the run's).
func (c Cell) NewRun(name string) (Run, error) {
	r := Run{v2: c.v2, dirs: map[string]string{}}
	for ctrl, parent := range c.parent {
		dir := filepath.Join(parent, name)
		// Co-mounted hierarchies (cpu,cpuacct) share one directory.
		if !slices.Contains(slices.Collect(maps.Values(r.dirs)), dir) {
			if err := os.Mkdir(dir, 0o755); err != nil {
				_ = r.Remove()
				return r, err
			}
		}
		r.dirs[ctrl] = dir
	}
	if c.v2 {
		dir := r.dirs[""]
		r.Files = Files{v2: true,
			cpu: filepath.Join(dir, "cpu.stat"), mem: filepath.Join(dir, "memory.current"),
			peak: filepath.Join(dir, "memory.peak"), oom: filepath.Join(dir, "memory.events"),
			pids: filepath.Join(dir, "pids.events")}
	} else {
		mem := r.dirs["memory"]
		r.Files = Files{
			cpu: filepath.Join(r.dirs["cpuacct"], "cpuacct.usage"), mem: filepath.Join(mem, "memory.usage_in_bytes"),
			peak: filepath.Join(mem, "memory.max_usage_in_bytes"), oom: filepath.Join(mem, "memory.oom_control"),
			pids: filepath.Join(r.dirs["pids"], "pids.events")}
		r.Files.peakReset = r.Files.peak
	}
	return r, nil
}

// limit sets the run's limits. A run's cgroup gets them once, before its
// program starts (it is made without any: memory+swap can then be set after
// memory without ever being below it).
func (r Run) Limit(lim Limits) error {
	quota := lim.NanoCPUs / 10_000 // µs per 100 ms period
	var err error
	if r.v2 {
		dir := r.dirs[""]
		err = errors.Join(
			writeFile(filepath.Join(dir, "memory.max"), strconv.FormatInt(lim.Memory, 10)),
			writeFile(filepath.Join(dir, "memory.swap.max"), "0"),
			writeFile(filepath.Join(dir, "pids.max"), strconv.FormatInt(lim.Pids, 10)),
			writeFile(filepath.Join(dir, "cpu.max"), fmt.Sprintf("%d 100000", quota)))
	} else {
		mem := r.dirs["memory"]
		err = writeFile(filepath.Join(mem, "memory.limit_in_bytes"), strconv.FormatInt(lim.Memory, 10))
		if sw := filepath.Join(mem, "memory.memsw.limit_in_bytes"); err == nil && exists(sw) {
			err = writeFile(sw, strconv.FormatInt(lim.Memory, 10))
		}
		err = errors.Join(err,
			writeFile(filepath.Join(r.dirs["pids"], "pids.max"), strconv.FormatInt(lim.Pids, 10)),
			writeFile(filepath.Join(r.dirs["cpu"], "cpu.cfs_period_us"), "100000"),
			writeFile(filepath.Join(r.dirs["cpu"], "cpu.cfs_quota_us"), strconv.FormatInt(quota, 10)))
	}
	if err != nil {
		return fmt.Errorf("run cgroup limits: %w", err)
	}
	return nil
}

// move puts the processes pids into the run's cgroup, in every hierarchy.
func (r Run) Move(pids []int) error {
	for _, dir := range r.unique() {
		for _, pid := range pids {
			if err := writeFile(filepath.Join(dir, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
				return fmt.Errorf("move %d into the run's cgroup: %w", pid, err)
			}
		}
	}
	return nil
}

// unique lists the run's directories once each.
func (r Run) unique() []string {
	dirs := slices.Sorted(maps.Values(r.dirs))
	return slices.Compact(dirs)
}

// procs lists the processes in the run's cgroup.
func (r Run) Procs() ([]int, error) {
	if r.v2 {
		return readProcs(r.dirs[""])
	}
	return readProcs(r.dirs["memory"])
}

// kill sends SIGKILL to every process in the run's cgroup. A pid is
// signalled through a pidfd opened before the pid is checked to still be in
// the cgroup, so a pid the kernel gave to some other process meanwhile is
// never signalled. Killing the run's first process ends its pid namespace.
func (r Run) Kill() {
	if r.v2 {
		if err := writeFile(filepath.Join(r.dirs[""], "cgroup.kill"), "1"); err == nil {
			return
		}
	}
	for range 50 {
		pids, err := r.Procs()
		if err != nil || len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			fd, err := unix.PidfdOpen(pid, 0)
			if err != nil {
				continue // gone
			}
			if now, err := r.Procs(); err == nil && slices.Contains(now, pid) {
				_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
			}
			_ = unix.Close(fd)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// remove removes the run's cgroup (the kernel refuses while a process is in
// it; an exiting one leaves within moments).
func (r Run) Remove() error {
	var err error
	for _, dir := range r.unique() {
		for attempt := 0; ; attempt++ {
			err = unix.Rmdir(dir)
			if err == nil || errors.Is(err, unix.ENOENT) {
				err = nil
				break
			}
			if attempt == 40 {
				return fmt.Errorf("remove run cgroup %s: %w", dir, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return err
}

func readProcs(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range bytes.Fields(b) {
		pid, err := strconv.Atoi(string(f))
		if err != nil {
			return nil, fmt.Errorf("cgroup.procs of %s: %w", dir, err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

func writeFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
