package modelsync

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard-ai/switchyard/internal/lock"
	"github.com/switchyard-ai/switchyard/internal/testsvc"
)

// helperEnv marks a copy of the test binary started as a replica process.
const helperEnv = "SWITCHYARD_MODELSYNC_HELPER"

// TestHelperProcess is not a test on its own: the multi-process tests start
// the test binary again with helperEnv set, and each copy is one replica that
// calls Ensure and prints the directory it got.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return
	}
	if err := helperMain(); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func helperMain() error {
	ttl, err := time.ParseDuration(os.Getenv("HELPER_TTL"))
	if err != nil {
		return fmt.Errorf("HELPER_TTL: %w", err)
	}
	c := redis.NewClient(&redis.Options{Addr: os.Getenv("HELPER_REDIS")})
	defer c.Close()
	lk, err := lock.NewRedis(lock.RedisConfig{Client: c})
	if err != nil {
		return err
	}
	syncDir := os.Getenv("HELPER_SYNC")
	src := &fileSource{countDir: os.Getenv("HELPER_COUNTS"), size: 256 << 10}
	switch os.Getenv("HELPER_MODE") {
	case "hang":
		// Say the download has begun, then hang until killed.
		src.during = func(ctx context.Context) error {
			if err := os.WriteFile(filepath.Join(syncDir, "downloading"), nil, 0o644); err != nil {
				return err
			}
			select {}
		}
	default:
		src.during = func(ctx context.Context) error { return sleep(ctx, 100*time.Millisecond) }
	}
	s, err := New(Config{
		CacheDir: os.Getenv("HELPER_CACHE"), Source: src, Verify: verifyManifest, Locker: lk,
		LockTTL: ttl, WaitTimeout: time.Minute, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	if os.Getenv("HELPER_BARRIER") == "1" {
		// Check in, then wait for the parent's go, so all replicas start together.
		if err := os.WriteFile(filepath.Join(syncDir, fmt.Sprintf("ready-%d", os.Getpid())), nil, 0o644); err != nil {
			return err
		}
		for {
			if _, err := os.Stat(filepath.Join(syncDir, "go")); err == nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	dir, err := s.Ensure(context.Background(), "router", "proc")
	if err != nil {
		return err
	}
	fmt.Println("DIR=" + dir)
	return nil
}

type helperDirs struct{ redis, cache, counts, sync string }

func startHelper(t *testing.T, d helperDirs, mode string, ttl time.Duration, barrier bool) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(),
		helperEnv+"=1",
		"HELPER_REDIS="+d.redis, "HELPER_CACHE="+d.cache, "HELPER_COUNTS="+d.counts, "HELPER_SYNC="+d.sync,
		"HELPER_MODE="+mode, "HELPER_TTL="+ttl.String(),
	)
	if barrier {
		cmd.Env = append(cmd.Env, "HELPER_BARRIER=1")
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper process: %v", err)
	}
	return cmd, &stdout, &stderr
}

// waitFor polls until cond holds or fails the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTwentyProcesses: twenty replica processes sharing one cache directory
// start Ensure together; exactly one downloads.
func TestTwentyProcesses(t *testing.T) {
	srv := testsvc.StartRedis(t)
	d := helperDirs{redis: srv.Addr, cache: t.TempDir(), counts: t.TempDir(), sync: t.TempDir()}
	const n = 20
	type proc struct {
		cmd            *exec.Cmd
		stdout, stderr *bytes.Buffer
	}
	procs := make([]proc, n)
	for i := range procs {
		cmd, out, errb := startHelper(t, d, "ensure", 2*time.Second, true)
		procs[i] = proc{cmd, out, errb}
	}
	waitFor(t, 2*time.Minute, "all replicas to check in", func() bool {
		es, _ := os.ReadDir(d.sync)
		return len(es) == n
	})
	if err := os.WriteFile(filepath.Join(d.sync, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var first string
	for i, p := range procs {
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("replica process %d: %v\nstderr:\n%s", i, err, p.stderr)
		}
		dir, ok := strings.CutPrefix(strings.TrimSpace(p.stdout.String()), "DIR=")
		if !ok {
			t.Fatalf("replica process %d printed %q, want DIR=...", i, p.stdout)
		}
		if first == "" {
			first = dir
		}
		if dir != first {
			t.Fatalf("replica process %d got %s, another got %s", i, dir, first)
		}
	}
	if got := countDownloads(t, d.counts); got != 1 {
		t.Fatalf("%d downloads across %d processes, want exactly 1", got, n)
	}
	if err := verifyManifest(t.Context(), "router", "proc", first); err != nil {
		t.Fatalf("final directory fails verification: %v", err)
	}
}

// TestHolderKilled: the replica downloading is killed with SIGKILL midway,
// leaving its lock and a partial directory. Another replica waits out the
// lock's TTL, removes the partial and completes the download.
func TestHolderKilled(t *testing.T) {
	srv := testsvc.StartRedis(t)
	d := helperDirs{redis: srv.Addr, cache: t.TempDir(), counts: t.TempDir(), sync: t.TempDir()}
	const ttl = 3 * time.Second
	cmd, _, stderr := startHelper(t, d, "hang", ttl, false)
	waitFor(t, time.Minute, "the holder to start downloading", func() bool {
		_, err := os.Stat(filepath.Join(d.sync, "downloading"))
		return err == nil
	})
	if left := partials(t, d.cache); len(left) != 1 {
		t.Fatalf("partials before the kill: %v, want the holder's one", left)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatalf("killed holder exited cleanly; stderr:\n%s", stderr)
	}
	killed := time.Now()

	r := newReplica(t, replicaOpts{addr: srv.Addr, cacheDir: d.cache, src: &fileSource{countDir: d.counts}})
	dir, err := r.s.Ensure(t.Context(), "router", "proc")
	if err != nil {
		t.Fatalf("replica after the kill: %v", err)
	}
	t.Logf("took over %s after the kill (ttl %s)", time.Since(killed).Round(time.Millisecond), ttl)
	if err := verifyManifest(t.Context(), "router", "proc", dir); err != nil {
		t.Fatalf("directory fails verification: %v", err)
	}
	if got := countDownloads(t, d.counts); got != 2 {
		t.Errorf("%d downloads, want 2 (the killed holder's and the replica's)", got)
	}
	if got := metric(t, "switchyard_lock_contention_total", "", "", r.reg); got < 1 {
		t.Errorf("lock contention = %v: the replica never found the dead holder's lock", got)
	}
	if got := metric(t, "switchyard_modelsync_stale_partials_removed_total", "", "", r.reg); got != 1 {
		t.Errorf("stale partials removed = %v, want 1", got)
	}
	if left := partials(t, d.cache); len(left) != 0 {
		t.Errorf("partial downloads left behind: %v", left)
	}
}
