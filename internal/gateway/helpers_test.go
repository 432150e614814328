package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard-ai/switchyard/internal/config"
)

const (
	testKey   = "sk-test-client"
	testAdmin = "sk-test-admin"
)

// upstream is a fake OpenAI-compatible server with a handler per test.
type upstream struct {
	*httptest.Server
	calls atomic.Int64
}

func newUpstream(t *testing.T, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		h(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

// okChat answers a chat completion naming model, with usage.
func okChat(model, content string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30}}`, model, content)
	}
}

func status(code int, msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":{"message":%q,"type":"server_error"}}`, msg)
	}
}

// dep is an openai-kind deployment at url with prices.
func dep(name, url string) config.Deployment {
	zero := 0
	return config.Deployment{Name: name, Provider: "openai", BaseURL: url, Model: name + "-upstream", APIKey: "up-key",
		Price: config.Price{InputPerMTok: 1, OutputPerMTok: 2}, Timeout: config.Duration(5e9), MaxRetries: &zero,
		Cooldown: config.Cooldown{AllowedFails: 100, CooldownTime: config.Duration(1e9)}}
}

type testGW struct {
	*Server
	srv *httptest.Server
	reg *prometheus.Registry
}

func newTestGateway(t *testing.T, cfg *config.Config) *testGW {
	t.Helper()
	if len(cfg.Auth.APIKeys) == 0 && !cfg.Auth.AllowAnonymous {
		cfg.Auth.APIKeys = []config.Key{{ID: "team-a", Key: testKey}}
	}
	if len(cfg.Auth.AdminKeys) == 0 {
		cfg.Auth.AdminKeys = []config.Key{{ID: "ops", Key: testAdmin}}
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	reg := prometheus.NewRegistry()
	gw, err := New(Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatalf("new gateway: %v", err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	return &testGW{Server: gw, srv: srv, reg: reg}
}

func oneRoute(strategy string, deps ...config.Deployment) *config.Config {
	cfg := &config.Config{Deployments: deps}
	r := config.Route{Name: "auto"}
	for _, d := range deps {
		r.Candidates = append(r.Candidates, d.Name)
	}
	if strategy != "" {
		r.Strategy = &config.StrategySpec{Kind: strategy}
	}
	cfg.Routes = []config.Route{r}
	return cfg
}

func (g *testGW) post(t *testing.T, path, body string, hdr ...string) *http.Response {
	t.Helper()
	return g.postCtx(context.Background(), t, path, body, hdr...)
}

func (g *testGW) postCtx(ctx context.Context, t *testing.T, path, body string, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testKey)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return resp
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return b
}

// apiErr decodes an OpenAI error body.
func apiErr(t *testing.T, b []byte) (msg, typ, param string) {
	t.Helper()
	var e struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body is not OpenAI's shape: %v: %s", err, b)
	}
	if e.Error.Param != nil {
		param = *e.Error.Param
	}
	return e.Error.Message, e.Error.Type, param
}

func counter(t *testing.T, g *testGW, c prometheus.Collector) float64 {
	t.Helper()
	return testutil.ToFloat64(c)
}

const chatBody = `{"model":"auto","messages":[{"role":"user","content":"hello"}]}`

var _ = bytes.NewReader
