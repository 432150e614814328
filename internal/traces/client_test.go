package traces

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/testsvc"
)

// Jaeger answering an error or nonsense must stop the export with a message
// naming the URL and what was wrong; it must never pass for "no traces".
func TestFindBadAnswers(t *testing.T) {
	cases := []struct {
		name    string
		api     API
		status  int
		body    string
		wantErr []string // substrings; nil means success with no spans
	}{
		{name: "v3 500", api: APIv3, status: 500, body: `{"error":{"httpCode":500,"message":"boom"}}`, wantErr: []string{"500 Internal Server Error", "boom", "/api/v3/traces"}},
		{name: "legacy 500", api: APILegacy, status: 500, body: `oops`, wantErr: []string{"500", "/api/traces"}},
		{name: "v3 garbage", api: APIv3, status: 200, body: `<html>proxy error</html>`, wantErr: []string{"not OTLP JSON"}},
		{name: "v3 no result", api: APIv3, status: 200, body: `{"data":[]}`, wantErr: []string{`no "result"`}},
		{name: "legacy garbage", api: APILegacy, status: 200, body: `{"data":`, wantErr: []string{"not the legacy traces JSON"}},
		{name: "legacy errors", api: APILegacy, status: 200, body: `{"data":[],"errors":[{"code":400,"msg":"bad service"}]}`, wantErr: []string{"bad service"}},
		{name: "v3 wrong path 404", api: APIv3, status: 404, body: `404 page not found`, wantErr: []string{"404"}},
		{name: "limit above max_traces", api: APIv3, status: 500, body: `{"error":{"httpCode":500,"message":"search depth must be greater than 0 and less than max traces"}}`,
			wantErr: []string{"lower --limit", "query limit 5000"}},
		{name: "v3 no traces is empty", api: APIv3, status: 404, body: `{"error":{"httpCode":404,"message":"No traces found"}}`},
		{name: "legacy empty", api: APILegacy, status: 200, body: `{"data":[],"total":0}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				_, _ = w.Write([]byte(c.body))
			}))
			defer srv.Close()
			cl := &Client{BaseURL: srv.URL, API: c.api}
			spans, n, err := cl.Find(context.Background(), "switchyard", t0, t0.Add(time.Hour))
			if c.wantErr == nil {
				if err != nil || n != 0 || len(spans) != 0 {
					t.Fatalf("want empty success, got %d spans %d traces err %v", len(spans), n, err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrJaeger) {
				t.Errorf("error %v is not ErrJaeger", err)
			}
			for _, s := range append(c.wantErr, srv.URL) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			// The walk stops on the first error: no partial result.
			rows, _, werr := ExportJaeger(context.Background(), WalkOptions{Client: cl, Service: "switchyard", Since: t0, Until: t0.Add(time.Hour)}, JoinOptions{})
			if werr == nil || rows != nil {
				t.Errorf("export: rows %v err %v, want an error and no rows", rows, werr)
			}
		})
	}
}

func TestFindUnreachable(t *testing.T) {
	url := "http://" + testsvc.Addr(testsvc.FreePort(t))
	cl := &Client{BaseURL: url, HTTP: &http.Client{Timeout: 2 * time.Second}}
	_, _, err := ExportJaeger(context.Background(), WalkOptions{Client: cl, Service: "switchyard", Since: t0, Until: t0.Add(time.Hour)}, JoinOptions{})
	if err == nil || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("err %v, want one saying %s is unreachable", err, url)
	}
}

func TestWalkRejectsBadRange(t *testing.T) {
	cl := &Client{BaseURL: "http://127.0.0.1:1"}
	if _, _, err := Walk(context.Background(), WalkOptions{Client: cl, Since: t0, Until: t0}, func(Span) {}); err == nil {
		t.Error("empty range: no error")
	}
	if _, _, err := (&Client{BaseURL: "http://x", API: "v9"}).Find(context.Background(), "s", t0, t0); err == nil || !strings.Contains(err.Error(), "v9") {
		t.Errorf("unknown api: %v", err)
	}
}

// A burst denser than the limit cannot be split forever: the walk stops and
// says to raise the limit. Progress reaches the whole range on success.
func TestWalkLimitAndProgress(t *testing.T) {
	full := `{"result":{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"switchyard"}}]},
	  "scopeSpans":[{"spans":[
	    {"traceId":"0000000000000000000000000000000a","spanId":"000000000000000a","name":"x","startTimeUnixNano":"1"},
	    {"traceId":"0000000000000000000000000000000b","spanId":"000000000000000b","name":"x","startTimeUnixNano":"1"}]}]}]}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(full))
	}))
	defer srv.Close()
	cases := []struct {
		name    string
		limit   int
		wantErr string
	}{
		{name: "always full", limit: 2, wantErr: "raise the query limit"},
		{name: "under the limit", limit: 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var last, total time.Duration
			calls := 0
			q, splits, err := Walk(context.Background(), WalkOptions{
				Client: &Client{BaseURL: srv.URL, Limit: c.limit}, Service: "switchyard",
				Since: t0, Until: t0.Add(time.Hour), Parallel: 2,
				Progress: func(d, tot time.Duration) { last, total = d, tot },
			}, func(Span) { calls++ })
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || splits == 0 {
					t.Fatalf("err %v after %d queries, %d splits", err, q, splits)
				}
				return
			}
			if err != nil || last != total || total != time.Hour || calls != 2*q {
				t.Fatalf("err %v, progress %s of %s, %d spans from %d queries", err, last, total, calls, q)
			}
		})
	}
}
