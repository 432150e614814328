package provider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/config"
)

// benchStream is a 20-token answer as OpenAI streams it, with the usage chunk
// the provider asks for.
var benchStream = func() []byte {
	var b bytes.Buffer
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&b, "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-up\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" tok%d\"},\"finish_reason\":null}],\"usage\":null}\n\n", i)
	}
	b.WriteString("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-up\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":20,\"total_tokens\":29}}\n\ndata: [DONE]\n\n")
	return b.Bytes()
}()

// cannedTransport answers every request from memory, so a benchmark through
// it counts only the provider's own work and allocations, not a server's.
type cannedTransport struct {
	ctype string
	body  []byte
}

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {c.ctype}, "Content-Length": {strconv.Itoa(len(c.body))}},
		ContentLength: int64(len(c.body)),
		Body:          io.NopCloser(bytes.NewReader(c.body)),
		Request:       r,
	}, nil
}

func benchProvider(b *testing.B, ctype string, body []byte, loopback bool) Provider {
	opts := Options{HTTPClient: &http.Client{Transport: cannedTransport{ctype, body}}}
	url := "http://upstream.invalid"
	if loopback {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", ctype)
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		}))
		b.Cleanup(srv.Close)
		url = srv.URL
		opts = Options{HTTPClient: &http.Client{Transport: NewTransport(0)}}
	}
	p, err := New(config.Deployment{Name: "up", Provider: "openai", BaseURL: url, Model: "gpt-up", APIKey: "k",
		Timeout: config.Duration(config.DefaultTimeout)}, opts)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkOpenAIChat is the non-streaming hot path: splice the model into
// the body, send, read and check the answer, parse usage. "inmem" counts the
// provider alone; "loopback" adds net/http and an httptest upstream (whose
// allocations are counted too, as they share the process).
func BenchmarkOpenAIChat(b *testing.B) {
	req := chatRequest(b, chatBody)
	for _, loopback := range []bool{false, true} {
		b.Run(map[bool]string{false: "inmem", true: "loopback"}[loopback], func(b *testing.B) {
			p := benchProvider(b, "application/json", []byte(chatAnswer), loopback)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				resp, err := p.Chat(ctx, req)
				if err != nil || resp.Usage == nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenAIChatStream is the streaming hot path for a 20-chunk answer:
// one op is a whole stream, so allocs/op covers 22 events.
func BenchmarkOpenAIChatStream(b *testing.B) {
	req := chatRequest(b, `{"model":"route/fast","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	for _, loopback := range []bool{false, true} {
		b.Run(map[bool]string{false: "inmem", true: "loopback"}[loopback], func(b *testing.B) {
			p := benchProvider(b, "text/event-stream", benchStream, loopback)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				s, err := p.ChatStream(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for {
					_, err := s.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				s.Close()
				if n != 20 || s.Usage() == nil {
					b.Fatalf("%d chunks, usage %v", n, s.Usage())
				}
			}
		})
	}
}

// BenchmarkSSEReader is the SSE framing alone, per event.
func BenchmarkSSEReader(b *testing.B) {
	events := strings.Count(string(benchStream), "\n\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(benchStream)))
	r := bytes.NewReader(benchStream)
	for b.Loop() {
		r.Reset(benchStream)
		s := newSSEReader(r)
		for i := 0; i < events; i++ {
			if _, err := s.next(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
