package lock

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard-ai/switchyard/internal/testsvc"
)

// TestRedisOwnerScripts checks the scripts themselves: an owner value that is
// not the holder's can neither delete nor extend the key.
func TestRedisOwnerScripts(t *testing.T) {
	srv := testsvc.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	ctx := t.Context()

	for _, tc := range []struct {
		name string
		b    backend
		key  string // the Redis key the backend writes for "k"
	}{
		{"mutex", &redisMutex{c: c, prefix: "m:"}, "m:k"},
		{"semaphore", &redisSemaphore{c: c, prefix: "s:", limit: 2}, "s:k"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok, err := tc.b.tryAcquire(ctx, "k", "owner-a", 2*time.Second); err != nil || !ok {
				t.Fatalf("acquire: ok=%v err=%v", ok, err)
			}
			if ok, err := tc.b.release(ctx, "k", "intruder"); err != nil || ok {
				t.Fatalf("intruder release: ok=%v err=%v, want false, nil", ok, err)
			}
			if ok, err := tc.b.extend(ctx, "k", "intruder", time.Hour); err != nil || ok {
				t.Fatalf("intruder extend: ok=%v err=%v, want false, nil", ok, err)
			}
			pttl, err := c.PTTL(ctx, tc.key).Result()
			if err != nil {
				t.Fatal(err)
			}
			if pttl <= 0 || pttl > 2*time.Second {
				t.Fatalf("key ttl %s after the intruder, want the owner's (0, 2s]", pttl)
			}
			if ok, err := tc.b.release(ctx, "k", "owner-a"); err != nil || !ok {
				t.Fatalf("owner release: ok=%v err=%v", ok, err)
			}
		})
	}
}

// TestRedisUnreachable: with Redis gone, Acquire fails at once with a backend
// error (not ErrNotAcquired, so callers can tell "busy" from "down"), and a
// held lease reports Lost once its TTL has passed without a renewal.
func TestRedisUnreachable(t *testing.T) {
	srv := testsvc.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	m, _ := NewMetrics(nil)
	l, err := NewRedis(RedisConfig{Client: c, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	held, err := l.TryAcquire(t.Context(), "held", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()

	_, err = l.Acquire(t.Context(), "other", Options{TTL: time.Second, Wait: time.Second})
	if err == nil || errors.Is(err, ErrNotAcquired) {
		t.Fatalf("acquire with redis down: err %v, want a backend error", err)
	}
	select {
	case <-held.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("lease not reported lost with redis down")
	}
	if got := value(m.errors); got < 2 {
		t.Errorf("backend errors = %v, want at least 2 (acquire and renewal)", got)
	}
	if err := held.Release(context.Background()); err == nil {
		t.Error("release with redis down returned nil")
	}

	// Back up with an empty data set: locking works again.
	srv.Start()
	ls, err := l.TryAcquire(t.Context(), "held", time.Second)
	if err != nil {
		t.Fatalf("acquire after redis came back: %v", err)
	}
	_ = ls.Release(t.Context())
}

// TestLeaseExpiryCountsFromAcquisition: a lease taken after a long wait must
// not be judged expired by the wait's length. With Redis gone right after
// the acquisition, Lost may close only once a whole TTL has passed without
// renewal, not at the first failed renewal.
func TestLeaseExpiryCountsFromAcquisition(t *testing.T) {
	srv := testsvc.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	l, err := NewRedis(RedisConfig{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	const ttl = 1500 * time.Millisecond
	first, err := l.TryAcquire(t.Context(), "k", ttl)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(2 * ttl)
		_ = first.Release(context.Background())
	}()
	ls, err := l.Acquire(t.Context(), "k", Options{TTL: ttl, Wait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got := time.Now()
	srv.Stop()
	select {
	case <-ls.Lost():
		t.Logf("lost %s after acquisition", time.Since(got))
		if d := time.Since(got); d < 2*ttl/3 {
			t.Fatalf("lease reported lost %s after it was taken, before its ttl %s could have run out", d, ttl)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("lease not reported lost with redis down")
	}
}
