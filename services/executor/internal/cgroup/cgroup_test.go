package cgroup

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestReadV2 reads a v2 cgroup's accounting files as the kernel writes them.
func TestReadV2(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")
	write("memory.current", "4096\n")
	write("memory.peak", "8192\n")
	write("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
	write("pids.events", "max 2\n")
	f := Files{v2: true, cpu: filepath.Join(dir, "cpu.stat"), mem: filepath.Join(dir, "memory.current"),
		peak: filepath.Join(dir, "memory.peak"), oom: filepath.Join(dir, "memory.events"), pids: filepath.Join(dir, "pids.events")}
	s, ok := f.Read()
	want := Sample{CPU: 1500 * time.Microsecond, Mem: 4096, PeakMem: 8192, OOMKills: 1, PidsMax: 2}
	if !ok || s != want {
		t.Fatalf("Read = %+v, %v; want %+v", s, ok, want)
	}
	// Gone: the cgroup's files are removed with it.
	if err := os.Remove(f.cpu); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Read(); ok {
		t.Fatal("Read of a removed cgroup reported ok")
	}
}

// TestMinus: figures from a baseline; peak memory counts only what was
// added to what the baseline had in use, never below zero.
func TestMinus(t *testing.T) {
	base := Sample{CPU: time.Second, Mem: 1000, PeakMem: 5000, OOMKills: 1, PidsMax: 1}
	now := Sample{CPU: 3 * time.Second, Mem: 1200, PeakMem: 4000, OOMKills: 1, PidsMax: 4}
	got := now.Minus(base)
	want := Sample{CPU: 2 * time.Second, Mem: 200, PeakMem: 3000, OOMKills: 0, PidsMax: 3}
	if got != want {
		t.Fatalf("Minus = %+v, want %+v", got, want)
	}
	if z := base.Minus(now); z.CPU != 0 || z.Mem != 0 {
		t.Fatalf("Minus below zero: %+v", z)
	}
}
