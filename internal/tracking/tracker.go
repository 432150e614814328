// Package tracking records training runs and registered model versions: in
// MLflow over its REST API when a tracking URI is configured, otherwise as
// JSON records in the artifact store. Both sit behind Tracker, so the
// pipeline has one code path.
package tracking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/internal/artifact"
)

// Sentinels that both trackers return (wrapped), named for MLflow's error
// codes so callers can write errors.Is(err, tracking.ErrAlreadyExists).
var (
	ErrAlreadyExists    = errors.New("RESOURCE_ALREADY_EXISTS")
	ErrNotFound         = errors.New("RESOURCE_DOES_NOT_EXIST")
	ErrInvalidParameter = errors.New("INVALID_PARAMETER_VALUE")
)

// APIError is an MLflow error response: HTTP status plus the JSON body's
// {error_code, message}.
type APIError struct {
	StatusCode int
	Code       string // RESOURCE_ALREADY_EXISTS, INVALID_PARAMETER_VALUE, ...
	Message    string
	Endpoint   string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("mlflow %s: %d %s: %s", e.Endpoint, e.StatusCode, e.Code, e.Message)
}

// Is matches the sentinel named by the error code.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrAlreadyExists:
		return e.Code == "RESOURCE_ALREADY_EXISTS"
	case ErrNotFound:
		return e.Code == "RESOURCE_DOES_NOT_EXIST"
	case ErrInvalidParameter:
		return e.Code == "INVALID_PARAMETER_VALUE"
	}
	return false
}

// parseAPIError reads MLflow's error body. A body that is not MLflow's JSON
// (a proxy's HTML page) still gives an error with the status and the start
// of the body.
func parseAPIError(status int, endpoint string, body []byte) *APIError {
	e := &APIError{StatusCode: status, Endpoint: endpoint}
	var wire struct {
		Code    string `json:"error_code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &wire); err == nil && wire.Code != "" {
		e.Code, e.Message = wire.Code, wire.Message
		return e
	}
	e.Code = fmt.Sprintf("HTTP_%d", status)
	e.Message = strings.TrimSpace(string(body[:min(len(body), 200)]))
	return e
}

// RunStatus is MLflow's run status.
type RunStatus string

const (
	StatusRunning  RunStatus = "RUNNING"
	StatusFinished RunStatus = "FINISHED"
	StatusFailed   RunStatus = "FAILED"
	StatusKilled   RunStatus = "KILLED"
)

// Run is a tracked run.
type Run struct {
	ID           string    `json:"run_id"`
	ExperimentID string    `json:"experiment_id"`
	Name         string    `json:"run_name,omitempty"`
	Status       RunStatus `json:"status"`
	Start        time.Time `json:"start_time"`
	End          time.Time `json:"end_time,omitzero"`
	ArtifactURI  string    `json:"artifact_uri,omitempty"`
}

// Metric is one metric value at a step.
type Metric struct {
	Key   string    `json:"key"`
	Value float64   `json:"value"`
	Step  int64     `json:"step"`
	Time  time.Time `json:"timestamp"` // zero: now
}

// check refuses values JSON cannot carry (MLflow's JSON has no NaN/Inf that
// encoding/json can write) and empty keys.
func (m Metric) check() error {
	if m.Key == "" {
		return fmt.Errorf("%w: metric with an empty key", ErrInvalidParameter)
	}
	if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
		return fmt.Errorf("%w: metric %q is %v, which cannot be logged", ErrInvalidParameter, m.Key, m.Value)
	}
	return nil
}

// ModelVersion is one registered version of a model.
type ModelVersion struct {
	Name    string   `json:"name"`
	Version string   `json:"version"`
	Source  string   `json:"source"` // the bundle's store URI
	RunID   string   `json:"run_id,omitempty"`
	Status  string   `json:"status,omitempty"`
	Aliases []string `json:"aliases,omitempty"`
}

// RunSpec describes a run to start.
type RunSpec struct {
	Experiment string // created when missing
	Name       string
	Tags       map[string]string
}

// Tracker is what the training pipeline needs from experiment tracking.
type Tracker interface {
	// StartRun gets or creates the experiment and starts a run in it.
	StartRun(ctx context.Context, spec RunSpec) (Run, error)
	LogParams(ctx context.Context, runID string, params map[string]string) error
	LogMetrics(ctx context.Context, runID string, metrics []Metric) error
	SetTags(ctx context.Context, runID string, tags map[string]string) error
	// EndRun marks the run terminated with status (FINISHED, FAILED, KILLED).
	EndRun(ctx context.Context, runID string, status RunStatus) error
	// RegisterModelVersion creates the registered model if needed and adds
	// source (the bundle's store URI) as a new version produced by runID.
	RegisterModelVersion(ctx context.Context, model, source, runID string) (ModelVersion, error)
	// SetAlias points alias ("champion", "challenger") at a version.
	SetAlias(ctx context.Context, model, alias, version string) error
	// FindVersion finds the version registered from source (a bundle's
	// store URI), the newest if it was registered more than once;
	// ErrNotFound when none was.
	FindVersion(ctx context.Context, model, source string) (ModelVersion, error)
	// VersionByAlias resolves an alias; ErrNotFound when unset.
	VersionByAlias(ctx context.Context, model, alias string) (ModelVersion, error)
}

// TagBundleURI is the run tag (and param) that names the bundle in the store.
const TagBundleURI = "switchyard.bundle_uri"

// RecordBundleURI records a published bundle's store URI on the run, as a
// tag (which can be updated) and a param (which shows in MLflow's run table).
func RecordBundleURI(ctx context.Context, t Tracker, runID, uri string) error {
	if err := t.SetTags(ctx, runID, map[string]string{TagBundleURI: uri}); err != nil {
		return fmt.Errorf("record bundle uri: %w", err)
	}
	if err := t.LogParams(ctx, runID, map[string]string{TagBundleURI: uri}); err != nil {
		return fmt.Errorf("record bundle uri: %w", err)
	}
	return nil
}

// newestWithSource picks the newest of mvs registered from source.
func newestWithSource(model, source string, mvs []ModelVersion) (ModelVersion, error) {
	var best ModelVersion
	bestN := -1
	for _, mv := range mvs {
		if mv.Source != source {
			continue
		}
		n, err := strconv.Atoi(mv.Version)
		if err != nil {
			n = 0
		}
		if n > bestN {
			best, bestN = mv, n
		}
	}
	if bestN < 0 {
		return ModelVersion{}, fmt.Errorf("%w: no version of %s was registered from %s", ErrNotFound, model, source)
	}
	return best, nil
}

// New returns the MLflow tracker when cfg.TrackingURI is set, and the
// store-backed one (run records under runs/ in repo's store) otherwise.
func New(cfg Config, repo *artifact.Repo) (Tracker, error) {
	if cfg.TrackingURI == "" {
		if repo == nil {
			return nil, errors.New("tracking: no tracking URI and no artifact store to fall back to")
		}
		return NewStoreTracker(repo.Store()), nil
	}
	c, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	return &MLflowTracker{Client: c}, nil
}
