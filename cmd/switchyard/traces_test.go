package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/routing"
	"github.com/switchyard-ai/switchyard/internal/telemetry"
	"github.com/switchyard-ai/switchyard/internal/testsvc"
)

// runTraces runs `switchyard traces ...` with every traces flag back at its
// default first: cobra keeps flag values between Execute calls.
func runTraces(t *testing.T, args ...string) (string, error) {
	t.Helper()
	sub, _, err := rootCmd.Find([]string{"traces"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range sub.Commands() {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			_ = f.Value.Set(f.DefValue)
			f.Changed = false
		})
	}
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&out)
	rootCmd.SetArgs(append([]string{"traces"}, args...))
	err = rootCmd.Execute()
	return out.String(), err
}

// writeTraceFile records two requests, one with feedback, through the
// gateway's tracing setup into a local trace file.
func writeTraceFile(t *testing.T, path string) (labelled string) {
	t.Helper()
	ctx := context.Background()
	tr, err := telemetry.NewTracing(ctx, telemetry.TracingConfig{ServiceName: "switchyard", TraceFile: path})
	if err != nil {
		t.Fatal(err)
	}
	cands := []routing.Candidate{{Name: "small", Healthy: true}, {Name: "coder", Healthy: true}}
	var ids []trace.TraceID
	for i, prompt := range []string{"Write a Go function", "Write a poem"} {
		_, span := tr.Tracer.Start(ctx, "POST /v1/chat/completions", trace.WithNewRoot())
		rec := &telemetry.DecisionRecord{Route: "auto", Candidates: cands, Prompt: prompt,
			Decision: routing.Decision{Order: []int{i, 1 - i}, Propensity: 0.5},
			Outcome:  telemetry.Outcome{Deployment: cands[i].Name, Status: 200, InputTokens: 5, OutputTokens: 9, Latency: time.Millisecond}}
		rec.AddTo(span)
		span.End()
		ids = append(ids, span.SpanContext().TraceID())
	}
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: ids[0], SpanID: telemetry.RootSpanID(ids[0]), TraceFlags: trace.FlagsSampled, Remote: true})
	_, fs := tr.Tracer.Start(trace.ContextWithRemoteSpanContext(ctx, parent), "switchyard.feedback", trace.WithAttributes(
		attribute.String("switchyard.feedback.metric", "quality"), attribute.Float64("switchyard.feedback.value", 0.75)))
	fs.End()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	return ids[0].String()
}

func TestTracesExportFile(t *testing.T) {
	dir := t.TempDir()
	file, out := filepath.Join(dir, "traces.jsonl"), filepath.Join(dir, "rows.jsonl")
	id := writeTraceFile(t, file)
	report, err := runTraces(t, "export", "--file", file, "--out", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, report)
	}
	rows, err := dataset.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].ID != id || *rows[0].Outcomes["small"].Quality != 0.75 {
		t.Fatalf("rows %+v", rows)
	}
	for _, want := range []string{"decisions:     2", "rows written:  1", "1  no label"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
}

// A failing export names the URL and status, exits non-zero and leaves the
// output path as it was: no partial file, no temp file.
func TestTracesExportFailureLeavesNoOutput(t *testing.T) {
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "storage exploded", http.StatusInternalServerError)
	}))
	defer bad.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"result": [1,2`))
	}))
	defer garbage.Close()
	down := "http://" + testsvc.Addr(testsvc.FreePort(t))
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{name: "http 500", args: []string{"--jaeger", bad.URL}, want: []string{bad.URL, "500", "storage exploded"}},
		{name: "legacy 500", args: []string{"--jaeger", bad.URL, "--api", "legacy"}, want: []string{bad.URL + "/api/traces", "500"}},
		{name: "garbage json", args: []string{"--jaeger", garbage.URL}, want: []string{garbage.URL, "not OTLP JSON"}},
		{name: "unreachable", args: []string{"--jaeger", down}, want: []string{down, "unreachable"}},
		{name: "no source", args: nil, want: []string{"exactly one of --jaeger"}},
		{name: "bad until", args: []string{"--jaeger", bad.URL, "--until", "yesterday"}, want: []string{`--until "yesterday"`}},
		{name: "garbage trace file", args: []string{"--file", "traces_test.go"}, want: []string{"traces_test.go:1", "not a span"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "rows.jsonl")
			if err := os.WriteFile(out, []byte("previous export\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			report, err := runTraces(t, append([]string{"export", "--out", out, "--since", "1h"}, c.args...)...)
			if err == nil {
				t.Fatalf("no error; output:\n%s", report)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if b, _ := os.ReadFile(out); string(b) != "previous export\n" {
				t.Errorf("output changed to %q", b)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("leftover files: %v", entries)
			}
		})
	}
}

func TestTracesSynthGatewayDown(t *testing.T) {
	down := "http://" + testsvc.Addr(testsvc.FreePort(t))
	out, err := runTraces(t, "synth", "--gateway", down, "--requests", "3")
	if err == nil || !strings.Contains(err.Error(), down) {
		t.Fatalf("err %v\n%s", err, out)
	}
}
