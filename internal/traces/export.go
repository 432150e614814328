package traces

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

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
	// Parallel splits the range into this many equal parts walked at once
	// (0: DefaultParallel). Jaeger builds each answer on one goroutine, so
	// two queries in flight overlap its work with our decoding.
	Parallel int
	// Progress, when set, is told how much of the range is done. It is
	// called from one goroutine at a time.
	Progress func(done, total time.Duration)
}

// overlap is how far each window reaches back into the previous one.
// Whatever Jaeger's bounds are (inclusive or not, micro- or nanoseconds),
// a trace on a boundary is then in at least one window; the join removes
// the copies.
const overlap = time.Microsecond

// Walk queries [Since, Until] window by window and hands every span to fn.
// A window that returns as many traces as the query limit may have been cut
// short by Jaeger, so it is split and asked again; the walk only moves on
// once a window was answered in full. With Parallel > 1 the range is cut in
// equal parts walked concurrently; fn is still called from one goroutine at
// a time. The first error stops the walk.
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
	parts := o.Parallel
	if parts <= 0 {
		parts = DefaultParallel
	}
	w := &walker{o: o, fn: fn, total: total, done: make([]time.Duration, parts)}
	if w.o.InitialWindow <= 0 {
		w.o.InitialWindow = max(total/time.Duration(16*parts), time.Second)
	}
	if w.o.MinWindow <= 0 {
		w.o.MinWindow = time.Millisecond
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := 0; i < parts; i++ {
		from := since.Add(total * time.Duration(i) / time.Duration(parts)).Truncate(time.Microsecond)
		to := since.Add(total * time.Duration(i+1) / time.Duration(parts)).Truncate(time.Microsecond)
		if i == parts-1 {
			to = until
		}
		g.Go(func() error { return w.walk(gctx, i, from, to, i > 0) })
	}
	err = g.Wait()
	return w.queries, w.splits, err
}

// walker is the state the parts of a walk share.
type walker struct {
	o     WalkOptions
	fn    func(Span)
	total time.Duration

	mu              sync.Mutex
	queries, splits int
	done            []time.Duration
}

// walk covers [since, until] of part i; overlapFirst makes its first window
// reach back into the previous part.
func (w *walker) walk(ctx context.Context, part int, since, until time.Time, overlapFirst bool) error {
	width := w.o.InitialWindow
	limit := w.o.Client.limit()
	for cur := since; cur.Before(until); {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("walk: %w", err)
		}
		end := cur.Add(width).Truncate(time.Microsecond)
		if end.After(until) || !end.After(cur) {
			end = until
		}
		from := cur
		if cur.After(since) || overlapFirst {
			from = cur.Add(-overlap)
		}
		spans, n, err := w.o.Client.Find(ctx, w.o.Service, from, end)
		w.mu.Lock()
		w.queries++
		w.mu.Unlock()
		if err != nil {
			return err
		}
		if n >= limit {
			if end.Sub(cur) <= w.o.MinWindow {
				return fmt.Errorf("walk: %d or more traces start within %s at %s; raise the query limit",
					limit, end.Sub(cur), cur.Format(time.RFC3339Nano))
			}
			width = max(end.Sub(cur)/2, w.o.MinWindow)
			w.mu.Lock()
			w.splits++
			w.mu.Unlock()
			continue
		}
		w.mu.Lock()
		for i := range spans {
			w.fn(spans[i])
		}
		w.done[part] = end.Sub(since)
		if w.o.Progress != nil {
			var d time.Duration
			for _, x := range w.done {
				d += x
			}
			w.o.Progress(d, w.total)
		}
		w.mu.Unlock()
		cur = end
		if n < limit/4 {
			width *= 2
		}
	}
	return nil
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
