package lock

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// MemoryConfig configures an in-process lock or semaphore.
type MemoryConfig struct {
	// Name labels this lock's metrics; default "default".
	Name    string
	Metrics *Metrics
	Logger  *slog.Logger
}

// Memory is the in-process Locker for single-replica setups. It keeps the
// Redis lock's semantics — TTLs, renewal, owner-only release, fencing tokens —
// so code written against one behaves the same on the other, including when a
// holder's context ends without releasing.
type Memory struct{ engine }

// NewMemory returns an in-process mutual-exclusion lock.
func NewMemory(cfg MemoryConfig) *Memory {
	return &Memory{newEngine(newMemBackend(1), cfg.Name, cfg.Metrics, cfg.Logger)}
}

// MemorySemaphore is the in-process counterpart of RedisSemaphore.
type MemorySemaphore struct{ engine }

// NewMemorySemaphore returns an in-process semaphore with limit slots per key.
func NewMemorySemaphore(cfg MemoryConfig, limit int) (*MemorySemaphore, error) {
	if limit < 1 {
		return nil, fmt.Errorf("memory semaphore: limit %d, want at least 1", limit)
	}
	return &MemorySemaphore{newEngine(newMemBackend(limit), cfg.Name, cfg.Metrics, cfg.Logger)}, nil
}

// memBackend holds, per key, the owners with their expiry and the fencing
// counter. Entries stay after their last owner leaves so that tokens keep
// increasing; each is a few dozen bytes per key ever locked.
type memBackend struct {
	limit int
	mu    sync.Mutex
	keys  map[string]*memKey
}

type memKey struct {
	owners map[string]time.Time
	fence  uint64
	// freed is closed and replaced whenever an owner leaves, waking waiters
	// at once instead of at their next backoff tick.
	freed chan struct{}
}

func newMemBackend(limit int) *memBackend {
	return &memBackend{limit: limit, keys: make(map[string]*memKey)}
}

// get returns key's entry with expired owners dropped. Call with mu held.
func (m *memBackend) get(key string, now time.Time) *memKey {
	k := m.keys[key]
	if k == nil {
		k = &memKey{owners: make(map[string]time.Time), freed: make(chan struct{})}
		m.keys[key] = k
	}
	for o, exp := range k.owners {
		if !now.Before(exp) {
			delete(k.owners, o)
		}
	}
	return k
}

func (m *memBackend) tryAcquire(ctx context.Context, key, owner string, ttl time.Duration) (uint64, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	k := m.get(key, now)
	if len(k.owners) >= m.limit {
		return 0, false, nil
	}
	k.owners[owner] = now.Add(ttl)
	k.fence++
	return k.fence, true, nil
}

func (m *memBackend) extend(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	k := m.get(key, now)
	if _, ok := k.owners[owner]; !ok {
		return false, nil
	}
	k.owners[owner] = now.Add(ttl)
	return true, nil
}

func (m *memBackend) release(_ context.Context, key, owner string) (bool, error) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	k := m.get(key, now)
	if _, ok := k.owners[owner]; !ok {
		return false, nil
	}
	delete(k.owners, owner)
	close(k.freed)
	k.freed = make(chan struct{})
	return true, nil
}

func (m *memBackend) pause(ctx context.Context, key string, d time.Duration) error {
	m.mu.Lock()
	freed := m.get(key, time.Now()).freed
	m.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-freed:
		return nil
	case <-t.C:
		return nil
	}
}

var (
	_ Locker = (*Memory)(nil)
	_ Locker = (*MemorySemaphore)(nil)
)
