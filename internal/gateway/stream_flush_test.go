package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestStreamEveryChunkArrivesBeforeTheNextIsSent: the upstream sends each
// chunk only once the client has received the previous one, so a gateway
// that held back any event (to coalesce writes) would hang here.
func TestStreamEveryChunkArrivesBeforeTheNextIsSent(t *testing.T) {
	const n = 5
	gates := make([]chan struct{}, n)
	for i := range gates {
		gates[i] = make(chan struct{})
	}
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		for i := range n {
			if i > 0 {
				select {
				case <-gates[i]:
				case <-r.Context().Done():
					return
				}
			}
			fmt.Fprintf(w, "data: %s\n\n", chunk(i, fmt.Sprintf("part%d", i)))
			f.Flush()
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	})
	g := newTestGateway(t, oneRoute("", dep("a", up.URL)))
	resp := g.post(t, "/v1/chat/completions", streamBody)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := range n {
		line, err := br.ReadString('\n')
		if err != nil || !strings.Contains(line, fmt.Sprintf("part%d", i)) {
			t.Fatalf("chunk %d not delivered before the upstream sent the next: %q %v", i, line, err)
		}
		if _, err := br.ReadString('\n'); err != nil { // the blank line after the event
			t.Fatal(err)
		}
		if i+1 < n {
			close(gates[i+1])
		}
	}
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "[DONE]") {
		t.Errorf("rest of stream: %q", rest)
	}
}

// flushCounter is a ResponseWriter that counts flushes.
type flushCounter struct {
	*httptest.ResponseRecorder
	flushes atomic.Int32
}

func (f *flushCounter) Flush() { f.flushes.Add(1); f.ResponseRecorder.Flush() }

// TestStreamCoalescesEventsThatArriveTogether: events the upstream sent in
// one write leave in a few flushes, not one each, and in order.
func TestStreamCoalescesEventsThatArriveTogether(t *testing.T) {
	const n = 10
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "data: %s\n\n", chunk(i, fmt.Sprintf("part%d", i)))
		}
		b.WriteString("data: [DONE]\n\n")
		_, _ = io.WriteString(w, b.String())
	})
	g := newTestGateway(t, oneRoute("", dep("a", up.URL)))
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(streamBody))
	req.Header.Set("Authorization", "Bearer "+testKey)
	fc := &flushCounter{ResponseRecorder: httptest.NewRecorder()}
	g.Handler().ServeHTTP(fc, req)
	body := fc.Body.String()
	last := -1
	for i := range n {
		at := strings.Index(body, fmt.Sprintf("part%d", i))
		if at < 0 || at < last {
			t.Fatalf("part%d missing or out of order in %s", i, body)
		}
		last = at
	}
	if !strings.HasSuffix(body, "data: [DONE]\n\n") {
		t.Errorf("stream does not end with [DONE]: %q", body[max(0, len(body)-40):])
	}
	if f := fc.flushes.Load(); f > 3 {
		t.Errorf("%d flushes for %d events that arrived in one write, want at most 3", f, n)
	}
}
