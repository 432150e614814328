package lock

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// backend is the part that differs between Redis and memory, mutex and
// semaphore. Waiting, backoff, renewal, loss detection and metrics are shared
// (engine and lease), so every implementation behaves the same way.
type backend interface {
	// tryAcquire takes key for owner when it is free, returning the new
	// fencing token and true; 0 and false when it is held.
	tryAcquire(ctx context.Context, key, owner string, ttl time.Duration) (uint64, bool, error)
	// extend resets owner's lease on key to ttl; false when owner no longer
	// holds it.
	extend(ctx context.Context, key, owner string, ttl time.Duration) (bool, error)
	// release frees owner's lease on key; false when owner no longer holds it.
	release(ctx context.Context, key, owner string) (bool, error)
	// pause sleeps d between attempts, or less when the backend learns that
	// key may have been freed. It returns ctx's error when ctx ends first.
	pause(ctx context.Context, key string, d time.Duration) error
}

// engine implements Locker on top of a backend.
type engine struct {
	b   backend
	m   lockMetrics
	log *slog.Logger
}

func newEngine(b backend, name string, m *Metrics, log *slog.Logger) engine {
	if name == "" {
		name = "default"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return engine{b: b, m: m.forLock(name), log: log.With("lock", name)}
}

func (e *engine) TryAcquire(ctx context.Context, key string, ttl time.Duration) (Lease, error) {
	return e.Acquire(ctx, key, Options{TTL: ttl})
}

func (e *engine) Acquire(ctx context.Context, key string, opts Options) (Lease, error) {
	if err := opts.validate(key); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	owner := newOwner()
	start := time.Now()
	deadline := start.Add(opts.Wait)
	backoff := opts.BackoffMin
	contended := false
	for {
		attempt := time.Now() // the lease's expiry counts from before the call that took it
		token, ok, err := e.b.tryAcquire(ctx, key, owner, opts.TTL)
		if err != nil {
			if ctx.Err() == nil {
				e.m.errors.Inc()
			}
			return nil, fmt.Errorf("acquire lock %q: %w", key, err)
		}
		if ok {
			e.m.acquisitions.Inc()
			e.m.wait.Observe(time.Since(start).Seconds())
			return e.newLease(ctx, key, owner, token, opts.TTL, attempt), nil
		}
		if !contended {
			contended = true
			e.m.contention.Inc()
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			if opts.Wait > 0 {
				e.m.timeouts.Inc()
				e.m.wait.Observe(time.Since(start).Seconds())
			}
			return nil, fmt.Errorf("acquire lock %q: after %s: %w", key, opts.Wait, ErrNotAcquired)
		}
		d := min(jitter(backoff), remaining)
		if err := e.b.pause(ctx, key, d); err != nil {
			return nil, fmt.Errorf("acquire lock %q: %w", key, err)
		}
		backoff = min(2*backoff, opts.BackoffMax)
	}
}

// jitter spreads d over [d/2, d) so that waiters woken together do not all
// retry in the same instant (the thundering herd the lock exists to stop).
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// newOwner returns a random owner value: 128 bits, so one owner cannot guess
// another's and release its lease. crypto/rand.Read never fails since Go 1.24.
func newOwner() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// lease is a held key plus its renewal goroutine.
type lease struct {
	e        *engine
	key      string
	owner    string
	token    uint64
	acquired time.Time

	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
	holdOnce sync.Once

	mu       sync.Mutex
	ttl      time.Duration
	expires  time.Time // local estimate, measured from before the call that set it
	released bool
}

func (e *engine) newLease(ctx context.Context, key, owner string, token uint64, ttl time.Duration, asked time.Time) *lease {
	l := &lease{
		e: e, key: key, owner: owner, token: token, acquired: time.Now(),
		lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
		ttl: ttl, expires: asked.Add(ttl),
	}
	go l.renew(ctx)
	return l
}

func (l *lease) Key() string           { return l.key }
func (l *lease) Token() uint64         { return l.token }
func (l *lease) Lost() <-chan struct{} { return l.lost }

// renew extends the lease every TTL/3 until Release, ctx's end, or loss. A
// failed extension is retried on the next tick while the lease may still be
// alive; once the local estimate of its expiry passes, the lease is lost.
func (l *lease) renew(ctx context.Context) {
	defer close(l.done)
	for {
		l.mu.Lock()
		ttl := l.ttl
		l.mu.Unlock()
		t := time.NewTimer(ttl / 3)
		select {
		case <-ctx.Done():
			t.Stop()
			// The owner is gone: stop renewing and let the TTL free the key.
			l.observeHold()
			return
		case <-l.stop:
			t.Stop()
			return
		case <-t.C:
		}
		asked := time.Now()
		rctx, cancel := context.WithTimeout(ctx, ttl/3)
		ok, err := l.e.b.extend(rctx, l.key, l.owner, ttl)
		cancel()
		switch {
		case err == nil && ok:
			l.mu.Lock()
			l.expires = asked.Add(ttl)
			l.mu.Unlock()
		case err == nil:
			l.e.log.Warn("lease taken over by another owner", "key", l.key, "token", l.token)
			l.markLost()
			return
		case ctx.Err() != nil:
			l.observeHold()
			return
		default:
			l.e.m.errors.Inc()
			l.mu.Lock()
			expired := time.Now().After(l.expires)
			l.mu.Unlock()
			if expired {
				l.e.log.Warn("lease expired while its backend was unreachable", "key", l.key, "token", l.token, "err", err)
				l.markLost()
				return
			}
			l.e.log.Warn("lease renewal failed, retrying", "key", l.key, "token", l.token, "err", err)
		}
	}
}

func (l *lease) markLost() {
	l.lostOnce.Do(func() {
		l.e.m.lost.Inc()
		l.observeHold()
		close(l.lost)
	})
}

func (l *lease) observeHold() {
	l.holdOnce.Do(func() { l.e.m.hold.Observe(time.Since(l.acquired).Seconds()) })
}

func (l *lease) Extend(ctx context.Context, ttl time.Duration) error {
	if ttl < minTTL {
		return fmt.Errorf("extend lock %q: ttl %s is below the minimum %s", l.key, ttl, minTTL)
	}
	l.mu.Lock()
	released := l.released
	l.mu.Unlock()
	if released {
		return fmt.Errorf("extend lock %q: released: %w", l.key, ErrNotHeld)
	}
	asked := time.Now()
	ok, err := l.e.b.extend(ctx, l.key, l.owner, ttl)
	if err != nil {
		l.e.m.errors.Inc()
		return fmt.Errorf("extend lock %q: %w", l.key, err)
	}
	if !ok {
		l.markLost()
		return fmt.Errorf("extend lock %q: %w", l.key, ErrNotHeld)
	}
	l.mu.Lock()
	l.ttl, l.expires = ttl, asked.Add(ttl)
	l.mu.Unlock()
	return nil
}

func (l *lease) Release(ctx context.Context) error {
	l.mu.Lock()
	if l.released {
		l.mu.Unlock()
		return nil
	}
	l.released = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done // no renewal may land after the release
	l.observeHold()
	ok, err := l.e.b.release(ctx, l.key, l.owner)
	if err != nil {
		l.e.m.errors.Inc()
		return fmt.Errorf("release lock %q: %w", l.key, err)
	}
	if !ok {
		return fmt.Errorf("release lock %q: %w", l.key, ErrNotHeld)
	}
	return nil
}

// Compile-time checks that the engine is a Locker and lease a Lease.
var (
	_ Locker = (*engine)(nil)
	_ Lease  = (*lease)(nil)
)
