// Package cgroup reads and writes the host's cgroup files of sandboxes: the
// kernel's accounting of a container or a cell's run (CPU time, memory, OOM
// kills, refused forks) and the limits of each run of a cell. Everything here
// is the host's: nothing a sandboxed program can write is read as a figure.
package cgroup

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Root is where the host's cgroup hierarchies are mounted.
const Root = "/sys/fs/cgroup"

// Sample is read straight from the container's cgroup by the host:
// kernel accounting the program cannot influence.
type Sample struct {
	CPU time.Duration
	// Mem is the memory in use now; PeakMem the most since the peak was
	// last reset (or since the container started).
	Mem      int64
	PeakMem  int64
	OOMKills int64
	// PidsMax counts forks refused because the pids limit was reached.
	PidsMax int64
}

// minus is s measured from base: what happened after base was taken. Peak
// memory counts only what was added to what base had in use.
func (s Sample) Minus(base Sample) Sample {
	return Sample{
		CPU:      max(s.CPU-base.CPU, 0),
		Mem:      max(s.Mem-base.Mem, 0),
		PeakMem:  max(s.PeakMem-base.Mem, 0),
		OOMKills: max(s.OOMKills-base.OOMKills, 0),
		PidsMax:  max(s.PidsMax-base.PidsMax, 0),
	}
}

// Files are the accounting files of one container's cgroup.
type Files struct {
	v2                        bool
	cpu, mem, peak, oom, pids string
	// peakReset, when set, is written "0" to restart the peak (cgroup v1;
	// v2's memory.peak resets only per open file, so it is not reset).
	peakReset string
}

// Find locates the container's cgroup on the host (v1 with the
// cgroupfs or systemd driver, or v2). ok is false when it cannot be found,
// for example when the executor cannot see the host's /sys/fs/cgroup or the
// container is gone.
func Find(id string) (f Files, ok bool) {
	for _, dir := range []string{"docker/" + id, "system.slice/docker-" + id + ".scope"} {
		v1 := Files{
			cpu:  filepath.Join(Root, "cpuacct", dir, "cpuacct.usage"),
			mem:  filepath.Join(Root, "memory", dir, "memory.usage_in_bytes"),
			peak: filepath.Join(Root, "memory", dir, "memory.max_usage_in_bytes"),
			oom:  filepath.Join(Root, "memory", dir, "memory.oom_control"),
			pids: filepath.Join(Root, "pids", dir, "pids.events"),
		}
		v1.peakReset = v1.peak
		if exists(v1.cpu) && exists(v1.peak) {
			return v1, true
		}
		base := filepath.Join(Root, dir)
		v2 := Files{v2: true,
			cpu:  filepath.Join(base, "cpu.stat"),
			mem:  filepath.Join(base, "memory.current"),
			peak: filepath.Join(base, "memory.peak"),
			oom:  filepath.Join(base, "memory.events"),
			pids: filepath.Join(base, "pids.events"),
		}
		if exists(v2.cpu) && exists(v2.peak) {
			return v2, true
		}
	}
	return Files{}, false
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// read takes one sample; ok is false once the cgroup is gone.
func (f Files) Read() (s Sample, ok bool) {
	var err error
	if f.v2 {
		var usec int64
		usec, err = readKey(f.cpu, "usage_usec")
		s.CPU = time.Duration(usec) * time.Microsecond
	} else {
		var ns int64
		ns, err = readInt(f.cpu)
		s.CPU = time.Duration(ns)
	}
	if err != nil {
		return s, false
	}
	if s.PeakMem, err = readInt(f.peak); err != nil {
		return s, false
	}
	s.Mem, _ = readInt(f.mem)
	s.OOMKills, _ = readKey(f.oom, "oom_kill")
	s.PidsMax, _ = readKey(f.pids, "max")
	return s, true
}

// baseline restarts the peak (where the kernel allows it) and samples the
// cgroup: the point from which a program's figures count.
func (f Files) Baseline() (Sample, bool) {
	if f.peakReset != "" {
		_ = os.WriteFile(f.peakReset, []byte("0"), 0)
	}
	return f.Read()
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
}

// readKey reads "key value" lines (memory.oom_control, cpu.stat, memory.events).
func readKey(path, key string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte{' '})
		if ok && string(k) == key {
			return strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		}
	}
	return 0, os.ErrNotExist
}
