package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/switchyard-ai/switchyard/internal/lock"
)

// ErrBusy: a run is already in progress in this process.
var ErrBusy = errors.New("a pipeline run is already in progress")

// ServiceConfig configures a Service: the pipeline a gateway runs, its
// schedule and how replicas agree on who takes a tick.
type ServiceConfig struct {
	// ConfigPath is the pipeline YAML. Required.
	ConfigPath string
	// Schedule is a cron spec (robfig/cron v3: five fields, or six with
	// seconds first, or a descriptor such as @hourly or "@every 6h"),
	// evaluated in UTC unless it starts with CRON_TZ=Zone. Empty: no schedule.
	Schedule string
	// Locker decides which replica takes a tick: a Redis lock shared by the
	// replicas, or (default) an in-process lock for a single replica.
	Locker lock.Locker
	// LockTTL is how long a tick's lease outlives the run that took it, so
	// a replica whose clock or timer lags cannot take the same tick again
	// (default 10m).
	LockTTL time.Duration
	// History is how many runs GET /admin/pipeline/runs lists (default 20).
	History int

	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Runner replaces parts of the runner (tests); Logger and Metrics are
	// filled in from the fields above.
	Runner Options
}

// Service runs the pipeline inside a gateway: one run at a time, started by
// the admin API or the schedule, in the background.
type Service struct {
	cfg     ServiceConfig
	log     *slog.Logger
	runner  *Runner
	metrics *Metrics
	records *Records
	model   string
	sched   cron.Schedule

	ctx    context.Context // lives until Run returns
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	current *Record // the run in progress (its first form), nil when idle
}

// cronParser accepts optional seconds and descriptors (@every 1m, @daily).
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// NewService validates the pipeline config and the schedule and opens the
// store the run records live in. Nothing runs until Start or Run.
func NewService(ctx context.Context, cfg ServiceConfig) (*Service, error) {
	if cfg.ConfigPath == "" {
		return nil, errors.New("pipeline: config path is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.LockTTL == 0 {
		cfg.LockTTL = 10 * time.Minute
	}
	if cfg.History <= 0 {
		cfg.History = 20
	}
	c, err := Load(cfg.ConfigPath)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: cfg.Logger.With("component", "pipeline"), model: c.Model}
	if cfg.Schedule != "" {
		if s.sched, err = cronParser.Parse(cfg.Schedule); err != nil {
			return nil, fmt.Errorf("pipeline: schedule %q: %w", cfg.Schedule, err)
		}
	}
	if cfg.Locker == nil {
		s.cfg.Locker = lock.NewMemory(lock.MemoryConfig{Name: "pipeline", Logger: cfg.Logger})
	}
	if s.metrics, err = NewMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	ro := cfg.Runner
	ro.Logger, ro.Metrics = s.log, s.metrics
	s.runner = NewRunner(ro)
	store, err := s.runner.o.OpenStore(ctx, c.StoreURI())
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	s.records = NewRecords(store)
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	return s, nil
}

// Records returns the run records store.
func (s *Service) Records() *Records { return s.records }

// Start begins a run in the background and returns its id at once.
// override is merged onto the config file (see WithOverride); a bad config
// is an error before anything starts. ErrBusy when a run is in progress.
func (s *Service) Start(override []byte, trig Trigger) (string, error) {
	id, _, err := s.start(override, trig)
	return id, err
}

// start is Start that also returns a channel closed when the run ends.
func (s *Service) start(override []byte, trig Trigger) (string, <-chan struct{}, error) {
	raw, err := os.ReadFile(s.cfg.ConfigPath)
	if err != nil {
		return "", nil, fmt.Errorf("pipeline config: %w", err)
	}
	c, err := WithOverride(raw, s.cfg.ConfigPath, override)
	if err != nil {
		return "", nil, err
	}
	if c.Model != s.model {
		return "", nil, fmt.Errorf("config override: model %q differs from the configured %q", c.Model, s.model)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != nil {
		return "", nil, fmt.Errorf("%w (run %s)", ErrBusy, s.current.ID)
	}
	if s.ctx.Err() != nil {
		return "", nil, errors.New("pipeline: service is shutting down")
	}
	now := s.runner.o.Now()
	trig.ID = NewRunID(now)
	rec := newRecord(trig.ID, c.Model, trig.Kind)
	rec.Started, rec.Scheduled, rec.Config = now.UTC(), trig.Scheduled, c.FilePath()
	s.current = rec
	done := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		defer func() {
			s.mu.Lock()
			s.current = nil
			s.mu.Unlock()
		}()
		if _, err := s.runner.Run(s.ctx, c, trig); err != nil {
			s.log.Warn("pipeline run failed", "run", trig.ID, "err", err)
		}
	}()
	return trig.ID, done, nil
}

// Running returns the id of the run in progress, or "".
func (s *Service) Running() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == nil {
		return ""
	}
	return s.current.ID
}

// Get returns a run's record; the run in progress is found even before its
// first record reached the store.
func (s *Service) Get(ctx context.Context, id string) (*Record, error) {
	r, err := s.records.Get(ctx, id)
	if errors.Is(err, ErrNoRun) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.current != nil && s.current.ID == id {
			c := *s.current
			return &c, nil
		}
	}
	return r, err
}

// Run runs the schedule (if any) until ctx ends, then cancels the run in
// progress and waits for it to record how it ended.
func (s *Service) Run(ctx context.Context) error {
	defer func() {
		s.cancel()
		s.wg.Wait()
	}()
	if s.sched == nil {
		<-ctx.Done()
		return nil
	}
	s.log.Info("pipeline schedule started", "schedule", s.cfg.Schedule)
	for {
		now := s.runner.o.Now()
		tick := nextTick(s.sched, now)
		t := time.NewTimer(tick.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		s.tick(ctx, tick)
	}
}

// nextTick is the schedule's next time after now. "@every D" schedules are
// aligned to multiples of D since the Unix epoch, so replicas started at
// different moments agree on the ticks (and on the lock keys).
func nextTick(sched cron.Schedule, now time.Time) time.Time {
	if every, ok := sched.(cron.ConstantDelaySchedule); ok {
		return now.Truncate(every.Delay).Add(every.Delay)
	}
	return sched.Next(now.UTC())
}

// tick lets one replica take a tick: the lock key names the tick, and the
// lease is never released, only left to expire LockTTL after the run, so a
// late replica finds it still held.
func (s *Service) tick(ctx context.Context, at time.Time) {
	if id := s.Running(); id != "" {
		s.metrics.ticks.WithLabelValues("busy").Inc()
		s.log.Info("scheduled tick skipped: a run is in progress here", "tick", at, "running", id)
		return
	}
	key := "pipeline:" + s.model + ":tick:" + at.UTC().Format(time.RFC3339Nano)
	leaseCtx, stop := context.WithCancel(ctx)
	lease, err := s.cfg.Locker.TryAcquire(leaseCtx, key, s.cfg.LockTTL)
	if errors.Is(err, lock.ErrNotAcquired) {
		stop()
		s.metrics.ticks.WithLabelValues("elsewhere").Inc()
		s.log.Debug("scheduled tick taken by another replica", "tick", at)
		return
	}
	if err != nil {
		stop()
		s.metrics.ticks.WithLabelValues("error").Inc()
		s.log.Error("scheduled tick skipped: lock backend failed", "tick", at, "err", err)
		return
	}
	scheduled := at.UTC()
	id, done, err := s.start(nil, Trigger{Kind: TriggerSchedule, Scheduled: &scheduled})
	if err != nil {
		stop()
		s.metrics.ticks.WithLabelValues("error").Inc()
		s.log.Error("scheduled run not started", "tick", at, "err", err)
		return
	}
	s.metrics.ticks.WithLabelValues("taken").Inc()
	s.log.Info("scheduled run started", "tick", at, "run", id, "fence", lease.Token())
	// Keep the lease renewed while the run lasts; then stop renewing and let
	// it expire on its own.
	go func() {
		defer stop()
		select {
		case <-done:
		case <-leaseCtx.Done():
		}
	}()
}

// RegisterAdmin mounts the admin endpoints on mux (which checks the admin
// key before they are reached):
//
//	POST /admin/pipeline/runs        start a run; body {"config": {...}} overrides top-level keys
//	GET  /admin/pipeline/runs        the recent runs, newest first (?limit=N)
//	GET  /admin/pipeline/runs/{id}   one run's status and step log
func (s *Service) RegisterAdmin(mux *http.ServeMux) {
	mux.HandleFunc("POST /admin/pipeline/runs", s.handleStart)
	mux.HandleFunc("GET /admin/pipeline/runs", s.handleList)
	mux.HandleFunc("GET /admin/pipeline/runs/{id}", s.handleGet)
}

const maxOverrideBody = 1 << 20

func (s *Service) handleStart(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOverrideBody))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "invalid_request", fmt.Errorf("request body: %w", err))
		return
	}
	var req struct {
		Config json.RawMessage `json:"config"`
	}
	if len(body) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeErr(w, http.StatusBadRequest, "invalid_request", fmt.Errorf("request body: %w (want {\"config\": {...}} or no body)", err))
			return
		}
	}
	id, err := s.Start(req.Config, Trigger{Kind: TriggerAPI})
	switch {
	case errors.Is(err, ErrBusy):
		writeJSON(w, http.StatusConflict, map[string]any{"error": map[string]any{"message": err.Error(), "type": "conflict", "code": "conflict"}, "running": s.Running()})
		return
	case err != nil:
		writeErr(w, http.StatusBadRequest, "invalid_config", err)
		return
	}
	w.Header().Set("Location", "/admin/pipeline/runs/"+id)
	writeJSON(w, http.StatusAccepted, map[string]any{"id": id, "status": StatusRunning, "status_url": "/admin/pipeline/runs/" + id})
}

func (s *Service) handleList(w http.ResponseWriter, r *http.Request) {
	limit := s.cfg.History
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeErr(w, http.StatusBadRequest, "invalid_request", fmt.Errorf("limit %q: want an integer in [1, 1000]", v))
			return
		}
		limit = n
	}
	runs, err := s.records.List(r.Context(), limit)
	if err != nil {
		writeErr(w, http.StatusBadGateway, "store_error", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": runs, "running": s.Running()})
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) {
	rec, err := s.Get(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, ErrNoRun):
		writeErr(w, http.StatusNotFound, "not_found", err)
	case err != nil:
		writeErr(w, http.StatusBadGateway, "store_error", err)
	default:
		writeJSON(w, http.StatusOK, rec)
	}
}

// writeErr answers in the gateway's (OpenAI's) error shape.
func writeErr(w http.ResponseWriter, code int, typ string, err error) {
	writeJSON(w, code, map[string]any{"error": map[string]any{"message": err.Error(), "type": typ, "code": typ}})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"error":{"message":"encode response","type":"server_error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
