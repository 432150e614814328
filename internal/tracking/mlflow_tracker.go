package tracking

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MLflowTracker is the Tracker backed by an MLflow tracking server.
type MLflowTracker struct {
	Client *Client
}

// StartRun implements Tracker.
func (t *MLflowTracker) StartRun(ctx context.Context, spec RunSpec) (Run, error) {
	if spec.Experiment == "" {
		return Run{}, fmt.Errorf("start run: %w: experiment name is empty", ErrInvalidParameter)
	}
	expID, err := t.Client.GetOrCreateExperiment(ctx, spec.Experiment)
	if err != nil {
		return Run{}, fmt.Errorf("start run: experiment %q: %w", spec.Experiment, err)
	}
	run, err := t.Client.CreateRun(ctx, expID, spec.Name, time.Now(), spec.Tags)
	if err != nil {
		return Run{}, fmt.Errorf("start run: %w", err)
	}
	return run, nil
}

// LogParams implements Tracker.
func (t *MLflowTracker) LogParams(ctx context.Context, runID string, params map[string]string) error {
	return t.Client.LogBatch(ctx, runID, nil, params, nil)
}

// LogMetrics implements Tracker.
func (t *MLflowTracker) LogMetrics(ctx context.Context, runID string, metrics []Metric) error {
	return t.Client.LogBatch(ctx, runID, metrics, nil, nil)
}

// SetTags implements Tracker.
func (t *MLflowTracker) SetTags(ctx context.Context, runID string, tags map[string]string) error {
	return t.Client.LogBatch(ctx, runID, nil, nil, tags)
}

// EndRun implements Tracker.
func (t *MLflowTracker) EndRun(ctx context.Context, runID string, status RunStatus) error {
	return t.Client.UpdateRun(ctx, runID, status, time.Now())
}

// RegisterModelVersion implements Tracker. The registered model is created
// on first use; RESOURCE_ALREADY_EXISTS from that step is expected.
func (t *MLflowTracker) RegisterModelVersion(ctx context.Context, model, source, runID string) (ModelVersion, error) {
	if err := t.Client.CreateRegisteredModel(ctx, model); err != nil && !errors.Is(err, ErrAlreadyExists) {
		return ModelVersion{}, fmt.Errorf("register %s: %w", model, err)
	}
	mv, err := t.Client.CreateModelVersion(ctx, model, source, runID, nil)
	if err != nil {
		return ModelVersion{}, fmt.Errorf("register %s: %w", model, err)
	}
	return mv, nil
}

// SetAlias implements Tracker.
func (t *MLflowTracker) SetAlias(ctx context.Context, model, alias, version string) error {
	return t.Client.SetRegisteredModelAlias(ctx, model, alias, version)
}

// FindVersion implements Tracker.
func (t *MLflowTracker) FindVersion(ctx context.Context, model, source string) (ModelVersion, error) {
	mvs, err := t.Client.SearchModelVersions(ctx, model)
	if err != nil {
		return ModelVersion{}, err
	}
	return newestWithSource(model, source, mvs)
}

// VersionByAlias implements Tracker.
func (t *MLflowTracker) VersionByAlias(ctx context.Context, model, alias string) (ModelVersion, error) {
	return t.Client.GetModelVersionByAlias(ctx, model, alias)
}

var _ Tracker = (*MLflowTracker)(nil)
