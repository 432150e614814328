package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard-ai/switchyard/internal/artifact"
	"github.com/switchyard-ai/switchyard/internal/audit"
	"github.com/switchyard-ai/switchyard/internal/modelmgr"
	"github.com/switchyard-ai/switchyard/internal/tracking"
)

// Deployer points a model's CURRENT at a published version. The model
// manager's Registry.Deploy is the implementation: it validates the version
// (checksums, load, canaries, latency), moves CURRENT with a conditional
// write, notifies the replicas and writes the audit event.
type Deployer interface {
	Deploy(ctx context.Context, model, version, reason string) error
}

// Options are the Runner's dependencies. Every field has a default that
// talks to the real thing; tests replace one at a time.
type Options struct {
	Logger  *slog.Logger
	Metrics *Metrics
	// OpenStore opens the artifact store (default artifact.OpenStore).
	OpenStore func(ctx context.Context, uri string) (artifact.Store, error)
	// NewTracker builds the tracker (default tracking.New: MLflow when a
	// tracking URI is configured, the store-backed tracker otherwise).
	NewTracker func(c *Config, repo *artifact.Repo) (tracking.Tracker, error)
	// NewExporter builds the export source (default NewSourceExporter).
	NewExporter func(c *Config) Exporter
	// NewDeployer builds the deployer for a run (default a model manager
	// registry over the run's repo, see DefaultDeployer); close is called
	// when the run ends.
	NewDeployer func(c *Config, repo *artifact.Repo, workDir string, log *slog.Logger) (d Deployer, close func(), err error)
	// Now replaces time.Now.
	Now func() time.Time
	// Host names this process in run records (default host:pid).
	Host string
}

// Runner runs pipeline configs. It is safe for concurrent use; the one run
// at a time rule belongs to Service, not here.
type Runner struct{ o Options }

// NewRunner fills in opts' defaults.
func NewRunner(o Options) *Runner {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics, _ = NewMetrics(nil) // nil registerer: cannot fail
	}
	if o.OpenStore == nil {
		log := o.Logger
		o.OpenStore = func(ctx context.Context, uri string) (artifact.Store, error) {
			return artifact.OpenStore(ctx, uri, artifact.Options{Logger: log})
		}
	}
	if o.NewTracker == nil {
		o.NewTracker = func(c *Config, repo *artifact.Repo) (tracking.Tracker, error) {
			tc := tracking.ConfigFromEnv()
			tc.TrackingURI = c.Tracking.URI
			return tracking.New(tc, repo)
		}
	}
	if o.NewExporter == nil {
		o.NewExporter = func(c *Config) Exporter { return NewSourceExporter(c) }
	}
	if o.NewDeployer == nil {
		o.NewDeployer = DefaultDeployer
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Host == "" {
		h, _ := os.Hostname()
		o.Host = fmt.Sprintf("%s:%d", h, os.Getpid())
	}
	return &Runner{o: o}
}

// Trigger says why a run starts.
type Trigger struct {
	Kind string // TriggerCLI, TriggerAPI or TriggerSchedule
	// ID, when set, is the run id to use (the admin API hands it out before
	// the run starts); otherwise one is made.
	ID string
	// Scheduled is the cron tick of a scheduled run.
	Scheduled *time.Time
}

// registryDeployer adapts modelmgr.Registry to Deployer.
type registryDeployer struct{ r *modelmgr.Registry }

func (d registryDeployer) Deploy(ctx context.Context, model, version, reason string) error {
	_, err := d.r.Deploy(ctx, model, version, reason)
	return err
}

// DefaultDeployer builds a model manager registry over repo, with its
// download cache in workDir, and Redis for the deploy notice when the config
// names one.
func DefaultDeployer(c *Config, repo *artifact.Repo, workDir string, log *slog.Logger) (Deployer, func(), error) {
	mc := modelmgr.Config{Repo: repo, CacheDir: filepath.Join(workDir, "model-cache"), Logger: log, Replica: "pipeline"}
	var client *redis.Client
	if c.RedisURL != "" {
		opts, err := redis.ParseURL(c.RedisURL)
		if err != nil {
			return nil, nil, fmt.Errorf("redis_url: %w", err)
		}
		client = redis.NewClient(opts)
		mc.Redis = client
	}
	reg, err := modelmgr.New(mc)
	if err != nil {
		if client != nil {
			_ = client.Close()
		}
		return nil, nil, err
	}
	return registryDeployer{reg}, func() {
		_ = reg.Close()
		if client != nil {
			_ = client.Close()
		}
	}, nil
}

// Run executes one run of c and returns its final record. The error is
// non-nil when the run failed (the record says which step and why); a run
// stopped at the gate returns its record with StatusRejected and a nil
// error, because the pipeline did its job. The record is saved in the store
// after every step; if even the store cannot be opened there is no record
// and only the error is returned.
func (rn *Runner) Run(ctx context.Context, c *Config, trig Trigger) (*Record, error) {
	o := rn.o
	start := o.Now()
	id := trig.ID
	if id == "" {
		id = NewRunID(start)
	}
	log := o.Logger.With("run", id, "model", c.Model, "trigger", trig.Kind)
	store, err := o.OpenStore(ctx, c.StoreURI())
	if err != nil {
		return nil, fmt.Errorf("pipeline run %s: %w", id, err)
	}
	repo := artifact.NewRepo(store, artifact.RepoOptions{Logger: log})
	records := NewRecords(store)
	rec := newRecord(id, c.Model, trig.Kind)
	rec.Scheduled, rec.Host, rec.Config, rec.Started = trig.Scheduled, o.Host, c.FilePath(), start.UTC()
	if err := records.Save(ctx, rec); err != nil {
		return nil, fmt.Errorf("pipeline run %s: %w", id, err)
	}
	o.Metrics.running.Inc()
	defer o.Metrics.running.Dec()
	log.Info("pipeline run started")

	rctx, cancel := context.WithTimeout(ctx, c.Timeout.D())
	defer cancel()
	rctx = audit.WithActor(rctx, "pipeline:"+id)

	workDir, cleanupDir, err := runDir(c, id)
	if err == nil {
		defer cleanupDir()
	}
	st := &state{c: c, rec: rec, repo: repo, log: log, workDir: workDir, now: o.Now}
	if err == nil {
		err = rn.steps(rctx, st, records)
	}
	if st.tracker != nil && st.runID != "" && !st.runEnded {
		// A failure after the tracking run started and before it ended
		// (register itself ends it on success).
		st.endTracking(tracking.StatusFailed, err)
	}

	fin := o.Now().UTC()
	rec.Finished = &fin
	for i := range rec.Steps {
		if rec.Steps[i].Status == StepPending {
			rec.Steps[i].Status = StepSkipped
		}
	}
	switch {
	case err == nil:
		rec.Status = StatusSucceeded
		o.Metrics.lastSuccess.SetToCurrentTime()
	case errors.Is(err, errRejected):
		rec.Status, rec.Error = StatusRejected, rec.Gate.Reason
		err = nil
	default:
		rec.Status, rec.Error = StatusFailed, err.Error()
	}
	o.Metrics.runs.WithLabelValues(trig.Kind, rec.Status).Inc()
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer scancel()
	if serr := records.Save(sctx, rec); serr != nil {
		log.Error("final run record not saved", "err", serr)
		if err == nil {
			err = serr
		}
	}
	log.Info("pipeline run finished", "status", rec.Status, "seconds", fin.Sub(start).Seconds(), "err", rec.Error)
	if err != nil {
		return rec, fmt.Errorf("pipeline run %s: %w", id, err)
	}
	return rec, nil
}

// runDir returns the run's working directory and its cleanup.
func runDir(c *Config, id string) (string, func(), error) {
	if c.WorkDir != "" {
		d := filepath.Join(c.Path(c.WorkDir), id)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", nil, fmt.Errorf("work dir: %w", err)
		}
		return d, func() {}, nil
	}
	d, err := os.MkdirTemp("", "switchyard-pipeline-"+id+"-")
	if err != nil {
		return "", nil, fmt.Errorf("work dir: %w", err)
	}
	return d, func() { _ = os.RemoveAll(d) }, nil
}

// steps runs the steps in order, recording each; the first failure stops.
func (rn *Runner) steps(ctx context.Context, st *state, records *Records) error {
	o := rn.o
	run := func(name string, fn func(context.Context) (string, error)) error {
		s := st.rec.Step(name)
		t0 := o.Now()
		t0u := t0.UTC()
		s.Status, s.Start = StepRunning, &t0u
		if err := records.Save(ctx, st.rec); err != nil {
			st.log.Warn("run record not saved", "step", name, "err", err)
		}
		st.log.Info("step started", "step", name)
		detail, err := fn(ctx)
		s.Duration = o.Now().Sub(t0).Seconds()
		s.Detail = detail
		switch {
		case err == nil:
			s.Status = StepOK
		case errors.Is(err, errRejected):
			s.Status = StepRejected
		default:
			s.Status, s.Error = StepFailed, err.Error()
		}
		o.Metrics.steps.WithLabelValues(name, s.Status).Observe(s.Duration)
		st.log.Info("step finished", "step", name, "status", s.Status, "seconds", s.Duration, "detail", detail, "err", s.Error)
		if serr := records.Save(ctx, st.rec); serr != nil {
			st.log.Warn("run record not saved", "step", name, "err", serr)
		}
		if err != nil && !errors.Is(err, errRejected) {
			return fmt.Errorf("%s: %w", name, err)
		}
		return err
	}
	exporter := o.NewExporter(st.c)
	if err := run(StepExport, func(ctx context.Context) (string, error) { return st.export(ctx, exporter) }); err != nil {
		return err
	}
	if err := run(StepTrain, st.train); err != nil {
		return err
	}
	if err := run(StepEvaluate, st.evaluate); err != nil {
		return err
	}
	if err := run(StepGate, st.gate); err != nil {
		return err
	}
	if err := run(StepUpload, st.upload); err != nil {
		return err
	}
	tr, err := o.NewTracker(st.c, st.repo)
	if err != nil {
		return run(StepRegister, func(context.Context) (string, error) {
			st.undoUpload(ctx)
			return "", fmt.Errorf("tracker: %w", err)
		})
	}
	st.tracker = tr
	if err := run(StepRegister, st.register); err != nil {
		return err
	}
	if !st.c.Deploy.Enabled {
		s := st.rec.Step(StepDeploy)
		s.Status, s.Detail = StepSkipped, "deploy.enabled is false: the version is registered as challenger"
		return nil
	}
	d, closeD, err := o.NewDeployer(st.c, st.repo, st.workDir, st.log)
	if err != nil {
		return run(StepDeploy, func(context.Context) (string, error) { return "", fmt.Errorf("deployer: %w", err) })
	}
	defer closeD()
	return run(StepDeploy, func(ctx context.Context) (string, error) { return st.deploy(ctx, d) })
}
