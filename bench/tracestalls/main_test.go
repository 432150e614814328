package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	rtrace "runtime/trace"
	"strings"
	"testing"
	"time"
)

var sink []byte

// spinFor burns CPU and allocates for d, so the trace has a goroutine with
// a known start function and some garbage to collect.
func spinFor(d time.Duration, done chan<- struct{}) {
	for start := time.Now(); time.Since(start) < d; {
		sink = make([]byte, 1024)
	}
	close(done)
}

// TestTraceAndDump takes a real execution trace of this process with a
// forced collection and a known goroutine in it, and a dump whose requests
// fall inside it: the collection's mark phase, the goroutine's running time
// and the cluster of slow requests must all be found.
func TestTraceAndDump(t *testing.T) {
	var buf bytes.Buffer
	if err := rtrace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	dumpStart := time.Now()
	done := make(chan struct{})
	go spinFor(40*time.Millisecond, done)
	runtime.GC()
	<-done
	time.Sleep(5 * time.Millisecond)
	rtrace.Stop()

	tl, err := readTrace(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.marks) == 0 {
		t.Errorf("no mark phase found; runtime.GC ran during the trace")
	}
	var spun time.Duration
	for name, d := range tl.runTime(interval{tl.first, tl.last}) {
		if strings.HasSuffix(name, ".spinFor") {
			spun += d
		}
	}
	if spun < 20*time.Millisecond {
		t.Errorf("spinFor ran %v by the trace, want most of its 40ms", spun)
	}
	var out bytes.Buffer
	tl.print(&out)
	if !strings.Contains(out.String(), "spinFor") || !strings.Contains(out.String(), "mark phase at") {
		t.Errorf("report lacks the goroutine or the mark phase:\n%s", out.String())
	}

	// A dump starting when the trace did: requests every 0.5 ms, three slow
	// ones back to back at 10 ms, one slow one alone at 25 ms.
	var csv strings.Builder
	for i := 0; i < 60; i++ {
		sent := float64(i) * 0.5
		lat := 0.3
		if sent >= 10 && sent <= 11 || sent == 25 {
			lat = 3
		}
		fmt.Fprintf(&csv, "%.3f,%.3f,%.3f,true\n", sent, sent, lat)
	}
	path := filepath.Join(t.TempDir(), fmt.Sprintf("http___127.0.0.1_1-2000-%d.csv", dumpStart.UnixNano()))
	if err := os.WriteFile(path, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	reqs, err := readDump(path, tl)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) < 55 {
		t.Fatalf("%d of 60 requests placed inside the trace, want nearly all", len(reqs))
	}
	cs := clusters(reqs, 2*time.Millisecond)
	if len(cs) != 2 || cs[0].n != 3 || cs[1].n != 1 {
		t.Fatalf("clusters %+v, want one of 3 and one of 1", cs)
	}
	if got := cs[0].dur(); got < 3*time.Millisecond || got > 5*time.Millisecond {
		t.Errorf("first cluster spans %v, want 4ms (10 ms to 14 ms)", got)
	}
	out.Reset()
	printClusters(&out, tl, reqs, 2*time.Millisecond)
	if !strings.Contains(out.String(), " 3 slow over") {
		t.Errorf("cluster report:\n%s", out.String())
	}

	if _, err := readDump(filepath.Join(t.TempDir(), "nostart.csv"), tl); err == nil {
		t.Errorf("a dump name without a start time was accepted")
	}
}
