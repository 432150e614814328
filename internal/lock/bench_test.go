package lock

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard-ai/switchyard/internal/testsvc"
)

// BenchmarkAcquireRelease measures one uncontended TryAcquire + Release: for
// Redis that is two script round trips on loopback, plus starting and
// stopping the renewal goroutine.
func BenchmarkAcquireRelease(b *testing.B) {
	srv := testsvc.StartRedis(b)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	rl, err := NewRedis(RedisConfig{Client: c})
	if err != nil {
		b.Fatal(err)
	}
	rs, err := NewRedisSemaphore(RedisConfig{Client: c, Prefix: "sem:"}, 4)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		l    Locker
	}{
		{"redis", rl},
		{"redis-semaphore", rs},
		{"memory", NewMemory(MemoryConfig{})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				ls, err := bc.l.TryAcquire(ctx, "bench", 10*time.Second)
				if err != nil {
					b.Fatal(err)
				}
				if err := ls.Release(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
