package pipeline

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/switchyard-ai/switchyard/internal/lock"
	"github.com/switchyard-ai/switchyard/internal/testsvc"
)

func TestNextTick(t *testing.T) {
	for _, tc := range []struct {
		spec, now, want string
	}{
		// @every is aligned to the epoch, whenever a replica started.
		{"@every 1s", "2026-01-02T03:04:05.300Z", "2026-01-02T03:04:06Z"},
		{"@every 1m", "2026-01-02T03:04:05.300Z", "2026-01-02T03:05:00Z"},
		{"@every 6h", "2026-01-02T03:04:05Z", "2026-01-02T06:00:00Z"},
		{"*/10 * * * * *", "2026-01-02T03:04:05Z", "2026-01-02T03:04:10Z"},
		{"0 3 * * *", "2026-01-02T03:04:05Z", "2026-01-03T03:00:00Z"},
		{"@hourly", "2026-01-02T03:04:05Z", "2026-01-02T04:00:00Z"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			s, err := cronParser.Parse(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if got := nextTick(s, timeAt(t, tc.now)); !got.Equal(timeAt(t, tc.want)) {
				t.Fatalf("next after %s: %s, want %s", tc.now, got.UTC(), tc.want)
			}
		})
	}
	if _, err := NewService(context.Background(), ServiceConfig{ConfigPath: "x.yaml", Schedule: "every day"}); err == nil {
		t.Fatal("want an error for a bad config path or schedule")
	}
}

func TestBadSchedule(t *testing.T) {
	e := newTestEnv(t)
	_, err := NewService(context.Background(), ServiceConfig{ConfigPath: e.conf(t, "p.yaml", e.good, "", false, ""), Schedule: "61 * * * *"})
	if err == nil || !strings.Contains(err.Error(), "schedule") {
		t.Fatalf("got %v, want an error naming the schedule", err)
	}
}

// TestScheduledOnceInProcess: two services sharing one in-process lock (two
// gateways in one process, or one gateway's two schedulers) run each tick
// once between them.
func TestScheduledOnceInProcess(t *testing.T) {
	e := newTestEnv(t)
	path := e.conf(t, "p.yaml", e.good, "", false, "")
	locker := lock.NewMemory(lock.MemoryConfig{Name: "test"})
	var svcs []*Service
	for i := 0; i < 2; i++ {
		s, err := NewService(context.Background(), ServiceConfig{ConfigPath: path, Schedule: "@every 1s", Locker: locker, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range svcs {
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Run(ctx) }()
	}
	wg.Wait()
	var taken, seen float64
	for _, s := range svcs {
		for _, o := range []string{"taken", "elsewhere", "busy", "error"} {
			v := testutil.ToFloat64(s.metrics.ticks.WithLabelValues(o))
			seen += v
			if o == "taken" {
				taken += v
			}
		}
	}
	checkOncePerTick(t, svcs[0].Records(), int(taken))
	if seen < 2*taken {
		t.Fatalf("ticks seen %v, taken %v: both services should see every tick", seen, taken)
	}
}

// checkOncePerTick asserts that the store holds taken scheduled runs, at
// least two, and no tick twice.
func checkOncePerTick(t *testing.T, rs *Records, taken int) {
	t.Helper()
	recs, err := rs.List(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	ticks := map[time.Time]string{}
	for _, r := range recs {
		if r.Trigger != TriggerSchedule || r.Scheduled == nil {
			t.Fatalf("run %s: trigger %s, scheduled %v", r.ID, r.Trigger, r.Scheduled)
		}
		if other, dup := ticks[*r.Scheduled]; dup {
			t.Fatalf("tick %s ran twice: %s and %s", r.Scheduled, other, r.ID)
		}
		ticks[*r.Scheduled] = r.ID + " on " + r.Host
	}
	if len(recs) < 2 || len(recs) != taken {
		t.Fatalf("%d scheduled runs in the store, %d ticks taken: want equal and at least 2 (%v)", len(recs), taken, ticks)
	}
}

const helperEnv = "SWITCHYARD_PIPELINE_SCHEDULE_HELPER"

// TestScheduledOnceAcrossProcesses runs the scheduler in two processes (this
// test binary re-executed) that share a real redis-server and a store, with
// a tick every second: every tick runs once, in one of them.
func TestScheduledOnceAcrossProcesses(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("helper process")
	}
	rd := testsvc.StartRedis(t)
	e := newTestEnv(t)
	path := e.conf(t, "p.yaml", e.good, "", false, "")
	const procs = 2
	outs := make([]strings.Builder, procs)
	var cmds []*exec.Cmd
	for i := 0; i < procs; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestScheduleHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"=1", "HELPER_CONFIG="+path, "HELPER_REDIS="+rd.Addr, "HELPER_FOR=4500ms")
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	taken, seen := 0, 0
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper %d: %v\n%s", i, err, outs[i].String())
		}
		var tk, el, busy, errs int
		if _, err := fmt.Sscanf(lineWith(outs[i].String(), "TICKS "), "TICKS taken=%d elsewhere=%d busy=%d error=%d", &tk, &el, &busy, &errs); err != nil {
			t.Fatalf("helper %d output: %v\n%s", i, err, outs[i].String())
		}
		if errs != 0 {
			t.Fatalf("helper %d: %d lock errors\n%s", i, errs, outs[i].String())
		}
		if tk+el+busy == 0 {
			t.Fatalf("helper %d saw no ticks\n%s", i, outs[i].String())
		}
		t.Logf("helper %d: taken=%d elsewhere=%d busy=%d", i, tk, el, busy)
		taken += tk
		seen += tk + el + busy
	}
	if seen <= taken {
		t.Fatalf("ticks seen %d, taken %d: the processes never contended", seen, taken)
	}
	checkOncePerTick(t, NewRecords(openRepo(t, e.store).Store()), taken)
}

func lineWith(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// TestScheduleHelperProcess is one gateway's scheduler, run as a child
// process by TestScheduledOnceAcrossProcesses.
func TestScheduleHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("run by TestScheduledOnceAcrossProcesses")
	}
	d, err := time.ParseDuration(os.Getenv("HELPER_FOR"))
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(&redis.Options{Addr: os.Getenv("HELPER_REDIS")})
	defer client.Close()
	locker, err := lock.NewRedis(lock.RedisConfig{Client: client, Name: "pipeline"})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(context.Background(), ServiceConfig{
		ConfigPath: os.Getenv("HELPER_CONFIG"), Schedule: "@every 1s", Locker: locker, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := svc.Run(ctx); err != nil {
		t.Fatal(err)
	}
	v := func(o string) int { return int(testutil.ToFloat64(svc.metrics.ticks.WithLabelValues(o))) }
	fmt.Printf("TICKS taken=%d elsewhere=%d busy=%d error=%d\n", v("taken"), v("elsewhere"), v("busy"), v("error"))
}
