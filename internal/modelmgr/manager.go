package modelmgr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-ai/switchyard/internal/artifact"
	"github.com/switchyard-ai/switchyard/internal/audit"
)

// Manager serves one model: the active snapshot, the ones it replaced, and
// the loop that follows CURRENT. Reloads run only in that loop, one at a
// time, so two deploy notices arriving together cannot race two loads.
type Manager struct {
	reg     *Registry
	name    string
	log     *slog.Logger
	refs    int                // holders (strategy instances); guarded by reg.mu
	cancel  context.CancelFunc // stops run; guarded by reg.mu
	active  atomic.Pointer[Snapshot]
	trigger chan struct{}

	mu          sync.Mutex
	kind        string
	previous    []*Snapshot // replaced snapshots, newest first, at most KeepPrevious
	offered     *Snapshot   // validated by a deploy in this process, not yet active
	activations []Activation
	current     string // the version CURRENT named at the last check
	seenETag    string // CURRENT's ETag once handled (activated or rejected for good)
	auditedETag string // CURRENT's ETag whose failure is already in the audit trail
	lastErr     string
	lastErrAt   time.Time
	failedVer   string // the version lastErr is about ("" for CURRENT read errors)
	lastCheck   time.Time
	changed     chan struct{} // closed and replaced on every activation or failure
}

// Activation is one interval during which a version was active on this
// replica. Until is zero while it is still active. From is taken just before
// the snapshot is stored and Until just after its successor is, so every
// request that used the version lies within [From, Until].
type Activation struct {
	Version string    `json:"version"`
	SHA256  string    `json:"sha256"`
	From    time.Time `json:"from"`
	Until   time.Time `json:"until,omitzero"`
}

// Status is a model's state as the admin API and /health/ready report it.
type Status struct {
	Name            string     `json:"name"`
	Kind            string     `json:"kind,omitempty"`
	ActiveVersion   string     `json:"active_version"`
	SHA256          string     `json:"sha256"`
	LoadedAt        *time.Time `json:"loaded_at"`
	PreviousVersion string     `json:"previous_version"`
	// CurrentVersion is what CURRENT named at the last check; it differs from
	// ActiveVersion while a version loads or after it was rejected.
	CurrentVersion string     `json:"current_version"`
	LastError      string     `json:"last_error"`
	LastErrorAt    *time.Time `json:"last_error_at,omitempty"`
	LastCheck      *time.Time `json:"last_check,omitempty"`
}

func newManager(r *Registry, name, kind string) *Manager {
	return &Manager{
		reg: r, name: name, kind: kind,
		log:     r.log.With("model", name),
		trigger: make(chan struct{}, 1),
		changed: make(chan struct{}),
	}
}

// Name is the model's name.
func (m *Manager) Name() string { return m.name }

// Snapshot returns the active snapshot, or nil before the first activation.
// Callers keep the value for the whole request.
func (m *Manager) Snapshot() *Snapshot { return m.active.Load() }

// offer hands the loop a snapshot that a deploy in this process has just
// validated, so the replica that deployed does not fetch, decode and
// validate the same version a second time. The loop still activates it
// only if CURRENT names it.
func (m *Manager) offer(s *Snapshot) {
	m.mu.Lock()
	m.offered = s
	m.mu.Unlock()
	m.Trigger()
}

// Trigger asks the loop to check CURRENT now (a deploy notice). It never
// blocks: a check already pending covers this one.
func (m *Manager) Trigger() {
	select {
	case m.trigger <- struct{}{}:
	default:
	}
}

// Activations returns the activation intervals on this replica, oldest first.
func (m *Manager) Activations() []Activation {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Activation(nil), m.activations...)
}

// Status reports the model's state.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := Status{Name: m.name, Kind: m.kind, CurrentVersion: m.current, LastError: m.lastErr}
	if s := m.active.Load(); s != nil {
		t := s.LoadedAt
		st.ActiveVersion, st.SHA256, st.LoadedAt = s.Version, s.SHA256, &t
	}
	if len(m.previous) > 0 {
		st.PreviousVersion = m.previous[0].Version
	}
	if !m.lastErrAt.IsZero() {
		t := m.lastErrAt
		st.LastErrorAt = &t
	}
	if !m.lastCheck.IsZero() {
		t := m.lastCheck
		st.LastCheck = &t
	}
	return st
}

// WaitVersion blocks until version is active, the manager records a failure
// for it, or ctx ends. It serves deploys that want to answer only once this
// replica serves the new version.
func (m *Manager) WaitVersion(ctx context.Context, version string) error {
	for {
		m.mu.Lock()
		ch := m.changed
		failedVer, errMsg := m.failedVer, m.lastErr
		m.mu.Unlock()
		if s := m.active.Load(); s != nil && s.Version == version {
			return nil
		}
		if failedVer == version && errMsg != "" {
			return fmt.Errorf("model %s: version %s not activated: %s", m.name, version, errMsg)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("model %s: waiting for version %s: %w", m.name, version, ctx.Err())
		case <-ch:
		}
	}
}

func (m *Manager) run(ctx context.Context) {
	t := time.NewTicker(m.reg.cfg.PollInterval)
	defer t.Stop()
	for {
		m.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.trigger:
		}
	}
}

// check reads CURRENT's ETag and, if it changed, activates what it names.
func (m *Manager) check(ctx context.Context) {
	info, err := m.reg.repo.Store().Stat(ctx, currentKey(m.name))
	m.mu.Lock()
	m.lastCheck = m.reg.cfg.Now()
	seen, kind := m.seenETag, m.kind
	m.mu.Unlock()
	switch {
	case errors.Is(err, artifact.ErrNotFound):
		return // never deployed: nothing to serve yet
	case err != nil:
		if ctx.Err() == nil {
			m.failed(ctx, "", "", fmt.Errorf("poll CURRENT: %w", err), false)
		}
		return
	case info.ETag == seen:
		return
	}
	cur, etag, err := m.reg.repo.ReadCurrent(ctx, m.name)
	if err != nil {
		if ctx.Err() == nil {
			m.failed(ctx, "", "", fmt.Errorf("read CURRENT: %w", err), false)
		}
		return
	}
	m.mu.Lock()
	m.current = cur.Version
	m.mu.Unlock()
	if a := m.active.Load(); a != nil && a.Version == cur.Version && (cur.SHA256 == "" || cur.SHA256 == a.ManifestSHA256) {
		m.settled(etag)
		return
	}
	start := time.Now()
	snap := m.kept(cur.Version, cur.SHA256)
	if snap == nil {
		snap, err = m.reg.prepare(ctx, m.name, cur.Version, kind, cur.SHA256)
	}
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down: not the version's fault
		}
		m.failed(ctx, cur.Version, etag, err, permanent(err))
		return
	}
	m.activate(ctx, snap, etag, time.Since(start))
}

// kept returns a replaced snapshot of version (and manifest sha) if one is
// still loaded: a rollback to it needs no download, decode or validation
// again, as it passed them when it was first activated.
func (m *Manager) kept(version, manifestSHA string) *Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.offered; s != nil && s.Version == version && (manifestSHA == "" || manifestSHA == s.ManifestSHA256) {
		m.offered = nil
		return s
	}
	for _, s := range m.previous {
		if s.Version == version && (manifestSHA == "" || manifestSHA == s.ManifestSHA256) {
			return s
		}
	}
	return nil
}

func (m *Manager) activate(ctx context.Context, snap *Snapshot, etag string, took time.Duration) {
	now := m.reg.cfg.Now()
	fresh := *snap // snapshots are immutable; LoadedAt is this activation's
	fresh.LoadedAt = now
	m.mu.Lock()
	old := m.active.Load()
	m.active.Store(&fresh)
	after := m.reg.cfg.Now()
	if n := len(m.activations); n > 0 && m.activations[n-1].Until.IsZero() {
		m.activations[n-1].Until = after
	}
	m.activations = append(m.activations, Activation{Version: fresh.Version, SHA256: fresh.SHA256, From: now})
	if old != nil {
		prev := []*Snapshot{old}
		for _, s := range m.previous {
			if s.Version != old.Version && s.Version != fresh.Version && len(prev) < m.reg.cfg.KeepPrevious {
				prev = append(prev, s)
			}
		}
		m.previous = prev
	}
	m.seenETag, m.auditedETag = etag, ""
	m.lastErr, m.lastErrAt, m.failedVer = "", time.Time{}, ""
	m.broadcast()
	m.mu.Unlock()

	from := ""
	if old != nil {
		from = old.Version
	}
	m.reg.m.reloads.WithLabelValues(m.name, "ok").Inc()
	m.reg.m.lastActivation.WithLabelValues(m.name).Set(float64(now.UnixNano()) / 1e9)
	m.log.Info("model version activated", "from", from, "to", fresh.Version, "sha256", fresh.SHA256, "took", took)
	_, _ = m.reg.audit.Record(context.WithoutCancel(ctx), audit.Event{
		Actor: m.reg.actorSelf(), Action: audit.ActionActivate, Target: m.name, From: from, To: fresh.Version, Result: audit.ResultOK,
		Reason: fmt.Sprintf("followed CURRENT; loaded and validated in %s", took.Round(time.Millisecond)),
	})
}

// settled records that CURRENT (at etag) names what is already active.
func (m *Manager) settled(etag string) {
	m.mu.Lock()
	m.seenETag, m.auditedETag = etag, ""
	m.lastErr, m.lastErrAt, m.failedVer = "", time.Time{}, ""
	m.broadcast()
	m.mu.Unlock()
}

// failed keeps the active snapshot and records why version could not be
// activated. A permanent failure marks CURRENT's etag as handled, so a bad
// version is not fetched again at every poll; a transient one is retried.
// Each CURRENT content is audited once, not once per retry.
func (m *Manager) failed(ctx context.Context, version, etag string, err error, isPermanent bool) {
	result := audit.ResultFailed
	if isPermanent {
		result = audit.ResultRejected
	}
	from := ""
	if a := m.active.Load(); a != nil {
		from = a.Version
	}
	m.reg.m.reloads.WithLabelValues(m.name, result).Inc()
	m.log.Warn("model version not activated; keeping the active one", "version", version, "active", from, "permanent", isPermanent, "err", err)
	// The audit event is written before the failure becomes visible in
	// Status, so whoever sees the error can also find it in the trail.
	m.mu.Lock()
	writeAudit := version != "" && etag != "" && m.auditedETag != etag
	if writeAudit {
		m.auditedETag = etag
	}
	m.mu.Unlock()
	if writeAudit {
		_, _ = m.reg.audit.Record(context.WithoutCancel(ctx), audit.Event{
			Actor: m.reg.actorSelf(), Action: audit.ActionReject, Target: m.name, From: from, To: version, Result: result, Reason: err.Error(),
		})
	}
	m.mu.Lock()
	m.lastErr, m.lastErrAt, m.failedVer = err.Error(), m.reg.cfg.Now(), version
	if isPermanent && etag != "" {
		m.seenETag = etag
	}
	m.broadcast()
	m.mu.Unlock()
}

// broadcast wakes WaitVersion callers; m.mu must be held.
func (m *Manager) broadcast() {
	close(m.changed)
	m.changed = make(chan struct{})
}

func currentKey(name string) string { return "models/" + name + "/CURRENT" }
