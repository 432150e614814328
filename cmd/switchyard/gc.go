package main

import (
	"io"
	"log/slog"
	"os"
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
