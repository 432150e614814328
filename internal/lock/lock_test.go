package lock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/switchyard-ai/switchyard/internal/testsvc"
)

// impl builds one Locker implementation for the shared behavioural table.
// steal takes a held key away from its owner behind the lock's back, the way
// an expiry during a partition would, so loss detection can be tested.
type impl struct {
	name  string
	limit int
	new   func(t *testing.T, m *Metrics) (l Locker, steal func(key string))
}

func impls(t *testing.T) []impl {
	srv := testsvc.StartRedis(t)
	client := func(t *testing.T) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	// Each subtest gets its own prefix so keys never collide across cases.
	var seq atomic.Int64
	prefix := func() string { return fmt.Sprintf("test%d:", seq.Add(1)) }
	return []impl{
		{name: "redis", limit: 1, new: func(t *testing.T, m *Metrics) (Locker, func(string)) {
			c, p := client(t), prefix()
			l, err := NewRedis(RedisConfig{Client: c, Prefix: p, Metrics: m})
			if err != nil {
				t.Fatal(err)
			}
			return l, func(key string) { c.Del(context.Background(), p+key) }
		}},
		{name: "memory", limit: 1, new: func(t *testing.T, m *Metrics) (Locker, func(string)) {
			l := NewMemory(MemoryConfig{Metrics: m})
			return l, memSteal(l.b.(*memBackend))
		}},
		{name: "redis-semaphore", limit: 3, new: func(t *testing.T, m *Metrics) (Locker, func(string)) {
			c, p := client(t), prefix()
			l, err := NewRedisSemaphore(RedisConfig{Client: c, Prefix: p, Metrics: m}, 3)
			if err != nil {
				t.Fatal(err)
			}
			return l, func(key string) { c.Del(context.Background(), p+key) }
		}},
		{name: "memory-semaphore", limit: 3, new: func(t *testing.T, m *Metrics) (Locker, func(string)) {
			l, err := NewMemorySemaphore(MemoryConfig{Metrics: m}, 3)
			if err != nil {
				t.Fatal(err)
			}
			return l, memSteal(l.b.(*memBackend))
		}},
	}
}

func memSteal(b *memBackend) func(string) {
	return func(key string) {
		b.mu.Lock()
		defer b.mu.Unlock()
		clear(b.get(key, time.Now()).owners)
	}
}

// fill takes all of the key's slots and returns the leases.
func fill(t *testing.T, ctx context.Context, l Locker, key string, limit int, ttl time.Duration) []Lease {
	t.Helper()
	var out []Lease
	for range limit {
		ls, err := l.TryAcquire(ctx, key, ttl)
		if err != nil {
			t.Fatalf("fill slot %d: %v", len(out), err)
		}
		out = append(out, ls)
	}
	return out
}

func TestLockers(t *testing.T) {
	const ttl = 150 * time.Millisecond
	cases := []struct {
		name string
		run  func(t *testing.T, im impl, l Locker, m *Metrics, steal func(string))
	}{
		{"try acquire fails while full, succeeds after release", func(t *testing.T, im impl, l Locker, m *Metrics, _ func(string)) {
			ctx := t.Context()
			held := fill(t, ctx, l, "k", im.limit, time.Second)
			if _, err := l.TryAcquire(ctx, "k", time.Second); !errors.Is(err, ErrNotAcquired) {
				t.Fatalf("TryAcquire on a full key: err %v, want ErrNotAcquired", err)
			}
			if err := held[0].Release(ctx); err != nil {
				t.Fatalf("release: %v", err)
			}
			if err := held[0].Release(ctx); err != nil {
				t.Fatalf("second release: %v, want nil", err)
			}
			if err := held[0].Extend(ctx, time.Second); !errors.Is(err, ErrNotHeld) {
				t.Fatalf("Extend after Release: err %v, want ErrNotHeld", err)
			}
			ls, err := l.TryAcquire(ctx, "k", time.Second)
			if err != nil {
				t.Fatalf("TryAcquire after release: %v", err)
			}
			if got := value(m.contention); got != 1 {
				t.Errorf("contention = %v, want 1", got)
			}
			if got := value(m.acquisitions); got != float64(im.limit+1) {
				t.Errorf("acquisitions = %v, want %d", got, im.limit+1)
			}
			_ = ls.Release(ctx)
		}},
		{"bounded wait times out", func(t *testing.T, im impl, l Locker, m *Metrics, _ func(string)) {
			ctx := t.Context()
			fill(t, ctx, l, "k", im.limit, 5*time.Second)
			start := time.Now()
			_, err := l.Acquire(ctx, "k", Options{TTL: time.Second, Wait: 200 * time.Millisecond})
			if !errors.Is(err, ErrNotAcquired) {
				t.Fatalf("err %v, want ErrNotAcquired", err)
			}
			if waited := time.Since(start); waited < 200*time.Millisecond {
				t.Errorf("gave up after %s, before the 200ms wait", waited)
			}
			if got := value(m.timeouts); got != 1 {
				t.Errorf("timeouts = %v, want 1", got)
			}
		}},
		{"waiter gets the key when the holder releases", func(t *testing.T, im impl, l Locker, m *Metrics, _ func(string)) {
			ctx := t.Context()
			held := fill(t, ctx, l, "k", im.limit, 5*time.Second)
			go func() {
				time.Sleep(100 * time.Millisecond)
				_ = held[0].Release(ctx)
			}()
			ls, err := l.Acquire(ctx, "k", Options{TTL: time.Second, Wait: 4 * time.Second})
			if err != nil {
				t.Fatalf("acquire after release: %v", err)
			}
			defer ls.Release(ctx)
			if ls.Token() <= held[len(held)-1].Token() {
				t.Errorf("token %d not above the earlier %d", ls.Token(), held[len(held)-1].Token())
			}
		}},
		{"dead holder's lease expires and the waiter takes over", func(t *testing.T, im impl, l Locker, m *Metrics, _ func(string)) {
			dead, kill := context.WithCancel(t.Context())
			held := fill(t, dead, l, "k", im.limit, ttl)
			kill() // the owner dies without releasing: renewal stops
			ls, err := l.Acquire(t.Context(), "k", Options{TTL: time.Second, Wait: 5 * time.Second})
			if err != nil {
				t.Fatalf("acquire after the holder died: %v", err)
			}
			defer ls.Release(t.Context())
			if ls.Token() <= held[len(held)-1].Token() {
				t.Errorf("token %d not above the dead holder's %d", ls.Token(), held[len(held)-1].Token())
			}
		}},
		{"non-owner cannot release or extend", func(t *testing.T, im impl, l Locker, m *Metrics, _ func(string)) {
			dead, kill := context.WithCancel(t.Context())
			old := fill(t, dead, l, "k", im.limit, ttl)
			kill()
			time.Sleep(2 * ttl)
			ctx := t.Context()
			current := fill(t, ctx, l, "k", im.limit, 5*time.Second)
			for _, o := range old {
				if err := o.Extend(ctx, time.Minute); !errors.Is(err, ErrNotHeld) {
					t.Errorf("stale Extend: err %v, want ErrNotHeld", err)
				}
				if err := o.Release(ctx); !errors.Is(err, ErrNotHeld) {
					t.Errorf("stale Release: err %v, want ErrNotHeld", err)
				}
			}
			if _, err := l.TryAcquire(ctx, "k", time.Second); !errors.Is(err, ErrNotAcquired) {
				t.Fatalf("key freed by a non-owner: TryAcquire err %v, want ErrNotAcquired", err)
			}
			for _, c := range current {
				if err := c.Release(ctx); err != nil {
					t.Errorf("owner's release: %v", err)
				}
			}
		}},
		{"renewal keeps the lease past its ttl", func(t *testing.T, im impl, l Locker, m *Metrics, _ func(string)) {
			ctx := t.Context()
			held := fill(t, ctx, l, "k", im.limit, ttl)
			time.Sleep(4 * ttl)
			if _, err := l.TryAcquire(ctx, "k", time.Second); !errors.Is(err, ErrNotAcquired) {
				t.Fatalf("lease expired despite renewal: TryAcquire err %v", err)
			}
			for _, h := range held {
				select {
				case <-h.Lost():
					t.Fatal("renewed lease reported lost")
				default:
				}
				if err := h.Release(ctx); err != nil {
					t.Errorf("release: %v", err)
				}
			}
		}},
		{"lost signal when the key is taken away", func(t *testing.T, im impl, l Locker, m *Metrics, steal func(string)) {
			ls, err := l.TryAcquire(t.Context(), "k", ttl)
			if err != nil {
				t.Fatal(err)
			}
			steal("k")
			select {
			case <-ls.Lost():
			case <-time.After(5 * time.Second):
				t.Fatal("Lost not closed after the key was taken")
			}
			if got := value(m.lost); got != 1 {
				t.Errorf("lost = %v, want 1", got)
			}
		}},
		{"fencing tokens increase per key", func(t *testing.T, im impl, l Locker, m *Metrics, _ func(string)) {
			ctx := t.Context()
			var last uint64
			for i := range 5 {
				ls, err := l.TryAcquire(ctx, "fenced", time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if ls.Token() <= last {
					t.Fatalf("acquisition %d: token %d not above %d", i, ls.Token(), last)
				}
				last = ls.Token()
				other, err := l.TryAcquire(ctx, "other", time.Second)
				if err != nil {
					t.Fatal(err)
				}
				_ = other.Release(ctx)
				_ = ls.Release(ctx)
			}
		}},
		{"never more holders than slots", func(t *testing.T, im impl, l Locker, m *Metrics, _ func(string)) {
			var inside, peak atomic.Int32
			var wg sync.WaitGroup
			errs := make(chan error, 12)
			for range 12 {
				wg.Go(func() {
					ls, err := l.Acquire(t.Context(), "k", Options{TTL: time.Second, Wait: 20 * time.Second})
					if err != nil {
						errs <- err
						return
					}
					n := inside.Add(1)
					for {
						p := peak.Load()
						if n <= p || peak.CompareAndSwap(p, n) {
							break
						}
					}
					time.Sleep(15 * time.Millisecond)
					inside.Add(-1)
					if err := ls.Release(t.Context()); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if p := peak.Load(); p > int32(im.limit) {
				t.Fatalf("%d holders at once, limit %d", p, im.limit)
			}
			if got := value(m.acquisitions); got != 12 {
				t.Errorf("acquisitions = %v, want 12", got)
			}
		}},
		{"bad input is refused", func(t *testing.T, im impl, l Locker, m *Metrics, _ func(string)) {
			for _, o := range []struct {
				key  string
				opts Options
			}{
				{"", Options{TTL: time.Second}},
				{"k", Options{TTL: time.Millisecond}},
				{"k", Options{TTL: time.Second, Wait: -time.Second}},
				{"k", Options{TTL: time.Second, BackoffMin: time.Second, BackoffMax: time.Millisecond}},
			} {
				if _, err := l.Acquire(t.Context(), o.key, o.opts); err == nil || errors.Is(err, ErrNotAcquired) {
					t.Errorf("Acquire(%q, %+v): err %v, want a validation error", o.key, o.opts, err)
				}
			}
		}},
	}
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					m, err := NewMetrics(nil)
					if err != nil {
						t.Fatal(err)
					}
					l, steal := im.new(t, m)
					c.run(t, im, l, m, steal)
				})
			}
		})
	}
}

// value reads a counter curried with the "default" lock label.
func value(v *prometheus.CounterVec) float64 {
	var out dto.Metric
	if err := v.WithLabelValues("default").Write(&out); err != nil {
		panic(err)
	}
	return out.GetCounter().GetValue()
}
