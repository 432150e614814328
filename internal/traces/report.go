package traces

import (
	"fmt"
	"io"
	"sort"
)

// Report is what an export saw. Every decision ends as exactly one of a
// labelled, auto-labelled or unlabelled row or a dropped one, so
// Decisions = Rows + sum(Dropped): the report accounts for every decision.
type Report struct {
	// Source is the Jaeger URL or trace file read.
	Source string
	// Queries and Splits count Jaeger queries and the windows split because
	// they reached the per-query trace limit.
	Queries, Splits int
	// Spans counts spans read, including DuplicateSpans (seen in more than
	// one window or query) and OtherServiceSpans (skipped).
	Spans, DuplicateSpans, OtherServiceSpans int
	// TruncatedLines counts a torn last line of a trace file.
	TruncatedLines int
	// Traces counts distinct trace ids of the service.
	Traces int
	// Decisions counts decision events, whatever became of them.
	Decisions int
	// Feedback counts feedback spans; FeedbackOtherMetric those for another
	// metric; OrphanFeedback those whose request is not in the export.
	Feedback, FeedbackOtherMetric, OrphanFeedback int
	// Rows = Labelled + AutoLabelled + Unlabelled.
	Rows, Labelled, AutoLabelled, Unlabelled int
	// Dropped counts decisions that made no row, by reason.
	Dropped map[string]int
}

// DroppedTotal is the number of decisions that made no row.
func (r Report) DroppedTotal() int {
	n := 0
	for _, v := range r.Dropped {
		n += v
	}
	return n
}

// Print writes the report for people.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "source:        %s\n", r.Source)
	if r.Queries > 0 {
		fmt.Fprintf(w, "queries:       %d (%d windows split at the trace limit)\n", r.Queries, r.Splits)
	}
	fmt.Fprintf(w, "spans:         %d (%d duplicates, %d from other services skipped)\n", r.Spans, r.DuplicateSpans, r.OtherServiceSpans)
	if r.TruncatedLines > 0 {
		fmt.Fprintf(w, "torn lines:    %d (last line of the trace file, skipped)\n", r.TruncatedLines)
	}
	fmt.Fprintf(w, "traces:        %d\n", r.Traces)
	fmt.Fprintf(w, "decisions:     %d\n", r.Decisions)
	fmt.Fprintf(w, "feedback:      %d (%d other metrics, %d without their request in range)\n", r.Feedback, r.FeedbackOtherMetric, r.OrphanFeedback)
	fmt.Fprintf(w, "rows written:  %d (%d labelled by feedback, %d auto-labelled, %d unlabelled)\n", r.Rows, r.Labelled, r.AutoLabelled, r.Unlabelled)
	fmt.Fprintf(w, "dropped:       %d\n", r.DroppedTotal())
	reasons := make([]string, 0, len(r.Dropped))
	for k := range r.Dropped {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	for _, k := range reasons {
		fmt.Fprintf(w, "  %6d  %s\n", r.Dropped[k], k)
	}
}
