package pipeline_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/gateway"
	"github.com/switchyard-ai/switchyard/internal/pipeline"
	"github.com/switchyard-ai/switchyard/internal/telemetry"
	"github.com/switchyard-ai/switchyard/internal/testsvc"
	"github.com/switchyard-ai/switchyard/internal/traffic"
)

const e2eKey = "sk-e2e"

// TestTracesToDeployedModel closes the loop for real: a gateway on simulated
// models serves traffic with feedback, its spans go to the trace file or to
// Jaeger, and the pipeline exports them, trains, gates, uploads, registers
// and deploys a router from them.
func TestTracesToDeployedModel(t *testing.T) {
	for _, source := range []string{"trace_file", "jaeger"} {
		t.Run(source, func(t *testing.T) {
			dir := t.TempDir()
			traceFile := filepath.Join(dir, "traces.jsonl")
			var otlp, export string
			switch source {
			case "trace_file":
				export = "trace_file: " + traceFile
			case "jaeger":
				j := testsvc.StartJaeger(t, testsvc.JaegerOptions{})
				otlp = j.OTLPHTTP
				export = fmt.Sprintf("jaeger: {url: %s, service: switchyard-e2e}", j.QueryURL)
			}
			cfg, err := config.Parse([]byte(fmt.Sprintf(`
listen: 127.0.0.1:0
auth:
  api_keys: [{ id: e2e, key: %s }]
telemetry:
  service_name: switchyard-e2e
  otlp_endpoint: "%s"
  trace_file: "%s"
  prompt_capture: text
feedback:
  metrics: [{ name: quality, min: 0, max: 1 }]
deployments:
  - {name: frontier, provider: simulated, model: sim-frontier, price: {input_per_mtok: 10, output_per_mtok: 30},
     simulated: {quality: {code: 0.8, math: 0.95, science: 0.9, writing: 0.7, default: 0.75}, latency_ms: 1, output_tokens: 30, seed: 1}}
  - {name: coder, provider: simulated, model: sim-coder, price: {input_per_mtok: 0.5, output_per_mtok: 1.5},
     simulated: {quality: {code: 0.95, math: 0.5, science: 0.5, writing: 0.4, default: 0.5}, latency_ms: 1, output_tokens: 20, seed: 2}}
  - {name: small, provider: simulated, model: sim-small, price: {input_per_mtok: 0.1, output_per_mtok: 0.3},
     simulated: {quality: {code: 0.3, math: 0.3, science: 0.5, writing: 0.9, default: 0.85}, latency_ms: 1, output_tokens: 10, seed: 3}}
routes:
  - name: auto
    candidates: [small, coder, frontier]
    strategy: { kind: weighted, params: { weights: { small: 1, coder: 1, frontier: 1 } } }
    exploration_rate: 0.3
`, e2eKey, otlp, traceFile)))
			if err != nil {
				t.Fatal(err)
			}
			if source == "jaeger" {
				cfg.Telemetry.TraceFile = ""
			}
			tr, err := telemetry.NewTracing(context.Background(), telemetry.TracingConfig{
				ServiceName: cfg.Telemetry.ServiceName, OTLPEndpoint: cfg.Telemetry.OTLPEndpoint, TraceFile: cfg.Telemetry.TraceFile})
			if err != nil {
				t.Fatal(err)
			}
			gw, err := gateway.New(gateway.Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Tracer: tr.Tracer})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(gw.Handler())
			defer srv.Close()
			const n = 240
			sum, err := traffic.Run(context.Background(), traffic.Options{Gateway: srv.URL, Key: e2eKey, Requests: n, Concurrency: 4,
				Seed: 5, Config: cfg, FeedbackRate: 1, MaxDuration: 2 * time.Minute})
			if err != nil || sum.OK != n {
				t.Fatalf("traffic: %v (%+v)", err, sum)
			}
			if err := tr.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}

			pcfg := filepath.Join(dir, "pipeline.yaml")
			os.WriteFile(pcfg, []byte(`model: e2e-router
store: file://store
export:
  `+export+`
  window: 1h
  min_rows: 100
split: {test_frac: 0.25, seed: 1}
train:
  - kind: knn
    featurizer: {kind: tfidf, dim: 4096}
gate: {metric: aiq, margin: 0.05}
deploy: {enabled: true}
`), 0o644)
			c, err := pipeline.Load(pcfg)
			if err != nil {
				t.Fatal(err)
			}
			var rec *pipeline.Record
			deadline := time.Now().Add(30 * time.Second)
			for {
				// Jaeger ingests asynchronously: wait until every feedback
				// trace is there, as an operator's schedule would.
				rec, err = pipeline.NewRunner(pipeline.Options{}).Run(context.Background(), c, pipeline.Trigger{Kind: pipeline.TriggerCLI})
				if err == nil && rec.Export.Rows == n || time.Now().After(deadline) || source != "jaeger" {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
			if err != nil || rec.Status != pipeline.StatusSucceeded || !rec.Deployed {
				t.Fatalf("run: %v\n%+v", err, rec)
			}
			if rec.Export.Rows != n || rec.Export.Sources[0].Decisions != n {
				t.Fatalf("export %+v: want %d rows from %d decisions", rec.Export, n, n)
			}
		})
	}
}
