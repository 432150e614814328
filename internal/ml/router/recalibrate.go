package router

import (
	"context"
	"errors"
	"fmt"

	"github.com/switchyard-ai/switchyard/internal/bundle"
	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/eval"
)

// Recalibrate returns a copy of r whose operating points are calibrated on
// rows instead of the training validation split, and whose canaries are
// re-recorded at the new lambdas.
//
// Why: a router trained on trace rows calibrates its points with off-policy
// (SNIPS) estimates, which are unbiased but noisy on a small validation
// split, so a point asked to keep 98% of the best model's quality can land a
// few points short on new traffic. A modest "golden set" where every
// candidate's outcome is known (as teams keep for regression testing) pins
// the lambdas down; the quality predictors still come from the traces.
func (r *Router) Recalibrate(ctx context.Context, rows []dataset.Row, points map[string]float64) (*Router, error) {
	if len(rows) == 0 {
		return nil, errors.New("recalibrate: no rows")
	}
	truth := eval.FromRows(rows, r.names)
	if truth.HasBandit() {
		return nil, errors.New("recalibrate: rows must carry every candidate's outcome, not trace rows")
	}
	pred, err := r.PredictRows(ctx, rows)
	if err != nil {
		return nil, fmt.Errorf("recalibrate: %w", err)
	}
	m := r.manifest
	pred.CostScale = m.CostScale
	ops := eval.Calibrate(truth, pred, points)
	m.Operating = m.Operating[:0:0]
	for _, op := range ops {
		m.Operating = append(m.Operating, bundle.OperatingPoint{Name: op.Name, Lambda: op.Lambda, Quality: op.Quality, Cost: op.Cost, Fraction: op.Fraction, Met: op.Met})
	}
	out, err := r.WithManifest(m)
	if err != nil {
		return nil, fmt.Errorf("recalibrate: %w", err)
	}
	canaries := make([]bundle.Canary, 0, len(m.Canaries))
	for _, c := range m.Canaries {
		if _, ok := out.Lambda(c.OperatingPoint); !ok {
			continue
		}
		d, err := out.DecideAt(ctx, c.Prompt, nil, c.OperatingPoint)
		if err != nil || !clearWin(d) {
			continue
		}
		c.Pick = d.Model
		canaries = append(canaries, c)
	}
	m.Canaries = canaries
	return out.WithManifest(m)
}
