package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/routing"
	"github.com/switchyard-ai/switchyard/internal/telemetry"
)

func (g *testGW) admin(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, g.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testAdmin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// either answers plain or streaming requests.
func either(model, content string) http.HandlerFunc {
	plain, stream := okChat(model, content), sseUpstream([]string{chunk(0, content)}, nil)
	return func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(readAndRestore(r), `"stream":true`) {
			stream(w, r)
			return
		}
		plain(w, r)
	}
}

func twoDeps(t *testing.T) (*upstream, *upstream, *config.Config) {
	a := newUpstream(t, either("a-up", "from a"))
	b := newUpstream(t, either("b-up", "from b"))
	cfg := oneRoute("fallback", dep("a", a.URL), dep("b", b.URL))
	return a, b, cfg
}

func TestStrategyAdminLifecycle(t *testing.T) {
	_, b, cfg := twoDeps(t)
	g := newTestGateway(t, cfg)

	code, body := g.admin(t, "POST", "/admin/strategies", `{"name":"prefer-b","kind":"weighted","params":{"weights":{"a":0,"b":1}}}`)
	if code != 201 || !strings.Contains(string(body), `"kind":"weighted"`) {
		t.Fatalf("create: %d %s", code, body)
	}
	bad := []struct {
		method, path, body string
		code               int
		msg                string
	}{
		{"POST", "/admin/strategies", `{"name":"x","kind":"telepathy"}`, 400, `unknown kind "telepathy"`},
		{"POST", "/admin/strategies", `{"name":"x","kind":"weighted","params":{"weights":{"a":-1}}}`, 400, "negative"},
		{"POST", "/admin/strategies", `{"name":"x","kind":"weighted","params":{"weights":{"a":0}}}`, 400, "all weights are zero"},
		{"POST", "/admin/strategies", `{"name":"prefer-b","kind":"round_robin"}`, 409, "already exists"},
		{"POST", "/admin/strategies", `{"name":"x","kind":"round_robin","color":"red"}`, 400, "unknown field"},
		{"PUT", "/admin/routes/auto/strategy", `{"strategy":"ghost"}`, 400, `"ghost" does not exist`},
		{"PUT", "/admin/routes/nope/strategy", `{"strategy":"prefer-b"}`, 404, "does not exist"},
		{"PUT", "/admin/routes/auto/strategy", `{}`, 400, "exactly one"},
		{"DELETE", "/admin/strategies/auto", ``, 409, "in use by [route auto]"},
		{"DELETE", "/admin/strategies/ghost", ``, 404, "does not exist"},
		{"POST", "/admin/experiments", `{"id":"ab","sticky_key":"user","arms":[{"name":"x","strategy":"prefer-b","weight":1},{"name":"y","strategy":"ghost","weight":1}]}`, 400, `"ghost", which does not exist`},
		{"POST", "/admin/experiments", `{"id":"ab","sticky_key":"user","arms":[{"name":"x","strategy":"prefer-b","weight":0},{"name":"y","strategy":"auto","weight":0}]}`, 400, "all weights are zero"},
	}
	for _, tt := range bad {
		code, body := g.admin(t, tt.method, tt.path, tt.body)
		msg, _, _ := apiErr(t, body)
		if code != tt.code || !strings.Contains(msg, tt.msg) {
			t.Errorf("%s %s %s: %d %s; want %d with %q", tt.method, tt.path, tt.body, code, body, tt.code, tt.msg)
		}
	}
	// Nothing above changed the route: it still answers from a.
	if b := readAll(t, g.post(t, "/v1/chat/completions", chatBody)); !strings.Contains(string(b), "from a") {
		t.Fatalf("route changed by rejected calls: %s", b)
	}
	// A weighted instance naming a deployment the route lacks cannot be selected.
	g.admin(t, "POST", "/admin/strategies", `{"name":"names-c","kind":"weighted","params":{"weights":{"c":1}}}`)
	if code, body := g.admin(t, "PUT", "/admin/routes/auto/strategy", `{"strategy":"names-c"}`); code != 400 || !strings.Contains(string(body), "not a candidate") {
		t.Errorf("select invalid instance: %d %s", code, body)
	}

	if code, body := g.admin(t, "PUT", "/admin/routes/auto/strategy", `{"strategy":"prefer-b"}`); code != 200 {
		t.Fatalf("select: %d %s", code, body)
	}
	if b := readAll(t, g.post(t, "/v1/chat/completions", chatBody)); !strings.Contains(string(b), "from b") {
		t.Fatalf("selection not in effect: %s", b)
	}
	if b.calls.Load() != 1 {
		t.Errorf("b calls %d", b.calls.Load())
	}
	code, body = g.admin(t, "GET", "/admin/strategies/prefer-b", "")
	if code != 200 || !strings.Contains(string(body), `"used_by":["route auto"]`) {
		t.Errorf("get: %d %s", code, body)
	}
	if code, _ := g.admin(t, "DELETE", "/admin/strategies/auto", ""); code != 204 {
		t.Errorf("delete unused inline instance: %d", code)
	}
	code, body = g.admin(t, "GET", "/admin/strategies", "")
	if code != 200 || !strings.Contains(string(body), `"least_latency"`) || strings.Contains(string(body), `"name":"auto"`) {
		t.Errorf("list: %d %s", code, body)
	}
}

func TestExperimentThroughGateway(t *testing.T) {
	_, _, cfg := twoDeps(t)
	cfg.Strategies = []config.StrategyInstance{
		{Name: "only-a", StrategySpec: config.StrategySpec{Kind: "weighted", Params: map[string]any{"weights": map[string]any{"a": 1.0, "b": 0.0}}}},
		{Name: "only-b", StrategySpec: config.StrategySpec{Kind: "weighted", Params: map[string]any{"weights": map[string]any{"a": 0.0, "b": 1.0}}}},
	}
	cfg.Experiments = []config.Experiment{{ID: "ab", StickyKey: "user", Arms: []config.ExperimentArm{{Name: "control", Strategy: "only-a", Weight: 70}, {Name: "treatment", Strategy: "only-b", Weight: 30}}}}
	cfg.Routes[0].Strategy = nil
	cfg.Routes[0].Experiment = "ab"
	g, exp, tp := tracedGateway(t, cfg)

	byUser := map[string]string{}
	for i := 0; i < 200; i++ {
		user := fmt.Sprintf("u%d", i%20)
		resp := g.post(t, "/v1/chat/completions", `{"model":"auto","user":"`+user+`","messages":[{"role":"user","content":"hi"}]}`)
		b := readAll(t, resp)
		from := "a"
		if strings.Contains(string(b), "from b") {
			from = "b"
		}
		if prev, ok := byUser[user]; ok && prev != from {
			t.Fatalf("user %s moved between arms", user)
		}
		byUser[user] = from
		if i%2 == 0 {
			readAll(t, g.post(t, "/v1/feedback", `{"request_id":"`+resp.Header.Get("x-request-id")+`","metric":"quality","value":0.5}`))
		}
	}
	_ = tp.ForceFlush(context.Background())
	var withArm int
	for _, sp := range exp.GetSpans() {
		for _, ev := range sp.Events {
			if ev.Name != telemetry.DecisionEventName {
				continue
			}
			for _, a := range ev.Attributes {
				if a.Key == "switchyard.decision" && strings.Contains(a.Value.AsString(), `"experiment":"ab"`) && strings.Contains(a.Value.AsString(), `"bucket":`) {
					withArm++
				}
			}
		}
	}
	if withArm != 200 {
		t.Errorf("%d of 200 decision events name the experiment, arm and bucket", withArm)
	}
	code, body := g.admin(t, "GET", "/admin/experiments/ab", "")
	var v struct {
		Status string `json:"status"`
		Arms   []struct {
			Name          string  `json:"name"`
			Requests      int64   `json:"requests"`
			FeedbackCount int64   `json:"feedback_count"`
			MeanFeedback  float64 `json:"mean_feedback"`
		} `json:"arm_stats"`
	}
	_ = json.Unmarshal(body, &v)
	if code != 200 || len(v.Arms) != 2 || v.Arms[0].Requests+v.Arms[1].Requests != 200 || v.Arms[0].FeedbackCount+v.Arms[1].FeedbackCount != 100 {
		t.Fatalf("experiment: %d %s", code, body)
	}
	if code, body := g.admin(t, "PUT", "/admin/experiments/ab", `{"weights":{"control":0,"treatment":0}}`); code != 400 {
		t.Errorf("zero weights: %d %s", code, body)
	}
	if code, body := g.admin(t, "PUT", "/admin/experiments/ab", `{"weights":{"control":0}}`); code != 200 {
		t.Errorf("weights: %d %s", code, body)
	}
	if b := readAll(t, g.post(t, "/v1/chat/completions", `{"model":"auto","user":"anyone","messages":[{"role":"user","content":"hi"}]}`)); !strings.Contains(string(b), "from b") {
		t.Errorf("all traffic should go to treatment: %s", b)
	}
	if code, body := g.admin(t, "DELETE", "/admin/strategies/only-a", ""); code != 409 || !strings.Contains(string(body), "experiment ab") {
		t.Errorf("delete an arm's instance: %d %s", code, body)
	}
	if code, body := g.admin(t, "POST", "/admin/experiments/ab/stop", `{"winner":"control"}`); code != 200 || !strings.Contains(string(body), `"status":"stopped"`) {
		t.Errorf("stop: %d %s", code, body)
	}
	if b := readAll(t, g.post(t, "/v1/chat/completions", `{"model":"auto","user":"anyone","messages":[{"role":"user","content":"hi"}]}`)); !strings.Contains(string(b), "from a") {
		t.Errorf("stopped experiment should send everything to the winner: %s", b)
	}
	if code, _ := g.admin(t, "DELETE", "/admin/strategies/only-b", ""); code != 204 {
		t.Errorf("a stopped experiment's instance should be deletable: %d", code)
	}
}

// TestStrategyChangesUnderTraffic registers, selects and deletes instances
// while requests flow: no request may fail.
func TestStrategyChangesUnderTraffic(t *testing.T) {
	_, _, cfg := twoDeps(t)
	g := newTestGateway(t, cfg)
	stop := make(chan struct{})
	var failed, total atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				body := chatBody
				if w%2 == 1 {
					body = `{"model":"auto","stream":true,"messages":[{"role":"user","content":"hi"}]}`
				}
				req, _ := http.NewRequest("POST", g.srv.URL+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+testKey)
				resp, err := http.DefaultClient.Do(req)
				total.Add(1)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		}(w)
	}
	kinds := []string{"round_robin", "least_latency", "lowest_cost", "fallback", "weighted"}
	for i := 0; i < 60; i++ {
		name := fmt.Sprintf("s%d", i)
		if code, b := g.admin(t, "POST", "/admin/strategies", `{"name":"`+name+`","kind":"`+kinds[i%len(kinds)]+`"}`); code != 201 {
			t.Fatalf("create: %d %s", code, b)
		}
		if code, b := g.admin(t, "PUT", "/admin/routes/auto/strategy", `{"strategy":"`+name+`"}`); code != 200 {
			t.Fatalf("select: %d %s", code, b)
		}
		if i > 0 {
			if code, b := g.admin(t, "DELETE", fmt.Sprintf("/admin/strategies/s%d", i-1), ""); code != 204 {
				t.Fatalf("delete: %d %s", code, b)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || total.Load() < 50 {
		t.Errorf("%d of %d requests failed during strategy changes", failed.Load(), total.Load())
	}
}

type failingStrategy struct{}

func (failingStrategy) Info() routing.Info {
	return routing.Info{Name: "fails", Kind: "test_fails", Version: "1"}
}
func (failingStrategy) Decide(context.Context, *routing.Request, []routing.Candidate) (routing.Decision, error) {
	return routing.Decision{}, errors.New("no active version yet")
}

func init() {
	routing.RegisterKind(routing.Kind{Name: "test_fails", New: func(routing.Spec) (routing.Strategy, error) { return failingStrategy{}, nil }})
}

// TestExplorationWhenStrategyFails: a route whose strategy cannot decide yet
// (a learned route before its first model) still explores, so its traces
// show every candidate.
func TestExplorationWhenStrategyFails(t *testing.T) {
	a, b, cfg := twoDeps(t)
	cfg.Routes[0].Strategy = &config.StrategySpec{Kind: "test_fails"}
	cfg.Routes[0].ExplorationRate = 1
	g := newTestGateway(t, cfg)
	for i := 0; i < 60; i++ {
		resp := g.post(t, "/v1/chat/completions", chatBody)
		if readAll(t, resp); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if a.calls.Load() < 10 || b.calls.Load() < 10 {
		t.Errorf("calls a=%d b=%d: exploration did not apply on the failure path", a.calls.Load(), b.calls.Load())
	}
	if got := counter(t, g, g.metrics.Errors.WithLabelValues("auto", "", "strategy_failed")); got != 60 {
		t.Errorf("strategy_failed = %g, want 60", got)
	}
}

// closingStrategy counts how many of its instances are open, as a learned
// kind counts holders of its model's manager.
type closingStrategy struct {
	open   *atomic.Int64
	closed atomic.Bool
}

func (s *closingStrategy) Info() routing.Info { return routing.Info{Name: "c", Kind: "test_closes"} }
func (s *closingStrategy) Decide(_ context.Context, _ *routing.Request, cands []routing.Candidate) (routing.Decision, error) {
	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	return routing.Decision{Order: order, Propensity: 1}, nil
}
func (s *closingStrategy) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		s.open.Add(-1)
	}
	return nil
}

var openClosing atomic.Int64

func init() {
	routing.RegisterKind(routing.Kind{Name: "test_closes", New: func(routing.Spec) (routing.Strategy, error) {
		openClosing.Add(1)
		return &closingStrategy{open: &openClosing}, nil
	}})
}

// Every instance the gateway drops is closed: deleted ones, ones rejected as
// duplicates, and the probes built to validate a selection. Only the
// instances still in the state stay open.
func TestDroppedStrategiesAreClosed(t *testing.T) {
	_, _, cfg := twoDeps(t)
	g := newTestGateway(t, cfg)
	base := openClosing.Load()
	if code, body := g.admin(t, "POST", "/admin/strategies", `{"name":"c1","kind":"test_closes"}`); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, _ := g.admin(t, "POST", "/admin/strategies", `{"name":"c1","kind":"test_closes"}`); code != 409 {
		t.Fatalf("duplicate create: %d", code)
	}
	if code, body := g.admin(t, "PUT", "/admin/routes/auto/strategy", `{"strategy":"c1"}`); code != 200 {
		t.Fatalf("select: %d %s", code, body)
	}
	if n := openClosing.Load() - base; n != 1 {
		t.Fatalf("%d instances open after create, duplicate and select; want 1 (the one in the state)", n)
	}
	if code, body := g.admin(t, "PUT", "/admin/routes/auto/strategy", `{"strategy":"auto"}`); code != 200 {
		t.Fatalf("select back: %d %s", code, body)
	}
	if code, _ := g.admin(t, "DELETE", "/admin/strategies/c1", ""); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if n := openClosing.Load() - base; n != 0 {
		t.Fatalf("%d instances open after delete; want 0", n)
	}
}
