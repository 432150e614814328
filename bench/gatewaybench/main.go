// Command gatewaybench measures the latency Switchyard adds in front of a fast
// OpenAI-compatible upstream, against a bare httputil.ReverseProxy as the
// floor, at fixed request rates (open loop).
//
// It starts three processes from its own binary and the switchyard binary:
// a mock upstream, a bare reverse proxy and the gateway (routing, tracing and
// metrics on), pinned with taskset: the upstream and the load generator on
// one core, the proxy or gateway under test on the other. For each rate it
// sends the same load directly to the upstream, through the proxy and
// through the gateway, and reports p50/p99 latency, the latency added over
// direct, throughput, errors, and the server's CPU per request and RSS.
//
//	go run ./bench/gatewaybench -rates 500,1000,2000,3000 -stream-rates 1000,2000 -duration 6s -warmup 1s -rounds 3 -runs 5
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "mock":
			runMock(os.Args[2])
			return
		case "proxy":
			var spin time.Duration
			if len(os.Args) > 4 {
				spin, _ = time.ParseDuration(os.Args[4])
			}
			runProxy(os.Args[2], os.Args[3], spin)
			return
		}
	}
	var (
		rates       = flag.String("rates", "500,1000,2000,3000", "request rates (requests/s) for plain requests")
		streamRates = flag.String("stream-rates", "1000", "request rates for streaming requests")
		duration    = flag.Duration("duration", 10*time.Second, "measuring time per target and rate")
		warmup      = flag.Duration("warmup", 2*time.Second, "warm-up time per target and rate, not measured")
		bin         = flag.String("switchyard", "", "switchyard binary (built from ./cmd/switchyard when empty)")
		tracing     = flag.String("tracing", "otlp", "gateway tracing: otlp (OTLP/HTTP protobuf to a sink on the mock's port, as to a collector), file (JSON lines, the embedded default) or none (spans created and sampled, not exported)")
		out         = flag.String("out", "bench/out/gateway.json", "JSON results")
		serverCPU   = flag.String("server-cpu", "1", "core for the proxy/gateway under test")
		clientCPU   = flag.String("client-cpu", "0", "core for the upstream and the load generator")
		pprofAddr   = flag.String("pprof", "", "pass --pprof ADDR to the gateway, for profiling it under load")
		baseline    = flag.String("baseline", "", "a second switchyard binary (e.g. built from an older commit) measured in the same run as \"switchyard_baseline\"")
		runs        = flag.Int("runs", 1, "repeat the whole measurement this many times and print medians and ratios over the runs")
		spinProxy   = flag.String("spin-proxy", "", "also measure the bare proxy burning this much CPU per request, comma-separated durations (targets \"proxy_spin_D\"): a control for whether the gateway's extra CPU per request alone explains its extra tail latency, and how much extra CPU the p99 target allows")
		proxyEnv    = flag.String("proxy-env", "", "also measure the bare proxy under this extra environment, comma-separated KEY=VALUE (target \"bare_proxy_env\"; e.g. GOMAXPROCS=2, to see what the gateway's own default of two Ps on one core would give the proxy)")
		baseEnv     = flag.String("baseline-env", "", "extra environment for the baseline gateway only, comma-separated KEY=VALUE (e.g. GOGC=off to see what garbage collection costs, with -baseline set to the same binary)")
		rounds      = flag.Int("rounds", 3, "measure each target in this many interleaved slices of duration/rounds, so a change in the machine's load hits every target alike")
	)
	flag.Parse()
	gatewayPprof = *pprofAddr
	baselineBin, nRounds, nRuns = *baseline, max(*rounds, 1), max(*runs, 1)
	for _, d := range strings.Split(*spinProxy, ",") {
		if d == "" {
			continue
		}
		v, err := time.ParseDuration(d)
		if err != nil || v <= 0 {
			log.Fatalf("-spin-proxy: %q is not a positive duration", d)
		}
		proxySpins = append(proxySpins, v)
	}
	if *baseEnv != "" {
		baselineEnv = strings.Split(*baseEnv, ",")
	}
	if *proxyEnv != "" {
		bareProxyEnv = strings.Split(*proxyEnv, ",")
	}
	if err := run(*rates, *streamRates, *duration, *warmup, *bin, *tracing, *out, *serverCPU, *clientCPU); err != nil {
		log.Fatal(err)
	}
}

var (
	gatewayPprof string
	baselineBin  string
	baselineEnv  []string
	bareProxyEnv []string
	proxySpins   []time.Duration
	nRounds      int
	nRuns        int
)

type phase struct {
	Run          int     `json:"run"`
	Target       string  `json:"target"`
	Stream       bool    `json:"stream"`
	Rate         int     `json:"rate"`
	Sent         int     `json:"sent"`
	Errors       int     `json:"errors"`
	Throughput   float64 `json:"throughput_rps"`
	P50MS        float64 `json:"p50_ms"`
	P99MS        float64 `json:"p99_ms"`
	TTFBP50MS    float64 `json:"ttfb_p50_ms,omitempty"`
	TTFBP99MS    float64 `json:"ttfb_p99_ms,omitempty"`
	CPUPerReqUS  float64 `json:"server_cpu_us_per_request,omitempty"`
	RSSMB        float64 `json:"server_rss_mb,omitempty"`
	AddedP50MS   float64 `json:"added_p50_ms"`
	AddedP99MS   float64 `json:"added_p99_ms"`
	AddedTTFBP50 float64 `json:"added_ttfb_p50_ms,omitempty"`
}

func run(rates, streamRates string, dur, warm time.Duration, bin, tracing, out, serverCPU, clientCPU string) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("linux only (taskset, /proc)")
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return fmt.Errorf("taskset not found (util-linux): %w", err)
	}
	_ = exec.Command("taskset", "-cp", clientCPU, strconv.Itoa(os.Getpid())).Run()
	work, err := os.MkdirTemp("", "gatewaybench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if bin == "" {
		bin = filepath.Join(work, "switchyard")
		log.Printf("building switchyard")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/switchyard")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build switchyard: %w", err)
		}
	}
	self, _ := os.Executable()
	upAddr, proxyAddr, gwAddr := freeAddr(), freeAddr(), freeAddr()
	// The mock upstream is the measuring apparatus: one P, as in every
	// session's figures. The proxy and the gateway run with their runtime's
	// own choice under taskset (the proxy: one P, from its one-CPU affinity).
	mock, err := start(clientCPU, []string{"GOMAXPROCS=1"}, self, "mock", upAddr)
	if err != nil {
		return err
	}
	defer stop(mock)
	proxy, err := start(serverCPU, nil, self, "proxy", proxyAddr, "http://"+upAddr)
	if err != nil {
		return err
	}
	defer stop(proxy)
	cfgPath := filepath.Join(work, "gateway.yaml")
	var traceLine string
	switch tracing {
	case "otlp":
		traceLine = "otlp_endpoint: http://" + upAddr
	case "file":
		traceLine = "trace_file: " + filepath.Join(work, "traces.jsonl")
	case "none":
		traceLine = "sample_ratio: 1"
	default:
		return fmt.Errorf("-tracing %q: want otlp, file or none", tracing)
	}
	cfg := fmt.Sprintf(`listen: %s
auth:
  api_keys: [{id: bench, key: sk-bench}]
telemetry:
  %s
  log_level: error
deployments:
  - {name: up-a, provider: openai, base_url: "http://%s/v1", model: mock-a, api_key: k, price: {input_per_mtok: 1, output_per_mtok: 2}}
  - {name: up-b, provider: openai, base_url: "http://%s/v1", model: mock-b, api_key: k, price: {input_per_mtok: 1, output_per_mtok: 2}}
routes:
  - name: bench
    candidates: [up-a, up-b]
    strategy: {kind: weighted, params: {weights: {up-a: 1, up-b: 1}}}
`, gwAddr, traceLine, upAddr, upAddr)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	args := []string{"serve", "--config", cfgPath}
	if gatewayPprof != "" {
		args = append(args, "--pprof", gatewayPprof)
	}
	gw, err := start(serverCPU, nil, bin, args...)
	if err != nil {
		return err
	}
	defer stop(gw)
	addrs := []string{upAddr, proxyAddr, gwAddr}
	targets := []target{
		{"direct", "http://" + upAddr, 0},
		{"bare_proxy", "http://" + proxyAddr, proxy.Process.Pid},
		{"switchyard", "http://" + gwAddr, gw.Process.Pid},
	}
	for _, spin := range proxySpins {
		spinAddr := freeAddr()
		sp, err := start(serverCPU, nil, self, "proxy", spinAddr, "http://"+upAddr, spin.String())
		if err != nil {
			return err
		}
		defer stop(sp)
		addrs = append(addrs, spinAddr)
		targets = append(targets, target{spinTarget(spin), "http://" + spinAddr, sp.Process.Pid})
	}
	if bareProxyEnv != nil {
		envAddr := freeAddr()
		pe, err := start(serverCPU, bareProxyEnv, self, "proxy", envAddr, "http://"+upAddr)
		if err != nil {
			return err
		}
		defer stop(pe)
		addrs = append(addrs, envAddr)
		targets = append(targets, target{"bare_proxy_env", "http://" + envAddr, pe.Process.Pid})
	}
	if baselineBin != "" {
		baseAddr := freeAddr()
		baseCfg := filepath.Join(work, "baseline.yaml")
		if err := os.WriteFile(baseCfg, []byte(strings.Replace(cfg, "listen: "+gwAddr, "listen: "+baseAddr, 1)), 0o644); err != nil {
			return err
		}
		base, err := start(serverCPU, baselineEnv, baselineBin, "serve", "--config", baseCfg)
		if err != nil {
			return err
		}
		defer stop(base)
		addrs = append(addrs, baseAddr)
		targets = append(targets, target{"switchyard_baseline", "http://" + baseAddr, base.Process.Pid})
	}
	for _, a := range addrs {
		if err := waitUp(a); err != nil {
			return err
		}
	}
	var results []phase
	for run := 1; run <= nRuns; run++ {
		for _, stream := range []bool{false, true} {
			list := rates
			if stream {
				list = streamRates
			}
			for _, rs := range strings.Split(list, ",") {
				if rs == "" {
					continue
				}
				rate, err := strconv.Atoi(strings.TrimSpace(rs))
				if err != nil {
					return fmt.Errorf("rate %q: %w", rs, err)
				}
				results = append(results, measureRate(targets, run, rate, dur, warm, stream)...)
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(map[string]any{"machine": machine(), "duration_s": dur.Seconds(), "tracing": tracing, "runs": nRuns, "results": results}, "", "  ")
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return err
	}
	printTable(results)
	if nRuns > 1 {
		printSummary(results)
	}
	return nil
}

// measureRate measures every target at one rate and works out what each
// adds over direct.
func measureRate(targets []target, run, rate int, dur, warm time.Duration, stream bool) []phase {
	var out []phase
	var direct phase
	for _, p := range measureRounds(targets, rate, dur, warm, stream) {
		p.Run, p.Stream, p.Rate = run, stream, rate
		if p.Target == "direct" {
			direct = p
		} else {
			p.AddedP50MS = p.P50MS - direct.P50MS
			p.AddedP99MS = p.P99MS - direct.P99MS
			if stream {
				p.AddedTTFBP50 = p.TTFBP50MS - direct.TTFBP50MS
			}
		}
		log.Printf("run %d %-10s stream=%-5v rate=%-5d sent=%d err=%d thr=%.0f p50=%.3fms p99=%.3fms ttfb50=%.3fms added50=%.3f added99=%.3f cpu/req=%.1fus rss=%.1fMB",
			run, p.Target, stream, rate, p.Sent, p.Errors, p.Throughput, p.P50MS, p.P99MS, p.TTFBP50MS, p.AddedP50MS, p.AddedP99MS, p.CPUPerReqUS, p.RSSMB)
		out = append(out, p)
	}
	return out
}

// printSummary reports, per mode and rate, each gateway's medians over the
// runs and its ratios to the bare proxy: the median of the per-run ratios
// (runs whose proxy added nothing at that percentile have none) and the
// ratio of the medians. The proxy's added p99 is a difference of two noisy
// tails, so a single run's ratio can swing widely; several runs and both
// summaries say more.
func printSummary(results []phase) {
	type key struct {
		stream bool
		rate   int
	}
	byKey := map[key]map[string][]phase{}
	var keys []key
	for _, p := range results {
		k := key{p.Stream, p.Rate}
		if byKey[k] == nil {
			byKey[k] = map[string][]phase{}
			keys = append(keys, k)
		}
		byKey[k][p.Target] = append(byKey[k][p.Target], p)
	}
	fmt.Println()
	fmt.Println("| mode | rate | target | runs | errors | added p50 ms (median) | p50 ratio: median of runs / of medians | added p99 ms (median) | p99 ratio: median of runs / of medians | added TTFB p50 ms | CPU us/req |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	for _, k := range keys {
		proxy := byKey[k]["bare_proxy"]
		names := []string{"bare_proxy"}
		for _, spin := range proxySpins {
			names = append(names, spinTarget(spin))
		}
		names = append(names, "bare_proxy_env")
		for _, tg := range append(names, "switchyard", "switchyard_baseline") {
			ps := byKey[k][tg]
			if len(ps) == 0 {
				continue
			}
			col := func(f func(phase) float64) []float64 {
				v := make([]float64, len(ps))
				for i, p := range ps {
					v[i] = f(p)
				}
				return v
			}
			errs := 0
			for _, p := range ps {
				errs += p.Errors
			}
			ratio := func(f func(phase) float64) string {
				if tg == "bare_proxy" || len(proxy) != len(ps) {
					return ""
				}
				var per []float64
				for i := range ps {
					if d := f(proxy[i]); d > 0 {
						per = append(per, f(ps[i])/d)
					}
				}
				pm := median(func() []float64 {
					v := make([]float64, len(proxy))
					for i, p := range proxy {
						v[i] = f(p)
					}
					return v
				}())
				return fmt.Sprintf("%.2f (%d runs) / %.2f", median(per), len(per), median(col(f))/pm)
			}
			mode := "plain"
			if k.stream {
				mode = "stream"
			}
			fmt.Printf("| %s | %d | %s | %d | %d | %.3f | %s | %.3f | %s | %.3f | %.0f |\n", mode, k.rate, tg, len(ps), errs,
				median(col(func(p phase) float64 { return p.AddedP50MS })), ratio(func(p phase) float64 { return p.AddedP50MS }),
				median(col(func(p phase) float64 { return p.AddedP99MS })), ratio(func(p phase) float64 { return p.AddedP99MS }),
				median(col(func(p phase) float64 { return p.AddedTTFBP50 })), median(col(func(p phase) float64 { return p.CPUPerReqUS })))
		}
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func printTable(results []phase) {
	fmt.Println("| mode | rate | target | errors | throughput | p50 ms | p99 ms | added p50 ms | added p99 ms | TTFB p50 ms | added TTFB p50 ms | CPU us/req | RSS MB |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, p := range results {
		mode := "plain"
		if p.Stream {
			mode = "stream"
		}
		fmt.Printf("| %s | %d | %s | %d | %.0f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.1f | %.1f |\n",
			mode, p.Rate, p.Target, p.Errors, p.Throughput, p.P50MS, p.P99MS, p.AddedP50MS, p.AddedP99MS, p.TTFBP50MS, p.AddedTTFBP50, p.CPUPerReqUS, p.RSSMB)
	}
}

var client = &http.Client{Transport: &http.Transport{
	MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute, DisableCompression: true,
	DialContext: (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
}, Timeout: 10 * time.Second}

var (
	plainBody  = []byte(`{"model":"bench","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Summarise the benefits of connection pooling in two sentences."}],"max_tokens":64}`)
	streamBody = []byte(`{"model":"bench","stream":true,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Summarise the benefits of connection pooling in two sentences."}],"max_tokens":64}`)
)

type target struct {
	name string
	base string
	pid  int
}

// measureRounds measures every target at rate for dur in total, in nRounds
// interleaved slices (each after a short warm-up), and pools each target's
// slices; the results are in targets' order.
func measureRounds(targets []target, rate int, dur, warm time.Duration, stream bool) []phase {
	acc := make([]samples, len(targets))
	slice := dur / time.Duration(nRounds)
	w := warm / time.Duration(nRounds)
	for range nRounds {
		for i, tg := range targets {
			_ = load(tg.base, rate, w, stream, 0)
			acc[i].add(loadSamples(tg.base, rate, slice, stream, tg.pid))
		}
	}
	out := make([]phase, len(targets))
	for i, tg := range targets {
		out[i] = acc[i].phase(stream)
		out[i].Target = tg.name
	}
	return out
}

// samples are one target's measurements at one rate, pooled over rounds.
type samples struct {
	lat, ttfb        []float64
	sent, errs       int
	elapsed, cpuSecs float64
	rss              float64
	pid              int
}

func (s *samples) add(o samples) {
	s.lat = append(s.lat, o.lat...)
	s.ttfb = append(s.ttfb, o.ttfb...)
	s.sent += o.sent
	s.errs += o.errs
	s.elapsed += o.elapsed
	s.cpuSecs += o.cpuSecs
	s.rss = max(s.rss, o.rss)
	s.pid = o.pid
}

func (s *samples) phase(stream bool) phase {
	p := phase{Sent: s.sent, Errors: s.errs, Throughput: float64(len(s.lat)) / s.elapsed, P50MS: pct(s.lat, 50), P99MS: pct(s.lat, 99)}
	if stream {
		p.TTFBP50MS, p.TTFBP99MS = pct(s.ttfb, 50), pct(s.ttfb, 99)
	}
	if s.pid > 0 && s.sent > 0 {
		p.CPUPerReqUS = s.cpuSecs / float64(s.sent) * 1e6
		p.RSSMB = s.rss
	}
	return p
}

// load sends requests at a fixed rate (open loop) for d and measures them.
func load(base string, rate int, d time.Duration, stream bool, pid int) phase {
	s := loadSamples(base, rate, d, stream, pid)
	return s.phase(stream)
}

// loadSamples sends requests at a fixed rate (open loop) for d and returns
// the successful requests' latencies and the server's CPU time meanwhile.
func loadSamples(base string, rate int, d time.Duration, stream bool, pid int) samples {
	n := int(float64(rate) * d.Seconds())
	lat := make([]float64, n)
	ttfb := make([]float64, n)
	ok := make([]bool, n)
	interval := time.Second / time.Duration(rate)
	cpu0 := procCPU(pid)
	start := time.Now()
	sentAt := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body := plainBody
			if stream {
				body = streamBody
			}
			t0 := time.Now()
			sentAt[i] = t0.Sub(start)
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, base+"/v1/chat/completions", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer sk-bench")
			resp, err := client.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			buf := make([]byte, 4096)
			first := true
			for {
				m, err := resp.Body.Read(buf)
				if m > 0 && first {
					ttfb[i] = time.Since(t0).Seconds() * 1000
					first = false
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					return
				}
			}
			lat[i] = time.Since(t0).Seconds() * 1000
			ok[i] = resp.StatusCode == 200
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1 := procCPU(pid)
	if dir := os.Getenv("GATEWAYBENCH_DUMP"); dir != "" {
		// Per-request scheduled and actual send offsets (ms) and latency, for finding
		// stalls; the file name carries the start's Unix time in nanoseconds, to line
		// the requests up with a runtime trace of the gateway.
		var b strings.Builder
		for i := range lat {
			fmt.Fprintf(&b, "%.3f,%.3f,%.3f,%v\n", float64(time.Duration(i)*interval)/1e6, float64(sentAt[i])/1e6, lat[i], ok[i])
		}
		name := strings.NewReplacer(":", "_", "/", "_").Replace(base)
		_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d-%d.csv", name, rate, start.UnixNano())), []byte(b.String()), 0o644)
	}
	s := samples{sent: n, elapsed: elapsed.Seconds(), pid: pid}
	for i := range lat {
		if !ok[i] {
			s.errs++
			continue
		}
		s.lat = append(s.lat, lat[i])
		s.ttfb = append(s.ttfb, ttfb[i])
	}
	if pid > 0 {
		s.cpuSecs = cpu1 - cpu0
		s.rss = procRSS(pid)
	}
	return s
}

func pct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

// procCPU is the process's user+system CPU seconds.
func procCPU(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

func procRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func machine() string {
	out, _ := exec.Command("sh", "-c", "nproc; lscpu | grep 'Model name'; go version").Output()
	return strings.TrimSpace(string(out))
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs bin pinned to core cpu (taskset) with env added to this
// process's environment; GOMAXPROCS is whatever bin's runtime makes of the
// one-CPU affinity unless env sets it.
func start(cpu string, env []string, bin string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command("taskset", append([]string{"-c", cpu, bin}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	return cmd, nil
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
	}
}

func waitUp(addr string) error {
	for i := 0; i < 200; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not come up", addr)
}

// The mock upstream answers at once with canned bytes.
var (
	mockChat  = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"mock","choices":[{"index":0,"message":{"role":"assistant","content":"Pooling reuses established connections, avoiding handshake latency. It also bounds resource use under load."},"finish_reason":"stop"}],"usage":{"prompt_tokens":28,"completion_tokens":21,"total_tokens":49}}`)
	mockChunk = `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"mock","choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":null}]}` + "\n\n"
	mockUsage = `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"mock","choices":[],"usage":{"prompt_tokens":28,"completion_tokens":8,"total_tokens":36}}` + "\n\n"
)

func runMock(addr string) {
	words := []string{"Pooling", " reuses", " connections", ",", " avoiding", " handshakes", ".", ""}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/v1/traces" {
			// An OTLP/HTTP sink: an empty ExportTraceServiceResponse.
			w.Header().Set("Content-Type", "application/x-protobuf")
			return
		}
		if bytes.Contains(body, []byte(`"stream":true`)) {
			w.Header().Set("Content-Type", "text/event-stream")
			f := w.(http.Flusher)
			for _, wd := range words {
				fmt.Fprintf(w, mockChunk, wd)
				f.Flush()
			}
			if bytes.Contains(body, []byte(`"include_usage":true`)) {
				fmt.Fprint(w, mockUsage)
			}
			fmt.Fprint(w, "data: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(mockChat)
	})
	log.Fatal(http.ListenAndServe(addr, h))
}

// runProxy is the floor: a bare reverse proxy, as little as a proxy can do.
// With spin > 0 it also burns that much CPU per request before proxying
// (the -spin-proxy control).
func runProxy(addr, upstream string, spin time.Duration) {
	u, _ := url.Parse(upstream)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	rp.Transport = &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex()
		if spin > 0 {
			burn(spin)
		}
		rp.ServeHTTP(w, r)
	})
	log.Fatal(http.ListenAndServe(addr, h))
}

// spinTarget names the bare proxy that burns spin per request.
func spinTarget(spin time.Duration) string {
	return fmt.Sprintf("proxy_spin_%dus", spin.Microseconds())
}

// burnSink keeps burn's loop from being optimised away.
var burnSink uint64

// burn keeps the CPU busy for d of wall time; the process has its core to
// itself, so that is d of CPU, less whatever the kernel takes meanwhile.
func burn(d time.Duration) {
	x := burnSink
	for start := time.Now(); time.Since(start) < d; {
		for range 64 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	burnSink = x
}
