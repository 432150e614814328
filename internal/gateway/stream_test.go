package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/config"
)

// httpRefusedURL returns a URL on a port nothing listens on.
func httpRefusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// sseUpstream streams the given chunk payloads, flushing each, with a gate
// before each chunk after the first when gate is non-nil.
func sseUpstream(chunks []string, gate chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		f := w.(http.Flusher)
		for i, c := range chunks {
			if gate != nil && i > 0 {
				select {
				case <-gate:
				case <-r.Context().Done():
					return
				}
			}
			fmt.Fprintf(w, "data: %s\n\n", c)
			f.Flush()
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
		f.Flush()
	}
}

func chunk(i int, content string) string {
	return fmt.Sprintf(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"a-upstream","choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}]}`, content) + strings.Repeat(" ", i%2)
}

const usageChunk = `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"a-upstream","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`

const streamBody = `{"model":"auto","stream":true,"messages":[{"role":"user","content":"hello"}]}`

// readEvents reads SSE data payloads until [DONE] or EOF.
func readEvents(t *testing.T, r io.Reader) (events []string, done bool) {
	t.Helper()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		p := strings.TrimPrefix(line, "data: ")
		if p == "[DONE]" {
			return events, true
		}
		events = append(events, p)
	}
	return events, false
}

func TestStreamChunksPassThroughInOrder(t *testing.T) {
	var chunks []string
	for i := 0; i < 50; i++ {
		chunks = append(chunks, chunk(i, fmt.Sprintf("tok%d ", i)))
	}
	up := newUpstream(t, sseUpstream(append(chunks, usageChunk), nil))
	g := newTestGateway(t, oneRoute("", dep("a", up.URL)))

	for _, includeUsage := range []bool{false, true} {
		t.Run(fmt.Sprintf("include_usage=%v", includeUsage), func(t *testing.T) {
			body := streamBody
			if includeUsage {
				body = `{"model":"auto","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello"}]}`
			}
			resp := g.post(t, "/v1/chat/completions", body)
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			events, done := readEvents(t, resp.Body)
			if !done {
				t.Fatal("stream did not end with [DONE]")
			}
			want := chunks
			if includeUsage {
				want = append(append([]string{}, chunks...), usageChunk)
			}
			if len(events) != len(want) {
				t.Fatalf("got %d events, want %d", len(events), len(want))
			}
			for i := range want {
				if events[i] != want[i] {
					t.Fatalf("event %d changed:\n got %s\nwant %s", i, events[i], want[i])
				}
			}
		})
	}
	// Usage reached the accounting in both runs. The handler accounts after
	// the client has read [DONE], so wait for it briefly.
	c := g.metrics.Tokens.WithLabelValues("auto", "a", "output")
	for deadline := time.Now().Add(2 * time.Second); counter(t, g, c) < 6 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if got := counter(t, g, c); got != 6 {
		t.Errorf("output tokens = %g, want 2x3 from the usage chunk", got)
	}
}

func TestStreamChunksArriveAsSent(t *testing.T) {
	gate := make(chan struct{})
	up := newUpstream(t, sseUpstream([]string{chunk(0, "first"), chunk(1, "second")}, gate))
	g := newTestGateway(t, oneRoute("", dep("a", up.URL)))
	resp := g.post(t, "/v1/chat/completions", streamBody)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || !strings.Contains(line, "first") {
		t.Fatalf("first chunk not delivered before the upstream sent the second: %q %v", line, err)
	}
	close(gate)
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "second") || !strings.Contains(string(rest), "[DONE]") {
		t.Errorf("rest of stream: %s", rest)
	}
}

func TestStreamFallbackBeforeFirstByte(t *testing.T) {
	failing := newUpstream(t, status(503, "overloaded"))
	empty := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: [DONE]\n\n")
	})
	good := newUpstream(t, sseUpstream([]string{chunk(0, "from c")}, nil))
	g := newTestGateway(t, oneRoute("fallback", dep("a", failing.URL), dep("b", empty.URL), dep("c", good.URL)))
	resp := g.post(t, "/v1/chat/completions", streamBody)
	events, done := readEvents(t, resp.Body)
	resp.Body.Close()
	if !done || len(events) != 1 || !strings.Contains(events[0], "from c") {
		t.Fatalf("events %v done %v", events, done)
	}
}

func TestStreamNoFallbackAfterFirstByte(t *testing.T) {
	broken := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: %s\n\n", chunk(0, "partial"))
		w.(http.Flusher).Flush()
		// Drop the connection mid-stream.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	good := newUpstream(t, sseUpstream([]string{chunk(0, "other")}, nil))
	g := newTestGateway(t, oneRoute("fallback", dep("a", broken.URL), dep("b", good.URL)))
	resp := g.post(t, "/v1/chat/completions", streamBody)
	events, done := readEvents(t, resp.Body)
	resp.Body.Close()
	if done {
		t.Error("a broken stream must not end with [DONE]")
	}
	if len(events) != 2 || !strings.Contains(events[0], "partial") || !strings.Contains(events[1], `"error"`) {
		t.Fatalf("want the partial chunk then an error event, got %v", events)
	}
	if good.calls.Load() != 0 {
		t.Error("fell back to another deployment after bytes were sent")
	}
}

func TestClientCancelReachesUpstream(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			started := make(chan struct{})
			canceled := make(chan struct{})
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				// A server only notices a closed connection once it has read
				// the request body, as real upstreams do.
				_, _ = io.Copy(io.Discard, r.Body)
				if stream {
					w.Header().Set("Content-Type", "text/event-stream")
					fmt.Fprintf(w, "data: %s\n\n", chunk(0, "x"))
					w.(http.Flusher).Flush()
				}
				close(started)
				select {
				case <-r.Context().Done():
					close(canceled)
				case <-time.After(10 * time.Second):
				}
			})
			g := newTestGateway(t, oneRoute("", dep("a", up.URL)))
			ctx, cancel := context.WithCancel(context.Background())
			body := chatBody
			if stream {
				body = streamBody
			}
			errc := make(chan error, 1)
			go func() {
				req, _ := http.NewRequestWithContext(ctx, "POST", g.srv.URL+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+testKey)
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				errc <- err
			}()
			<-started
			cancel()
			select {
			case <-canceled:
			case <-time.After(5 * time.Second):
				t.Fatal("the upstream call was not cancelled when the client went away")
			}
			<-errc
		})
	}
}

func TestRetryHonoursRetryAfterThenSucceeds(t *testing.T) {
	var n atomic.Int64
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			status(429, "slow down")(w, r)
			return
		}
		okChat("a", "after retry")(w, r)
	})
	d := dep("a", up.URL)
	two := 2
	d.MaxRetries = &two
	g := newTestGateway(t, oneRoute("", d))
	resp := g.post(t, "/v1/chat/completions", chatBody)
	b := readAll(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "after retry") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if got := counter(t, g, g.metrics.Retries.WithLabelValues("auto", "a")); got != 1 {
		t.Errorf("retries = %g, want 1", got)
	}
}

func TestRateLimitedEverywhereGives429(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		status(429, "quota")(w, r)
	})
	g := newTestGateway(t, oneRoute("", dep("a", up.URL)))
	resp := g.post(t, "/v1/chat/completions", chatBody)
	readAll(t, resp)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "30" {
		t.Errorf("status %d retry-after %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if up.calls.Load() != 1 {
		t.Errorf("a Retry-After of 30s must not be waited out on the request path; calls=%d", up.calls.Load())
	}
}

func TestCooldownSkipsFailingDeployment(t *testing.T) {
	failing := newUpstream(t, status(500, "boom"))
	good := newUpstream(t, okChat("b", "ok"))
	a := dep("a", failing.URL)
	a.Cooldown = config.Cooldown{AllowedFails: 2, CooldownTime: config.Duration(time.Minute)}
	g := newTestGateway(t, oneRoute("fallback", a, dep("b", good.URL)))
	for i := 0; i < 5; i++ {
		readAll(t, g.post(t, "/v1/chat/completions", chatBody))
	}
	if got := failing.calls.Load(); got != 2 {
		t.Errorf("failing deployment called %d times; after 2 failures it should cool down", got)
	}
	if got := counter(t, g, g.metrics.Cooldowns.WithLabelValues("a")); got != 1 {
		t.Errorf("cooldowns = %g", got)
	}
}
