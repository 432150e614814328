package modelsync

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/lock"
	"github.com/switchyard-ai/switchyard/internal/testsvc"
)

// TestTwentyReplicas: twenty replicas (separate Syncers, each with its own
// Redis client, or all on one in-process lock) ask for the same version at
// once; exactly one downloads and all end on the same verified directory.
func TestTwentyReplicas(t *testing.T) {
	srv := testsvc.StartRedis(t)
	shared := lock.NewMemory(lock.MemoryConfig{})
	for _, tc := range []struct {
		name string
		addr string
	}{
		{"redis", srv.Addr},
		{"memory", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache, counts := t.TempDir(), t.TempDir()
			src := &fileSource{countDir: counts, size: 1 << 20, during: func(ctx context.Context) error {
				return sleepCtx(ctx, 50*time.Millisecond)
			}}
			const n = 20
			rs := make([]*replica, n)
			for i := range rs {
				rs[i] = newReplica(t, replicaOpts{addr: tc.addr, mem: shared, cacheDir: cache, src: src})
			}
			dirs := make([]string, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range rs {
				wg.Go(func() {
					<-start
					dirs[i], errs[i] = rs[i].s.Ensure(t.Context(), "router", "v1")
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("replica %d: %v", i, err)
				}
			}
			if got := countDownloads(t, counts); got != 1 {
				t.Fatalf("%d downloads, want exactly 1", got)
			}
			for i, d := range dirs {
				if d != dirs[0] {
					t.Fatalf("replica %d got %s, replica 0 got %s", i, d, dirs[0])
				}
			}
			if err := verifyManifest(t.Context(), "router", "v1", dirs[0]); err != nil {
				t.Fatalf("final directory fails verification: %v", err)
			}
			all := regs(rs)
			if got := metric(t, "switchyard_modelsync_downloads_total", "result", "ok", all...); got != 1 {
				t.Errorf("downloads_total{ok} = %v, want 1", got)
			}
			if got := metric(t, "switchyard_modelsync_cache_hits_total", "", "", all...); got != n-1 {
				t.Errorf("cache_hits_total = %v, want %d", got, n-1)
			}
			if got := metric(t, "switchyard_modelsync_downloaded_bytes_total", "", "", all...); got < 1<<20 {
				t.Errorf("downloaded_bytes_total = %v, want at least the 1 MiB payload", got)
			}
			if left := partials(t, cache); len(left) != 0 {
				t.Errorf("partial downloads left behind: %v", left)
			}
		})
	}
}

// TestHolderDiesInProcess: the holder's context is cancelled mid-download and
// it never releases (as if it crashed); the waiting replica takes over once
// the lock's TTL has run out and completes the download.
func TestHolderDiesInProcess(t *testing.T) {
	srv := testsvc.StartRedis(t)
	cache, counts := t.TempDir(), t.TempDir()
	started := make(chan struct{})
	holderSrc := &fileSource{countDir: counts, during: func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}}
	const ttl = 400 * time.Millisecond
	holder := newReplica(t, replicaOpts{addr: srv.Addr, cacheDir: cache, src: holderSrc, tune: func(c *Config) {
		c.LockTTL = ttl
		c.Locker = leakyLocker{c.Locker}
	}})
	waiter := newReplica(t, replicaOpts{addr: srv.Addr, cacheDir: cache, src: &fileSource{countDir: counts}})

	hctx, kill := context.WithCancel(t.Context())
	holderErr := make(chan error, 1)
	go func() {
		_, err := holder.s.Ensure(hctx, "router", "v2")
		holderErr <- err
	}()
	<-started
	waited := time.Now()
	type result struct {
		dir string
		err error
	}
	done := make(chan result, 1)
	go func() {
		dir, err := waiter.s.Ensure(t.Context(), "router", "v2")
		done <- result{dir, err}
	}()
	time.Sleep(100 * time.Millisecond) // the waiter is now polling the lock
	kill()
	if err := <-holderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("holder: err %v, want context.Canceled", err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("waiter: %v", r.err)
	}
	if time.Since(waited) < ttl-50*time.Millisecond {
		t.Errorf("waiter finished after %s, before the dead holder's ttl %s ran out", time.Since(waited), ttl)
	}
	if got := countDownloads(t, counts); got != 2 {
		t.Errorf("%d downloads, want 2 (the dead holder's and the waiter's)", got)
	}
	if err := verifyManifest(t.Context(), "router", "v2", r.dir); err != nil {
		t.Fatalf("waiter's directory fails verification: %v", err)
	}
	if left := partials(t, cache); len(left) != 0 {
		t.Errorf("partial downloads left behind: %v", left)
	}
}

// TestRedisStoppedWhileWaiting: Redis goes away while one replica downloads
// and five wait. Nobody crashes; the waiters retry, then download without
// the lock after LockUnreachableWait; the holder finishes too; everyone ends
// on the one verified directory.
func TestRedisStoppedWhileWaiting(t *testing.T) {
	srv := testsvc.StartRedis(t)
	cache, counts := t.TempDir(), t.TempDir()
	gate := make(chan struct{})
	started := make(chan struct{})
	var once sync.Once
	holderSrc := &fileSource{countDir: counts, during: func(ctx context.Context) error {
		once.Do(func() { close(started) })
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	tune := func(c *Config) { c.LockUnreachableWait = 500 * time.Millisecond; c.LockTTL = time.Second }
	holder := newReplica(t, replicaOpts{addr: srv.Addr, cacheDir: cache, src: holderSrc, tune: tune})
	const waiters = 5
	rs := []*replica{holder}
	// The waiters' downloads all start before any of them may finish, so none
	// can find another's unlocked copy and skip its own: the count is exact.
	waiterSrc := &fileSource{countDir: counts, during: func(ctx context.Context) error {
		for {
			if es, err := os.ReadDir(counts); err != nil || len(es) >= 1+waiters {
				return err
			}
			if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
				return err
			}
		}
	}}
	for range waiters {
		rs = append(rs, newReplica(t, replicaOpts{addr: srv.Addr, cacheDir: cache, src: waiterSrc, tune: tune}))
	}

	dirs := make([]string, len(rs))
	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	wg.Go(func() { dirs[0], errs[0] = holder.s.Ensure(t.Context(), "router", "v3") })
	<-started
	for i := 1; i < len(rs); i++ {
		wg.Go(func() { dirs[i], errs[i] = rs[i].s.Ensure(t.Context(), "router", "v3") })
	}
	time.Sleep(150 * time.Millisecond) // waiters are polling the lock
	srv.Stop()

	// The waiters give up on the lock and download on their own, while the
	// holder is still stuck: wait for their downloads to be counted.
	deadline := time.Now().Add(20 * time.Second)
	for countDownloads(t, counts) < 1+waiters && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	close(gate)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		if dirs[i] != dirs[0] {
			t.Fatalf("replica %d got %s, holder got %s", i, dirs[i], dirs[0])
		}
	}
	if err := verifyManifest(t.Context(), "router", "v3", dirs[0]); err != nil {
		t.Fatalf("final directory fails verification: %v", err)
	}
	if got := countDownloads(t, counts); got != 1+waiters {
		t.Errorf("%d downloads, want %d (holder + each waiter without the lock)", got, 1+waiters)
	}
	if got := metric(t, "switchyard_modelsync_unlocked_downloads_total", "", "", regs(rs)...); got != waiters {
		t.Errorf("unlocked_downloads_total = %v, want %d", got, waiters)
	}
	if left := partials(t, cache); len(left) != 0 {
		t.Errorf("partial downloads left behind: %v", left)
	}
}

// TestWaitTimeout: a waiter gives up after WaitTimeout with ErrWaitTimeout
// and downloads nothing; the holder is unaffected.
func TestWaitTimeout(t *testing.T) {
	mem := lock.NewMemory(lock.MemoryConfig{})
	cache, counts := t.TempDir(), t.TempDir()
	gate, started := make(chan struct{}), make(chan struct{})
	holder := newReplica(t, replicaOpts{mem: mem, cacheDir: cache, src: &fileSource{countDir: counts, during: func(ctx context.Context) error {
		close(started)
		<-gate
		return nil
	}}})
	waiter := newReplica(t, replicaOpts{mem: mem, cacheDir: cache, src: &fileSource{countDir: counts},
		tune: func(c *Config) { c.WaitTimeout = 300 * time.Millisecond }})
	holderDone := make(chan error, 1)
	go func() {
		_, err := holder.s.Ensure(t.Context(), "router", "v4")
		holderDone <- err
	}()
	<-started
	if _, err := waiter.s.Ensure(t.Context(), "router", "v4"); !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("waiter: err %v, want ErrWaitTimeout", err)
	}
	close(gate)
	if err := <-holderDone; err != nil {
		t.Fatalf("holder: %v", err)
	}
	if got := countDownloads(t, counts); got != 1 {
		t.Errorf("%d downloads, want 1", got)
	}
	// Called again, the waiter finds the version in the cache.
	if _, err := waiter.s.Ensure(t.Context(), "router", "v4"); err != nil {
		t.Fatalf("waiter after the download: %v", err)
	}
	if got := countDownloads(t, counts); got != 1 {
		t.Errorf("%d downloads after the retry, want 1", got)
	}
}

// TestFailures: failed downloads leave nothing in the cache, free the lock at
// once, and say what went wrong; a damaged cached copy is replaced.
func TestFailures(t *testing.T) {
	boom := errors.New("store unavailable")
	cases := []struct {
		name    string
		src     func(counts string) *fileSource
		prepare func(t *testing.T, r *replica, cache string)
		wantErr string
		wantDL  int // downloads counted by the source
	}{
		{
			name: "source error",
			src: func(c string) *fileSource {
				return &fileSource{countDir: c, during: func(context.Context) error { return boom }}
			},
			wantErr: "store unavailable", wantDL: 1,
		},
		{
			name:    "checksum mismatch",
			src:     func(c string) *fileSource { return &fileSource{countDir: c, corrupt: true} },
			wantErr: "verify download", wantDL: 1,
		},
		{
			name: "damaged cached copy is replaced",
			src:  func(c string) *fileSource { return &fileSource{countDir: c} },
			prepare: func(t *testing.T, r *replica, cache string) {
				dir, err := r.s.Ensure(t.Context(), "router", "v5")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "model.bin"), []byte("bit rot"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantDL: 2,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem := lock.NewMemory(lock.MemoryConfig{})
			cache, counts := t.TempDir(), t.TempDir()
			r := newReplica(t, replicaOpts{mem: mem, cacheDir: cache, src: tc.src(counts)})
			if tc.prepare != nil {
				tc.prepare(t, r, cache)
			}
			dir, err := r.s.Ensure(t.Context(), "router", "v5")
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Ensure: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Ensure: err %v, want one mentioning %q", err, tc.wantErr)
			case tc.wantErr == "":
				if err := verifyManifest(t.Context(), "router", "v5", dir); err != nil {
					t.Fatalf("result fails verification: %v", err)
				}
			default:
				if _, err := os.Stat(filepath.Join(cache, "router", "v5")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("failed download left a version in place (stat err %v)", err)
				}
				// The lock is free: another attempt does not wait.
				ls, err := mem.TryAcquire(t.Context(), "modelsync/router@v5", time.Second)
				if err != nil {
					t.Errorf("lock still held after the failure: %v", err)
				} else {
					_ = ls.Release(t.Context())
				}
			}
			if got := countDownloads(t, counts); got != tc.wantDL {
				t.Errorf("%d downloads, want %d", got, tc.wantDL)
			}
			if left := partials(t, cache); len(left) != 0 {
				t.Errorf("partial downloads left behind: %v", left)
			}
		})
	}
}

// TestCappedDownloads: replicas without a shared disk each download, but
// never more at once than the semaphore's slots.
func TestCappedDownloads(t *testing.T) {
	srv := testsvc.StartRedis(t)
	counts := t.TempDir()
	src := &fileSource{countDir: counts, during: func(ctx context.Context) error {
		return sleepCtx(ctx, 80*time.Millisecond)
	}}
	const n, slots = 6, 2
	rs := make([]*replica, n)
	for i := range rs {
		rs[i] = newReplica(t, replicaOpts{addr: srv.Addr, cacheDir: t.TempDir(), src: src, limit: slots})
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range rs {
		wg.Go(func() {
			var dir string
			dir, errs[i] = rs[i].s.Ensure(t.Context(), "router", "v6")
			if errs[i] == nil {
				errs[i] = verifyManifest(t.Context(), "router", "v6", dir)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
	if got := countDownloads(t, counts); got != n {
		t.Errorf("%d downloads, want %d (one per private cache)", got, n)
	}
	if p := src.peak.Load(); p > slots {
		t.Errorf("%d downloads at once, cap %d", p, slots)
	}
}

func TestBadInput(t *testing.T) {
	mem := lock.NewMemory(lock.MemoryConfig{})
	counts := t.TempDir()
	r := newReplica(t, replicaOpts{mem: mem, cacheDir: t.TempDir(), src: &fileSource{countDir: counts}})
	for _, tc := range []struct{ name, version, want string }{
		{"", "v1", "empty model name"},
		{"router", "", "empty model version"},
		{"a/b", "v1", "'/'"},
		{"../etc", "v1", "starts with a dot"},
		{"router", "..", "starts with a dot"},
		{".partial", "v1", "starts with a dot"},
		{"a+b", "v1", "'+'"},
		{"router", strings.Repeat("v", 200), "longer than 128"},
	} {
		t.Run(tc.name+"@"+tc.version, func(t *testing.T) {
			_, err := r.s.Ensure(t.Context(), tc.name, tc.version)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one mentioning %s", err, tc.want)
			}
		})
	}
	if got := countDownloads(t, counts); got != 0 {
		t.Errorf("%d downloads for bad input", got)
	}

	base := Config{CacheDir: t.TempDir(), Source: &fileSource{}, Verify: verifyManifest, Locker: mem}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no cache dir", func(c *Config) { c.CacheDir = "" }, "cache dir"},
		{"no source", func(c *Config) { c.Source = nil }, "source"},
		{"no verify", func(c *Config) { c.Verify = nil }, "verify"},
		{"no locker", func(c *Config) { c.Locker = nil }, "locker"},
		{"bad mode", func(c *Config) { c.Mode = 7 }, "mode"},
		{"negative ttl", func(c *Config) { c.LockTTL = -time.Second }, "lock ttl"},
		{"backoff range", func(c *Config) { c.BackoffMin, c.BackoffMax = time.Second, time.Millisecond }, "backoff"},
	} {
		t.Run("config/"+tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			if _, err := New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: err %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error { return sleep(ctx, d) }

// TestRedisDownFromTheStart: with no lock backend at all, Ensure retries for
// LockUnreachableWait, then downloads without the lock; once Redis is back,
// the next version goes through the lock again.
func TestRedisDownFromTheStart(t *testing.T) {
	srv := testsvc.StartRedis(t)
	srv.Stop()
	cache, counts := t.TempDir(), t.TempDir()
	const budget = 300 * time.Millisecond
	r := newReplica(t, replicaOpts{addr: srv.Addr, cacheDir: cache, src: &fileSource{countDir: counts},
		tune: func(c *Config) { c.LockUnreachableWait = budget }})
	start := time.Now()
	dir, err := r.s.Ensure(t.Context(), "router", "v7")
	if err != nil {
		t.Fatalf("Ensure with redis down: %v", err)
	}
	if waited := time.Since(start); waited < budget {
		t.Errorf("downloaded without the lock after %s, before the %s budget", waited, budget)
	}
	if err := verifyManifest(t.Context(), "router", "v7", dir); err != nil {
		t.Fatal(err)
	}
	if got := metric(t, "switchyard_modelsync_unlocked_downloads_total", "", "", r.reg); got != 1 {
		t.Errorf("unlocked_downloads_total = %v, want 1", got)
	}
	if got := metric(t, "switchyard_modelsync_lock_unreachable_total", "", "", r.reg); got < 2 {
		t.Errorf("lock_unreachable_total = %v, want retries (at least 2)", got)
	}

	srv.Start()
	if _, err := r.s.Ensure(t.Context(), "router", "v8"); err != nil {
		t.Fatalf("Ensure after redis came back: %v", err)
	}
	if got := metric(t, "switchyard_lock_acquisitions_total", "", "", r.reg); got != 1 {
		t.Errorf("lock acquisitions after redis came back = %v, want 1", got)
	}
	if got := metric(t, "switchyard_modelsync_unlocked_downloads_total", "", "", r.reg); got != 1 {
		t.Errorf("unlocked_downloads_total = %v after redis came back, want still 1", got)
	}
}
