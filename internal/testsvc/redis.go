package testsvc

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Redis is a redis-server started for one test on a free loopback port, with
// persistence off (`--save "" --appendonly no`). It is stopped by t.Cleanup;
// Stop and Start let fault tests take it away and bring it back mid-test on
// the same port.
type Redis struct {
	// Addr is "127.0.0.1:PORT", for redis.Options.Addr.
	Addr string
	Port int

	t   testing.TB
	bin string
	dir string

	mu  sync.Mutex
	cmd *exec.Cmd
	// exited is closed when the running server's process has been reaped.
	exited chan struct{}
}

// StartRedis starts redis-server (found by Binary with the override
// SWITCHYARD_REDIS_SERVER) and waits until it answers PING.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	r := &Redis{
		t:   t,
		bin: Binary(t, "redis-server", "SWITCHYARD_REDIS_SERVER"),
		dir: t.TempDir(),
	}
	r.Port = FreePort(t)
	r.Addr = Addr(r.Port)
	t.Cleanup(r.Stop)
	r.Start()
	return r
}

// Start starts the server if it is not running, on the same port as before,
// with an empty data set, and waits until it answers PING.
func (r *Redis) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return
	}
	logPath := filepath.Join(r.dir, "redis.log")
	cmd := exec.Command(r.bin,
		"--port", strconv.Itoa(r.Port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", r.dir,
		"--logfile", logPath,
	)
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	r.cmd, r.exited = cmd, exited

	deadline := time.Now().Add(10 * time.Second)
	for {
		if ping(r.Addr) {
			return
		}
		select {
		case <-exited:
			r.cmd = nil
			r.t.Fatalf("redis-server on %s exited at start; log:\n%s", r.Addr, readTail(logPath))
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s did not answer PING within 10s; log:\n%s", r.Addr, readTail(logPath))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after 5 s) and waits until it
// has exited, so the port refuses connections when Stop returns. Stopping a
// stopped server does nothing.
func (r *Redis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
	r.cmd = nil
}

// ping sends an inline PING and expects +PONG: enough to know the server
// accepts commands, without a client library in this package.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.TrimSpace(line) == "+PONG"
}

func readTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
