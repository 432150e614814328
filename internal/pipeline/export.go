package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/traces"
)

// Exporter produces the training rows of one run: everything observed in
// [since, until), written as a data set to out. The pipeline depends on this
// small interface rather than on where rows come from, so a test or an
// operator can plug in another source.
type Exporter interface {
	Export(ctx context.Context, since, until time.Time, out string) (ExportReport, error)
}

// ExportReport summarises an export for the run record.
type ExportReport struct {
	Rows int `json:"rows"`
	// Sources has one line per source with what it gave.
	Sources []SourceReport `json:"sources"`
	Since   time.Time      `json:"since"`
	Until   time.Time      `json:"until"`
}

// SourceReport is one source's part of an export.
type SourceReport struct {
	Source string `json:"source"`
	Rows   int    `json:"rows"`
	// Decisions and Dropped are set for trace sources: every routing
	// decision read becomes a row or a dropped one, by reason.
	Decisions int            `json:"decisions,omitempty"`
	Dropped   map[string]int `json:"dropped,omitempty"`
}

// SourceExporter pools the configured sources: data set files, the local
// trace file and a Jaeger walk (the latter two joined by internal/traces
// exactly as `switchyard traces export` does).
type SourceExporter struct {
	Datasets  []string
	TraceFile string
	Jaeger    *JaegerSource
	Join      traces.JoinOptions
	HTTP      *http.Client
}

// NewSourceExporter builds the exporter a config describes.
func NewSourceExporter(c *Config) *SourceExporter {
	e := &SourceExporter{TraceFile: c.Path(c.Export.TraceFile), Jaeger: c.Export.Jaeger}
	for _, p := range c.Export.Datasets {
		e.Datasets = append(e.Datasets, c.Path(p))
	}
	e.Join = traces.JoinOptions{FeedbackMetric: c.Export.FeedbackMetric, AutoLabels: c.Export.AutoLabels}
	if c.Export.FeedbackMin != nil {
		e.Join.FeedbackMin, e.Join.FeedbackMax = *c.Export.FeedbackMin, *c.Export.FeedbackMax
	}
	if j := c.Export.Jaeger; j != nil {
		e.Join.Service = j.Service
	}
	return e
}

// Export implements Exporter. Data set files are taken whole (they are
// curated, not time-stamped); trace sources are bounded by [since, until).
// Rows with the same id from two sources are kept once (the first).
func (e *SourceExporter) Export(ctx context.Context, since, until time.Time, out string) (ExportReport, error) {
	rep := ExportReport{Since: since, Until: until}
	var rows []dataset.Row
	seen := map[string]bool{}
	add := func(src SourceReport, rs []dataset.Row) {
		for _, r := range rs {
			if seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			rows = append(rows, r)
			src.Rows++
		}
		rep.Sources = append(rep.Sources, src)
	}
	for _, p := range e.Datasets {
		rs, err := dataset.Load(p)
		if err != nil {
			return rep, fmt.Errorf("export: %w", err)
		}
		add(SourceReport{Source: p}, rs)
	}
	if e.TraceFile != "" {
		rs, tr, err := traces.ExportFile(e.TraceFile, since, until, e.Join)
		if err != nil {
			return rep, fmt.Errorf("export: trace file: %w", err)
		}
		add(SourceReport{Source: tr.Source, Decisions: tr.Decisions, Dropped: tr.Dropped}, rs)
	}
	if j := e.Jaeger; j != nil {
		hc := e.HTTP
		if hc == nil {
			hc = &http.Client{Timeout: time.Minute}
		}
		client := &traces.Client{BaseURL: j.URL, API: traces.API(j.API), Limit: j.Limit, HTTP: hc}
		rs, tr, err := traces.ExportJaeger(ctx, traces.WalkOptions{Client: client, Service: j.Service, Since: since, Until: until}, e.Join)
		if err != nil {
			return rep, fmt.Errorf("export: jaeger: %w", err)
		}
		add(SourceReport{Source: tr.Source, Decisions: tr.Decisions, Dropped: tr.Dropped}, rs)
	}
	rep.Rows = len(rows)
	if len(rows) == 0 {
		return rep, errors.New("export: the sources gave no rows")
	}
	if err := dataset.Write(out, rows); err != nil {
		return rep, fmt.Errorf("export: %w", err)
	}
	return rep, nil
}

var _ Exporter = (*SourceExporter)(nil)
