package gateway

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/telemetry"
)

// memUpstream answers every request in memory with a canned chat completion,
// so a benchmark through it measures the gateway's own work and none of the
// loopback HTTP exchange it shares with any reverse proxy.
type memUpstream struct{ body, stream []byte }

func (m memUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	h := http.Header{}
	body, n := m.body, int64(len(m.body))
	if r.Header.Get("Accept") == "text/event-stream" {
		h.Set("Content-Type", "text/event-stream")
		body, n = m.stream, -1
	} else {
		h.Set("Content-Type", "application/json")
	}
	return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(bytes.NewReader(body)),
		ContentLength: n, Request: r, ProtoMajor: 1, ProtoMinor: 1}, nil
}

// memStream is what bench/gatewaybench's mock streams: eight content chunks,
// the usage chunk and [DONE].
var memStream = func() []byte {
	var b bytes.Buffer
	for _, w := range []string{"Pooling", " reuses", " connections", ",", " avoiding", " handshakes", ".", ""} {
		b.WriteString(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"mock","choices":[{"index":0,"delta":{"content":"` + w + `"},"finish_reason":null}]}` + "\n\n")
	}
	b.WriteString(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"mock","choices":[],"usage":{"prompt_tokens":28,"completion_tokens":8,"total_tokens":36}}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes()
}()

// processCPU is the process's user+system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var streamBenchBody = []byte(`{"model":"auto","stream":true,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Summarise the benefits of connection pooling in two sentences."}],"max_tokens":64}`)

var memChat = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"mock","choices":[{"index":0,"message":{"role":"assistant","content":"Pooling reuses established connections, avoiding handshake latency. It also bounds resource use under load."},"finish_reason":"stop"}],"usage":{"prompt_tokens":28,"completion_tokens":21,"total_tokens":49}}`)

// BenchmarkGatewayOwnWork measures the gateway's own per-request work for a
// plain chat request: auth, parse, routing, the decision record, prompt
// capture (features), metrics, and a span exported over OTLP/HTTP to a sink
// in batches, as in bench/gatewaybench; the upstream answers in memory. The
// figure to compare is what this adds to a reverse proxy's work, so CPU and
// allocations per request are what it reports.
func BenchmarkGatewayOwnWork(b *testing.B) {
	for _, c := range []struct {
		name    string
		tracing bool
		body    []byte
	}{{"plain/tracing=false", false, benchBody}, {"plain/tracing=true", true, benchBody}, {"stream/tracing=true", true, streamBenchBody}} {
		tracing := c.tracing
		b.Run(c.name, func(b *testing.B) {
			var flush func(context.Context) error
			cfg := oneRoute("weighted", dep("a", "http://upstream.invalid/v1"), dep("b", "http://upstream.invalid/v1"))
			cfg.Auth.APIKeys = []config.Key{{ID: "k", Key: testKey}}
			cfg.Telemetry.PromptCapture = "features"
			cfg.SetDefaults()
			opts := Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: prometheus.NewRegistry(),
				HTTPClient: &http.Client{Transport: memUpstream{memChat, memStream}}}
			if tracing {
				sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					w.Header().Set("Content-Type", "application/x-protobuf")
				}))
				defer sink.Close()
				tr, err := telemetry.NewTracing(context.Background(), telemetry.TracingConfig{ServiceName: "bench", OTLPEndpoint: sink.URL})
				if err != nil {
					b.Fatal(err)
				}
				defer func() { _ = tr.Shutdown(context.Background()) }()
				opts.Tracer = tr.Tracer
				flush = tr.Provider.ForceFlush
			}
			gw, err := New(opts)
			if err != nil {
				b.Fatal(err)
			}
			h := gw.Handler()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU()
			for i := 0; i < b.N; i++ {
				req := httptest.NewRequest("POST", "/v1/chat/completions", bytes.NewReader(c.body))
				req.Header.Set("Authorization", "Bearer "+testKey)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				// Requests answered in memory come far faster than a gateway
				// serves them; flushing now and then keeps the span queue from
				// overflowing, so every span's export is measured.
				if flush != nil && i%512 == 511 {
					_ = flush(context.Background())
				}
			}
			// CPU time (all goroutines: span export and GC included) is
			// steadier than wall time on a shared machine.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
