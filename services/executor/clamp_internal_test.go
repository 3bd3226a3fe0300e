package executor

import (
	"testing"

	"github.com/airlockrun/airlock/contracts"
)

// TestClampMemoryFloor: a job published straight onto NATS with a memory
// limit under the floor (which the engine would refuse, taking the job for
// the engine's fault) runs at the floor; one above the maximum at the maximum.
func TestClampMemoryFloor(t *testing.T) {
	rt := contracts.Runtime{
		Defaults: contracts.LimitSet{CPUTimeMS: 1000, WallTimeMS: 3000, MemoryMB: 256, Processes: 64, OutputBytes: 1 << 16,
			CompileCPUTimeMS: 10000, CompileWallTimeMS: 20000, CompileMemoryMB: 512},
		Maximums: contracts.LimitSet{CPUTimeMS: 10000, WallTimeMS: 30000, MemoryMB: 1024, Processes: 256, OutputBytes: 1 << 20,
			CompileCPUTimeMS: 30000, CompileWallTimeMS: 60000, CompileMemoryMB: 2048},
	}
	got := contracts.ClampLimits(contracts.Limits{MemoryMB: 1, CompileMemoryMB: 4096}, rt)
	if got.MemoryMB != contracts.MinMemoryMB || got.CompileMemoryMB != 2048 {
		t.Errorf("memory %d MB, compile memory %d MB; want %d and 2048", got.MemoryMB, got.CompileMemoryMB, contracts.MinMemoryMB)
	}
	if got := contracts.ClampLimits(contracts.Limits{}, rt); got.MemoryMB != 256 {
		t.Errorf("unset memory: %d MB, want the default 256", got.MemoryMB)
	}
}
