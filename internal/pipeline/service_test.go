package pipeline

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// blockingExporter holds a run in its export step until released, so a
// test can observe the run in progress.
type blockingExporter struct {
	inner   Exporter
	release chan struct{}
}

func (b blockingExporter) Export(ctx context.Context, since, until time.Time, out string) (ExportReport, error) {
	select {
	case <-b.release:
	case <-ctx.Done():
		return ExportReport{}, ctx.Err()
	}
	return b.inner.Export(ctx, since, until, out)
}

func do(t *testing.T, h http.Handler, method, path, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	b, _ := io.ReadAll(rec.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v\n%s", method, path, err, b)
	}
	return rec.Code, out
}

// TestAdminAPI: POST starts a run in the background and returns its id at
// once; a second POST while it runs gets 409; GET shows it running, then
// finished with its step log; the list has it; bad input gets 400 or 404.
func TestAdminAPI(t *testing.T) {
	e := newTestEnv(t)
	release := make(chan struct{})
	reg := prometheus.NewRegistry()
	svc, err := NewService(context.Background(), ServiceConfig{
		ConfigPath: e.conf(t, "p.yaml", e.good, "", false, ""), Logger: testLogger(t), Registerer: reg,
		Runner: Options{NewExporter: func(c *Config) Exporter {
			return blockingExporter{inner: NewSourceExporter(c), release: release}
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error)
	go func() { runDone <- svc.Run(ctx) }()
	defer func() {
		cancel()
		<-runDone
	}()
	mux := http.NewServeMux()
	svc.RegisterAdmin(mux)

	code, body := do(t, mux, "POST", "/admin/pipeline/runs", `{"config": {"deploy": {"enabled": true}}}`)
	if code != http.StatusAccepted {
		t.Fatalf("POST: %d %v", code, body)
	}
	id, _ := body["id"].(string)
	if !ValidRunID(id) {
		t.Fatalf("POST returned id %q", id)
	}
	if code, body := do(t, mux, "POST", "/admin/pipeline/runs", ""); code != http.StatusConflict || body["running"] != id {
		t.Fatalf("second POST while running: %d %v", code, body)
	}
	if code, body := do(t, mux, "GET", "/admin/pipeline/runs/"+id, ""); code != http.StatusOK || body["status"] != StatusRunning {
		t.Fatalf("GET while running: %d %v", code, body)
	}
	close(release)
	deadline := time.Now().Add(2 * time.Minute)
	var final map[string]any
	for {
		code, final = do(t, mux, "GET", "/admin/pipeline/runs/"+id, "")
		if code != http.StatusOK {
			t.Fatalf("GET: %d %v", code, final)
		}
		if final["status"] != StatusRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("run did not finish")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if final["status"] != StatusSucceeded || final["deployed"] != true || final["trigger"] != TriggerAPI {
		t.Fatalf("final record %v", final)
	}
	steps := final["steps"].([]any)
	if len(steps) != len(Steps) || steps[0].(map[string]any)["status"] != StepOK {
		t.Fatalf("step log %v", steps)
	}
	for svc.Running() != "" {
		time.Sleep(10 * time.Millisecond)
	}
	code, body = do(t, mux, "GET", "/admin/pipeline/runs", "")
	if runs, _ := body["runs"].([]any); code != http.StatusOK || len(runs) != 1 || runs[0].(map[string]any)["id"] != id {
		t.Fatalf("list: %d %v", code, body)
	}
	if got := testutil.ToFloat64(svc.metrics.runs.WithLabelValues(TriggerAPI, StatusSucceeded)); got != 1 {
		t.Fatalf("runs_total{api,succeeded} = %v", got)
	}

	for _, tc := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"POST", "/admin/pipeline/runs", `{"config": {"gate": {"margin": -1}}}`, 400, "gate.margin"},
		{"POST", "/admin/pipeline/runs", `{"config": {"store": "file:///x"}}`, 400, "store cannot be overridden"},
		{"POST", "/admin/pipeline/runs", `{"cfg": {}}`, 400, "cfg"},
		{"GET", "/admin/pipeline/runs/20990101T000000.000Z-abcdef", "", 404, "no such pipeline run"},
		{"GET", "/admin/pipeline/runs/..%2fsecrets", "", 404, "not a run id"},
		{"GET", "/admin/pipeline/runs?limit=0", "", 400, "limit"},
	} {
		code, body := do(t, mux, tc.method, tc.path, tc.body)
		msg, _ := body["error"].(map[string]any)["message"].(string)
		if code != tc.code || !strings.Contains(msg, tc.want) {
			t.Errorf("%s %s %s: %d %q, want %d naming %q", tc.method, tc.path, tc.body, code, msg, tc.code, tc.want)
		}
	}
}
