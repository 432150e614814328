package main

import (
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// gatewayGOGC is the collector's growth target unless GOGC is set: a
// gateway's own heap is small and its garbage is per request, so collecting
// at five times the live heap costs a little memory and takes marking off
// the request path, which sets tail latency on a one- or two-core replica.
const gatewayGOGC = 400

// memLimitRatio is the share of the container's (cgroup) memory limit, or
// of the machine's memory when there is none, that the collector treats as
// its soft limit: near it, it collects as often as it must instead of
// growing the heap to GOGC's target.
const memLimitRatio = 0.9

// tuneGC sets the collector up for serving, leaving alone whatever the
// environment says (GOGC, GOMEMLIMIT, AUTOMEMLIMIT=off or a ratio). It
// returns the soft memory limit in effect, in bytes.
//
// The limit follows what the process may use instead of a fixed figure: a
// fixed 512 MiB (what this was before) sits below a 100,000-row KNN
// router's ~500 MB of live heap, so the collector would run back to back,
// and during a hot reload, with two models briefly alive, spend up to half
// the CPU on collection.
func tuneGC() int64 {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gatewayGOGC)
	}
	limit, err := memlimit.Set(
		memlimit.WithRatio(memLimitRatio),
		memlimit.WithProvider(memlimit.ApplyFallback(memlimit.FromCgroup, memlimit.FromSystem)),
		memlimit.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	)
	if err != nil {
		// No limit could be read: the collector keeps GOGC's target only,
		// as Go does by default.
		return debug.SetMemoryLimit(-1)
	}
	return limit
}

// minProcs is the fewest Ps the gateway serves with unless GOMAXPROCS is
// set in the environment.
//
// With one P, a collection stalls request intake: after each cycle the
// runtime's background sweeper runs for a few milliseconds, yielding only to
// goroutines already queued, and the scheduler looks for sockets that became
// ready only when its run queues are empty, so requests that arrive
// meanwhile wait for the sweep to finish (golang/go#56060, still open in Go
// 1.27); the fractional mark worker does the same on a smaller scale. With
// a second P, the idle P's thread waits in the network poller and takes a
// new request at once, and the kernel shares the core between the threads.
// Go already gives a container whose CPU limit is below 2 two Ps; only a
// one-CPU affinity (taskset, a cpuset, Kubernetes' static CPU manager)
// leaves it at one. On one pinned core at 2,000 requests/s this cut the
// gateway's added p99 in 12 of 14 paired runs, for 12-15% more CPU per
// request (bench/notes/gateway.md, session 5).
const minProcs = 2

// tuneProcs raises GOMAXPROCS to minProcs when the runtime chose fewer on
// its own; GOMAXPROCS in the environment always wins. It returns the
// GOMAXPROCS in effect. Setting it turns off the runtime's own later
// updates of GOMAXPROCS, which only matter if the CPU affinity or limit
// changes while the process runs.
func tuneProcs() int {
	return procsFor(runtime.GOMAXPROCS(0), os.Getenv("GOMAXPROCS") != "", runtime.GOMAXPROCS)
}

// procsFor is tuneProcs with the runtime's setter passed in, for testing.
func procsFor(current int, fromEnv bool, set func(int) int) int {
	if fromEnv || current >= minProcs {
		return current
	}
	set(minProcs)
	return minProcs
}
