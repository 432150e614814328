package lock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Why not github.com/bsm/redislock: its obtain script is fixed, and a fencing
// token is only a fence when it is issued in the same atomic step as the
// lease. Taken afterwards (INCR after SET NX), a holder paused between the two
// past its TTL would draw a token larger than the next holder's. Keeping the
// library for release and refresh alone would save two one-line scripts, so
// the lock is written directly on go-redis, whose Script runs EVALSHA and
// falls back to EVAL.

// acquireScript sets the lock key with the owner's random value if it is
// absent, and only then draws the fencing token from the companion counter.
// KEYS: lock, fence. ARGV: owner, ttl ms.
var acquireScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
`)

// releaseScript deletes the lock key only when it still holds the caller's
// value (compare-and-delete), so a holder whose lease expired cannot free the
// next owner's lock. KEYS: lock. ARGV: owner.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// extendScript resets the TTL only for the owner (compare-and-extend).
// KEYS: lock. ARGV: owner, ttl ms.
var extendScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// RedisConfig configures a Redis lock or semaphore.
type RedisConfig struct {
	// Client is any go-redis client (single node, failover, ring...). Required.
	Client redis.Scripter
	// Prefix is put before every key; default "switchyard:lock:".
	Prefix string
	// Name labels this lock's metrics; default "default".
	Name    string
	Metrics *Metrics
	Logger  *slog.Logger
}

func (c RedisConfig) prefix() string {
	if c.Prefix == "" {
		return "switchyard:lock:"
	}
	return c.Prefix
}

// Redis is a mutual-exclusion Locker on one Redis: SET NX PX with a random
// owner value, compare-and-delete release, compare-and-extend renewal, and a
// fencing token from INCR on a companion key "<key>:fence".
type Redis struct{ engine }

// NewRedis returns a Redis lock.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	if cfg.Client == nil {
		return nil, errors.New("redis lock: nil client")
	}
	b := &redisMutex{c: cfg.Client, prefix: cfg.prefix()}
	return &Redis{newEngine(b, cfg.Name, cfg.Metrics, cfg.Logger)}, nil
}

type redisMutex struct {
	c      redis.Scripter
	prefix string
}

func (r *redisMutex) tryAcquire(ctx context.Context, key, owner string, ttl time.Duration) (uint64, bool, error) {
	k := r.prefix + key
	n, err := acquireScript.Run(ctx, r.c, []string{k, k + ":fence"}, owner, ttl.Milliseconds()).Int64()
	if err != nil {
		return 0, false, fmt.Errorf("redis: %w", err)
	}
	return uint64(n), n > 0, nil
}

func (r *redisMutex) extend(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	n, err := extendScript.Run(ctx, r.c, []string{r.prefix + key}, owner, ttl.Milliseconds()).Int64()
	if err != nil {
		return false, fmt.Errorf("redis: %w", err)
	}
	return n == 1, nil
}

func (r *redisMutex) release(ctx context.Context, key, owner string) (bool, error) {
	n, err := releaseScript.Run(ctx, r.c, []string{r.prefix + key}, owner).Int64()
	if err != nil {
		return false, fmt.Errorf("redis: %w", err)
	}
	return n == 1, nil
}

func (r *redisMutex) pause(ctx context.Context, _ string, d time.Duration) error {
	return sleep(ctx, d)
}

// semAcquireScript is a counting semaphore in a sorted set of owners scored by
// their expiry in Redis server time (so replicas' clocks do not matter): drop
// expired owners, add the caller if fewer than limit remain, and draw a
// fencing token. The set's own TTL follows its latest owner so an idle
// semaphore leaves nothing behind. KEYS: set, fence. ARGV: owner, ttl ms, limit.
var semAcquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
local exp = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], exp, ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], math.ceil(tonumber(last[2])))
return redis.call('INCR', KEYS[2])
`)

// semExtendScript renews the caller's slot if it has not expired.
// KEYS: set. ARGV: owner, ttl ms.
var semExtendScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], math.ceil(tonumber(last[2])))
return 1
`)

// semReleaseScript frees the caller's slot if it still has one. Expired
// owners are dropped first, so an owner whose slot lapsed learns ErrNotHeld.
// KEYS: set. ARGV: owner.
var semReleaseScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZREM', KEYS[1], ARGV[1])
`)

// RedisSemaphore is a Locker that lets up to a fixed number of owners hold a
// key at once, each slot with its own TTL, so a dead holder frees its slot.
type RedisSemaphore struct{ engine }

// NewRedisSemaphore returns a Redis semaphore with limit slots per key.
func NewRedisSemaphore(cfg RedisConfig, limit int) (*RedisSemaphore, error) {
	if cfg.Client == nil {
		return nil, errors.New("redis semaphore: nil client")
	}
	if limit < 1 {
		return nil, fmt.Errorf("redis semaphore: limit %d, want at least 1", limit)
	}
	b := &redisSemaphore{c: cfg.Client, prefix: cfg.prefix(), limit: limit}
	return &RedisSemaphore{newEngine(b, cfg.Name, cfg.Metrics, cfg.Logger)}, nil
}

type redisSemaphore struct {
	c      redis.Scripter
	prefix string
	limit  int
}

func (r *redisSemaphore) tryAcquire(ctx context.Context, key, owner string, ttl time.Duration) (uint64, bool, error) {
	k := r.prefix + key
	n, err := semAcquireScript.Run(ctx, r.c, []string{k, k + ":fence"}, owner, ttl.Milliseconds(), r.limit).Int64()
	if err != nil {
		return 0, false, fmt.Errorf("redis: %w", err)
	}
	return uint64(n), n > 0, nil
}

func (r *redisSemaphore) extend(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	n, err := semExtendScript.Run(ctx, r.c, []string{r.prefix + key}, owner, ttl.Milliseconds()).Int64()
	if err != nil {
		return false, fmt.Errorf("redis: %w", err)
	}
	return n == 1, nil
}

func (r *redisSemaphore) release(ctx context.Context, key, owner string) (bool, error) {
	n, err := semReleaseScript.Run(ctx, r.c, []string{r.prefix + key}, owner).Int64()
	if err != nil {
		return false, fmt.Errorf("redis: %w", err)
	}
	return n == 1, nil
}

func (r *redisSemaphore) pause(ctx context.Context, _ string, d time.Duration) error {
	return sleep(ctx, d)
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

var (
	_ Locker = (*Redis)(nil)
	_ Locker = (*RedisSemaphore)(nil)
)
