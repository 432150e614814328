package gateway

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestUpstreamConnsPerHostCap: with limits.max_upstream_conns_per_host 1,
// a second request to the same upstream waits for the first one's
// connection instead of opening another, and both are answered.
func TestUpstreamConnsPerHostCap(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 2)
	var conns atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		okChat("a-upstream", "ok")(w, r)
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	cfg := oneRoute("", dep("a", up.URL))
	cfg.Limits.MaxUpstreamConnsPerHost = 1
	gw := newTestGateway(t, cfg)
	unblock := sync.OnceFunc(func() { close(release) })
	t.Cleanup(unblock) // first of the cleanups, should the test fail early

	codes := make(chan int, 2)
	for range 2 {
		go func() {
			req, _ := http.NewRequest(http.MethodPost, gw.srv.URL+"/v1/chat/completions",
				strings.NewReader(`{"model":"auto","messages":[{"role":"user","content":"hi"}]}`))
			req.Header.Set("Authorization", "Bearer "+testKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				codes <- -1
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	<-arrived
	select {
	case <-arrived:
		t.Fatalf("a second request reached the upstream while the only allowed connection was busy")
	case <-time.After(300 * time.Millisecond):
		// Without the cap the second request dials its own connection and
		// arrives within a few milliseconds.
	}
	unblock()
	for range 2 {
		if c := <-codes; c != http.StatusOK {
			t.Errorf("status %d, want 200", c)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d upstream connections opened, want 1", n)
	}
}
