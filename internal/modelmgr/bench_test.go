package modelmgr_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/audit"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
)

// BenchmarkReloadUnderLoad measures the gateway's request latency on a
// learned route under an open-loop load of 1,000 requests/s, with no
// reloads and with a new model version deployed every second (each one
// fetched, verified, decoded, validated and swapped in, exactly as in
// production). b.N is the number of requests; run it with
// -benchtime=10000x for ten seconds of load. It reports p50 and p99 in
// milliseconds; the target is p99(reload=1s) - p99(reload=none)
// at most 1 ms.
func BenchmarkReloadUnderLoad(b *testing.B) {
	for _, reload := range []time.Duration{0, time.Second} {
		name := "reload=none"
		if reload > 0 {
			name = "reload=" + reload.String()
		}
		b.Run(name, func(b *testing.B) { benchLoad(b, reload) })
	}
}

const benchRate = 1000 // requests per second

func benchLoad(b *testing.B, reload time.Duration) {
	e := newEnv(b)
	r := trainedRouter(b, router.KindKNN, 1)
	versions := b.N/benchRate + 3
	for i := 0; i < versions; i++ {
		e.publish(b, r, "m", fmt.Sprintf("v%04d", i), nil)
	}
	reg := e.registry(b, regOpts{poll: time.Second})
	srv := learnedGateway(b, reg, router.KindKNN, nil)
	run(b, reg)
	ctx := audit.WithActor(context.Background(), "bench")
	if _, err := reg.Deploy(ctx, "m", "v0000", "bench"); err != nil {
		b.Fatal(err)
	}
	m, _ := reg.Lookup("m")
	waitActive(b, m, "v0000")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
	prompts := synthetic.Prompts(256, 12, 4).Prompts
	bodies := make([][]byte, len(prompts))
	for i, p := range prompts {
		bodies[i] = fmt.Appendf(nil, `{"model":"auto","messages":[{"role":"user","content":%q}]}`, p)
	}
	send := func(body []byte) error {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+clientKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	for i := 0; i < 200; i++ { // warm connections and caches
		if err := send(bodies[i%len(bodies)]); err != nil {
			b.Fatal(err)
		}
	}

	stopReload := make(chan struct{})
	reloads := 0
	var reloadWG sync.WaitGroup
	if reload > 0 {
		reloadWG.Add(1)
		go func() {
			defer reloadWG.Done()
			t := time.NewTicker(reload)
			defer t.Stop()
			for next := 1; ; next++ {
				select {
				case <-stopReload:
					return
				case <-t.C:
				}
				v := fmt.Sprintf("v%04d", next%versions)
				if _, err := reg.Deploy(ctx, "m", v, "bench"); err != nil {
					b.Errorf("deploy %s: %v", v, err)
					return
				}
				reloads++
			}
		}()
	}

	lat := make([]time.Duration, b.N)
	var failed sync.Map
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		// Open loop: request i is due at start + i/rate whatever happened to
		// the earlier ones, and its latency counts from when it was due.
		due := start.Add(time.Duration(i) * time.Second / benchRate)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := send(bodies[i%len(bodies)]); err != nil {
				failed.Store(i, err)
			}
			lat[i] = time.Since(due)
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(stopReload)
	reloadWG.Wait()
	failed.Range(func(k, v any) bool {
		b.Fatalf("request %v failed: %v", k, v)
		return false
	})
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(reloads), "reloads")
}
