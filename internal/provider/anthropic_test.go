package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/openai"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with the golden file, or rewrites it under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func indentJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

func newAnthropicTest(t *testing.T, url string) *anthropicProvider {
	t.Helper()
	p, err := New(config.Deployment{
		Name: "claude", Provider: "anthropic", BaseURL: url + "/v1", Model: "claude-sonnet-4-5",
		APIKey: "sk-ant-test", Timeout: config.Duration(5 * time.Second),
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ap := p.(*anthropicProvider)
	ap.now = func() time.Time { return time.Unix(1700000000, 0) }
	return ap
}

// TestAnthropicGolden drives the provider against an upstream that checks
// the translated request and answers with a recorded Messages response or
// stream. Golden files hold both directions:
//
//	NAME.request.json          the client's OpenAI request (input)
//	NAME.upstream.json|.sse    Anthropic's answer (input)
//	NAME.messages.golden.json  the Messages request sent upstream
//	NAME.response.golden.json  the OpenAI answer (non-streaming)
//	NAME.chunks.golden.jsonl   the OpenAI chunks, exact bytes, one a line
//	NAME.usage.golden.json     what Usage() reports
func TestAnthropicGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/anthropic/*.request.json")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range inputs {
		base := strings.TrimSuffix(in, ".request.json")
		t.Run(filepath.Base(base), func(t *testing.T) {
			reqBody, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			upstream, err := os.ReadFile(base + ".upstream.sse")
			stream := err == nil
			if !stream {
				if upstream, err = os.ReadFile(base + ".upstream.json"); err != nil {
					t.Fatal(err)
				}
			}
			var sent []byte
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sent, _ = io.ReadAll(r.Body)
				if r.URL.Path != "/v1/messages" || r.Header.Get("x-api-key") != "sk-ant-test" || r.Header.Get("anthropic-version") != AnthropicVersion {
					t.Errorf("path %s headers %v", r.URL.Path, r.Header)
				}
				if stream {
					w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
				} else {
					w.Header().Set("Content-Type", "application/json")
				}
				w.Write(upstream)
			}))
			defer srv.Close()
			p := newAnthropicTest(t, srv.URL)
			req := chatRequest(t, string(reqBody))

			var usage *openai.Usage
			if stream {
				s, err := p.ChatStream(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				chunks, err := drain(s, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range chunks {
					if !json.Valid([]byte(c)) || strings.Contains(c, "\n") {
						t.Errorf("chunk is not one line of JSON: %q", c)
					}
				}
				golden(t, base+".chunks.golden.jsonl", []byte(strings.Join(chunks, "\n")+"\n"))
				usage = s.Usage()
			} else {
				resp, err := p.Chat(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				golden(t, base+".response.golden.json", indentJSON(t, resp.Body))
				var body openai.ChatResponse
				if err := json.Unmarshal(resp.Body, &body); err != nil || body.Usage == nil || *body.Usage != *resp.Usage {
					t.Errorf("Usage %+v differs from the body's %+v (%v)", resp.Usage, body.Usage, err)
				}
				usage = resp.Usage
			}
			golden(t, base+".messages.golden.json", indentJSON(t, sent))
			u, _ := json.Marshal(usage)
			golden(t, base+".usage.golden.json", append(u, '\n'))
		})
	}
}

func TestAnthropicErrors(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		ctype        string
		body         string
		stream       bool
		wantStatus   int
		wantReason   string
		bad          bool
		retryable    bool
		fallbackable bool
	}{
		{"overloaded", 529, "application/json", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, false, 529, "overloaded_error: Overloaded", false, true, true},
		{"invalid request", 400, "application/json", `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too large"}}`, true, 400, "invalid_request_error: max_tokens: too large", false, false, false},
		{"rate limited", 429, "application/json", `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`, true, 429, "rate_limit_error: slow down", false, true, true},
		{"error event mid-stream", 200, "text/event-stream",
			"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":3}}}\n\n" +
				"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
			true, 529, "overloaded_error: Overloaded", false, true, true},
		{"stream cut short", 200, "text/event-stream",
			"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":3}}}\n\n",
			true, 200, "stream ended before message_stop", true, true, true},
		{"stream of garbage", 200, "text/event-stream", "data: {\"type\":\"content_block_delta\"}\n\n", true, 200, `stream began with "content_block_delta"`, true, true, true},
		{"html answer", 200, "text/html", "<html></html>", false, 200, `content-type "text/html"`, true, true, true},
		{"not a message", 200, "application/json", `{"type":"completion"}`, false, 200, `response type "completion"`, true, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				w.Header().Set("Retry-After", "3")
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			p := newAnthropicTest(t, srv.URL)
			var err error
			if tc.stream {
				_, err = drain(p.ChatStream(context.Background(), chatRequest(t, `{"model":"x","stream":true,"messages":[{"role":"user","content":"hi"}]}`)))
			} else {
				_, err = p.Chat(context.Background(), chatRequest(t, `{"model":"x","messages":[{"role":"user","content":"hi"}]}`))
			}
			pe, ok := AsError(err)
			if !ok {
				t.Fatalf("error %v is not *Error", err)
			}
			if pe.Status != tc.wantStatus || !strings.Contains(pe.Reason, tc.wantReason) || pe.BadResponse != tc.bad {
				t.Errorf("status %d reason %q bad %v; want %d %q %v", pe.Status, pe.Reason, pe.BadResponse, tc.wantStatus, tc.wantReason, tc.bad)
			}
			if pe.Retryable() != tc.retryable || pe.Fallbackable() != tc.fallbackable {
				t.Errorf("retryable %v fallbackable %v", pe.Retryable(), pe.Fallbackable())
			}
			if tc.status >= 400 && pe.RetryAfter != 3*time.Second {
				t.Errorf("RetryAfter %s, want 3s", pe.RetryAfter)
			}
		})
	}
}

// TestAnthropicUntranslatable checks that a request Messages cannot express
// is refused as the client's error, without calling the upstream.
func TestAnthropicUntranslatable(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"unknown role", `{"messages":[{"role":"robot","content":"x"}]}`, `unknown role "robot"`},
		{"audio part", `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}`, `"input_audio"`},
		{"bad tool arguments", `{"messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{oops"}}]}]}`, "not valid JSON"},
		{"tool without id", `{"messages":[{"role":"tool","content":"x"}]}`, "tool_call_id"},
		{"only system", `{"messages":[{"role":"system","content":"x"}]}`, "no user or assistant message"},
		{"bad data url", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,raw"}}]}]}`, "base64"},
		{"bad tool choice", `{"messages":[{"role":"user","content":"x"}],"tool_choice":"sometimes"}`, "tool_choice"},
		{"non-function tool", `{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search"}]}`, `"web_search"`},
	}
	called := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }))
	defer srv.Close()
	p := newAnthropicTest(t, srv.URL)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Chat(context.Background(), chatRequest(t, tc.body))
			pe, ok := AsError(err)
			if !ok || pe.Status != 400 || !strings.Contains(pe.Reason, tc.want) || pe.Retryable() || pe.Fallbackable() {
				t.Errorf("error %v, want a 400 naming %q", err, tc.want)
			}
		})
	}
	if called {
		t.Error("the upstream was called for an untranslatable request")
	}
}

func TestAnthropicCancelReachesUpstream(t *testing.T) {
	seen := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{}}}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(seen)
	}))
	defer srv.Close()
	p := newAnthropicTest(t, srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := p.ChatStream(ctx, chatRequest(t, `{"stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(30 * time.Millisecond); cancel() }()
	_, err = s.Next()
	select {
	case <-seen:
	case <-time.After(5 * time.Second):
		t.Fatal("upstream did not see the cancellation")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}
