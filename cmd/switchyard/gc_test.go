package main

import (
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/pbnjay/memory"
)

// TestTuneGC: the soft memory limit follows the machine (there is no cgroup
// limit on the test machines, or it is below the machine's memory), and
// whatever the environment sets is left alone.
func TestTuneGC(t *testing.T) {
	gogc := debug.SetGCPercent(100)
	limit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(gogc)
		debug.SetMemoryLimit(limit)
	})

	t.Run("defaults", func(t *testing.T) {
		for _, k := range []string{"GOGC", "GOMEMLIMIT", "AUTOMEMLIMIT"} {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
		got := tuneGC()
		total := int64(memory.TotalMemory())
		if got <= 0 || got > int64(float64(total)*memLimitRatio)+1 {
			t.Fatalf("memory limit %d, want in (0, %.0f] (%.0f of %d)", got, float64(total)*memLimitRatio, memLimitRatio, total)
		}
		if got < 1<<30 && total > 4<<30 {
			t.Fatalf("memory limit %d MiB on a %d MiB machine: a large model would make the collector run back to back", got>>20, total>>20)
		}
		if g := debug.SetGCPercent(100); g != gatewayGOGC {
			t.Fatalf("GOGC %d, want %d", g, gatewayGOGC)
		}
	})
	t.Run("environment wins", func(t *testing.T) {
		debug.SetMemoryLimit(300 << 20) // as GOMEMLIMIT=300MiB would at start
		t.Setenv("GOMEMLIMIT", "300MiB")
		t.Setenv("GOGC", "50")
		debug.SetGCPercent(50)
		if got := tuneGC(); got != 300<<20 {
			t.Fatalf("memory limit %d, want GOMEMLIMIT's %d", got, 300<<20)
		}
		if g := debug.SetGCPercent(50); g != 50 {
			t.Fatalf("GOGC %d, want the environment's 50", g)
		}
	})
}
