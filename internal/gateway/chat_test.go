package gateway

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/config"
)

func TestChatPassesThroughAndAccounts(t *testing.T) {
	var gotModel, gotAuth string
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		gotModel, _ = body["model"].(string)
		gotAuth = r.Header.Get("Authorization")
		okChat("a-upstream", "hi there")(w, r)
	})
	g := newTestGateway(t, oneRoute("fallback", dep("a", up.URL)))
	resp := g.post(t, "/v1/chat/completions", chatBody)
	b := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(resp.Header.Get("x-request-id")) {
		t.Errorf("x-request-id %q is not a trace id", resp.Header.Get("x-request-id"))
	}
	if gotModel != "a-upstream" {
		t.Errorf("upstream saw model %q, want the deployment's upstream id", gotModel)
	}
	if gotAuth != "Bearer up-key" {
		t.Errorf("upstream saw auth %q, want the deployment key, never the client's", gotAuth)
	}
	if !strings.Contains(string(b), `"content":"hi there"`) {
		t.Errorf("body not passed through: %s", b)
	}
	// 10 input tokens at $1/M + 20 output at $2/M.
	if got := counter(t, g, g.metrics.CostUSD.WithLabelValues("auto", "a")); got < 49.9e-6 || got > 50.1e-6 {
		t.Errorf("cost = %g, want 5e-5", got)
	}
	if got := counter(t, g, g.metrics.Tokens.WithLabelValues("auto", "a", "output")); got != 20 {
		t.Errorf("output tokens = %g, want 20", got)
	}
}

func TestChatEstimatesMissingUsage(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"0123456789abcdef"},"finish_reason":"stop"}]}`))
	})
	g := newTestGateway(t, oneRoute("", dep("a", up.URL)))
	resp := g.post(t, "/v1/chat/completions", chatBody)
	readAll(t, resp)
	if got := counter(t, g, g.metrics.UsageEstimated.WithLabelValues("auto", "a")); got != 1 {
		t.Errorf("usage_estimated = %g, want 1", got)
	}
	if got := counter(t, g, g.metrics.Tokens.WithLabelValues("auto", "a", "output")); got != 4 {
		t.Errorf("estimated output tokens = %g, want 4 (16 chars)", got)
	}
}

func TestBadInput(t *testing.T) {
	up := newUpstream(t, okChat("m", "ok"))
	cfg := oneRoute("", dep("a", up.URL))
	cfg.Limits.MaxBodyBytes = 1024
	g := newTestGateway(t, cfg)
	big := `{"model":"auto","messages":[{"role":"user","content":"` + strings.Repeat("x", 2000) + `"}]}`
	tests := []struct {
		name   string
		body   string
		hdr    []string
		status int
		param  string
		msg    string
	}{
		{"malformed JSON", `{"model":`, nil, 400, "", "malformed JSON"},
		{"empty body", ``, nil, 400, "", "empty"},
		{"missing model", `{"messages":[{"role":"user","content":"x"}]}`, nil, 400, "model", "model"},
		{"missing messages", `{"model":"auto"}`, nil, 400, "messages", "messages"},
		{"empty messages", `{"model":"auto","messages":[]}`, nil, 400, "messages", "at least one"},
		{"missing role", `{"model":"auto","messages":[{"content":"x"}]}`, nil, 400, "messages", "role"},
		{"wrong type", `{"model":"auto","messages":"hi"}`, nil, 400, "messages", "wrong type"},
		{"unknown model", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`, nil, 404, "model", `"nope" does not exist`},
		{"body over limit", big, nil, 413, "", "exceeds the limit"},
		{"missing key", chatBody, []string{"Authorization", ""}, 401, "", "API key"},
		{"wrong key", chatBody, []string{"Authorization", "Bearer sk-wrong"}, 401, "", "API key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := up.calls.Load()
			resp := g.post(t, "/v1/chat/completions", tt.body, tt.hdr...)
			b := readAll(t, resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			msg, _, param := apiErr(t, b)
			if param != tt.param {
				t.Errorf("param %q, want %q", param, tt.param)
			}
			if !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q does not say %q", msg, tt.msg)
			}
			if up.calls.Load() != before {
				t.Errorf("a bad request reached the upstream")
			}
			if resp.Header.Get("x-request-id") == "" {
				t.Errorf("error response has no x-request-id")
			}
		})
	}
}

func TestUpstreamGarbageFallsBackWith502(t *testing.T) {
	garbage := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>oops</html>"))
	})
	good := newUpstream(t, okChat("b-upstream", "fine"))
	g := newTestGateway(t, oneRoute("fallback", dep("a", garbage.URL), dep("b", good.URL)))
	resp := g.post(t, "/v1/chat/completions", chatBody)
	b := readAll(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "fine") {
		t.Fatalf("want the next candidate's answer, got %d: %s", resp.StatusCode, b)
	}
	if good.calls.Load() != 1 {
		t.Errorf("next candidate called %d times", good.calls.Load())
	}

	// Only garbage: 502 naming the upstream status and a short reason.
	g2 := newTestGateway(t, oneRoute("fallback", dep("a", garbage.URL)))
	resp = g2.post(t, "/v1/chat/completions", chatBody)
	b = readAll(t, resp)
	if resp.StatusCode != 502 {
		t.Fatalf("status %d, want 502: %s", resp.StatusCode, b)
	}
	msg, _, _ := apiErr(t, b)
	if !strings.Contains(msg, "200") || !strings.Contains(msg, "a") {
		t.Errorf("502 message %q should name the deployment and its status", msg)
	}
}

func TestFallback(t *testing.T) {
	good := newUpstream(t, okChat("b-upstream", "from b"))
	failing := newUpstream(t, status(500, "boom"))
	refused := httpRefusedURL(t)
	tests := []struct {
		name  string
		first config.Deployment
	}{
		{"on 500", dep("a", failing.URL)},
		{"on connection refused", dep("a", refused)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newTestGateway(t, oneRoute("fallback", tt.first, dep("b", good.URL)))
			resp := g.post(t, "/v1/chat/completions", chatBody)
			b := readAll(t, resp)
			if resp.StatusCode != 200 || !strings.Contains(string(b), "from b") {
				t.Fatalf("got %d: %s", resp.StatusCode, b)
			}
			if got := counter(t, g, g.metrics.Fallbacks.WithLabelValues("auto", "a", "b")); got != 1 {
				t.Errorf("fallbacks a->b = %g, want 1", got)
			}
		})
	}
}

func TestClientErrorIsNotRetriedElsewhere(t *testing.T) {
	bad := newUpstream(t, status(400, "max_tokens is too large"))
	good := newUpstream(t, okChat("b", "x"))
	g := newTestGateway(t, oneRoute("fallback", dep("a", bad.URL), dep("b", good.URL)))
	resp := g.post(t, "/v1/chat/completions", chatBody)
	b := readAll(t, resp)
	if resp.StatusCode != 400 {
		t.Fatalf("status %d, want the upstream's 400: %s", resp.StatusCode, b)
	}
	if msg, _, _ := apiErr(t, b); !strings.Contains(msg, "max_tokens is too large") {
		t.Errorf("message %q lost the upstream's reason", msg)
	}
	if good.calls.Load() != 0 {
		t.Errorf("a request the upstream rejected as invalid was sent to the next candidate")
	}
}

func TestModelsAndHealth(t *testing.T) {
	up := newUpstream(t, okChat("m", "ok"))
	g := newTestGateway(t, oneRoute("weighted", dep("a", up.URL), dep("b", up.URL)))
	req, _ := http.NewRequest("GET", g.srv.URL+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Data []struct{ ID string } `json:"data"`
	}
	_ = json.Unmarshal(readAll(t, resp), &list)
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "auto,a,b" {
		t.Errorf("models = %v, want routes then deployments", ids)
	}
	resp, err = http.Get(g.srv.URL + "/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	b := readAll(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"strategy_kind":"weighted"`) {
		t.Errorf("ready: %d %s", resp.StatusCode, b)
	}
	resp, _ = http.Get(g.srv.URL + "/admin/routes")
	if resp.StatusCode != 401 {
		t.Errorf("/admin without admin key: %d, want 401", resp.StatusCode)
	}
	readAll(t, resp)
	req, _ = http.NewRequest("GET", g.srv.URL+"/admin/routes", nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, _ = http.DefaultClient.Do(req)
	if resp.StatusCode != 401 {
		t.Errorf("/admin with a client key: %d, want 401", resp.StatusCode)
	}
	readAll(t, resp)
	req.Header.Set("Authorization", "Bearer "+testAdmin)
	resp, _ = http.DefaultClient.Do(req)
	if resp.StatusCode != 200 {
		t.Errorf("/admin with the admin key: %d", resp.StatusCode)
	}
	readAll(t, resp)
}

func TestStartRefusesBadConfig(t *testing.T) {
	up := newUpstream(t, okChat("m", "ok"))
	d := dep("a", up.URL)
	d.Provider = "carrier-pigeon"
	cfg := oneRoute("", d)
	cfg.Auth.AllowAnonymous = true
	_, err := New(Options{Config: cfg})
	if err == nil || !strings.Contains(err.Error(), `unknown provider kind "carrier-pigeon"`) || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("unknown provider kind: err = %v", err)
	}
	cfg = oneRoute("", dep("a", up.URL))
	cfg.Routes[0].Candidates = append(cfg.Routes[0].Candidates, "ghost")
	cfg.Auth.AllowAnonymous = true
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `candidate "ghost" is not a declared deployment`) {
		t.Errorf("missing deployment: err = %v", err)
	}
	cfg = oneRoute("telepathy", dep("a", up.URL))
	cfg.Auth.AllowAnonymous = true
	if _, err := New(Options{Config: cfg}); err == nil || !strings.Contains(err.Error(), `unknown kind "telepathy"`) {
		t.Errorf("unknown strategy kind: err = %v", err)
	}
}
