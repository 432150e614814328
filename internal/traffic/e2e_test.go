package traffic

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/gateway"
	"github.com/switchyard-ai/switchyard/internal/provider"
	"github.com/switchyard-ai/switchyard/internal/telemetry"
	"github.com/switchyard-ai/switchyard/internal/testsvc"
	"github.com/switchyard-ai/switchyard/internal/traces"
)

const e2eKey = "sk-e2e-client"

// gatewayConfig is a gateway with three simulated deployments, each best at
// something, exploring 30% of the time, tracing to endpoint as service
// switchyard-<capture> (one Jaeger serves several tests) with that capture.
func gatewayConfig(t *testing.T, endpoint, capture string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
listen: 127.0.0.1:0
auth:
  api_keys: [{ id: e2e, key: %s }]
telemetry:
  service_name: switchyard-%s
  otlp_endpoint: %s
  prompt_capture: %s
feedback:
  metrics: [{ name: quality, min: 0, max: 1 }]
deployments:
  - name: frontier
    provider: simulated
    model: sim-frontier
    price: { input_per_mtok: 10, output_per_mtok: 30 }
    simulated: { quality: { code: 0.8, math: 0.95, science: 0.9, writing: 0.7, default: 0.75 }, latency_ms: 1, output_tokens: 30, seed: 1 }
  - name: coder
    provider: simulated
    model: sim-coder
    price: { input_per_mtok: 0.5, output_per_mtok: 1.5 }
    simulated: { quality: { code: 0.95, math: 0.5, science: 0.5, writing: 0.4, default: 0.5 }, latency_ms: 1, output_tokens: 20, seed: 2 }
  - name: small
    provider: simulated
    model: sim-small
    price: { input_per_mtok: 0.1, output_per_mtok: 0.3 }
    simulated: { quality: { code: 0.3, math: 0.3, science: 0.5, writing: 0.9, default: 0.85 }, latency_ms: 1, output_tokens: 10, seed: 3 }
routes:
  - name: auto
    candidates: [small, coder, frontier]
    strategy: { kind: weighted, params: { weights: { small: 2, coder: 1, frontier: 1 } } }
    exploration_rate: 0.3
`, e2eKey, capture, endpoint, capture)))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// startGateway runs the gateway in-process with its real tracing setup.
func startGateway(t *testing.T, cfg *config.Config) (url string, tr *telemetry.Tracing) {
	t.Helper()
	ctx := context.Background()
	tr, err := telemetry.NewTracing(ctx, telemetry.TracingConfig{
		ServiceName: cfg.Telemetry.ServiceName, OTLPEndpoint: cfg.Telemetry.OTLPEndpoint, TraceFile: cfg.Telemetry.TraceFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	gw, err := gateway.New(gateway.Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Tracer: tr.Tracer})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	return srv.URL, tr
}

// Gateway -> Jaeger -> export: the data set holds one row per request that
// got feedback, keyed by its request id, labelled with the value posted, with
// the prompt as the capture policy recorded it.
func TestEndToEndGatewayJaegerExport(t *testing.T) {
	j := testsvc.StartJaeger(t, testsvc.JaegerOptions{})
	for i, capture := range []string{"text", "features", "off"} {
		t.Run(capture, func(t *testing.T) {
			cfg := gatewayConfig(t, j.OTLPHTTP, capture)
			url, tr := startGateway(t, cfg)
			since := time.Now().Add(-time.Second)

			const n = 60
			sum, err := Run(context.Background(), Options{Gateway: url, Key: e2eKey, Requests: n, Concurrency: 4, Seed: uint64(11 + i),
				Config: cfg, FeedbackRate: 0.5, MaxDuration: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Sent != n || sum.OK != n {
				t.Fatalf("sent %d ok %d, want %d (statuses %v)", sum.Sent, sum.OK, n, sum.ByStatus)
			}
			want := map[string]Result{}
			for _, r := range sum.Results {
				if r.Feedback != nil {
					want[r.RequestID] = r
				}
			}
			if len(want) < n/4 || len(want) > 3*n/4 || sum.FeedbackPosted != len(want) {
				t.Fatalf("feedback posted for %d of %d requests (summary %d)", len(want), n, sum.FeedbackPosted)
			}
			if err := tr.Shutdown(context.Background()); err != nil {
				t.Fatalf("flush gateway spans: %v", err)
			}
			until := time.Now().Add(time.Second)

			client := &traces.Client{BaseURL: j.QueryURL, Limit: 16}
			walk := traces.WalkOptions{Client: client, Service: cfg.Telemetry.ServiceName, Since: since, Until: until, InitialWindow: time.Second}
			var rows []dataset.Row
			var rep traces.Report
			deadline := time.Now().Add(30 * time.Second)
			for {
				rows, rep, err = traces.ExportJaeger(context.Background(), walk, traces.JoinOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if rep.Decisions >= n && rep.Feedback >= len(want) || time.Now().After(deadline) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			// Each feedback post is a request of its own, in its own trace.
			if rep.Decisions != n || rep.Feedback != len(want) || rep.Traces != n+len(want) {
				t.Fatalf("report %+v: want %d decisions, %d feedback, %d traces", rep, n, len(want), n+len(want))
			}
			if capture == "off" {
				if len(rows) != 0 || rep.Dropped[traces.DropNoPrompt] != n {
					t.Fatalf("capture off: %d rows, dropped %v; want none, all for no prompt", len(rows), rep.Dropped)
				}
				return
			}
			if len(rows) != len(want) || rep.Dropped[traces.DropNoLabel] != n-len(want) {
				t.Fatalf("%d rows, want %d (report %+v)", len(rows), len(want), rep)
			}
			for _, row := range rows {
				w, ok := want[row.ID]
				if !ok {
					t.Errorf("row %s is no request that got feedback", row.ID)
					continue
				}
				o, ok := row.Outcomes[w.Deployment]
				switch {
				case len(row.Outcomes) != 1 || !ok:
					t.Errorf("row %s: outcomes %v, want only %s (which answered)", row.ID, row.Outcomes, w.Deployment)
				case o.Quality == nil || *o.Quality != *w.Feedback:
					t.Errorf("row %s: quality %v, posted %v", row.ID, o.Quality, *w.Feedback)
				case o.Propensity == nil || o.Cost == nil || o.OutputTokens == nil:
					t.Errorf("row %s: outcome %+v lacks propensity, cost or tokens", row.ID, o)
				case capture == "text" && row.Prompt != w.Prompt:
					t.Errorf("row %s: prompt %q, sent %q", row.ID, row.Prompt, w.Prompt)
				case capture == "features" && (row.Prompt != "" || row.Features == nil || len(row.Features.Idx) == 0):
					t.Errorf("row %s: want features and no text, got prompt %q features %v", row.ID, row.Prompt, row.Features)
				}
			}
		})
	}
}

// Synth against a gateway that is not there fails fast, naming the URL.
func TestRunGatewayDown(t *testing.T) {
	url := "http://" + testsvc.Addr(testsvc.FreePort(t))
	_, err := Run(context.Background(), Options{Gateway: url, Requests: 5, HTTP: &http.Client{Timeout: time.Second}})
	if err == nil || !containsAll(err.Error(), url, "unreachable") {
		t.Fatalf("err %v", err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// Feedback is the answering deployment's simulated quality for the prompt's
// topic (exactly, with noise off), and a seed gives the same prompts at any
// concurrency.
func TestRunGroundTruthFeedback(t *testing.T) {
	cfg := gatewayConfig(t, "", "off")
	cfg.Telemetry.OTLPEndpoint = ""
	url, _ := startGateway(t, cfg)
	byName := map[string]*config.Deployment{}
	for i := range cfg.Deployments {
		byName[cfg.Deployments[i].Name] = &cfg.Deployments[i]
	}
	var prompts [2][]string
	for i, conc := range []int{1, 5} {
		sum, err := Run(context.Background(), Options{Gateway: url, Key: e2eKey, Requests: 40, Concurrency: conc, Seed: 5, Config: cfg, Noise: -1})
		if err != nil {
			t.Fatal(err)
		}
		if sum.OK != 40 || sum.FeedbackPosted != 40 || len(sum.Picks) < 4 {
			t.Fatalf("summary %+v", sum)
		}
		for _, r := range sum.Results {
			prompts[i] = append(prompts[i], r.Prompt)
			d := byName[r.Deployment]
			if d == nil || d.Model != r.Model {
				t.Fatalf("result %+v: deployment not found from model", r)
			}
			if want := provider.SimQuality(d.Simulated, r.Topic); *r.Feedback != want || provider.SimTopic(r.Prompt) != r.Topic {
				t.Errorf("%s answered %q (%s): feedback %v, want %v", r.Deployment, r.Prompt, r.Topic, *r.Feedback, want)
			}
		}
	}
	if strings.Join(prompts[0], "|") != strings.Join(prompts[1], "|") {
		t.Error("the same seed gave different prompts at another concurrency")
	}
}

func TestRunRejectsUnknownMetric(t *testing.T) {
	cfg := gatewayConfig(t, "", "off")
	_, err := Run(context.Background(), Options{Gateway: "http://127.0.0.1:1", Requests: 1, Config: cfg, FeedbackMetric: "stars"})
	if err == nil || !strings.Contains(err.Error(), `"stars"`) {
		t.Fatalf("err %v", err)
	}
}
