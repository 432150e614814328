package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
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

// TestProcsFor: one P is raised to two; more are left alone, and so is
// whatever GOMAXPROCS in the environment says.
func TestProcsFor(t *testing.T) {
	for _, c := range []struct {
		current int
		fromEnv bool
		want    int
		setTo   int // 0: not set
	}{
		{1, false, 2, 2},
		{2, false, 2, 0},
		{8, false, 8, 0},
		{1, true, 1, 0},
		{4, true, 4, 0},
	} {
		setTo := 0
		got := procsFor(c.current, c.fromEnv, func(n int) int { setTo = n; return c.current })
		if got != c.want || setTo != c.setTo {
			t.Errorf("procsFor(%d, env %v) = %d, set %d; want %d, set %d", c.current, c.fromEnv, got, setTo, c.want, c.setTo)
		}
	}
}

// TestTuneProcsPinned runs the gateway's start-up tuning in a child process
// pinned to one CPU with taskset, as the benchmark and a one-core cpuset pin
// it: the runtime starts it with one P, and tuneProcs raises that to two
// unless GOMAXPROCS is set.
func TestTuneProcsPinned(t *testing.T) {
	if os.Getenv("SWITCHYARD_TUNEPROCS_CHILD") == "1" {
		before := runtime.GOMAXPROCS(0)
		after := tuneProcs()
		fmt.Printf("procs %d -> %d (%d)\n", before, after, runtime.GOMAXPROCS(0))
		return
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		t.Skip("taskset not installed (util-linux)")
	}
	for _, c := range []struct {
		env  string
		want string
	}{
		{"", "procs 1 -> 2 (2)"},
		{"GOMAXPROCS=1", "procs 1 -> 1 (1)"},
	} {
		cmd := exec.Command(taskset, "-c", "0", os.Args[0], "-test.run=^TestTuneProcsPinned$")
		cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GOMAXPROCS=") })
		cmd.Env = append(cmd.Env, "SWITCHYARD_TUNEPROCS_CHILD=1")
		if c.env != "" {
			cmd.Env = append(cmd.Env, c.env)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child (%q): %v\n%s", c.env, err, out)
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("pinned to one CPU with env %q: got\n%s\nwant a line %q", c.env, out, c.want)
		}
	}
}
