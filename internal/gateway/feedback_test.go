package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/telemetry"
)

// tracedGateway is a test gateway whose spans land in an in-memory exporter,
// with the same id generator as production.
func tracedGateway(t *testing.T, cfg *config.Config) (*testGW, *tracetest.InMemoryExporter, *sdktrace.TracerProvider) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := telemetry.NewTestTracerProvider(exp)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	if len(cfg.Auth.APIKeys) == 0 {
		cfg.Auth.APIKeys = []config.Key{{ID: "team-a", Key: testKey}}
	}
	if len(cfg.Auth.AdminKeys) == 0 {
		cfg.Auth.AdminKeys = []config.Key{{ID: "ops", Key: testAdmin}}
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	gw, err := New(Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg, Gatherer: reg, Tracer: tp.Tracer("test")})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	return &testGW{Server: gw, srv: srv, reg: reg}, exp, tp
}

func TestFeedbackJoinsTheRequestTrace(t *testing.T) {
	up := newUpstream(t, okChat("m", "ok"))
	g, exp, tp := tracedGateway(t, oneRoute("", dep("a", up.URL)))
	resp := g.post(t, "/v1/chat/completions", chatBody)
	readAll(t, resp)
	rid := resp.Header.Get("x-request-id")
	fb := g.post(t, "/v1/feedback", `{"request_id":"`+rid+`","metric":"quality","value":0.8,"comment":"good"}`)
	b := readAll(t, fb)
	if fb.StatusCode != 202 {
		t.Fatalf("feedback: %d %s", fb.StatusCode, b)
	}
	_ = tp.ForceFlush(context.Background())
	var reqSpan, fbSpan *tracetest.SpanStub
	spans := exp.GetSpans()
	for i := range spans {
		switch spans[i].Name {
		case "POST /v1/chat/completions":
			reqSpan = &spans[i]
		case FeedbackSpanName:
			fbSpan = &spans[i]
		}
	}
	if reqSpan == nil || fbSpan == nil {
		t.Fatalf("spans: %v", spans)
	}
	if reqSpan.SpanContext.TraceID().String() != rid {
		t.Errorf("request span trace %s != x-request-id %s", reqSpan.SpanContext.TraceID(), rid)
	}
	if fbSpan.SpanContext.TraceID() != reqSpan.SpanContext.TraceID() || fbSpan.Parent.SpanID() != reqSpan.SpanContext.SpanID() {
		t.Errorf("feedback span is not a child of the request span: parent %s, request %s", fbSpan.Parent.SpanID(), reqSpan.SpanContext.SpanID())
	}
	var sawDecision bool
	for _, ev := range reqSpan.Events {
		if ev.Name == telemetry.DecisionEventName {
			sawDecision = true
		}
	}
	if !sawDecision {
		t.Error("request span has no decision event")
	}
}

func TestFeedbackBadInput(t *testing.T) {
	up := newUpstream(t, okChat("m", "ok"))
	cfg := oneRoute("", dep("a", up.URL))
	cfg.Feedback.Metrics = []config.FeedbackMetric{{Name: "quality", Min: 0, Max: 1}, {Name: "thumbs", Min: -1, Max: 1}}
	g := newTestGateway(t, cfg)
	rid := "0123456789abcdef0123456789abcdef"
	tests := []struct{ name, body, param, msg string }{
		{"unknown metric", `{"request_id":"` + rid + `","metric":"stars","value":1}`, "metric", "configured metrics: quality, thumbs"},
		{"out of range", `{"request_id":"` + rid + `","metric":"quality","value":3}`, "value", "outside [0, 1]"},
		{"missing value", `{"request_id":"` + rid + `","metric":"quality"}`, "value", "value"},
		{"bad request id", `{"request_id":"nope","metric":"quality","value":1}`, "request_id", "32 hex"},
		{"missing request id", `{"metric":"quality","value":1}`, "request_id", "request_id"},
		{"unknown field", `{"request_id":"` + rid + `","metric":"quality","value":1,"score":2}`, "", "unknown field"},
		{"malformed", `{`, "", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := g.post(t, "/v1/feedback", tt.body)
			b := readAll(t, resp)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			msg, _, param := apiErr(t, b)
			if param != tt.param || !strings.Contains(msg, tt.msg) {
				t.Errorf("param %q msg %q; want param %q containing %q", param, msg, tt.param, tt.msg)
			}
		})
	}
}

func TestPromptCapturePolicy(t *testing.T) {
	for _, policy := range []string{"off", "features", "text"} {
		t.Run(policy, func(t *testing.T) {
			up := newUpstream(t, okChat("m", "ok"))
			cfg := oneRoute("", dep("a", up.URL))
			cfg.Telemetry.PromptCapture = policy
			g, exp, tp := tracedGateway(t, cfg)
			readAll(t, g.post(t, "/v1/chat/completions", `{"model":"auto","messages":[{"role":"user","content":"secret plans for the weekend"}]}`))
			_ = tp.ForceFlush(context.Background())
			var payload string
			for _, sp := range exp.GetSpans() {
				for _, ev := range sp.Events {
					for _, a := range ev.Attributes {
						if a.Key == "switchyard.decision" {
							payload = a.Value.AsString()
						}
					}
				}
			}
			hasText := strings.Contains(payload, "secret plans")
			hasFeatures := strings.Contains(payload, `"features":{"Idx":[`)
			if hasText != (policy == "text") || hasFeatures != (policy == "features") {
				t.Errorf("policy %s: text=%v features=%v in %s", policy, hasText, hasFeatures, payload)
			}
		})
	}
}
