package gcfloor

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name        string
		live, floor uint64
		min, want   int
	}{
		{"small heap lifted to the floor", 4 * mib, 64 * mib, 400, 1500},
		{"heap above the floor keeps the minimum", 100 * mib, 64 * mib, 400, 400},
		{"floor already met by the minimum", 20 * mib, 64 * mib, 400, 400},
		{"no live heap reading", 0, 64 * mib, 400, 400},
		{"tiny heap capped", 1024, 64 * mib, 400, maxPercent},
		{"no floor", 4 * mib, 0, 100, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percent(tc.live, tc.floor, tc.min); got != tc.want {
				t.Errorf("Percent(%d, %d, %d) = %d, want %d", tc.live, tc.floor, tc.min, got, tc.want)
			}
		})
	}
}

// restoreGC puts the process's GC percentage back after a test that tunes it.
func restoreGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	debug.SetGCPercent(old)
	t.Cleanup(func() { debug.SetGCPercent(old) })
}

// currentPercent reads the runtime's GC percentage without changing it.
func currentPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

var sink [][]byte

func TestTunerRaisesPercentForSmallHeap(t *testing.T) {
	restoreGC(t)
	tu := Start(256<<20, 150)
	defer tu.Stop()
	if got := currentPercent(); got != 150 {
		t.Fatalf("after Start the runtime's GC percent is %d, want the minimum 150", got)
	}
	waitCycles(t, tu, 2)
	// The test binary's live heap is a few MiB, far under 256 MiB.
	if p := tu.Percent(); p <= 1000 {
		t.Fatalf("percent after collections = %d, want > 1000 for a small heap under a 256 MiB floor", p)
	}
	if got := currentPercent(); got != tu.Percent() {
		t.Fatalf("runtime GC percent %d differs from the tuner's %d", got, tu.Percent())
	}
}

func TestTunerFallsBackToMinimumForLargeHeap(t *testing.T) {
	restoreGC(t)
	tu := Start(8<<20, 200)
	defer tu.Stop()
	waitCycles(t, tu, 1)
	// 64 MiB of live data: the floor is below the live heap.
	sink = append(sink, make([]byte, 64<<20))
	defer func() { sink = nil }()
	waitCycles(t, tu, tu.Cycles()+2)
	if p := tu.Percent(); p != 200 {
		t.Fatalf("percent with a live heap over the floor = %d, want the minimum 200", p)
	}
}

func TestStopLeavesPercent(t *testing.T) {
	restoreGC(t)
	tu := Start(256<<20, 150)
	waitCycles(t, tu, 1)
	tu.Stop()
	p := currentPercent()
	n := tu.Cycles()
	runtime.GC()
	runtime.GC()
	runtime.GC()
	if tu.Cycles() > n+1 { // at most the finalizer already queued
		t.Fatalf("tuner still ran after Stop: %d cycles, was %d", tu.Cycles(), n)
	}
	if got := currentPercent(); got != p {
		t.Fatalf("percent changed after Stop: %d, was %d", got, p)
	}
}

// waitCycles forces collections until the tuner has seen n of them (the
// finalizer runs on its own goroutine shortly after each cycle).
func waitCycles(t *testing.T, tu *Tuner, n int64) {
	t.Helper()
	for i := 0; i < 200 && tu.Cycles() < n; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if tu.Cycles() < n {
		t.Fatalf("tuner saw %d collections, want %d", tu.Cycles(), n)
	}
}
