package traces

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// spec describes one request as the gateway would record it; the helpers
// below turn it into spans carrying contract version 1.
type spec struct {
	id         string
	service    string
	version    int
	prompt     string
	pick       string
	answered   string
	status     int
	outTokens  int
	propensity float64
	errMsg     string
}

func decisionSpan(s spec) Span {
	if s.service == "" {
		s.service = "switchyard"
	}
	if s.version == 0 {
		s.version = 1
	}
	if s.status == 0 {
		s.status = 200
	}
	p := map[string]any{
		"contract_version": s.version, "route": "auto", "pick": s.pick, "propensity": s.propensity,
		"reason": "test", "prompt": s.prompt, "timings": map[string]any{"total_ms": 25},
		"outcome": map[string]any{"deployment": s.answered, "status": s.status, "input_tokens": 10,
			"output_tokens": s.outTokens, "cost_usd": 0.002, "error": s.errMsg},
	}
	b, _ := json.Marshal(p)
	return Span{
		TraceID: s.id, SpanID: "00000000000000a1", Service: s.service, Name: "POST /v1/chat/completions",
		Start: t0, End: t0.Add(30 * time.Millisecond),
		Events: []Event{{Name: DecisionEventName, Time: t0, Attrs: map[string]any{
			attrContractVersion: int64(s.version), attrDecision: string(b)}}},
	}
}

func feedbackSpan(traceID, spanID, metric string, v float64, at time.Time) Span {
	return Span{TraceID: traceID, SpanID: spanID, ParentID: "00000000000000a1", Service: "switchyard",
		Name: FeedbackSpanName, Start: at, End: at,
		Attrs: map[string]any{attrFeedbackMetric: metric, attrFeedbackValue: v, attrRequestID: traceID}}
}

func tid(i int) string { return fmt.Sprintf("%032x", i+1) }

func TestJoinLabels(t *testing.T) {
	ok := spec{prompt: "write a poem", pick: "small", answered: "small", outTokens: 50, propensity: 0.5}
	with := func(f func(*spec)) spec { s := ok; f(&s); return s }
	cases := []struct {
		name     string
		opts     JoinOptions
		req      spec
		feedback []Span // for trace tid(0)
		// wantQ is the expected quality; nil with wantDrop set means dropped.
		wantQ    *float64
		wantDrop string
		wantCost bool
	}{
		{name: "feedback labels", req: ok, feedback: []Span{feedbackSpan(tid(0), "f1", "quality", 0.8, t0.Add(time.Hour))}, wantQ: ptr(0.8), wantCost: true},
		{name: "latest feedback wins", req: ok, feedback: []Span{
			feedbackSpan(tid(0), "f2", "quality", 0.9, t0.Add(2*time.Hour)),
			feedbackSpan(tid(0), "f1", "quality", 0.1, t0.Add(time.Hour))}, wantQ: ptr(0.9), wantCost: true},
		{name: "other metric ignored", req: ok, feedback: []Span{feedbackSpan(tid(0), "f1", "thumbs", 1, t0)}, wantDrop: DropNoLabel},
		{name: "rescaled from 1..5", opts: JoinOptions{FeedbackMin: 1, FeedbackMax: 5}, req: ok,
			feedback: []Span{feedbackSpan(tid(0), "f1", "quality", 4, t0)}, wantQ: ptr(0.75), wantCost: true},
		{name: "feedback out of range", req: ok, feedback: []Span{feedbackSpan(tid(0), "f1", "quality", 3, t0)}, wantDrop: DropFeedbackRange},
		{name: "no feedback, no auto", req: ok, wantDrop: DropNoLabel},
		{name: "no feedback, success is not auto-labelled", opts: JoinOptions{AutoLabels: true}, req: ok, wantDrop: DropNoLabel},
		{name: "keep unlabelled", opts: JoinOptions{KeepUnlabelled: true}, req: ok, wantQ: nil, wantCost: true},
		{name: "error auto-labelled 0", opts: JoinOptions{AutoLabels: true},
			req: with(func(s *spec) { s.answered, s.status, s.errMsg = "", 502, "upstream failed" }), wantQ: ptr(0.0)},
		{name: "error without auto dropped", req: with(func(s *spec) { s.answered, s.status = "", 504 }), wantDrop: DropNoLabel},
		{name: "empty answer auto-labelled 0", opts: JoinOptions{AutoLabels: true}, req: with(func(s *spec) { s.outTokens = 0 }), wantQ: ptr(0.0), wantCost: true},
		{name: "fallback dropped", req: with(func(s *spec) { s.answered = "coder" }),
			feedback: []Span{feedbackSpan(tid(0), "f1", "quality", 0.8, t0)}, wantDrop: DropFallback},
		{name: "fallback auto-labels the pick 0", opts: JoinOptions{AutoLabels: true}, req: with(func(s *spec) { s.answered = "coder" }), wantQ: ptr(0.0)},
		{name: "client closed", opts: JoinOptions{AutoLabels: true}, req: with(func(s *spec) { s.answered, s.status = "", 499 }), wantDrop: DropClientClosed},
		{name: "no prompt", req: with(func(s *spec) { s.prompt = "" }),
			feedback: []Span{feedbackSpan(tid(0), "f1", "quality", 0.8, t0)}, wantDrop: DropNoPrompt},
		{name: "no pick", req: with(func(s *spec) { s.pick = "" }),
			feedback: []Span{feedbackSpan(tid(0), "f1", "quality", 0.8, t0)}, wantDrop: DropNoPick},
		{name: "old contract version", req: with(func(s *spec) { s.version = 7 }),
			feedback: []Span{feedbackSpan(tid(0), "f1", "quality", 0.8, t0)}, wantDrop: DropContractVersion + " (7)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.req.id = tid(0)
			j := NewJoiner(c.opts)
			j.Add(decisionSpan(c.req))
			for _, f := range c.feedback {
				j.Add(f)
			}
			rows, rep := j.Rows()
			if rep.Decisions != 1 || rep.Rows+rep.DroppedTotal() != 1 {
				t.Fatalf("decisions %d, rows %d, dropped %d: every decision must end as a row or a drop", rep.Decisions, rep.Rows, rep.DroppedTotal())
			}
			if c.wantDrop != "" {
				if len(rows) != 0 || rep.Dropped[c.wantDrop] != 1 {
					t.Fatalf("want dropped for %q; rows %d, dropped %v", c.wantDrop, len(rows), rep.Dropped)
				}
				return
			}
			if len(rows) != 1 {
				t.Fatalf("want 1 row, got %d (dropped %v)", len(rows), rep.Dropped)
			}
			r := rows[0]
			if r.ID != tid(0) || r.Source != RowSource || len(r.Outcomes) != 1 {
				t.Fatalf("row %+v", r)
			}
			o, ok := r.Outcomes["small"]
			if !ok {
				t.Fatalf("outcome not under the pick: %v", r.Outcomes)
			}
			switch {
			case c.wantQ == nil && o.Quality != nil:
				t.Errorf("quality %v, want none", *o.Quality)
			case c.wantQ != nil && (o.Quality == nil || *o.Quality != *c.wantQ):
				t.Errorf("quality %v, want %v", o.Quality, *c.wantQ)
			}
			if o.Propensity == nil || *o.Propensity != 0.5 {
				t.Errorf("propensity %v, want 0.5", o.Propensity)
			}
			if (o.Cost != nil) != c.wantCost {
				t.Errorf("cost present %v, want %v", o.Cost != nil, c.wantCost)
			}
			if c.wantCost && (*o.Cost != 0.002 || *o.InputTokens != 10 || *o.LatencyMS != 25) {
				t.Errorf("outcome cost %v in %v latency %v", *o.Cost, *o.InputTokens, *o.LatencyMS)
			}
		})
	}
}

func TestJoinDedupAndServices(t *testing.T) {
	j := NewJoiner(JoinOptions{Service: "switchyard"})
	base := spec{prompt: "solve 2x = 4", pick: "coder", answered: "coder", outTokens: 5, propensity: 1}
	for i := 0; i < 3; i++ {
		s := base
		s.id = tid(i)
		j.Add(decisionSpan(s))
		j.Add(decisionSpan(s)) // the same span from a second window
		j.Add(feedbackSpan(tid(i), "0000000000000f01", "quality", 0.5, t0.Add(time.Hour)))
		j.Add(feedbackSpan(tid(i), "0000000000000f01", "quality", 0.5, t0.Add(time.Hour)))
	}
	other := base
	other.id, other.service = tid(10), "billing"
	j.Add(decisionSpan(other))
	j.Add(feedbackSpan(tid(20), "0000000000000f01", "quality", 0.5, t0)) // request not in range
	rows, rep := j.Rows()
	if len(rows) != 3 {
		t.Fatalf("rows %d, want 3", len(rows))
	}
	want := Report{Spans: 14, DuplicateSpans: 6, OtherServiceSpans: 1, Traces: 4, Decisions: 3, Feedback: 4, OrphanFeedback: 1, Rows: 3, Labelled: 3}
	if len(rep.Dropped) != 0 {
		t.Errorf("dropped %v, want none", rep.Dropped)
	}
	rep.Dropped = nil
	if !reflect.DeepEqual(rep, want) {
		t.Errorf("report\n got %+v\nwant %+v", rep, want)
	}
}

func TestJoinRejectsGarbagePayload(t *testing.T) {
	s := decisionSpan(spec{id: tid(0), prompt: "x", pick: "a", answered: "a"})
	s.Events[0].Attrs[attrDecision] = "{not json"
	j := NewJoiner(JoinOptions{})
	j.Add(s)
	_, rep := j.Rows()
	if rep.Dropped[DropBadPayload] != 1 {
		t.Fatalf("dropped %v", rep.Dropped)
	}
}
