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
