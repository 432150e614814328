package traces

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// SupportedContractVersion is the decision contract version this export
// reads. Events of any other version are counted and skipped: reading a
// field whose meaning changed would poison the training set quietly.
const SupportedContractVersion = 1

// RowSource is the Source of rows built from traces, so training can tell
// them from imported benchmark rows (which have every candidate's outcome).
const RowSource = "traces"

// Drop reasons, as they appear in the report.
const (
	DropContractVersion = "unknown contract version"
	DropBadPayload      = "decision payload not valid JSON"
	DropNoPrompt        = "no prompt text or features (prompt capture off)"
	DropBadFeatures     = "features not a feature vector"
	DropNoPick          = "decision has no pick"
	DropClientClosed    = "client closed the request"
	DropFallback        = "answered by a fallback, not the pick (use --auto-labels)"
	DropNoLabel         = "no label (no feedback, no automatic signal)"
	DropFeedbackRange   = "feedback value outside the metric range"
	DropDuplicate       = "second decision in the same trace"
	DropInvalidRow      = "row failed validation"
)

// JoinOptions say which spans count and how labels are made.
type JoinOptions struct {
	// Service keeps spans whose resource service.name is this; others are
	// counted and skipped. Empty keeps every service.
	Service string
	// FeedbackMetric is the feedback metric that becomes Outcome.Quality
	// (default "quality"); feedback for other metrics is ignored.
	FeedbackMetric string
	// FeedbackMin and FeedbackMax are the metric's configured range; values
	// are rescaled linearly onto [0,1]. Both zero means [0,1].
	FeedbackMin, FeedbackMax float64
	// AutoLabels labels decisions without feedback from automatic signals:
	// an error or timeout (no deployment answered), a pick that failed over
	// to a fallback, or an empty answer (zero output tokens) gives quality 0.
	// A successful answer is never labelled automatically.
	AutoLabels bool
	// KeepUnlabelled writes rows that have an outcome but no quality (useful
	// for cost and token predictors) instead of dropping them.
	KeepUnlabelled bool
}

// decisionPayload is the part of contract version 1 that rows are made of.
type decisionPayload struct {
	ContractVersion int             `json:"contract_version"`
	Route           string          `json:"route"`
	Pick            string          `json:"pick"`
	Propensity      float64         `json:"propensity"`
	Prompt          string          `json:"prompt"`
	Features        json.RawMessage `json:"features"`
	Timings         struct {
		TotalMS int64 `json:"total_ms"`
	} `json:"timings"`
	Outcome struct {
		Deployment   string  `json:"deployment"`
		Status       int     `json:"status"`
		InputTokens  int     `json:"input_tokens"`
		OutputTokens int     `json:"output_tokens"`
		CostUSD      float64 `json:"cost_usd"`
		Error        string  `json:"error"`
	} `json:"outcome"`
}

type decision struct {
	start   time.Time
	spanDur time.Duration
	p       decisionPayload
}

type feedback struct {
	at    time.Time
	value float64
}

// Joiner accumulates spans from any number of windows and sources, dropping
// duplicates, and joins decisions with feedback by trace id once every span
// is in: feedback may come hours after its request, in another window.
type Joiner struct {
	opts      JoinOptions
	seen      map[spanKey]struct{}
	traces    map[string]struct{}
	decisions map[string]*decision
	feedback  map[string]feedback
	report    Report
}

// NewJoiner returns an empty joiner.
func NewJoiner(opts JoinOptions) *Joiner {
	if opts.FeedbackMetric == "" {
		opts.FeedbackMetric = "quality"
	}
	if opts.FeedbackMin == 0 && opts.FeedbackMax == 0 {
		opts.FeedbackMax = 1
	}
	return &Joiner{
		opts:      opts,
		seen:      map[spanKey]struct{}{},
		traces:    map[string]struct{}{},
		decisions: map[string]*decision{},
		feedback:  map[string]feedback{},
		report:    Report{Dropped: map[string]int{}},
	}
}

// Add takes one span. Spans seen before (same trace and span id) and spans
// of other services are counted and ignored.
func (j *Joiner) Add(s Span) {
	j.report.Spans++
	if _, dup := j.seen[s.key()]; dup {
		j.report.DuplicateSpans++
		return
	}
	j.seen[s.key()] = struct{}{}
	if j.opts.Service != "" && s.Service != j.opts.Service {
		j.report.OtherServiceSpans++
		return
	}
	j.traces[s.TraceID] = struct{}{}
	if s.Name == FeedbackSpanName {
		j.addFeedback(s)
		return
	}
	for _, e := range s.Events {
		if e.Name == DecisionEventName {
			j.addDecision(s, e)
		}
	}
}

func (j *Joiner) addFeedback(s Span) {
	j.report.Feedback++
	if attrString(s.Attrs, attrFeedbackMetric) != j.opts.FeedbackMetric {
		j.report.FeedbackOtherMetric++
		return
	}
	v, ok := attrFloat(s.Attrs, attrFeedbackValue)
	if !ok {
		j.report.FeedbackOtherMetric++
		return
	}
	// The latest feedback wins: a user who changes their rating meant the
	// second one.
	if old, ok := j.feedback[s.TraceID]; !ok || !s.Start.Before(old.at) {
		j.feedback[s.TraceID] = feedback{at: s.Start, value: v}
	}
}

func (j *Joiner) addDecision(s Span, e Event) {
	j.report.Decisions++
	version, hasVersion := attrFloat(e.Attrs, attrContractVersion)
	raw := attrString(e.Attrs, attrDecision)
	var p decisionPayload
	if err := gojson.Unmarshal([]byte(raw), &p); err != nil {
		j.drop(DropBadPayload)
		return
	}
	if !hasVersion {
		version = float64(p.ContractVersion)
	}
	if version != SupportedContractVersion || p.ContractVersion != SupportedContractVersion {
		j.drop(fmt.Sprintf("%s (%g)", DropContractVersion, version))
		return
	}
	if _, dup := j.decisions[s.TraceID]; dup {
		j.drop(DropDuplicate)
		return
	}
	j.decisions[s.TraceID] = &decision{start: s.Start, spanDur: s.End.Sub(s.Start), p: p}
}

func (j *Joiner) drop(reason string) { j.report.Dropped[reason]++ }

// Rows joins what was added and returns the rows, ordered by request start
// then id, with the report.
func (j *Joiner) Rows() ([]dataset.Row, Report) {
	ids := make([]string, 0, len(j.decisions))
	for id := range j.decisions {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool {
		da, db := j.decisions[ids[a]], j.decisions[ids[b]]
		if !da.start.Equal(db.start) {
			return da.start.Before(db.start)
		}
		return ids[a] < ids[b]
	})
	rows := make([]dataset.Row, 0, len(ids))
	for _, id := range ids {
		if row, ok := j.row(id, j.decisions[id]); ok {
			rows = append(rows, row)
		}
	}
	for id := range j.feedback {
		if _, ok := j.decisions[id]; !ok {
			j.report.OrphanFeedback++
		}
	}
	r := j.report
	r.Traces = len(j.traces)
	r.Rows = len(rows)
	r.Dropped = make(map[string]int, len(j.report.Dropped))
	for k, v := range j.report.Dropped {
		r.Dropped[k] = v
	}
	return rows, r
}

func (j *Joiner) row(id string, d *decision) (dataset.Row, bool) {
	p := &d.p
	row := dataset.Row{ID: id, Prompt: p.Prompt, Source: RowSource}
	if len(p.Features) > 0 && string(p.Features) != "null" {
		var v feature.Vector
		if err := json.Unmarshal(p.Features, &v); err != nil || v.Validate() != nil {
			j.drop(DropBadFeatures)
			return row, false
		}
		row.Features = &v
	}
	switch {
	case row.Prompt == "" && row.Features == nil:
		j.drop(DropNoPrompt)
		return row, false
	case p.Pick == "":
		j.drop(DropNoPick)
		return row, false
	case p.Outcome.Status == 499:
		j.drop(DropClientClosed)
		return row, false
	}
	answered := p.Outcome.Deployment
	failed := answered == "" || p.Outcome.Status >= 400 || p.Outcome.Error != ""
	fb, hasFB := j.feedback[id]

	var out dataset.Outcome
	if p.Propensity > 0 && p.Propensity <= 1 {
		out.Propensity = ptr(p.Propensity)
	}
	var quality *float64
	auto := false
	switch {
	case !failed && answered != p.Pick:
		// The pick failed and a fallback answered: feedback judges the
		// fallback's answer, which the logged propensity does not cover.
		if !j.opts.AutoLabels {
			j.drop(DropFallback)
			return row, false
		}
		quality, auto = ptr(0.0), true
	case failed && j.opts.AutoLabels:
		quality, auto = ptr(0.0), true
	case hasFB:
		q, ok := j.scale(fb.value)
		if !ok {
			j.drop(DropFeedbackRange)
			return row, false
		}
		quality = &q
	case j.opts.AutoLabels && p.Outcome.OutputTokens == 0:
		quality, auto = ptr(0.0), true
	}
	if answered == p.Pick && !failed {
		out.Cost = ptr(p.Outcome.CostUSD)
		out.InputTokens = ptr(p.Outcome.InputTokens)
		out.OutputTokens = ptr(p.Outcome.OutputTokens)
		lat := float64(p.Timings.TotalMS)
		if lat == 0 && d.spanDur > 0 {
			lat = float64(d.spanDur) / float64(time.Millisecond)
		}
		out.LatencyMS = &lat
	}
	switch {
	case quality == nil && !j.opts.KeepUnlabelled:
		j.drop(DropNoLabel)
		return row, false
	case quality == nil:
		j.report.Unlabelled++
	case auto:
		j.report.AutoLabelled++
	default:
		j.report.Labelled++
	}
	out.Quality = quality
	row.Outcomes = map[string]dataset.Outcome{p.Pick: out}
	if err := row.Validate(); err != nil {
		j.drop(DropInvalidRow)
		return row, false
	}
	return row, true
}

// scale maps a feedback value from the metric's range onto [0,1].
func (j *Joiner) scale(v float64) (float64, bool) {
	lo, hi := j.opts.FeedbackMin, j.opts.FeedbackMax
	if v < lo || v > hi || hi <= lo {
		return 0, false
	}
	return (v - lo) / (hi - lo), true
}

func ptr[T any](v T) *T { return &v }
