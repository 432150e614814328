package traces

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard-ai/switchyard/internal/testsvc"
)

// loader sends spans straight to Jaeger over OTLP/HTTP as service. Its batch
// processor blocks instead of dropping when the queue is full, so every span
// sent arrives.
type loader struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
}

func newLoader(t testing.TB, j *testsvc.Jaeger, service string) *loader {
	t.Helper()
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(j.OTLPHTTP+"/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName(service)))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res),
		sdktrace.WithBatcher(exp, sdktrace.WithBlocking(), sdktrace.WithMaxExportBatchSize(2048), sdktrace.WithMaxQueueSize(16384)))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return &loader{tp: tp, tracer: tp.Tracer("switchyard-test")}
}

func (l *loader) flush(t testing.TB) {
	t.Helper()
	if err := l.tp.ForceFlush(context.Background()); err != nil {
		t.Fatalf("flush spans to jaeger: %v", err)
	}
}

// waitDecisions polls until Jaeger holds want decision events in
// [since, until]: the collector's batch processor stores spans a moment
// after it accepted them.
func waitDecisions(t testing.TB, c *Client, since, until time.Time, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, rep, err := ExportJaeger(context.Background(), WalkOptions{Client: c, Service: "switchyard", Since: since, Until: until}, JoinOptions{})
		if err == nil && rep.Decisions >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("jaeger holds %d decisions after 30s, want %d (err %v)", rep.Decisions, want, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// emitOldVersion records a decision event of contract version 0.
func emitOldVersion(tr trace.Tracer, at time.Time) {
	_, span := tr.Start(context.Background(), "POST /v1/chat/completions", trace.WithNewRoot(), trace.WithTimestamp(at))
	span.AddEvent(DecisionEventName, trace.WithTimestamp(at), trace.WithAttributes(
		attribute.Int(attrContractVersion, 0),
		attribute.String(attrDecision, `{"contract_version":0,"chosen":"small","prompt":"hi"}`)))
	span.End(trace.WithTimestamp(at.Add(time.Millisecond)))
}

func TestExportJaeger(t *testing.T) {
	j := testsvc.StartJaeger(t, testsvc.JaegerOptions{})
	gw := newLoader(t, j, "switchyard")
	billing := newLoader(t, j, "billing")
	q := func(v float64) *float64 { return &v }

	prompts := []string{"Write a Go function", "Solve 3x + 7 = 22", "Explain gravity", "Write a poem", "Hello", "Fix this SQL"}
	picks := []string{"coder", "frontier", "small", "small", "small", "coder"}
	want := map[string]float64{}
	var failed string
	for i := range prompts {
		at := t0.Add(time.Duration(i) * time.Minute)
		id := emit(gw.tracer, request{start: at, prompt: prompts[i], pick: picks[i], answered: picks[i], propensity: 0.5,
			outTokens: 30, feedback: q(float64(i) / 10), fbAt: at.Add(2 * time.Hour)})
		want[id] = float64(i) / 10
	}
	for i := 0; i < 3; i++ { // no feedback
		emit(gw.tracer, request{start: t0.Add(time.Duration(10+i) * time.Minute), prompt: "Hi", pick: "small", answered: "small", propensity: 0.5, outTokens: 9})
	}
	failed = emit(gw.tracer, request{start: t0.Add(20 * time.Minute), prompt: "Prove it", pick: "frontier", status: 502, propensity: 0.25})
	emitOldVersion(gw.tracer, t0.Add(21*time.Minute))
	// A span of another service inside one of the gateway's traces.
	for id := range want {
		tid, _ := trace.TraceIDFromHex(id)
		ctx := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: tid, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled, Remote: true}))
		_, s := billing.tracer.Start(ctx, "charge", trace.WithTimestamp(t0))
		s.End(trace.WithTimestamp(t0.Add(time.Millisecond)))
		break
	}
	gw.flush(t)
	billing.flush(t)
	since, until := t0.Add(-time.Hour), t0.Add(time.Hour)

	for _, api := range []API{APIv3, APILegacy} {
		c := &Client{BaseURL: j.QueryURL, API: api, Limit: 5}
		waitDecisions(t, c, since, until, 11)
		for _, auto := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/auto=%v", api, auto), func(t *testing.T) {
				rows, rep, err := ExportJaeger(context.Background(), WalkOptions{Client: c, Service: "switchyard", Since: since, Until: until, InitialWindow: 5 * time.Minute},
					JoinOptions{AutoLabels: auto})
				if err != nil {
					t.Fatal(err)
				}
				wantRows, wantNoLabel := len(want), 4
				if auto {
					wantRows, wantNoLabel = len(want)+1, 3
				}
				if rep.Decisions != 11 || rep.Rows != wantRows || rep.Feedback != len(want) || rep.OtherServiceSpans != 1 ||
					rep.Dropped[DropNoLabel] != wantNoLabel || rep.Dropped[DropContractVersion+" (0)"] != 1 || rep.Rows+rep.DroppedTotal() != rep.Decisions {
					t.Fatalf("report %+v", rep)
				}
				if rep.Splits == 0 {
					t.Errorf("limit 5 over 11 traces split no window")
				}
				for _, r := range rows {
					var o = r.Outcomes[firstKey(r.Outcomes)]
					fb, hasFB := want[r.ID]
					switch {
					case hasFB && (o.Quality == nil || *o.Quality != fb):
						t.Errorf("row %s quality %v, want %v", r.ID, o.Quality, fb)
					case !hasFB && (r.ID != failed || *o.Quality != 0):
						t.Errorf("unexpected row %s quality %v", r.ID, *o.Quality)
					}
					if o.Propensity == nil {
						t.Errorf("row %s without propensity", r.ID)
					}
				}
			})
		}
	}
}

func firstKey[V any](m map[string]V) string {
	for k := range m {
		return k
	}
	return ""
}

// Traces placed exactly on window boundaries (and a microsecond either
// side), with feedback in a later window, must each make exactly one row
// however the walk splits and grows its windows.
func TestWalkWindowBoundaries(t *testing.T) {
	j := testsvc.StartJaeger(t, testsvc.JaegerOptions{})
	gw := newLoader(t, j, "switchyard")
	const step = 10 * time.Second
	since := t0
	var ids []string
	fb := 0.5
	for k := 0; k < 40; k++ {
		for _, off := range []time.Duration{0, -time.Microsecond, time.Microsecond} {
			at := since.Add(time.Duration(k)*step + off)
			if at.Before(since) {
				continue
			}
			// Feedback lands several windows later, still inside the range.
			ids = append(ids, emit(gw.tracer, request{start: at, prompt: "p", pick: "small", answered: "small",
				propensity: 1, outTokens: 3, feedback: &fb, fbAt: at.Add(3 * step)}))
		}
	}
	until := since.Add(40 * step)
	gw.flush(t)
	sort.Strings(ids)
	for _, api := range []API{APIv3, APILegacy} {
		t.Run(string(api), func(t *testing.T) {
			c := &Client{BaseURL: j.QueryURL, API: api, Limit: 8}
			waitDecisions(t, c, since, until, len(ids))
			for _, run := range []struct {
				w time.Duration
				p int
			}{{step, 1}, {step / 2, 1}, {3 * step, 1}, {7 * time.Second, 1}, {step, 3}, {7 * time.Second, 4}} {
				w := run.w
				rows, rep, err := ExportJaeger(context.Background(), WalkOptions{Client: c, Service: "switchyard", Since: since, Until: until, InitialWindow: w, Parallel: run.p}, JoinOptions{})
				if err != nil {
					t.Fatal(err)
				}
				got := make([]string, len(rows))
				for i, r := range rows {
					got[i] = r.ID
				}
				sort.Strings(got)
				if fmt.Sprint(got) != fmt.Sprint(ids) {
					t.Fatalf("window %s, %d parts: %d rows for %d traces (report %+v)", w, run.p, len(got), len(ids), rep)
				}
				if rep.Decisions != len(ids) || rep.DuplicateSpans == 0 || rep.Queries < 10 {
					t.Errorf("window %s: report %+v: want every decision once and duplicates removed", w, rep)
				}
				// Windows of a step or more hold at least 8 traces (boundary
				// triples and late feedback), so the walk must have split.
				if w >= step && rep.Splits == 0 {
					t.Errorf("window %s: no window was split at the limit of 8", w)
				}
			}
		})
	}
}

// Jaeger's in-memory store refuses searches deeper than its max_traces; the
// export says which flag to change instead of passing the refusal on bare.
func TestLimitAboveMaxTraces(t *testing.T) {
	j := testsvc.StartJaeger(t, testsvc.JaegerOptions{MaxTraces: 100})
	for _, api := range []API{APIv3, APILegacy} {
		t.Run(string(api), func(t *testing.T) {
			c := &Client{BaseURL: j.QueryURL, API: api, Limit: 500}
			_, _, err := ExportJaeger(context.Background(), WalkOptions{Client: c, Service: "switchyard", Since: t0, Until: t0.Add(time.Hour)}, JoinOptions{})
			if err == nil || !strings.Contains(err.Error(), "lower --limit") || !strings.Contains(err.Error(), j.QueryURL) {
				t.Fatalf("err %v", err)
			}
		})
	}
}
