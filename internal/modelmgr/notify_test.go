package modelmgr_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard-ai/switchyard/internal/audit"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
	"github.com/switchyard-ai/switchyard/internal/modelmgr"
	"github.com/switchyard-ai/switchyard/internal/testsvc"
)

// TestRedisNoticeReachesEveryReplica runs two replicas that poll only once
// an hour; a deploy made by a third process (the CLI's way: a registry that
// does not run) reaches both through the Redis notice within seconds.
func TestRedisNoticeReachesEveryReplica(t *testing.T) {
	rs := testsvc.StartRedis(t)
	newClient := func() *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: rs.Addr})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	e := newEnv(t)
	r := trainedRouter(t, router.KindKNN, 1)
	e.publish(t, r, "m", "v1", nil)
	e.publish(t, r, "m", "v2", nil)

	var managers []*modelmgr.Manager
	for _, name := range []string{"a", "b"} {
		reg := e.registry(t, regOpts{poll: time.Hour, redis: newClient(), replica: name})
		m, err := reg.Manager("m", router.KindKNN)
		if err != nil {
			t.Fatal(err)
		}
		run(t, reg)
		managers = append(managers, m)
	}
	// Both replicas must be subscribed before the notice is sent.
	probe := newClient()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := probe.PubSubNumSub(context.Background(), modelmgr.DefaultNotifyChannel).Result()
		if err == nil && n[modelmgr.DefaultNotifyChannel] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas not subscribed: %v %v", n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	cli := e.registry(t, regOpts{redis: newClient()})
	ctx := audit.WithActor(context.Background(), "cli:test")
	for _, v := range []string{"v1", "v2"} {
		start := time.Now()
		mv, err := cli.Deploy(ctx, "m", v, "")
		if err != nil || mv.NoticeError != "" {
			t.Fatalf("deploy %s: %v %s", v, err, mv.NoticeError)
		}
		for i, m := range managers {
			waitActive(t, m, v)
			if took := time.Since(start); took > 10*time.Second {
				t.Fatalf("replica %d took %s to follow the notice", i, took)
			}
		}
	}
	// Activation events are written just after the swap; give them a moment.
	replicas := map[string]int{}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		acts, err := cli.Audit().List(ctx, audit.Filter{Target: "m", Action: audit.ActionActivate})
		if err != nil {
			t.Fatal(err)
		}
		replicas = map[string]int{}
		for _, ev := range acts {
			replicas[ev.Actor]++
		}
		if replicas["replica:a"] == 2 && replicas["replica:b"] == 2 {
			return
		}
	}
	t.Fatalf("activation events by replica: %v, want 2 each", replicas)
}
