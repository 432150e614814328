package pipeline

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/internal/artifact"
)

// Run statuses.
const (
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	// StatusRejected: the gate stopped the candidate; nothing was uploaded
	// or registered. Not an error of the pipeline, but not a new model.
	StatusRejected = "rejected"
	StatusFailed   = "failed"
)

// Step statuses.
const (
	StepPending = "pending"
	StepRunning = "running"
	StepOK      = "ok"
	StepFailed  = "failed"
	StepSkipped = "skipped"
	// StepRejected: the gate ran and stopped the candidate.
	StepRejected = "rejected"
)

// Step names, in the order they run. Upload comes before register so the
// registry never names a bundle that is not in the store: a failed register
// deletes the uploaded version, and a failed upload leaves nothing to undo.
const (
	StepExport   = "export"
	StepTrain    = "train"
	StepEvaluate = "evaluate"
	StepGate     = "gate"
	StepUpload   = "upload"
	StepRegister = "register"
	StepDeploy   = "deploy"
)

// Steps lists the step names in order.
var Steps = []string{StepExport, StepTrain, StepEvaluate, StepGate, StepUpload, StepRegister, StepDeploy}

// Triggers.
const (
	TriggerCLI      = "cli"
	TriggerAPI      = "api"
	TriggerSchedule = "schedule"
)

// Record is a run's status, stored as pipeline/runs/<id>.json and rewritten
// after every step, so a reader (the admin API, `pipeline status`, another
// replica) sees how far a run got even if the process running it died.
type Record struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Trigger string `json:"trigger"`
	// Scheduled is the cron tick a scheduled run belongs to.
	Scheduled *time.Time `json:"scheduled,omitempty"`
	// Host names the process that ran it (host:pid).
	Host     string     `json:"host,omitempty"`
	Config   string     `json:"config,omitempty"`
	Status   string     `json:"status"`
	Started  time.Time  `json:"started"`
	Finished *time.Time `json:"finished,omitempty"`
	// Error says why a run failed or was rejected.
	Error string       `json:"error,omitempty"`
	Steps []StepRecord `json:"steps"`

	Export     *ExportReport    `json:"export,omitempty"`
	Candidates []CandidateScore `json:"candidates,omitempty"`
	Gate       *GateResult      `json:"gate,omitempty"`
	// Version is the model version this run published (its id).
	Version  string        `json:"version,omitempty"`
	Bundle   string        `json:"bundle_uri,omitempty"`
	Tracking *TrackingInfo `json:"tracking,omitempty"`
	Deployed bool          `json:"deployed"`
	// Cleanup lists what was undone after a failed upload or register.
	Cleanup []string `json:"cleanup,omitempty"`
}

// StepRecord is one step's outcome.
type StepRecord struct {
	Name     string     `json:"name"`
	Status   string     `json:"status"`
	Start    *time.Time `json:"start,omitempty"`
	Duration float64    `json:"duration_seconds"`
	Error    string     `json:"error,omitempty"`
	// Detail is a one-line summary (rows exported, metric values, version).
	Detail string `json:"detail,omitempty"`
}

// CandidateScore is one trained kind's held-out evaluation.
type CandidateScore struct {
	Kind    string             `json:"kind"`
	Metrics map[string]float64 `json:"metrics"`
	// Chosen marks the kind that went to the gate (best on the gate metric).
	Chosen      bool    `json:"chosen"`
	TrainSecs   float64 `json:"train_seconds"`
	HeldOutRows int     `json:"held_out_rows"`
}

// GateResult is the gate's comparison.
type GateResult struct {
	Metric     string   `json:"metric"`
	Candidate  float64  `json:"candidate"`
	Production *float64 `json:"production,omitempty"`
	// ProductionVersion is the version CURRENT named; empty when none.
	ProductionVersion string  `json:"production_version,omitempty"`
	Margin            float64 `json:"margin"`
	Relative          bool    `json:"relative,omitempty"`
	Passed            bool    `json:"passed"`
	Reason            string  `json:"reason"`
}

// TrackingInfo is where the run was registered.
type TrackingInfo struct {
	Backend      string   `json:"backend"` // mlflow or store
	RunID        string   `json:"run_id,omitempty"`
	ModelVersion string   `json:"model_version,omitempty"`
	Aliases      []string `json:"aliases,omitempty"`
}

// Step returns the named step's record.
func (r *Record) Step(name string) *StepRecord {
	for i := range r.Steps {
		if r.Steps[i].Name == name {
			return &r.Steps[i]
		}
	}
	return nil
}

func newRecord(id, model, trigger string) *Record {
	r := &Record{ID: id, Model: model, Trigger: trigger, Status: StatusRunning}
	for _, s := range Steps {
		r.Steps = append(r.Steps, StepRecord{Name: s, Status: StepPending})
	}
	return r
}

const recordPrefix = "pipeline/runs/"

// runIDLayout sorts lexically in time order (fixed width, UTC).
const runIDLayout = "20060102T150405.000Z"

var runIDPattern = regexp.MustCompile(`^\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{6}$`)

// NewRunID returns a time-sortable id: the UTC start time to the millisecond
// and 24 random bits, so two runs started in the same millisecond differ.
// It doubles as the model version the run publishes.
func NewRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format(runIDLayout) + "-" + hex.EncodeToString(b[:])
}

// ValidRunID reports whether id has NewRunID's form.
func ValidRunID(id string) bool { return runIDPattern.MatchString(id) }

// ErrNoRun: no record with that id.
var ErrNoRun = errors.New("no such pipeline run")

// Records stores run records in an artifact store.
type Records struct{ store artifact.Store }

// NewRecords keeps records in store.
func NewRecords(store artifact.Store) *Records { return &Records{store: store} }

// Save writes the record (an unconditional put: one process owns a run).
func (rs *Records) Save(ctx context.Context, r *Record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("save run %s: %w", r.ID, err)
	}
	if _, err := rs.store.Put(ctx, recordPrefix+r.ID+".json", bytes.NewReader(b), artifact.PutOptions{ContentType: "application/json"}); err != nil {
		return fmt.Errorf("save run %s: %w", r.ID, err)
	}
	return nil
}

// Get reads one record.
func (rs *Records) Get(ctx context.Context, id string) (*Record, error) {
	if !ValidRunID(id) {
		return nil, fmt.Errorf("%w: %q is not a run id", ErrNoRun, id)
	}
	b, _, err := artifact.ReadAll(ctx, rs.store, recordPrefix+id+".json")
	if errors.Is(err, artifact.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNoRun, id)
	}
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", id, err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read run %s: %w", id, err)
	}
	return &r, nil
}

// List returns the newest limit records (all when limit <= 0), newest first.
func (rs *Records) List(ctx context.Context, limit int) ([]*Record, error) {
	objs, err := rs.store.List(ctx, recordPrefix)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	var ids []string
	for _, o := range objs {
		id, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, recordPrefix), ".json")
		if ok && ValidRunID(id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	if limit > 0 && len(ids) > limit {
		ids = ids[:limit]
	}
	out := make([]*Record, 0, len(ids))
	for _, id := range ids {
		r, err := rs.Get(ctx, id)
		if errors.Is(err, ErrNoRun) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
