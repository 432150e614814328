package traces

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/testsvc"
)

var benchDecisions = flag.Int("traces.bench-decisions", 100_000, "decision spans BenchmarkExportJaeger loads into Jaeger")

// BenchmarkExportJaeger loads decision spans (default 100,000, a third with
// feedback) spread over 24 hours into a real Jaeger v2 over OTLP, then times
// whole exports of that day through the v3 and the legacy API. Target: at
// most 60 s for 100,000 decisions (issue 5).
//
//	go test -run '^$' -bench ExportJaeger -benchtime 3x -timeout 30m ./internal/traces/
func BenchmarkExportJaeger(b *testing.B) {
	n := *benchDecisions
	j := testsvc.StartJaeger(b, testsvc.JaegerOptions{MaxTraces: n + n/10})
	gw := newLoader(b, j, "switchyard")
	rng := rand.New(rand.NewPCG(1, 2))
	since := t0.Add(-24 * time.Hour)
	picks := []string{"small", "coder", "frontier"}
	withFeedback := 0
	start := time.Now()
	for i := 0; i < n; i++ {
		at := since.Add(time.Duration(rng.Int64N(int64(24 * time.Hour))))
		r := request{start: at, prompt: fmt.Sprintf("Write a Go function number %d that reverses a string", i),
			pick: picks[i%3], answered: picks[i%3], propensity: 0.8, outTokens: 40 + i%50}
		if i%3 == 0 {
			v := rng.Float64()
			r.feedback, r.fbAt = &v, at.Add(time.Duration(rng.Int64N(int64(2*time.Hour))))
			withFeedback++
		}
		emit(gw.tracer, r)
	}
	gw.flush(b)
	until := t0.Add(3 * time.Hour) // late feedback included
	b.Logf("loaded %d decisions (%d with feedback) in %s", n, withFeedback, time.Since(start).Round(time.Millisecond))
	waitDecisions(b, &Client{BaseURL: j.QueryURL}, since, until, n)

	for _, api := range []API{APIv3, APILegacy} {
		for _, cfg := range []struct{ limit, parallel int }{{DefaultLimit, 1}, {DefaultLimit, DefaultParallel}, {1000, 1}} {
			b.Run(fmt.Sprintf("%s/limit=%d/parallel=%d", api, cfg.limit, cfg.parallel), func(b *testing.B) {
				benchExport(b, &Client{BaseURL: j.QueryURL, API: api, Limit: cfg.limit}, cfg.parallel, since, until, n, withFeedback)
			})
		}
	}
}

func benchExport(b *testing.B, c *Client, parallel int, since, until time.Time, n, withFeedback int) {
	var rep Report
	for b.Loop() {
		rows, r, err := ExportJaeger(context.Background(), WalkOptions{Client: c, Service: "switchyard", Since: since, Until: until, Parallel: parallel}, JoinOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if r.Decisions != n || len(rows) != withFeedback {
			b.Fatalf("decisions %d rows %d, want %d and %d", r.Decisions, len(rows), n, withFeedback)
		}
		rep = r
	}
	b.ReportMetric(float64(rep.Decisions), "decisions/op")
	b.ReportMetric(float64(rep.Queries), "queries/op")
	b.ReportMetric(float64(rep.Decisions)/(b.Elapsed().Seconds()/float64(b.N)), "decisions/s")
}
