package gateway

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestGracefulShutdownLetsRunningStreamFinish(t *testing.T) {
	gate := make(chan struct{})
	up := newUpstream(t, sseUpstream([]string{chunk(0, "before"), chunk(1, "after shutdown began")}, gate))
	g := newTestGateway(t, oneRoute("", dep("a", up.URL)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx, ln) }()

	req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/v1/chat/completions", strings.NewReader(streamBody))
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatalf("first chunk: %v", err)
	}

	cancel() // what SIGTERM does in `switchyard serve`
	deadline := time.Now().Add(5 * time.Second)
	for g.Ready() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if g.Ready() {
		t.Fatal("readiness still true after shutdown began")
	}
	rec := httptestRecorder(g, "/health/ready")
	if rec != http.StatusServiceUnavailable {
		t.Errorf("/health/ready = %d during shutdown, want 503", rec)
	}
	select {
	case err := <-served:
		t.Fatalf("server exited before the stream finished: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(gate)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("stream cut during shutdown: %v", err)
	}
	if !strings.Contains(string(rest), "after shutdown began") || !strings.Contains(string(rest), "[DONE]") {
		t.Errorf("stream did not finish: %s", rest)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server did not exit after the stream finished")
	}
}

func httptestRecorder(g *testGW, path string) int {
	rw := &recorder{h: http.Header{}}
	req, _ := http.NewRequest("GET", path, nil)
	g.Handler().ServeHTTP(rw, req)
	return rw.code
}

type recorder struct {
	h    http.Header
	code int
}

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(c int)           { r.code = c }
