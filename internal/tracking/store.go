package tracking

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/switchyard-ai/switchyard/internal/artifact"
)

// StoreTracker is the Tracker used when no tracking server is configured:
// each run is a JSON record at runs/<run_id>.json and each registered model
// one at runs/registry/<model>.json in the artifact store. Every update is a
// read-modify-write with If-Match on the record's ETag, so two processes
// logging to the same record do not lose each other's writes. It follows
// MLflow's rules where they matter to callers: params are immutable, an
// unknown run or alias is ErrNotFound.
type StoreTracker struct {
	store artifact.Store
	now   func() time.Time
}

// NewStoreTracker keeps run records in store.
func NewStoreTracker(store artifact.Store) *StoreTracker {
	return &StoreTracker{store: store, now: time.Now}
}

// RunRecord is what runs/<run_id>.json holds.
type RunRecord struct {
	Run        Run               `json:"run"`
	Experiment string            `json:"experiment"`
	Params     map[string]string `json:"params"`
	Tags       map[string]string `json:"tags"`
	Metrics    []Metric          `json:"metrics"`
}

type registryRecord struct {
	Name     string            `json:"name"`
	Versions []ModelVersion    `json:"versions"`
	Aliases  map[string]string `json:"aliases"`
}

var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func runKey(id string) (string, error) {
	if !safeName.MatchString(id) {
		return "", fmt.Errorf("%w: run id %q", ErrInvalidParameter, id)
	}
	return "runs/" + id + ".json", nil
}

func registryKey(model string) (string, error) {
	if !safeName.MatchString(model) {
		return "", fmt.Errorf("%w: model name %q must be 1-128 of [A-Za-z0-9._-]", ErrInvalidParameter, model)
	}
	return "runs/registry/" + model + ".json", nil
}

// update applies fn to the record at key under optimistic concurrency,
// retrying when another writer got there first. create allows a missing
// record (fn sees the zero value).
func update[T any](ctx context.Context, s artifact.Store, key string, create bool, fn func(*T) error) error {
	for attempt := 0; attempt < 10; attempt++ {
		var rec T
		b, info, err := artifact.ReadAll(ctx, s, key)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &rec); err != nil {
				return fmt.Errorf("record %s: %w", key, err)
			}
		case errors.Is(err, artifact.ErrNotFound) && create:
		case errors.Is(err, artifact.ErrNotFound):
			return fmt.Errorf("%w: %s", ErrNotFound, key)
		default:
			return err
		}
		if err := fn(&rec); err != nil {
			return err
		}
		out, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("record %s: %w", key, err)
		}
		opts := artifact.PutOptions{IfMatch: info.ETag, IfNoneMatch: info.ETag == "", ContentType: "application/json"}
		_, err = s.Put(ctx, key, bytes.NewReader(out), opts)
		if errors.Is(err, artifact.ErrConflict) {
			continue
		}
		return err
	}
	return fmt.Errorf("record %s: %w: too many concurrent writers", key, artifact.ErrConflict)
}

// StartRun implements Tracker.
func (t *StoreTracker) StartRun(ctx context.Context, spec RunSpec) (Run, error) {
	if spec.Experiment == "" {
		return Run{}, fmt.Errorf("start run: %w: experiment name is empty", ErrInvalidParameter)
	}
	id := uuid.New()
	run := Run{
		ID: fmt.Sprintf("%x", id[:]), ExperimentID: spec.Experiment, Name: spec.Name,
		Status: StatusRunning, Start: t.now().UTC(),
	}
	key, _ := runKey(run.ID)
	run.ArtifactURI = t.store.URI("runs/" + run.ID)
	err := update(ctx, t.store, key, true, func(r *RunRecord) error {
		*r = RunRecord{Run: run, Experiment: spec.Experiment, Params: map[string]string{}, Tags: map[string]string{}}
		for k, v := range spec.Tags {
			r.Tags[k] = v
		}
		return nil
	})
	if err != nil {
		return Run{}, fmt.Errorf("start run: %w", err)
	}
	return run, nil
}

func (t *StoreTracker) updateRun(ctx context.Context, runID string, fn func(*RunRecord) error) error {
	key, err := runKey(runID)
	if err != nil {
		return err
	}
	return update(ctx, t.store, key, false, fn)
}

// LogParams implements Tracker. As in MLflow, a param cannot change value.
func (t *StoreTracker) LogParams(ctx context.Context, runID string, params map[string]string) error {
	return t.updateRun(ctx, runID, func(r *RunRecord) error {
		for k, v := range params {
			if old, ok := r.Params[k]; ok && old != v {
				return fmt.Errorf("%w: param %q already logged with value %q, cannot change it to %q", ErrInvalidParameter, k, old, v)
			}
			r.Params[k] = v
		}
		return nil
	})
}

// LogMetrics implements Tracker.
func (t *StoreTracker) LogMetrics(ctx context.Context, runID string, metrics []Metric) error {
	for _, m := range metrics {
		if err := m.check(); err != nil {
			return err
		}
	}
	now := t.now().UTC()
	return t.updateRun(ctx, runID, func(r *RunRecord) error {
		for _, m := range metrics {
			if m.Time.IsZero() {
				m.Time = now
			}
			r.Metrics = append(r.Metrics, m)
		}
		return nil
	})
}

// SetTags implements Tracker.
func (t *StoreTracker) SetTags(ctx context.Context, runID string, tags map[string]string) error {
	return t.updateRun(ctx, runID, func(r *RunRecord) error {
		for k, v := range tags {
			r.Tags[k] = v
		}
		return nil
	})
}

// EndRun implements Tracker.
func (t *StoreTracker) EndRun(ctx context.Context, runID string, status RunStatus) error {
	switch status {
	case StatusFinished, StatusFailed, StatusKilled:
	default:
		return fmt.Errorf("end run: %w: status %q is not terminal", ErrInvalidParameter, status)
	}
	end := t.now().UTC()
	return t.updateRun(ctx, runID, func(r *RunRecord) error {
		r.Run.Status, r.Run.End = status, end
		return nil
	})
}

// ReadRun returns a run's record.
func (t *StoreTracker) ReadRun(ctx context.Context, runID string) (RunRecord, error) {
	key, err := runKey(runID)
	if err != nil {
		return RunRecord{}, err
	}
	b, _, err := artifact.ReadAll(ctx, t.store, key)
	if errors.Is(err, artifact.ErrNotFound) {
		return RunRecord{}, fmt.Errorf("%w: run %s", ErrNotFound, runID)
	}
	if err != nil {
		return RunRecord{}, err
	}
	var r RunRecord
	return r, json.Unmarshal(b, &r)
}

// RegisterModelVersion implements Tracker. Versions count from 1, as in MLflow.
func (t *StoreTracker) RegisterModelVersion(ctx context.Context, model, source, runID string) (ModelVersion, error) {
	key, err := registryKey(model)
	if err != nil {
		return ModelVersion{}, err
	}
	if source == "" {
		return ModelVersion{}, fmt.Errorf("register %s: %w: source is empty", model, ErrInvalidParameter)
	}
	var mv ModelVersion
	err = update(ctx, t.store, key, true, func(r *registryRecord) error {
		r.Name = model
		mv = ModelVersion{Name: model, Version: strconv.Itoa(len(r.Versions) + 1), Source: source, RunID: runID, Status: "READY"}
		r.Versions = append(r.Versions, mv)
		return nil
	})
	if err != nil {
		return ModelVersion{}, fmt.Errorf("register %s: %w", model, err)
	}
	return mv, nil
}

// SetAlias implements Tracker.
func (t *StoreTracker) SetAlias(ctx context.Context, model, alias, version string) error {
	key, err := registryKey(model)
	if err != nil {
		return err
	}
	if err := checkAlias(alias); err != nil {
		return err
	}
	return update(ctx, t.store, key, false, func(r *registryRecord) error {
		if !slices.ContainsFunc(r.Versions, func(v ModelVersion) bool { return v.Version == version }) {
			return fmt.Errorf("%w: model %s has no version %q", ErrNotFound, model, version)
		}
		if r.Aliases == nil {
			r.Aliases = map[string]string{}
		}
		r.Aliases[alias] = version
		return nil
	})
}

// readRegistry reads a registered model's record; ErrNotFound when absent.
func (t *StoreTracker) readRegistry(ctx context.Context, model string) (registryRecord, error) {
	key, err := registryKey(model)
	if err != nil {
		return registryRecord{}, err
	}
	b, _, err := artifact.ReadAll(ctx, t.store, key)
	if errors.Is(err, artifact.ErrNotFound) {
		return registryRecord{}, fmt.Errorf("%w: registered model %s", ErrNotFound, model)
	}
	if err != nil {
		return registryRecord{}, err
	}
	var r registryRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return registryRecord{}, fmt.Errorf("registry %s: %w", model, err)
	}
	return r, nil
}

// FindVersion implements Tracker.
func (t *StoreTracker) FindVersion(ctx context.Context, model, source string) (ModelVersion, error) {
	r, err := t.readRegistry(ctx, model)
	if err != nil {
		return ModelVersion{}, err
	}
	return newestWithSource(model, source, r.Versions)
}

// VersionByAlias implements Tracker.
func (t *StoreTracker) VersionByAlias(ctx context.Context, model, alias string) (ModelVersion, error) {
	r, err := t.readRegistry(ctx, model)
	if err != nil {
		return ModelVersion{}, err
	}
	v, ok := r.Aliases[alias]
	if !ok {
		return ModelVersion{}, fmt.Errorf("%w: model %s has no alias %q", ErrNotFound, model, alias)
	}
	for _, mv := range r.Versions {
		if mv.Version == v {
			for a, av := range r.Aliases {
				if av == v {
					mv.Aliases = append(mv.Aliases, a)
				}
			}
			slices.Sort(mv.Aliases)
			return mv, nil
		}
	}
	return ModelVersion{}, fmt.Errorf("%w: alias %q of %s points at missing version %s", ErrNotFound, alias, model, v)
}

// checkAlias applies MLflow's alias rules: not empty, not "latest", and not
// of the form v<digits> (which would read as a version).
func checkAlias(alias string) error {
	if !safeName.MatchString(alias) || alias == "latest" || versionLike.MatchString(alias) {
		return fmt.Errorf("%w: alias %q is reserved or malformed", ErrInvalidParameter, alias)
	}
	return nil
}

var versionLike = regexp.MustCompile(`^[vV]\d+$`)

var _ Tracker = (*StoreTracker)(nil)
