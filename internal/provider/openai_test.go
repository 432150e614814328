package provider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/openai"
)

const chatBody = `{"model":"route/fast","messages":[{"role":"user","content":"hi"}],"temperature":0.2,"x_unknown":{"keep":[1,2,3]}}`

const chatAnswer = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-up-2024","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11},"system_fingerprint":"fp_x"}`

func newOpenAITest(t testing.TB, url string, timeout time.Duration) Provider {
	t.Helper()
	p, err := New(config.Deployment{
		Name: "up", Provider: "openai", BaseURL: url + "/v1", Model: "gpt-up",
		APIKey: "sk-test", Headers: map[string]string{"OpenAI-Organization": "org-1"},
		Timeout: config.Duration(timeout),
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func chatRequest(t testing.TB, body string) *Request {
	t.Helper()
	var cr openai.ChatRequest
	if err := jsonUnmarshal([]byte(body), &cr); err != nil {
		t.Fatal(err)
	}
	return &Request{Body: []byte(body), Chat: &cr}
}

// withoutModel removes "model" so two bodies can be compared byte for byte
// except for the one field the provider may change.
func withoutModel(t testing.TB, b []byte) []byte {
	t.Helper()
	out, err := sjson.DeleteBytes(b, "model")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenAIChatPassesBodiesThrough(t *testing.T) {
	var got []byte
	var hdr http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			t.Errorf("path %q", r.URL.Path)
		}
		got, _ = io.ReadAll(r.Body)
		hdr = r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, chatAnswer)
	}))
	defer srv.Close()
	p := newOpenAITest(t, srv.URL, 5*time.Second)
	resp, err := p.Chat(context.Background(), chatRequest(t, chatBody))
	if err != nil {
		t.Fatal(err)
	}
	if m := gjson.GetBytes(got, "model").String(); m != "gpt-up" {
		t.Errorf("upstream model %q, want gpt-up", m)
	}
	if !bytes.Equal(withoutModel(t, got), withoutModel(t, []byte(chatBody))) {
		t.Errorf("body changed beyond model:\n got %s\nwant %s", got, chatBody)
	}
	if hdr.Get("Authorization") != "Bearer sk-test" || hdr.Get("OpenAI-Organization") != "org-1" {
		t.Errorf("headers %v", hdr)
	}
	if string(resp.Body) != chatAnswer {
		t.Errorf("response body changed: %s", resp.Body)
	}
	if resp.Usage == nil || *resp.Usage != (openai.Usage{PromptTokens: 9, CompletionTokens: 2, TotalTokens: 11}) {
		t.Errorf("usage %+v", resp.Usage)
	}
	if resp.Model != "gpt-up-2024" || resp.Status != 200 {
		t.Errorf("model %q status %d", resp.Model, resp.Status)
	}
}

func TestOpenAIEmbeddings(t *testing.T) {
	const answer = `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"emb","usage":{"prompt_tokens":3,"total_tokens":3}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/embeddings" || gjson.GetBytes(b, "model").String() != "gpt-up" {
			t.Errorf("path %q body %s", r.URL.Path, b)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer)
	}))
	defer srv.Close()
	p := newOpenAITest(t, srv.URL, time.Second).(Embedder)
	resp, err := p.Embeddings(context.Background(), &Request{Body: []byte(`{"model":"e","input":"abc"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != answer || resp.Usage.PromptTokens != 3 || resp.Usage.TotalTokens != 3 {
		t.Errorf("resp %s usage %+v", resp.Body, resp.Usage)
	}
}

func TestOpenAIUpstreamErrors(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		ctype        string
		body         string
		header       map[string]string
		wantReason   string
		wantRetry    time.Duration
		retryable    bool
		fallbackable bool
	}{
		{"openai 400", 400, "application/json", `{"error":{"message":"messages is required","type":"invalid_request_error"}}`, nil, "messages is required", 0, false, false},
		{"429 seconds", 429, "application/json", `{"error":{"message":"Rate limit reached"}}`, map[string]string{"Retry-After": "7"}, "Rate limit reached", 7 * time.Second, true, true},
		{"429 ms wins", 429, "application/json", `{"error":{"message":"slow down"}}`, map[string]string{"Retry-After": "7", "retry-after-ms": "250"}, "slow down", 250 * time.Millisecond, true, true},
		{"ollama string error", 404, "application/json", `{"error":"model 'x' not found"}`, nil, "model 'x' not found", 0, false, true},
		{"html 502", 502, "text/html", `<html>bad gateway</html>`, nil, "Bad Gateway", 0, true, true},
		{"401", 401, "application/json", `{"error":{"message":"Incorrect API key"}}`, nil, "Incorrect API key", 0, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			p := newOpenAITest(t, srv.URL, time.Second)
			for _, stream := range []bool{false, true} {
				var err error
				if stream {
					_, err = p.ChatStream(context.Background(), chatRequest(t, chatBody))
				} else {
					_, err = p.Chat(context.Background(), chatRequest(t, chatBody))
				}
				pe, ok := AsError(err)
				if !ok {
					t.Fatalf("stream=%v: error %v is not *Error", stream, err)
				}
				if pe.Status != tc.status || pe.Reason != tc.wantReason || pe.RetryAfter != tc.wantRetry || string(pe.Body) != tc.body {
					t.Errorf("stream=%v: got status %d reason %q retry %s body %q", stream, pe.Status, pe.Reason, pe.RetryAfter, pe.Body)
				}
				if pe.Retryable() != tc.retryable || pe.Fallbackable() != tc.fallbackable {
					t.Errorf("stream=%v: retryable %v fallbackable %v", stream, pe.Retryable(), pe.Fallbackable())
				}
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		h    map[string]string
		want time.Duration
	}{
		{"none", nil, 0},
		{"seconds", map[string]string{"Retry-After": "30"}, 30 * time.Second},
		{"fractional seconds", map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond},
		{"http date", map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second},
		{"date in the past", map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0},
		{"milliseconds", map[string]string{"retry-after-ms": "1200"}, 1200 * time.Millisecond},
		{"ms wins over seconds", map[string]string{"retry-after-ms": "20", "Retry-After": "1"}, 20 * time.Millisecond},
		{"bad ms falls back", map[string]string{"retry-after-ms": "soon", "Retry-After": "2"}, 2 * time.Second},
		{"garbage", map[string]string{"Retry-After": "tomorrow"}, 0},
		{"negative", map[string]string{"Retry-After": "-3"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.h {
				h.Set(k, v)
			}
			if got := RetryAfter(h, now); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestOpenAIGarbageSuccess(t *testing.T) {
	tests := []struct {
		name   string
		stream bool
		ctype  string
		body   string
		reason string
	}{
		{"html page", false, "text/html", "<html>login</html>", `content-type "text/html"`},
		{"invalid json", false, "application/json", `{"choices":[`, "not valid JSON"},
		{"json without choices", false, "application/json", `{"hello":1}`, `no "choices"`},
		{"error in a 200", false, "application/json", `{"error":{"message":"overloaded"}}`, "overloaded"},
		{"stream html", true, "text/html", "<html>login</html>", `content-type "text/html"`},
		{"stream json instead of sse", true, "application/json", chatAnswer, "expected text/event-stream"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			p := newOpenAITest(t, srv.URL, time.Second)
			var err error
			if tc.stream {
				_, err = p.ChatStream(context.Background(), chatRequest(t, chatBody))
			} else {
				_, err = p.Chat(context.Background(), chatRequest(t, chatBody))
			}
			pe, ok := AsError(err)
			if !ok {
				t.Fatalf("error %v is not *Error", err)
			}
			if pe.Status != 200 || !pe.BadResponse || !strings.Contains(pe.Reason, tc.reason) {
				t.Errorf("status %d bad %v reason %q, want reason with %q", pe.Status, pe.BadResponse, pe.Reason, tc.reason)
			}
			if !pe.Retryable() || !pe.Fallbackable() {
				t.Errorf("a garbage answer must be retryable and fallbackable")
			}
		})
	}
}

func TestOpenAIConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := newOpenAITest(t, "http://"+addr, time.Second)
	for _, stream := range []bool{false, true} {
		var err error
		if stream {
			_, err = p.ChatStream(context.Background(), chatRequest(t, chatBody))
		} else {
			_, err = p.Chat(context.Background(), chatRequest(t, chatBody))
		}
		pe, ok := AsError(err)
		if !ok {
			t.Fatalf("stream=%v: %v is not *Error", stream, err)
		}
		if pe.Status != 0 || pe.Err == nil || !pe.Retryable() || !pe.Fallbackable() {
			t.Errorf("stream=%v: status %d err %v retryable %v", stream, pe.Status, pe.Err, pe.Retryable())
		}
		if !errors.Is(err, errConnRefused) {
			t.Logf("stream=%v: %v (not ECONNREFUSED on this OS)", stream, err)
		}
	}
}

// TestOpenAICancelReachesUpstream checks that a client going away aborts the
// upstream request: the upstream handler sees its request context end.
func TestOpenAICancelReachesUpstream(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			seen := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// net/http notices a closed connection only once the
				// request body has been read, as any real upstream does.
				_, _ = io.ReadAll(r.Body)
				if stream {
					w.Header().Set("Content-Type", "text/event-stream")
					io.WriteString(w, "data: {\"choices\":[]}\n\n")
					w.(http.Flusher).Flush()
				}
				select {
				case <-r.Context().Done():
					close(seen)
				case <-time.After(10 * time.Second):
				}
			}))
			defer srv.Close()
			p := newOpenAITest(t, srv.URL, time.Minute)
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				if !stream {
					_, err := p.Chat(ctx, chatRequest(t, chatBody))
					errc <- err
					return
				}
				s, err := p.ChatStream(ctx, chatRequest(t, chatBody))
				if err != nil {
					errc <- err
					return
				}
				defer s.Close()
				if _, err := s.Next(); err != nil {
					errc <- fmt.Errorf("first chunk: %w", err)
					return
				}
				_, err = s.Next()
				errc <- err
			}()
			time.Sleep(50 * time.Millisecond)
			cancel()
			select {
			case <-seen:
			case <-time.After(5 * time.Second):
				t.Fatal("upstream did not see the cancellation")
			}
			err := <-errc
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v, want context.Canceled", err)
			}
			if _, ok := AsError(err); ok {
				t.Errorf("a client cancellation must not be a retryable *Error: %v", err)
			}
		})
	}
}

func TestOpenAITimeouts(t *testing.T) {
	const timeout = 100 * time.Millisecond
	tests := []struct {
		name    string
		stream  bool
		handler func(w http.ResponseWriter, r *http.Request)
		reason  string // "" means success
	}{
		{"slow whole answer", false, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			sleepCtx(r.Context(), 2*time.Second)
			io.WriteString(w, chatAnswer)
		}, "timeout after 100ms"},
		{"slow headers", true, func(w http.ResponseWriter, r *http.Request) {
			sleepCtx(r.Context(), 2*time.Second)
		}, "timeout after 100ms"},
		{"stalled stream", true, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: {\"choices\":[]}\n\n")
			w.(http.Flusher).Flush()
			sleepCtx(r.Context(), 2*time.Second)
		}, "stream idle for 100ms"},
		{"stream stalls after a healthy while", true, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := 0; i < 5; i++ { // 5 x 40ms, past the timeout, then a stall
				fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%d\"}}]}\n\n", i)
				w.(http.Flusher).Flush()
				sleepCtx(r.Context(), 40*time.Millisecond)
			}
			sleepCtx(r.Context(), 2*time.Second)
		}, "stream idle for 100ms"},
		{"long healthy stream", true, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := 0; i < 8; i++ { // 8 x 40ms: longer than the timeout in total
				fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%d\"}}]}\n\n", i)
				w.(http.Flusher).Flush()
				sleepCtx(r.Context(), 40*time.Millisecond)
			}
			io.WriteString(w, "data: [DONE]\n\n")
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(tc.handler))
			defer srv.Close()
			p := newOpenAITest(t, srv.URL, timeout)
			var err error
			if tc.stream {
				_, err = drain(p.ChatStream(context.Background(), chatRequest(t, chatBody)))
			} else {
				_, err = p.Chat(context.Background(), chatRequest(t, chatBody))
			}
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("healthy stream failed: %v", err)
				}
				return
			}
			pe, ok := AsError(err)
			if !ok {
				t.Fatalf("error %v is not *Error", err)
			}
			if pe.Status != 0 || pe.Reason != tc.reason || !pe.Retryable() {
				t.Errorf("status %d reason %q, want %q", pe.Status, pe.Reason, tc.reason)
			}
		})
	}
}

func TestNewOpenAIValidates(t *testing.T) {
	tests := []struct {
		name string
		d    config.Deployment
		want string
	}{
		{"bad scheme", config.Deployment{Name: "x", Provider: "openai", BaseURL: "ftp://h/v1", Model: "m"}, "scheme"},
		{"no host", config.Deployment{Name: "x", Provider: "openai", BaseURL: "http:///v1", Model: "m"}, "no host"},
		{"no model", config.Deployment{Name: "x", Provider: "openai"}, "model"},
		{"unknown kind", config.Deployment{Name: "x", Provider: "nope"}, "unknown provider kind"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.d, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"x"`) {
				t.Errorf("error %v, want one naming the deployment and %q", err, tc.want)
			}
		})
	}
	p, err := New(config.Deployment{Name: "x", Provider: "openai", Model: "m"}, Options{})
	if err != nil || p.(*openAIProvider).chatURL != DefaultOpenAIBaseURL+"/chat/completions" {
		t.Errorf("default base URL: %v %v", p, err)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// drain reads a stream to its end and returns its chunks.
func drain(s Stream, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var out []string
	for {
		b, err := s.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, string(b))
	}
}
