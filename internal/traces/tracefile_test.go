package traces

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/telemetry"
)

// The local trace file is written by the gateway's own tracing setup (the
// stdouttrace exporter); the export reads it back into the same rows.
func TestExportTraceFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "traces.jsonl")
	ctx := context.Background()
	tr, err := telemetry.NewTracing(ctx, telemetry.TracingConfig{ServiceName: "switchyard", TraceFile: path})
	if err != nil {
		t.Fatal(err)
	}
	q := func(v float64) *float64 { return &v }
	want := map[string]float64{}
	for i, r := range []request{
		{prompt: "Write a Go function", pick: "coder", answered: "coder", propensity: 0.25, outTokens: 40, feedback: q(0.9)},
		{prompt: "Write a haiku", pick: "small", answered: "small", propensity: 0.5, outTokens: 20, feedback: q(0.7)},
		{prompt: "Hello there", pick: "small", answered: "small", propensity: 0.5, outTokens: 20}, // no feedback
		{prompt: "Prove it", pick: "frontier", answered: "", status: 502, propensity: 0.25},       // failed
	} {
		r.start = t0.Add(time.Duration(i) * time.Second)
		r.fbAt = r.start.Add(3 * time.Hour)
		id := emit(tr.Tracer, r)
		if r.feedback != nil {
			want[id] = *r.feedback
		}
	}
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name      string
		opts      JoinOptions
		wantRows  int
		wantAuto  int
		wantNoLbl int
	}{
		{name: "feedback only", wantRows: 2, wantNoLbl: 2},
		{name: "auto labels", opts: JoinOptions{AutoLabels: true}, wantRows: 3, wantAuto: 1, wantNoLbl: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			rows, rep, err := ExportFile(path, time.Time{}, time.Time{}, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Decisions != 4 || rep.Feedback != 2 || rep.Rows != c.wantRows || rep.AutoLabelled != c.wantAuto || rep.Dropped[DropNoLabel] != c.wantNoLbl {
				t.Fatalf("report %+v", rep)
			}
			got := 0
			for _, r := range rows {
				for _, o := range r.Outcomes {
					if fb, ok := want[r.ID]; ok {
						got++
						if o.Quality == nil || *o.Quality != fb {
							t.Errorf("row %s quality %v, want %v", r.ID, o.Quality, fb)
						}
					} else if o.Quality == nil || *o.Quality != 0 {
						t.Errorf("row %s: want auto label 0, got %v", r.ID, o.Quality)
					}
				}
			}
			if got != len(want) {
				t.Errorf("%d feedback rows, want %d", got, len(want))
			}
		})
	}

	t.Run("since bound keeps late feedback", func(t *testing.T) {
		rows, rep, err := ExportFile(path, t0.Add(500*time.Millisecond), t0.Add(time.Minute), JoinOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Decisions != 3 || len(rows) != 1 {
			t.Fatalf("decisions %d rows %d, want 3 and 1", rep.Decisions, len(rows))
		}
	})
}

func TestReadTraceFileBadInput(t *testing.T) {
	good := `{"Name":"x","SpanContext":{"TraceID":"0000000000000000000000000000000a","SpanID":"000000000000000b"},"Parent":{"TraceID":"00000000000000000000000000000000","SpanID":"0000000000000000"},"StartTime":"2026-11-01T12:00:00Z","EndTime":"2026-11-01T12:00:01Z","Resource":[{"Key":"service.name","Value":{"Type":"STRING","Value":"switchyard"}}]}`
	cases := []struct {
		name      string
		content   string
		wantErr   string
		wantLines int
		wantTorn  bool
	}{
		{name: "good", content: good + "\n" + good + "\n", wantLines: 2},
		{name: "garbage line", content: good + "\nnot json at all\n" + good + "\n", wantErr: ":2: not a span"},
		{name: "json but not a span", content: `{"hello":"world"}` + "\n", wantErr: ":1: not a span"},
		{name: "torn last line", content: good + "\n" + good[:40], wantLines: 1, wantTorn: true},
		{name: "last line without newline is fine", content: good, wantLines: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "t.jsonl")
			if err := os.WriteFile(p, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
			var spans []Span
			n, torn, err := ReadTraceFile(p, func(s Span) { spans = append(spans, s) })
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), p) {
					t.Fatalf("err %v, want one naming %s and %q", err, p, c.wantErr)
				}
				return
			}
			if err != nil || n != c.wantLines || torn != c.wantTorn || len(spans) != n {
				t.Fatalf("n %d torn %v err %v", n, torn, err)
			}
			if s := spans[0]; s.Service != "switchyard" || s.TraceID != "0000000000000000000000000000000a" || s.ParentID != "" {
				t.Errorf("span %+v", s)
			}
		})
	}
	if _, _, err := ReadTraceFile(filepath.Join(t.TempDir(), "missing"), func(Span) {}); err == nil {
		t.Error("missing file: no error")
	}
}
