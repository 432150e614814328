package modelsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/switchyard-ai/switchyard/internal/lock"
)

// fileSource is a real Source that writes a model version the way an artifact
// store would: a payload and a manifest with its sha256. Every call leaves a
// marker file in countDir, so downloads are counted across processes too.
type fileSource struct {
	countDir string
	size     int
	// during, if set, runs after half the payload is written: tests block
	// there, fail there, or let a holder be killed there.
	during func(ctx context.Context) error
	// corrupt makes the manifest's checksum wrong.
	corrupt bool

	inflight, peak atomic.Int32
}

var markerSeq atomic.Int64

type manifest struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
}

func payload(name, version string, size int) []byte {
	seed := sha256.Sum256([]byte(name + "@" + version))
	out := make([]byte, size)
	for i := range out {
		out[i] = seed[i%len(seed)] ^ byte(i/len(seed))
	}
	return out
}

func (s *fileSource) Download(ctx context.Context, name, version, dest string) error {
	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	marker := filepath.Join(s.countDir, fmt.Sprintf("%d-%d", os.Getpid(), markerSeq.Add(1)))
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		return err
	}
	size := s.size
	if size == 0 {
		size = 64 << 10
	}
	data := payload(name, version, size)
	f, err := os.Create(filepath.Join(dest, "model.bin"))
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(data[:size/2]); err != nil {
		return err
	}
	if s.during != nil {
		if err := s.during(ctx); err != nil {
			return err
		}
	}
	if _, err := f.Write(data[size/2:]); err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	m := manifest{Name: name, Version: version, SHA256: hex.EncodeToString(sum[:])}
	if s.corrupt {
		m.SHA256 = hex.EncodeToString(make([]byte, 32))
	}
	b, _ := json.Marshal(m)
	return os.WriteFile(filepath.Join(dest, "manifest.json"), b, 0o644)
}

// verifyManifest checks the payload against the manifest's sha256.
func verifyManifest(_ context.Context, name, version, dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return fmt.Errorf("read manifest: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("parse manifest: %w", err)
	}
	if m.Name != name || m.Version != version {
		return fmt.Errorf("manifest is for %s@%s, not %s@%s", m.Name, m.Version, name, version)
	}
	data, err := os.ReadFile(filepath.Join(dir, "model.bin"))
	if err != nil {
		return fmt.Errorf("read payload: %w", err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != m.SHA256 {
		return fmt.Errorf("payload sha256 %s, manifest says %s", got, m.SHA256)
	}
	return nil
}

func countDownloads(t testing.TB, dir string) int {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// replica is one gateway replica: its own Redis client, lock, registry and Syncer.
type replica struct {
	s   *Syncer
	reg *prometheus.Registry
}

type replicaOpts struct {
	addr     string      // Redis address; empty means use mem
	mem      lock.Locker // shared in-process lock when addr is empty
	cacheDir string
	src      Source
	tune     func(*Config)
	limit    int // >0: CappedDownloads with a Redis semaphore of this many slots
}

func newReplica(t testing.TB, o replicaOpts) *replica {
	t.Helper()
	reg := prometheus.NewRegistry()
	lm, err := lock.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		CacheDir: o.cacheDir, Source: o.src, Verify: verifyManifest,
		LockTTL: 2 * time.Second, WaitTimeout: time.Minute, LockUnreachableWait: 30 * time.Second,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		Registerer: reg,
	}
	switch {
	case o.addr != "":
		c := redis.NewClient(&redis.Options{Addr: o.addr, MaxRetries: -1, DialTimeout: 300 * time.Millisecond})
		t.Cleanup(func() { _ = c.Close() })
		rc := lock.RedisConfig{Client: c, Name: "model_download", Metrics: lm}
		if o.limit > 0 {
			cfg.Mode = CappedDownloads
			cfg.Locker, err = lock.NewRedisSemaphore(rc, o.limit)
		} else {
			cfg.Locker, err = lock.NewRedis(rc)
		}
		if err != nil {
			t.Fatal(err)
		}
	default:
		cfg.Locker = o.mem
	}
	if o.tune != nil {
		o.tune(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &replica{s: s, reg: reg}
}

// metric sums a metric family over the registries, optionally only the
// samples with the given label value (e.g. "result", "ok").
func metric(t testing.TB, name string, label, value string, regs ...*prometheus.Registry) float64 {
	t.Helper()
	var sum float64
	for _, r := range regs {
		fams, err := r.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() != name {
				continue
			}
			for _, m := range f.GetMetric() {
				match := label == ""
				for _, lp := range m.GetLabel() {
					if lp.GetName() == label && lp.GetValue() == value {
						match = true
					}
				}
				if !match {
					continue
				}
				switch {
				case m.Counter != nil:
					sum += m.GetCounter().GetValue()
				case m.Histogram != nil:
					sum += float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return sum
}

func regs(rs []*replica) []*prometheus.Registry {
	out := make([]*prometheus.Registry, len(rs))
	for i, r := range rs {
		out[i] = r.reg
	}
	return out
}

// partials lists what is left under the cache's .partial directory.
func partials(t testing.TB, cacheDir string) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(cacheDir, partialDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// leakyLocker hands out leases whose Release does nothing: with the holder's
// context cancelled as well, the holder behaves like a crashed process.
type leakyLocker struct{ lock.Locker }

func (l leakyLocker) Acquire(ctx context.Context, key string, o lock.Options) (lock.Lease, error) {
	ls, err := l.Locker.Acquire(ctx, key, o)
	if err != nil {
		return nil, err
	}
	return leakyLease{ls}, nil
}

type leakyLease struct{ lock.Lease }

func (leakyLease) Release(context.Context) error { return nil }
