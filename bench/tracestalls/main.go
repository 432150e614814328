// Command tracestalls reads a Go execution trace of the gateway taken under
// load and says where the time went while requests were slow: which
// goroutines ran on the Ps (by the function each goroutine started in), when
// the collector's mark phases were, and, given gatewaybench's per-request
// dump of the same period, what ran during each cluster of slow requests.
//
// Take the trace while gatewaybench measures the gateway (started with
// -pprof), and the dump with GATEWAYBENCH_DUMP:
//
//	GATEWAYBENCH_DUMP=/tmp/dump go run ./bench/gatewaybench -pprof 127.0.0.1:6061 -rates 2000 -stream-rates "" -duration 20s -warmup 1s -rounds 1 &
//	sleep 50; curl -so /tmp/gw.trace 'http://127.0.0.1:6061/debug/pprof/trace?seconds=8'
//	go run ./bench/tracestalls -dump /tmp/dump/<the gateway's measured slice>.csv /tmp/gw.trace
//
// The dump's file name ends in the slice's start time (Unix nanoseconds);
// the trace's clock snapshot (Go 1.25 and later) maps it onto trace time.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

func main() {
	dump := flag.String("dump", "", "gatewaybench dump (CSV, name ending -STARTUNIXNS.csv) of the same period")
	slow := flag.Duration("slow", 2*time.Millisecond, "a request at least this slow counts as slow")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: tracestalls [-dump FILE] [-slow D] TRACE")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fail(err)
	}
	defer f.Close()
	tl, err := readTrace(f)
	if err != nil {
		fail(fmt.Errorf("%s: %w", flag.Arg(0), err))
	}
	tl.print(os.Stdout)
	if *dump == "" {
		return
	}
	reqs, err := readDump(*dump, tl)
	if err != nil {
		fail(err)
	}
	printClusters(os.Stdout, tl, reqs, *slow)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "tracestalls:", err)
	os.Exit(1)
}

// interval is a stretch of trace time.
type interval struct{ start, end trace.Time }

func (iv interval) dur() time.Duration { return iv.end.Sub(iv.start) }

func (iv interval) overlaps(o interval) bool { return iv.start <= o.end && o.start <= iv.end }

// execution is one goroutine running on a P from start to end.
type execution struct {
	interval
	g trace.GoID
}

// timeline is what the trace says happened.
type timeline struct {
	first, last trace.Time
	marks       []interval // GC concurrent mark phases
	execs       []execution
	root        map[trace.GoID]string // the function each goroutine started in
	snap        *trace.ClockSnapshot  // first clock snapshot, nil before Go 1.25
}

func readTrace(r io.Reader) (*timeline, error) {
	rd, err := trace.NewReader(r)
	if err != nil {
		return nil, err
	}
	tl := &timeline{root: map[trace.GoID]string{}}
	running := map[trace.GoID]trace.Time{}
	var markStart trace.Time
	for {
		ev, err := rd.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		t := ev.Time()
		if tl.first == 0 {
			tl.first = t
		}
		tl.last = t
		switch ev.Kind() {
		case trace.EventSync:
			if cs := ev.Sync().ClockSnapshot; cs != nil && tl.snap == nil {
				tl.snap = cs
			}
		case trace.EventRangeBegin, trace.EventRangeEnd:
			if ev.Range().Name != "GC concurrent mark phase" {
				continue
			}
			if ev.Kind() == trace.EventRangeBegin {
				markStart = t
			} else if markStart != 0 {
				tl.marks = append(tl.marks, interval{markStart, t})
				markStart = 0
			}
		case trace.EventStateTransition:
			st := ev.StateTransition()
			if st.Resource.Kind != trace.ResourceGoroutine {
				continue
			}
			g := st.Resource.Goroutine()
			if tl.root[g] == "" {
				tl.root[g] = bottomFrame(st.Stack)
			}
			if tl.root[g] == "" && ev.Goroutine() == g {
				tl.root[g] = bottomFrame(ev.Stack())
			}
			from, to := st.Goroutine()
			if to == trace.GoRunning {
				running[g] = t
			}
			if from == trace.GoRunning {
				if s, ok := running[g]; ok {
					tl.execs = append(tl.execs, execution{interval{s, t}, g})
					delete(running, g)
				}
			}
		}
	}
	sort.Slice(tl.execs, func(i, j int) bool { return tl.execs[i].start < tl.execs[j].start })
	return tl, nil
}

// bottomFrame is the outermost function of a stack: where the goroutine
// started.
func bottomFrame(s trace.Stack) string {
	var last string
	for fr := range s.Frames() {
		last = fr.Func
	}
	return last
}

// runTime sums the running time inside iv by the goroutines' start functions.
func (tl *timeline) runTime(iv interval) map[string]time.Duration {
	by := map[string]time.Duration{}
	for _, e := range tl.execs {
		if e.start > iv.end {
			break
		}
		if !e.overlaps(iv) {
			continue
		}
		by[tl.root[e.g]] += min(e.end, iv.end).Sub(max(e.start, iv.start))
	}
	return by
}

func (tl *timeline) print(w io.Writer) {
	total := tl.last.Sub(tl.first)
	fmt.Fprintf(w, "trace: %v, %d goroutine executions, %d mark phases\n", total.Round(time.Millisecond), len(tl.execs), len(tl.marks))
	for _, m := range tl.marks {
		fmt.Fprintf(w, "  mark phase at %7.3f s: %v\n", m.start.Sub(tl.first).Seconds(), m.dur().Round(10*time.Microsecond))
	}
	fmt.Fprintln(w, "running time by the function a goroutine started in:")
	for _, kv := range sorted(tl.runTime(interval{tl.first, tl.last}), 12) {
		fmt.Fprintf(w, "  %10v %5.1f%%  %s\n", kv.d.Round(time.Microsecond), 100*float64(kv.d)/float64(total), kv.name)
	}
}

type named struct {
	name string
	d    time.Duration
}

// sorted is by's entries, longest first, at most n.
func sorted(by map[string]time.Duration, n int) []named {
	var out []named
	for k, d := range by {
		out = append(out, named{k, d})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].d > out[j].d || out[i].d == out[j].d && out[i].name < out[j].name })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// request is one request from the dump, on the trace's clock.
type request struct {
	at  trace.Time
	lat time.Duration
}

func (r request) span() interval { return interval{r.at, r.at + trace.Time(r.lat)} }

// readDump reads a gatewaybench dump (scheduled ms, sent ms, latency ms,
// ok per line) and keeps the requests sent inside the trace.
func readDump(path string, tl *timeline) ([]request, error) {
	if tl.snap == nil {
		return nil, fmt.Errorf("the trace has no clock snapshot (Go 1.25 or later writes one): cannot line the dump up with it")
	}
	base := strings.TrimSuffix(path, ".csv")
	startNS, err := strconv.ParseInt(base[strings.LastIndexByte(base, '-')+1:], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s: the name does not end in -STARTUNIXNS.csv: %w", path, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	start := time.Unix(0, startNS)
	var out []request
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(line, ",")
		if len(f) != 4 {
			return nil, fmt.Errorf("%s:%d: want 4 fields (scheduled, sent, latency ms, ok), got %d", path, i+1, len(f))
		}
		sent, err1 := strconv.ParseFloat(f[1], 64)
		lat, err2 := strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s:%d: bad number in %q", path, i+1, line)
		}
		wall := start.Add(time.Duration(sent * 1e6))
		at := tl.snap.Trace + trace.Time(wall.Sub(tl.snap.Wall))
		if at < tl.first || at > tl.last {
			continue
		}
		out = append(out, request{at, time.Duration(lat * 1e6)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].at < out[j].at })
	return out, nil
}

// cluster is a run of slow requests, each sent at most a millisecond after
// the previous one finished.
type cluster struct {
	interval
	n   int
	max time.Duration
}

func clusters(reqs []request, slow time.Duration) []cluster {
	var out []cluster
	for _, r := range reqs {
		if r.lat < slow {
			continue
		}
		sp := r.span()
		if n := len(out); n > 0 && sp.start <= out[n-1].end+trace.Time(time.Millisecond) {
			c := &out[n-1]
			c.n++
			c.end = max(c.end, sp.end)
			c.max = max(c.max, r.lat)
			continue
		}
		out = append(out, cluster{sp, 1, r.lat})
	}
	return out
}

func printClusters(w io.Writer, tl *timeline, reqs []request, slow time.Duration) {
	if len(reqs) == 0 {
		fmt.Fprintln(w, "no request of the dump was sent while the trace ran")
		return
	}
	lat := make([]float64, len(reqs))
	var nSlow, slowInMark int
	for i, r := range reqs {
		lat[i] = float64(r.lat) / 1e6
		if r.lat >= slow {
			nSlow++
			for _, m := range tl.marks {
				if m.overlaps(r.span()) {
					slowInMark++
					break
				}
			}
		}
	}
	sort.Float64s(lat)
	q := func(p float64) float64 { return lat[int(float64(len(lat)-1)*p)] }
	fmt.Fprintf(w, "requests sent during the trace: %d; p50 %.3f, p90 %.3f, p99 %.3f, p99.9 %.3f ms\n", len(reqs), q(0.5), q(0.9), q(0.99), q(0.999))
	fmt.Fprintf(w, "slow (>= %v): %d, of which %d overlap a mark phase\n", slow, nSlow, slowInMark)
	fmt.Fprintln(w, "clusters of three or more slow requests, and what ran meanwhile:")
	for _, c := range clusters(reqs, slow) {
		if c.n < 3 {
			continue
		}
		var parts []string
		var busy time.Duration
		for _, kv := range sorted(tl.runTime(c.interval), 6) {
			busy += kv.d
			if kv.d >= 100*time.Microsecond {
				parts = append(parts, fmt.Sprintf("%s %v", shortName(kv.name), kv.d.Round(10*time.Microsecond)))
			}
		}
		mark := ""
		for _, m := range tl.marks {
			if m.overlaps(c.interval) {
				mark = fmt.Sprintf(", mark phase %+.2f..%+.2f ms", float64(m.start-c.start)/1e6, float64(m.end-c.start)/1e6)
			}
		}
		fmt.Fprintf(w, "  at %7.3f s: %2d slow over %v (max %v)%s; ran %v: %s\n", c.start.Sub(tl.first).Seconds(), c.n,
			c.dur().Round(10*time.Microsecond), c.max.Round(10*time.Microsecond), mark, busy.Round(10*time.Microsecond), strings.Join(parts, ", "))
	}
}

func shortName(s string) string {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[i+1:]
	}
	return s
}
