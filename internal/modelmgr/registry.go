// Package modelmgr serves learned router models and changes them without a
// restart: a Manager per model holds the active version as an immutable
// snapshot behind an atomic pointer, follows the model's CURRENT pointer in
// the artifact store (a poll with ETag, plus Redis pub/sub notices so replicas
// react at once), and activates a new version only after it was fetched
// through the model sync (one download per cluster), checksummed, loaded and
// validated (canaries and a latency check). A request keeps the snapshot it
// started with, so a swap never changes a decision half-way.
//
// The Registry owns the managers, deploys and rolls back (moving CURRENT with
// a conditional write, then notifying), writes every action to the audit
// trail, serves the admin endpoints, and provides the learned strategy kinds
// knn, mlp and svm, which find it through routing.Env.
package modelmgr

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/switchyard-ai/switchyard/internal/artifact"
	"github.com/switchyard-ai/switchyard/internal/audit"
	"github.com/switchyard-ai/switchyard/internal/lock"
	"github.com/switchyard-ai/switchyard/internal/modelsync"
	"github.com/switchyard-ai/switchyard/internal/tracking"
)

// Defaults for Config's zero fields.
const (
	DefaultPollInterval       = 10 * time.Second
	DefaultNotifyChannel      = "switchyard:models"
	DefaultMaxDecisionLatency = 50 * time.Millisecond
	DefaultKeepPrevious       = 3
)

// Config configures a Registry. Repo and CacheDir are required.
type Config struct {
	Repo *artifact.Repo
	// CacheDir holds verified downloads (see internal/modelsync).
	CacheDir string
	// PollInterval is how often each manager checks CURRENT's ETag.
	PollInterval time.Duration
	// Redis, when set, carries deploy notices (pub/sub on NotifyChannel) and
	// the download lock, so replicas react at once and download once.
	Redis         *redis.Client
	NotifyChannel string
	// Locker guards downloads; default a Redis lock when Redis is set, else
	// an in-process one.
	Locker lock.Locker
	// SyncMode is modelsync's mode (SharedCache by default).
	SyncMode modelsync.Mode
	// MaxDecisionLatency rejects a version whose median canary decision is
	// slower than this: a model that would blow the latency budget is a bad
	// model even if its answers are right.
	MaxDecisionLatency time.Duration
	// KeepPrevious is how many replaced snapshots a manager keeps loaded, so
	// a rollback to one of them needs no download or decode.
	KeepPrevious int
	// TrustedKeys, when set, makes every version prove it was signed by one
	// of them (bundle.SignatureFile) before it is loaded; unsigned or
	// wrongly signed versions are rejected like corrupt ones.
	TrustedKeys []ed25519.PublicKey
	// Replica names this process in audit events of its own activations.
	Replica string
	// Tracker, when set, keeps the "champion" alias of the model registry
	// (MLflow, or the store's records) on the version CURRENT names: after
	// every deploy or rollback that moved CURRENT, the model version
	// registered from that bundle becomes champion. Bundles never
	// registered (published by hand) are left alone.
	Tracker tracking.Tracker

	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now replaces time.Now (tests).
	Now func() time.Time
}

func (c *Config) defaults() error {
	if c.Repo == nil {
		return errors.New("modelmgr: nil artifact repo")
	}
	if c.CacheDir == "" {
		return errors.New("modelmgr: empty cache dir")
	}
	if c.PollInterval < 0 || c.MaxDecisionLatency < 0 || c.KeepPrevious < 0 {
		return fmt.Errorf("modelmgr: negative poll interval %s, latency bound %s or keep-previous %d", c.PollInterval, c.MaxDecisionLatency, c.KeepPrevious)
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.NotifyChannel == "" {
		c.NotifyChannel = DefaultNotifyChannel
	}
	if c.MaxDecisionLatency == 0 {
		c.MaxDecisionLatency = DefaultMaxDecisionLatency
	}
	if c.KeepPrevious == 0 {
		c.KeepPrevious = DefaultKeepPrevious
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Replica == "" {
		host, _ := os.Hostname()
		c.Replica = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	return nil
}

// Registry holds one Manager per model name.
type Registry struct {
	cfg    Config
	log    *slog.Logger
	repo   *artifact.Repo
	sync   *modelsync.Syncer
	audit  *audit.Trail
	m      *metrics
	closer func() error

	mu       sync.Mutex
	managers map[string]*Manager
	runCtx   context.Context // set while Run is running
	wg       sync.WaitGroup
}

// New validates cfg and builds a registry. Managers start following their
// models when Run is called.
func New(cfg Config) (*Registry, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("modelmgr: cache dir: %w", err)
	}
	locker := cfg.Locker
	if locker == nil {
		if cfg.Redis != nil {
			l, err := lock.NewRedis(lock.RedisConfig{Client: cfg.Redis, Name: "modelsync", Logger: cfg.Logger})
			if err != nil {
				return nil, fmt.Errorf("modelmgr: %w", err)
			}
			locker = l
		} else {
			locker = lock.NewMemory(lock.MemoryConfig{Name: "modelsync", Logger: cfg.Logger})
		}
	}
	syncer, err := modelsync.New(modelsync.Config{
		CacheDir: cfg.CacheDir, Source: repoSource{cfg.Repo}, Verify: verifyBundle,
		Locker: locker, Mode: cfg.SyncMode, Logger: cfg.Logger, Registerer: cfg.Registerer,
	})
	if err != nil {
		return nil, fmt.Errorf("modelmgr: %w", err)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Registry{
		cfg: cfg, log: cfg.Logger, repo: cfg.Repo, sync: syncer, m: m,
		audit:    audit.New(cfg.Repo, cfg.Logger),
		managers: map[string]*Manager{},
	}, nil
}

// Audit returns the trail the registry writes to, for other admin actions
// (strategy and experiment changes).
func (r *Registry) Audit() *audit.Trail { return r.audit }

// Repo returns the artifact repo.
func (r *Registry) Repo() *artifact.Repo { return r.repo }

// Manager returns the manager of a model, creating it if needed, and counts
// one more holder of it: each holder (a learned strategy instance) calls
// Release when it is done, and the last release stops the manager. A manager
// created while Run is running starts following its model at once. kind, if
// not empty, is the learner kind the model must be (a knn route must not
// silently serve an mlp bundle); managers of one model must agree on it.
func (r *Registry) Manager(name, kind string) (*Manager, error) {
	if err := validModelName(name); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.managers[name]; ok {
		m.mu.Lock()
		defer m.mu.Unlock()
		if kind != "" && m.kind != "" && m.kind != kind {
			return nil, fmt.Errorf("model %q is already served as kind %s, not %s", name, m.kind, kind)
		}
		if m.kind == "" {
			m.kind = kind
		}
		m.refs++
		return m, nil
	}
	m := newManager(r, name, kind)
	m.refs = 1
	r.managers[name] = m
	if r.runCtx != nil {
		r.start(m)
	}
	return m, nil
}

// Lookup returns an existing manager.
func (r *Registry) Lookup(name string) (*Manager, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.managers[name]
	return m, ok
}

// Release drops one holder of a manager. When none is left the manager stops
// following its model (no more polling of the store) and leaves the registry,
// with its per-model metric series; a later Manager call for the same model
// starts a new one. Snapshots already handed out stay usable, so a request in
// flight on a strategy being deleted still decides. Releasing a manager more
// often than it was acquired is a no-op.
func (r *Registry) Release(m *Manager) {
	if m == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.managers[m.name] != m || m.refs == 0 {
		return
	}
	m.refs--
	if m.refs > 0 {
		return
	}
	delete(r.managers, m.name)
	if m.cancel != nil {
		m.cancel()
		m.cancel = nil
	}
	r.m.lastActivation.DeleteLabelValues(m.name)
	r.m.reloads.DeletePartialMatch(map[string]string{"model": m.name})
	r.log.Info("model manager stopped: no strategy serves the model any more", "model", m.name)
}

// start runs a manager under the registry's context; r.mu is held.
func (r *Registry) start(m *Manager) {
	ctx, cancel := context.WithCancel(r.runCtx)
	m.cancel = cancel
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer cancel()
		m.run(ctx)
	}()
}

// Run starts every manager and the deploy-notice listener, and blocks until
// ctx ends; then it waits for the managers to stop.
func (r *Registry) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.runCtx != nil {
		r.mu.Unlock()
		return errors.New("modelmgr: registry already running")
	}
	r.runCtx = ctx
	for _, m := range r.managers {
		r.start(m)
	}
	r.mu.Unlock()
	if r.cfg.Redis != nil {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.listen(ctx)
		}()
	}
	<-ctx.Done()
	r.wg.Wait()
	r.mu.Lock()
	r.runCtx = nil
	r.mu.Unlock()
	return nil
}

// Statuses reports every managed model, sorted by name.
func (r *Registry) Statuses() []Status {
	r.mu.Lock()
	ms := make([]*Manager, 0, len(r.managers))
	for _, m := range r.managers {
		ms = append(ms, m)
	}
	r.mu.Unlock()
	sort.Slice(ms, func(i, j int) bool { return ms[i].name < ms[j].name })
	out := make([]Status, len(ms))
	for i, m := range ms {
		out[i] = m.Status()
	}
	return out
}

// Close releases what FromConfig opened (the Redis client).
func (r *Registry) Close() error {
	if r.closer != nil {
		return r.closer()
	}
	return nil
}

// namePattern is the artifact layout's rule for model names and versions,
// the strictest of the places a name goes (store keys, cache directories,
// lock keys).
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// actorSelf is the audit actor of a replica's own activations.
func (r *Registry) actorSelf() string { return "replica:" + r.cfg.Replica }

func validModelName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("invalid model name %q: want 1-128 of [A-Za-z0-9._-], starting with a letter or digit", name)
	}
	return nil
}
