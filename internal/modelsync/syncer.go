// Package modelsync brings a model version into a local cache directory once
// per cluster, not once per replica: when a version is deployed every gateway
// replica asks for it at the same moment, and only the one holding the lock
// for that version downloads it while the others wait and then read it from
// the shared cache (SharedCache mode). Replicas that share no disk each need
// their own copy; for them a semaphore caps how many download at once
// (CappedDownloads mode), so a deploy does not stampede the artifact store.
//
// The lock is there to save work, not to keep the cache correct: downloads go
// to a private directory, are fsynced and verified, and are moved into place
// with one atomic rename, so even two downloads racing (lock backend down, a
// holder that lost its lease) leave one whole verified version. The behaviour
// under faults is described in docs/model-sync.md.
package modelsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/switchyard-ai/switchyard/internal/lock"
)

// Source fetches a model version. Download writes the version's files into
// destDir, which exists and is empty, and returns when they are complete. The
// artifact store is adapted to it by whoever wires the two together.
type Source interface {
	Download(ctx context.Context, name, version, destDir string) error
}

// VerifyFunc checks a downloaded or cached version's directory (checksums
// against its manifest, for example) and returns an error saying what is
// wrong. It must only read.
type VerifyFunc func(ctx context.Context, name, version, dir string) error

// Mode says what the lock guards.
type Mode int

const (
	// SharedCache: replicas share CacheDir; one lock per (name, version), so
	// each version is downloaded once in the whole cluster.
	SharedCache Mode = iota
	// CappedDownloads: each replica has its own CacheDir; Locker is a
	// semaphore (lock.NewRedisSemaphore) on one key, and its limit caps the
	// downloads running at once across replicas.
	CappedDownloads
)

func (m Mode) String() string {
	switch m {
	case SharedCache:
		return "shared-cache"
	case CappedDownloads:
		return "capped-downloads"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ErrWaitTimeout means another replica held the lock (or every download
// slot) for longer than Config.WaitTimeout. The caller keeps its current
// model and calls Ensure again later.
var ErrWaitTimeout = errors.New("timed out waiting for another replica's download")

// Config configures a Syncer. CacheDir, Source, Verify and Locker are required.
type Config struct {
	CacheDir string
	Source   Source
	Verify   VerifyFunc
	// Locker is a lock (SharedCache) or a semaphore (CappedDownloads), Redis
	// for several replicas, in-process for one.
	Locker lock.Locker
	Mode   Mode
	// LockPrefix starts every lock key; default "modelsync/".
	LockPrefix string
	// LockTTL is the lease's life without renewal, i.e. how long a dead
	// holder blocks the others. Default 30s.
	LockTTL time.Duration
	// WaitTimeout bounds the wait for another replica's download. Default 15m.
	WaitTimeout time.Duration
	// LockUnreachableWait is how long Ensure retries an unreachable lock
	// backend before it downloads without the lock. Default 1m.
	LockUnreachableWait time.Duration
	// BackoffMin and BackoffMax bound the jittered exponential backoff between
	// retries against an unreachable backend. Defaults 100ms and 5s.
	BackoffMin, BackoffMax time.Duration

	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (c *Config) check() error {
	switch {
	case c.CacheDir == "":
		return errors.New("modelsync: empty cache dir")
	case c.Source == nil:
		return errors.New("modelsync: nil source")
	case c.Verify == nil:
		return errors.New("modelsync: nil verify function; unverified models are never cached")
	case c.Locker == nil:
		return errors.New("modelsync: nil locker (use lock.NewMemory for a single replica)")
	case c.Mode != SharedCache && c.Mode != CappedDownloads:
		return fmt.Errorf("modelsync: unknown mode %d", int(c.Mode))
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"lock ttl", &c.LockTTL, 30 * time.Second},
		{"wait timeout", &c.WaitTimeout, 15 * time.Minute},
		{"lock unreachable wait", &c.LockUnreachableWait, time.Minute},
		{"backoff min", &c.BackoffMin, 100 * time.Millisecond},
		{"backoff max", &c.BackoffMax, 5 * time.Second},
	} {
		if *d.v < 0 {
			return fmt.Errorf("modelsync: negative %s %s", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.BackoffMin > c.BackoffMax {
		return fmt.Errorf("modelsync: backoff min %s above max %s", c.BackoffMin, c.BackoffMax)
	}
	if c.LockPrefix == "" {
		c.LockPrefix = "modelsync/"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Syncer ensures model versions are in the local cache. It is safe for
// concurrent use; concurrent Ensure calls for one version in one process share
// a single attempt.
type Syncer struct {
	cfg   Config
	log   *slog.Logger
	m     *metrics
	group singleflight.Group
}

// New validates cfg, fills its defaults and registers the metrics.
func New(cfg Config) (*Syncer, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Syncer{cfg: cfg, log: cfg.Logger.With("mode", cfg.Mode.String()), m: m}, nil
}

// Ensure returns the directory holding the verified files of name@version,
// downloading them first if no replica has. It blocks until then, until ctx
// ends, or until another replica's download has taken longer than
// WaitTimeout (ErrWaitTimeout). It never touches the model the caller is
// serving: the model manager keeps serving its current version and activates
// the new one only when Ensure returns it.
//
// Calls for the same version in one process share one attempt, run under the
// first caller's ctx; each caller still stops waiting when its own ctx ends.
func (s *Syncer) Ensure(ctx context.Context, name, version string) (string, error) {
	if err := checkName("name", name); err != nil {
		return "", fmt.Errorf("ensure model: %w", err)
	}
	if err := checkName("version", version); err != nil {
		return "", fmt.Errorf("ensure model %s: %w", name, err)
	}
	ch := s.group.DoChan(name+"+"+version, func() (any, error) {
		return s.ensure(ctx, name, version)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", fmt.Errorf("ensure model %s@%s: %w", name, version, r.Err)
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", fmt.Errorf("ensure model %s@%s: %w", name, version, ctx.Err())
	}
}

func (s *Syncer) lockKey(name, version string) string {
	if s.cfg.Mode == CappedDownloads {
		return s.cfg.LockPrefix + "downloads"
	}
	return s.cfg.LockPrefix + name + "@" + version
}

func (s *Syncer) ensure(ctx context.Context, name, version string) (string, error) {
	dir, ok, damaged, err := s.lookup(ctx, name, version)
	if err != nil || ok {
		return dir, err
	}
	key := s.lockKey(name, version)
	start := time.Now()
	var unreachableSince time.Time
	backoff := s.cfg.BackoffMin
	for {
		// The wait bounds contention only; an unreachable backend has its own
		// budget below. With the wait spent, one last try still takes a free
		// lock or learns that the backend is down.
		wait := max(s.cfg.WaitTimeout-time.Since(start), 0)
		lease, err := s.cfg.Locker.Acquire(ctx, key, lock.Options{TTL: s.cfg.LockTTL, Wait: wait})
		switch {
		case err == nil:
			dir, appeared, err := s.holding(ctx, lease, name, version, damaged)
			if !appeared {
				return dir, err
			}
			// Another replica finished while we waited: verify its copy
			// outside the lock, so waiters do not verify one at a time.
			dir, ok, damaged, err = s.lookup(ctx, name, version)
			if err != nil || ok {
				return dir, err
			}
		case errors.Is(err, lock.ErrNotAcquired):
			if dir, ok, _, lerr := s.lookup(ctx, name, version); lerr == nil && ok {
				return dir, nil
			}
			return "", fmt.Errorf("%w (waited %s for lock %q)", ErrWaitTimeout, s.cfg.WaitTimeout, key)
		case ctx.Err() != nil:
			return "", ctx.Err()
		default:
			s.m.lockUnreachable.Inc()
			if unreachableSince.IsZero() {
				unreachableSince = time.Now()
				s.log.Warn("lock backend unreachable, retrying", "model", name, "version", version, "err", err)
			}
			left := s.cfg.LockUnreachableWait - time.Since(unreachableSince)
			if left <= 0 {
				s.log.Warn("lock backend unreachable for too long, downloading without the lock",
					"model", name, "version", version, "waited", s.cfg.LockUnreachableWait, "err", err)
				s.m.unlocked.Inc()
				return s.download(ctx, nil, name, version)
			}
			if err := sleep(ctx, min(jitter(backoff), left)); err != nil {
				return "", err
			}
			backoff = min(2*backoff, s.cfg.BackoffMax)
			if dir, ok, _, lerr := s.lookup(ctx, name, version); lerr == nil && ok {
				return dir, nil
			}
		}
	}
}

// lookup verifies the cached version if there is one. damaged reports a
// version in place that fails verification.
func (s *Syncer) lookup(ctx context.Context, name, version string) (dir string, ok, damaged bool, err error) {
	final := s.finalDir(name, version)
	there, err := exists(final)
	if err != nil || !there {
		return "", false, false, err
	}
	if err := s.cfg.Verify(ctx, name, version, final); err != nil {
		if ctx.Err() != nil {
			return "", false, false, ctx.Err()
		}
		s.log.Warn("cached version fails verification, will replace it", "model", name, "version", version, "err", err)
		return "", false, true, nil
	}
	s.m.hits.Inc()
	return final, true, false, nil
}

// holding runs with the lease held and releases it before returning. It
// reports appeared=true when the version is already in place (and the caller
// verifies it); otherwise it downloads, replacing a damaged copy.
func (s *Syncer) holding(ctx context.Context, lease lock.Lease, name, version string, damaged bool) (dir string, appeared bool, err error) {
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := lease.Release(rctx); err != nil {
			s.log.Warn("release model lock", "model", name, "version", version, "err", err)
		}
	}()
	there, err := exists(s.finalDir(name, version))
	if err != nil {
		return "", false, err
	}
	if there && !damaged {
		return "", true, nil
	}
	if there {
		// Another holder may have replaced it since our look; check again
		// under the lock before throwing it away.
		if err := s.cfg.Verify(ctx, name, version, s.finalDir(name, version)); err == nil {
			s.m.hits.Inc()
			return s.finalDir(name, version), false, nil
		}
		if err := s.quarantine(name, version); err != nil {
			return "", false, err
		}
		s.m.damaged.Inc()
	}
	s.cleanStale(name, version, lease.Token())
	dir, err = s.download(ctx, lease, name, version)
	return dir, false, err
}

// download fetches, syncs, verifies and publishes one version. lease is nil
// for a download made without the lock.
func (s *Syncer) download(ctx context.Context, lease lock.Lease, name, version string) (string, error) {
	var token uint64
	if lease != nil {
		token = lease.Token()
	}
	partial, err := s.newPartial(name, version, token)
	if err != nil {
		s.m.downloads.WithLabelValues("store_error").Inc()
		return "", err
	}
	// After a successful publish the partial path is gone and this is a no-op.
	defer func() {
		if err := os.RemoveAll(partial); err != nil {
			s.log.Warn("remove partial download", "dir", partial, "err", err)
		}
	}()
	started := time.Now()
	if err := s.cfg.Source.Download(ctx, name, version, partial); err != nil {
		s.m.downloads.WithLabelValues("download_error").Inc()
		return "", fmt.Errorf("download: %w", err)
	}
	n, err := syncTree(partial)
	if err != nil {
		s.m.downloads.WithLabelValues("store_error").Inc()
		return "", err
	}
	if err := s.cfg.Verify(ctx, name, version, partial); err != nil {
		s.m.downloads.WithLabelValues("verify_error").Inc()
		return "", fmt.Errorf("verify download: %w", err)
	}
	if lease != nil {
		select {
		case <-lease.Lost():
			// Publishing is still safe (atomic rename of verified files, and
			// an existing copy is never overwritten); see docs/model-sync.md.
			s.log.Warn("lock lost during download, publishing anyway", "model", name, "version", version)
		default:
		}
	}
	published, err := s.publish(partial, name, version)
	if err != nil {
		s.m.downloads.WithLabelValues("store_error").Inc()
		return "", err
	}
	s.m.downloads.WithLabelValues("ok").Inc()
	s.m.bytes.Add(float64(n))
	final := s.finalDir(name, version)
	s.log.Info("model version downloaded", "model", name, "version", version, "bytes", n,
		"seconds", time.Since(started).Seconds(), "token", token, "published", published)
	if !published {
		if err := s.cfg.Verify(ctx, name, version, final); err != nil {
			return "", fmt.Errorf("version already in place fails verification: %w", err)
		}
	}
	return final, nil
}

// jitter spreads d over [d/2, d) so replicas that failed together do not
// retry together.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
