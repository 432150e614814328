// Package gcfloor keeps the Go collector from running more often than once per
// a fixed amount of allocation, however small the live heap is.
//
// A gateway's live heap is a few megabytes (config, metric series, tables) and
// its garbage is per request: at 2,000 requests/s it allocates ~40 MB/s. With
// GOGC=400 and a 5 MB live heap the collector ran every ~0.5 s, each cycle
// costing 3-4 ms of CPU spread over a 5-10 ms mark phase; on a one-core replica
// every request arriving in that window queues behind it, about 1-2% of all
// requests, which is where the p99 is measured. GOGC alone cannot fix that: the
// heap goal is proportional to the live heap, and a larger GOGC would also
// multiply the heap of a replica that has loaded a 100 MB model. A floor on
// the goal can: after each cycle the GC percentage is set so that the next
// goal is at least the floor, and never less than the configured minimum.
// When the live heap outgrows the floor the minimum applies, as without the
// floor; the process's memory limit (GOMEMLIMIT) still bounds everything.
//
// The hook is a finalizer re-armed every cycle (the finalizer runs after each
// collection that found it unreachable), and the live heap comes from
// runtime/metrics' /gc/heap/live:bytes, the bytes marked by that cycle. (The
// heap-in-use figure of runtime.MemStats also counts spans not yet swept,
// garbage included, right after a cycle, which is why this is not built on a
// tuner that reads it.)
package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

const liveMetric = "/gc/heap/live:bytes"

// maxPercent bounds the percentage for a nearly empty heap (a floor of 64 MiB
// over a 100 KiB heap would otherwise ask for 65,000%).
const maxPercent = 50_000

// Tuner adjusts the GC percentage after every collection. Stop it to leave the
// percentage where it is.
type Tuner struct {
	floor      uint64
	minPercent int

	mu      sync.Mutex
	sample  []metrics.Sample
	percent atomic.Int64
	cycles  atomic.Int64
	stopped atomic.Bool
}

// Start sets the GC percentage to minPercent and from then on, after each
// collection, to the larger of minPercent and the percentage that puts the
// next heap goal at floor bytes. floor 0 only sets minPercent.
func Start(floor uint64, minPercent int) *Tuner {
	if minPercent < 1 {
		minPercent = 1
	}
	t := &Tuner{floor: floor, minPercent: minPercent, sample: []metrics.Sample{{Name: liveMetric}}}
	t.set(minPercent)
	if floor > 0 {
		t.arm()
	}
	return t
}

// Percent is the GC percentage the tuner last set.
func (t *Tuner) Percent() int { return int(t.percent.Load()) }

// Cycles is how many collections the tuner has seen.
func (t *Tuner) Cycles() int64 { return t.cycles.Load() }

// Stop ends the tuning; the percentage stays as last set.
func (t *Tuner) Stop() { t.stopped.Store(true) }

// sentinel is the object whose finalizer runs once per collection.
type sentinel struct {
	t *Tuner
	_ [16]byte // not a tiny allocation: tiny objects share blocks and may never be freed alone
}

func (t *Tuner) arm() {
	s := &sentinel{t: t}
	runtime.SetFinalizer(s, func(s *sentinel) {
		if s.t.stopped.Load() {
			return
		}
		s.t.afterGC()
		s.t.arm()
	})
}

func (t *Tuner) afterGC() {
	t.cycles.Add(1)
	t.mu.Lock()
	metrics.Read(t.sample)
	live := uint64(0)
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live = t.sample[0].Value.Uint64()
	}
	t.mu.Unlock()
	p := Percent(live, t.floor, t.minPercent)
	// Setting the percentage recomputes the pacer's goal under the heap
	// lock; skip it when nothing would change.
	if int64(p) != t.percent.Load() {
		t.set(p)
	}
}

func (t *Tuner) set(p int) {
	debug.SetGCPercent(p)
	t.percent.Store(int64(p))
}

// Percent is the GC percentage that puts the heap goal, live*(1+p/100), at
// floor bytes, or minPercent when that is larger.
func Percent(live, floor uint64, minPercent int) int {
	if live == 0 || floor <= live {
		return minPercent
	}
	p := (floor - live) * 100 / live
	if p > maxPercent {
		p = maxPercent
	}
	if int(p) < minPercent {
		return minPercent
	}
	return int(p)
}
