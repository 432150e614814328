package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkRun times a whole run on generated data (240 rows, one knn, file
// store, store-backed tracker, deploy on) and reports each step's mean
// seconds, so the pipeline's own overhead can be told from training.
func BenchmarkRun(b *testing.B) {
	e := newTestEnv(b)
	c := mustLoad(b, e.conf(b, "p.yaml", e.good, "", true, ""))
	rn := NewRunner(Options{})
	steps := map[string]float64{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec, err := rn.Run(context.Background(), c, Trigger{Kind: TriggerCLI})
		if err != nil || rec.Status != StatusSucceeded {
			b.Fatalf("run: %v %+v", err, rec)
		}
		for _, s := range rec.Steps {
			steps[s.Name] += s.Duration
		}
	}
	for _, name := range Steps {
		b.ReportMetric(steps[name]/float64(b.N), name+"-s")
	}
}

// BenchmarkRecordsList times GET /admin/pipeline/runs's store work: listing
// and reading the newest 20 of 200 records in a file store.
func BenchmarkRecordsList(b *testing.B) {
	e := newTestEnv(b)
	rs := NewRecords(openRepo(b, e.store).Store())
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 200; i++ {
		r := newRecord(NewRunID(t0.Add(time.Duration(i)*time.Minute)), "m", TriggerSchedule)
		r.Status = StatusSucceeded
		if err := rs.Save(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := rs.List(ctx, 20)
		if err != nil || len(got) != 20 {
			b.Fatal(fmt.Sprint(len(got), err))
		}
	}
}
