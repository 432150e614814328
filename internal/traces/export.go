package traces

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchyard-ai/switchyard/internal/dataset"
)

// WalkOptions describe a walk over Jaeger.
type WalkOptions struct {
	Client  *Client
	Service string
	// Since and Until bound request start times; Until zero means now.
	Since, Until time.Time
	// InitialWindow is the first window's width; the walk halves it when a
	// window comes back full and doubles it when one comes back under a
	// quarter full. Zero: a sixteenth of the range.
	InitialWindow time.Duration
	// MinWindow is the narrowest window tried before giving up on a burst
	// that holds more traces than the limit (default 1ms).
	MinWindow time.Duration
	// Progress, when set, is told how much of the range is done.
	Progress func(done, total time.Duration)
}

// overlap is how far each window reaches back into the previous one.
// Whatever Jaeger's bounds are (inclusive or not, micro- or nanoseconds),
// a trace on a boundary is then in at least one window; the join removes
// the copies.
const overlap = time.Microsecond

// Walk queries [Since, Until] window by window and hands every span to fn.
// A window that returns as many traces as the query limit may have been cut
// short by Jaeger, so it is split and asked again; it only moves on once a
// window was answered in full. The first error stops the walk.
func Walk(ctx context.Context, o WalkOptions, fn func(Span)) (queries, splits int, err error) {
	if o.Client == nil {
		return 0, 0, errors.New("walk: no jaeger client")
	}
	until := o.Until
	if until.IsZero() {
		until = time.Now()
	}
	since := o.Since.Truncate(time.Microsecond)
	until = until.Truncate(time.Microsecond)
	if !since.Before(until) {
		return 0, 0, fmt.Errorf("walk: since %s is not before until %s", since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	total := until.Sub(since)
	width := o.InitialWindow
	if width <= 0 {
		width = max(total/16, time.Second)
	}
	minWidth := o.MinWindow
	if minWidth <= 0 {
		minWidth = time.Millisecond
	}
	limit := o.Client.limit()
	for cur := since; cur.Before(until); {
		if err := ctx.Err(); err != nil {
			return queries, splits, fmt.Errorf("walk: %w", err)
		}
		end := cur.Add(width).Truncate(time.Microsecond)
		if end.After(until) || !end.After(cur) {
			end = until
		}
		from := cur
		if cur.After(since) {
			from = cur.Add(-overlap)
		}
		spans, n, err := o.Client.Find(ctx, o.Service, from, end)
		queries++
		if err != nil {
			return queries, splits, err
		}
		if n >= limit {
			if end.Sub(cur) <= minWidth {
				return queries, splits, fmt.Errorf("walk: %d or more traces start within %s at %s; raise the query limit",
					limit, end.Sub(cur), cur.Format(time.RFC3339Nano))
			}
			width = max(end.Sub(cur)/2, minWidth)
			splits++
			continue
		}
		for i := range spans {
			fn(spans[i])
		}
		cur = end
		if n < limit/4 {
			width *= 2
		}
		if o.Progress != nil {
			o.Progress(cur.Sub(since), total)
		}
	}
	return queries, splits, nil
}

// ExportJaeger walks Jaeger and joins what it finds into rows.
func ExportJaeger(ctx context.Context, w WalkOptions, j JoinOptions) ([]dataset.Row, Report, error) {
	if j.Service == "" {
		j.Service = w.Service
	}
	joiner := NewJoiner(j)
	queries, splits, err := Walk(ctx, w, joiner.Add)
	if err != nil {
		return nil, Report{}, err
	}
	rows, rep := joiner.Rows()
	rep.Source, rep.Queries, rep.Splits = w.Client.BaseURL, queries, splits
	return rows, rep, nil
}

// ExportFile reads a local trace file and joins it into rows. Spans outside
// [since, until] (zero values: unbounded) are left out, like a Jaeger walk
// would, except that feedback is always kept: it may come after until.
func ExportFile(path string, since, until time.Time, j JoinOptions) ([]dataset.Row, Report, error) {
	joiner := NewJoiner(j)
	_, torn, err := ReadTraceFile(path, func(s Span) {
		if s.Name != FeedbackSpanName && ((!since.IsZero() && s.Start.Before(since)) || (!until.IsZero() && s.Start.After(until))) {
			return
		}
		joiner.Add(s)
	})
	if err != nil {
		return nil, Report{}, err
	}
	rows, rep := joiner.Rows()
	rep.Source = path
	if torn {
		rep.TruncatedLines = 1
	}
	return rows, rep, nil
}
