// Package lock provides leases on named keys: a mutual-exclusion lock and a
// counting semaphore, each backed either by Redis (for replicas on several
// machines) or by process memory (for a single replica), behind one Locker
// interface so callers do not know which they hold.
//
// A lease has a TTL and is renewed in the background while it is held, so a
// holder that dies (crash, SIGKILL, network partition) frees the key after at
// most one TTL without anyone having to notice the death. Every lease carries
// a fencing token that increases per key, so a resource guarded by the lock can
// reject work from a holder that lost its lease without knowing it (a long GC
// pause, a partition) and was overtaken by a newer one.
//
// Redis leases are advisory and single-instance: they are as safe as the one
// Redis they live on. Tokens are monotonic as long as Redis keeps its data; a
// Redis restarted without persistence starts counting again from 1.
package lock

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotAcquired means the key is held by another owner (or, for a
// semaphore, all its slots are): TryAcquire found it taken, or Acquire waited
// its whole bounded wait. Compare with errors.Is.
var ErrNotAcquired = errors.New("lock held by another owner")

// ErrNotHeld means a lease is no longer held by its owner: it expired (the
// owner stopped renewing or was too slow) and may now belong to someone else.
// Release and Extend return it rather than touching another owner's lease.
var ErrNotHeld = errors.New("lease not held")

// Locker hands out leases on keys.
type Locker interface {
	// Acquire takes the key, waiting up to opts.Wait while another owner holds
	// it, polling with jittered exponential backoff. On timeout it returns an
	// error wrapping ErrNotAcquired; any other error is the backend's (Redis
	// unreachable, ...) and is returned at once, so the caller picks its own
	// policy for an unreachable backend.
	//
	// ctx bounds both the wait and the life of the lease: when ctx is done the
	// lease stops renewing without releasing, and expires after its TTL, as if
	// this process had died. Release it explicitly to free the key at once.
	Acquire(ctx context.Context, key string, opts Options) (Lease, error)

	// TryAcquire takes the key if it is free right now; otherwise it returns an
	// error wrapping ErrNotAcquired. ctx is the lease's life, as for Acquire.
	TryAcquire(ctx context.Context, key string, ttl time.Duration) (Lease, error)
}

// Lease is one owner's hold on a key.
type Lease interface {
	// Key is the key as given to Acquire.
	Key() string
	// Token is the fencing token: larger than the token of every earlier lease
	// on the same key, so a guarded resource can refuse a stale holder.
	Token() uint64
	// Lost is closed when the lease is known to be gone while it was meant to
	// be held: renewal found another owner, or could not reach the backend
	// before the lease's expiry. It is not closed by Release.
	Lost() <-chan struct{}
	// Extend sets the lease's remaining life to ttl. It fails with ErrNotHeld
	// when the caller no longer owns the key.
	Extend(ctx context.Context, ttl time.Duration) error
	// Release frees the key if the caller still owns it and stops renewal. It
	// fails with ErrNotHeld when the lease had already expired; a second
	// Release is a no-op returning nil.
	Release(ctx context.Context) error
}

// Options tune one Acquire call.
type Options struct {
	// TTL is how long the lease lives without renewal; renewal runs every
	// TTL/3. Required.
	TTL time.Duration
	// Wait bounds how long Acquire waits for another owner to let go. Zero
	// means try once.
	Wait time.Duration
	// BackoffMin and BackoffMax bound the jittered exponential backoff between
	// attempts while waiting. Defaults: 10ms and 250ms.
	BackoffMin, BackoffMax time.Duration
}

const (
	defaultBackoffMin = 10 * time.Millisecond
	defaultBackoffMax = 250 * time.Millisecond
	// minTTL keeps renewal (every TTL/3) from turning into a busy loop.
	minTTL = 30 * time.Millisecond
)

func (o Options) validate(key string) error {
	if key == "" {
		return errors.New("lock: empty key")
	}
	if o.TTL < minTTL {
		return fmt.Errorf("lock %q: ttl %s is below the minimum %s", key, o.TTL, minTTL)
	}
	if o.Wait < 0 {
		return fmt.Errorf("lock %q: negative wait %s", key, o.Wait)
	}
	if o.BackoffMin < 0 || o.BackoffMax < 0 || (o.BackoffMax > 0 && o.BackoffMin > o.BackoffMax) {
		return fmt.Errorf("lock %q: backoff bounds %s..%s are not a range", key, o.BackoffMin, o.BackoffMax)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.BackoffMin == 0 {
		o.BackoffMin = defaultBackoffMin
	}
	if o.BackoffMax == 0 {
		o.BackoffMax = defaultBackoffMax
	}
	if o.BackoffMin > o.BackoffMax {
		o.BackoffMin = o.BackoffMax
	}
	return o
}
