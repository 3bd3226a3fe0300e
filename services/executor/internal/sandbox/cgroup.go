package sandbox

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// cgroupRoot is where the host's cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// cgroupSample is read straight from the container's cgroup by the host:
// kernel accounting the program cannot influence.
type cgroupSample struct {
	CPU      time.Duration
	PeakMem  int64
	OOMKills int64
	// PidsMax counts forks refused because the pids limit was reached.
	PidsMax int64
}

// readCgroup reads the container's CPU time, peak memory and OOM-kill count
// from the host's cgroup files (v1 with the cgroupfs or systemd driver, or
// v2). ok is false when the files cannot be found, for example when the
// executor cannot see the host's /sys/fs/cgroup.
func readCgroup(id string) (s cgroupSample, ok bool) {
	// cgroup v1
	for _, dir := range []string{"docker/" + id, "system.slice/docker-" + id + ".scope"} {
		usage, err := readInt(filepath.Join(cgroupRoot, "cpuacct", dir, "cpuacct.usage"))
		if err != nil {
			continue
		}
		peak, err := readInt(filepath.Join(cgroupRoot, "memory", dir, "memory.max_usage_in_bytes"))
		if err != nil {
			continue
		}
		s.CPU, s.PeakMem = time.Duration(usage), peak
		s.OOMKills, _ = readKey(filepath.Join(cgroupRoot, "memory", dir, "memory.oom_control"), "oom_kill")
		s.PidsMax, _ = readKey(filepath.Join(cgroupRoot, "pids", dir, "pids.events"), "max")
		return s, true
	}
	// cgroup v2
	for _, dir := range []string{"docker/" + id, "system.slice/docker-" + id + ".scope"} {
		usec, err := readKey(filepath.Join(cgroupRoot, dir, "cpu.stat"), "usage_usec")
		if err != nil {
			continue
		}
		peak, err := readInt(filepath.Join(cgroupRoot, dir, "memory.peak"))
		if err != nil {
			continue
		}
		s.CPU, s.PeakMem = time.Duration(usec)*time.Microsecond, peak
		s.OOMKills, _ = readKey(filepath.Join(cgroupRoot, dir, "memory.events"), "oom_kill")
		s.PidsMax, _ = readKey(filepath.Join(cgroupRoot, dir, "pids.events"), "max")
		return s, true
	}
	return s, false
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
