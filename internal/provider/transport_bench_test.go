package provider

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkUpstreamBody posts prompts of several sizes to a loopback
// HTTP/1.1 upstream through NewTransport ("gateway") and through the same
// transport with net/http's default 4 KiB write buffer ("default"), for the
// bytes and allocations a call costs (the upstream's share included).
//
//	go test ./internal/provider -run '^$' -bench UpstreamBody -benchtime 3000x -count 3
func BenchmarkUpstreamBody(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	for _, size := range []int{2 << 10, 16 << 10, 60 << 10} {
		for _, tc := range []struct {
			name string
			wbuf int
		}{{"default", 0}, {"gateway", writeBufferSize}} {
			b.Run(fmt.Sprintf("body=%dKiB/%s", size>>10, tc.name), func(b *testing.B) {
				t := NewTransport(0)
				t.WriteBufferSize = tc.wbuf
				defer t.CloseIdleConnections()
				body := bytes.Repeat([]byte("x"), size)
				b.ReportAllocs()
				for b.Loop() {
					req, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
					if err != nil {
						b.Fatal(err)
					}
					resp, err := t.RoundTrip(req)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
			})
		}
	}
}
