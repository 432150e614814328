package provider

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestUpstreamRedirectIsNotFollowed: a 3xx from the upstream is its answer,
// reported as an upstream error; the request (and its API key) never goes to
// the redirect's target.
func TestUpstreamRedirectIsNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer other.Close()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		http.Redirect(w, r, other.URL+"/v1/chat/completions", http.StatusTemporaryRedirect)
	}))
	defer up.Close()
	p := newOpenAITest(t, up.URL, 5*time.Second)
	_, err := p.Chat(context.Background(), chatRequest(t, chatBody))
	pe, ok := AsError(err)
	if !ok || pe.Status != http.StatusTemporaryRedirect {
		t.Fatalf("err = %v, want an upstream error with status 307", err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests", n)
	}
}

// TestStreamNextAfterCloseFails: Close returns the stream's read buffer to a
// pool, so a Next after it must fail cleanly rather than read a buffer
// another stream now owns.
func TestStreamNextAfterCloseFails(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]}\n\ndata: [DONE]\n\n")
	}))
	defer up.Close()
	p := newOpenAITest(t, up.URL, 5*time.Second)
	st, err := p.ChatStream(context.Background(), chatRequest(t, `{"model":"x","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Next(); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	_ = st.Close()
	if _, err := st.Next(); err == nil {
		t.Fatal("Next after Close returned a chunk")
	}
}
