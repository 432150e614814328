package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/tidwall/gjson"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/openai"
)

func TestSSEReader(t *testing.T) {
	big := `{"choices":[{"delta":{"content":"` + strings.Repeat("x", 300<<10) + `"}}]}`
	tests := []struct {
		name  string
		in    string
		want  []string
		event []string
	}{
		{"lf", "data: {\"a\":1}\n\ndata: {\"b\":2}\n\n", []string{`{"a":1}`, `{"b":2}`}, nil},
		{"crlf", "data: {\"a\":1}\r\n\r\ndata: [DONE]\r\n\r\n", []string{`{"a":1}`, `[DONE]`}, nil},
		{"comments and keep-alives", ": keep-alive\n\n: ping\ndata: x\n\n", []string{"x"}, nil},
		{"multi-line data", "data: {\"a\":\ndata: 1}\n\n", []string{"{\"a\":\n1}"}, nil},
		{"no space after colon", "data:{\"a\":1}\n\n", []string{`{"a":1}`}, nil},
		{"only the first space is dropped", "data:  x\n\n", []string{" x"}, nil},
		{"id retry and unknown fields skipped", "id: 7\nretry: 100\nfoo: bar\ndata: x\n\n", []string{"x"}, nil},
		{"event names", "event: message_start\ndata: a\n\nevent: ping\ndata: b\n\ndata: c\n\n", []string{"a", "b", "c"}, []string{"message_start", "ping", ""}},
		{"event without data is skipped", "event: x\n\ndata: y\n\n", []string{"y"}, nil},
		{"large event", "data: " + big + "\n\n", []string{big}, nil},
		{"last event without blank line", "data: a\n\ndata: b\n", []string{"a", "b"}, nil},
		{"last line without newline", "data: a\n\ndata: b", []string{"a", "b"}, nil},
		{"empty", "", nil, nil},
	}
	for _, tc := range tests {
		for _, oneByte := range []bool{false, true} {
			name := tc.name
			if oneByte {
				name += "/one byte reads"
			}
			t.Run(name, func(t *testing.T) {
				var r io.Reader = strings.NewReader(tc.in)
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				s := newSSEReader(r)
				var got, events []string
				for {
					b, err := s.next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, string(b))
					events = append(events, string(s.event))
				}
				if strings.Join(got, "\x00") != strings.Join(tc.want, "\x00") || len(got) != len(tc.want) {
					t.Errorf("got %d events %.200q, want %d %.200q", len(got), got, len(tc.want), tc.want)
				}
				if tc.event != nil && strings.Join(events, ",") != strings.Join(tc.event, ",") {
					t.Errorf("event names %q, want %q", events, tc.event)
				}
			})
		}
	}
}

func TestSSEReaderBrokenBody(t *testing.T) {
	s := newSSEReader(iotest.TimeoutReader(strings.NewReader("data: a\n\ndata: b\n")))
	if b, err := s.next(); err != nil || string(b) != "a" {
		t.Fatalf("first event %q %v", b, err)
	}
	if _, err := s.next(); !errors.Is(err, iotest.ErrTimeout) {
		t.Fatalf("a read error must surface, got %v", err)
	}
}

// TestOpenAIStreamPassThrough checks that chunks reach the caller byte for
// byte and in order, whatever the upstream's framing: CRLF, comments, split
// writes, a large event.
func TestOpenAIStreamPassThrough(t *testing.T) {
	big := `{"id":"c","choices":[{"index":0,"delta":{"content":"` + strings.Repeat("é", 100<<10) + `"},"finish_reason":null}]}`
	chunks := []string{
		`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
		`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}`,
		`{"id":"c", "object" : "chat.completion.chunk","choices":[{"index":0,"delta":{"content":"lo\n\u00e9"},"finish_reason":null}]}`,
		big,
		`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
	}
	// The wire form of each event, with the framings upstreams use.
	wire := []string{
		": connected\n\ndata: " + chunks[0] + "\n\n",
		"data: " + chunks[1] + "\r\n\r\n",
		": keep-alive\r\n\r\ndata:" + chunks[2] + "\n\n",
		"data: " + big + "\n\n",
		"data: " + chunks[4] + "\n\n",
		`data: {"id":"c","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":3,"total_tokens":7}}` + "\n\n",
		"data: [DONE]\n\n",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		for _, ev := range wire {
			// Split every event across two writes to cross read boundaries.
			half := len(ev) / 2
			io.WriteString(w, ev[:half])
			w.(http.Flusher).Flush()
			io.WriteString(w, ev[half:])
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	p := newOpenAITest(t, srv.URL, 5*time.Second)
	s, err := p.ChatStream(context.Background(), chatRequest(t, `{"model":"m","stream":true,"messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := drain(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(chunks) {
		t.Fatalf("got %d chunks, want %d", len(got), len(chunks))
	}
	for i := range chunks {
		if got[i] != chunks[i] {
			t.Errorf("chunk %d changed:\n got %.120q\nwant %.120q", i, got[i], chunks[i])
		}
	}
	if u := s.Usage(); u == nil || *u != (openai.Usage{PromptTokens: 4, CompletionTokens: 3, TotalTokens: 7}) {
		t.Errorf("usage %+v", u)
	}
}

func TestOpenAIStreamIncludeUsage(t *testing.T) {
	const usageChunk = `{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`
	const content = `{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}],"usage":null}`
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"client asked", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}`, []string{content, usageChunk}},
		{"client did not ask", `{"model":"m","stream":true,"messages":[]}`, []string{content}},
		{"client said false", `{"model":"m","stream":true,"stream_options":{"include_usage":false},"messages":[]}`, []string{content}},
		{"stream flag missing", `{"model":"m","messages":[]}`, []string{content}},
	}
	for _, tc := range tests {
		for _, parsed := range []bool{true, false} {
			name := tc.name
			if !parsed {
				name += "/raw body only"
			}
			t.Run(name, func(t *testing.T) {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					if !gjson.GetBytes(b, "stream_options.include_usage").Bool() || !gjson.GetBytes(b, "stream").Bool() {
						t.Errorf("upstream was not asked for a stream with usage: %s", b)
					}
					w.Header().Set("Content-Type", "text/event-stream")
					io.WriteString(w, "data: "+content+"\n\ndata: "+usageChunk+"\n\ndata: [DONE]\n\n")
				}))
				defer srv.Close()
				p := newOpenAITest(t, srv.URL, 5*time.Second)
				req := chatRequest(t, tc.body)
				if !parsed {
					req.Chat = nil
				}
				s, err := p.ChatStream(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				got, err := drain(s, nil)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
					t.Errorf("chunks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
				}
				if u := s.Usage(); u == nil || u.TotalTokens != 7 {
					t.Errorf("Usage() = %+v, want the upstream's", u)
				}
			})
		}
	}
}

func TestOpenAIStreamBadEvents(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		reason string
	}{
		{"not json", "data: <html>\n\n", "not valid JSON"},
		{"no events", "hello\nworld\n", "without any event"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			p := newOpenAITest(t, srv.URL, 5*time.Second)
			_, err := drain(p.ChatStream(context.Background(), chatRequest(t, chatBody)))
			pe, ok := AsError(err)
			if !ok || !pe.BadResponse || pe.Status != 200 || !strings.Contains(pe.Reason, tc.reason) || !pe.Retryable() {
				t.Fatalf("error %v, want a retryable bad response with %q", err, tc.reason)
			}
		})
	}
}

// TestOpenAIStreamReusesConnections checks that finished streams and calls
// hand their connection back to the pool, which the gateway's latency target
// depends on.
func TestOpenAIStreamReusesConnections(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		if strings.Contains(r.Header.Get("Accept"), "event-stream") {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, `data: {"choices":[]}`+"\n\ndata: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, chatAnswer)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	p, err := New(config.Deployment{Name: "up", Provider: "openai", BaseURL: srv.URL, Model: "m"},
		Options{HTTPClient: &http.Client{Transport: NewTransport(0)}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := drain(p.ChatStream(context.Background(), chatRequest(t, chatBody))); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Chat(context.Background(), chatRequest(t, chatBody)); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 10 sequential calls, want 1", n)
	}
}

// TestOpenAIStreamConnectionReset checks that an upstream dying mid-stream
// surfaces as a Status 0 *Error with the cause, not as a clean end.
func TestOpenAIStreamConnectionReset(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		// A chunked response cut off after one event, without its final
		// zero-length chunk.
		ev := "data: {\"choices\":[]}\n\n"
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", len(ev), ev)
		buf.Flush()
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0) // close with RST
		}
		conn.Close()
	}))
	defer srv.Close()
	p := newOpenAITest(t, srv.URL, 5*time.Second)
	chunks, err := drain(p.ChatStream(context.Background(), chatRequest(t, chatBody)))
	if len(chunks) != 1 {
		t.Errorf("got %d chunks before the reset, want 1", len(chunks))
	}
	pe, ok := AsError(err)
	if !ok || pe.Status != 0 || pe.Err == nil || !pe.Retryable() {
		t.Fatalf("error %v, want a Status 0 *Error with its cause", err)
	}
}
