package gateway

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/telemetry"
)

// benchGateway is a gateway with tracing to a file and metrics on, in front of
// an in-process upstream, for measuring the per-request work of the gateway.
func benchGateway(b *testing.B, tracing bool) (http.Handler, func()) {
	b.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if bytes.Contains([]byte(r.Header.Get("Accept")), []byte("event-stream")) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write([]byte("data: " + chunk(0, "x") + "\n\ndata: [DONE]\n\n"))
			return
		}
		okChat("m", "Pooling reuses established connections, avoiding handshake latency.")(w, r)
	}))
	cfg := oneRoute("weighted", dep("a", up.URL+"/v1"), dep("b", up.URL+"/v1"))
	cfg.Auth.APIKeys = []config.Key{{ID: "k", Key: testKey}}
	cfg.SetDefaults()
	opts := Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: prometheus.NewRegistry()}
	var tr *telemetry.Tracing
	if tracing {
		var err error
		tr, err = telemetry.NewTracing(context.Background(), telemetry.TracingConfig{ServiceName: "bench", TraceFile: filepath.Join(b.TempDir(), "t.jsonl")})
		if err != nil {
			b.Fatal(err)
		}
		opts.Tracer = tr.Tracer
	}
	gw, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	return gw.Handler(), func() {
		if tr != nil {
			_ = tr.Shutdown(context.Background())
		}
		up.Close()
	}
}

var benchBody = []byte(`{"model":"auto","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Summarise the benefits of connection pooling in two sentences."}],"max_tokens":64}`)

func benchmarkChat(b *testing.B, tracing bool) {
	h, done := benchGateway(b, tracing)
	defer done()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("POST", "/v1/chat/completions", bytes.NewReader(benchBody))
		req.Header.Set("Authorization", "Bearer "+testKey)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkChatHandler measures one plain chat request through the gateway
// handler (auth, parse, route, upstream call over loopback, metrics).
func BenchmarkChatHandler(b *testing.B) { benchmarkChat(b, false) }

// BenchmarkChatHandlerTraced adds a recorded span exported to a trace file.
func BenchmarkChatHandlerTraced(b *testing.B) { benchmarkChat(b, true) }

func TestMain(m *testing.M) { os.Exit(m.Run()) }
