package modelmgr_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/switchyard-ai/switchyard/internal/audit"
	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/gateway"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
	"github.com/switchyard-ai/switchyard/internal/modelmgr"
	"github.com/switchyard-ai/switchyard/internal/routing"
	"github.com/switchyard-ai/switchyard/internal/telemetry"
)

const (
	clientKey = "sk-client"
	adminKey  = "sk-admin"
)

func simDeployment(name string, price float64) config.Deployment {
	return config.Deployment{Name: name, Provider: "simulated", Model: name,
		Price:     config.Price{InputPerMTok: price, OutputPerMTok: price},
		Simulated: &config.SimProfile{Quality: map[string]float64{"default": 0.8}, LatencyMS: 1, PerTokenMS: 0.05, OutputTokens: 8}}
}

// learnedGateway is a gateway with one learned route "auto" serving model
// m through reg, with spans in exp.
func learnedGateway(t testing.TB, reg *modelmgr.Registry, kind string, exp *tracetest.InMemoryExporter) *httptest.Server {
	t.Helper()
	cfg := &config.Config{
		Auth:        config.Auth{APIKeys: []config.Key{{ID: "team", Key: clientKey}}, AdminKeys: []config.Key{{ID: "ops", Key: adminKey}}},
		Deployments: []config.Deployment{simDeployment(synthetic.X, 10), simDeployment(synthetic.Y, 1)},
		Routes: []config.Route{{Name: "auto", Candidates: []string{synthetic.X, synthetic.Y}, OperatingPoint: "balanced",
			Strategy: &config.StrategySpec{Kind: kind, Params: map[string]any{"model": "m"}}}},
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	opts := gateway.Options{Config: cfg, Logger: testLogger(), Registerer: prometheus.NewRegistry(), Env: &routing.Env{Models: reg}}
	if exp != nil {
		tp := telemetry.NewTestTracerProvider(exp)
		t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		opts.Tracer = tp.Tracer("test")
	}
	gw, err := gateway.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// adminCall sends an admin request and decodes the JSON answer.
func adminCall(t testing.TB, srv *httptest.Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
	}
	return resp.StatusCode, out
}

type chatResult struct {
	id         string
	start, end time.Time
	stream     bool
	err        error
}

// chat sends one completion and checks it finished properly: 200 and, for
// a stream, the [DONE] marker with no error event.
func chat(client *http.Client, url, prompt string, stream bool) (res chatResult) {
	res = chatResult{start: time.Now(), stream: stream}
	defer func() { res.end = time.Now() }()
	body, _ := json.Marshal(map[string]any{"model": "auto", "stream": stream, "messages": []map[string]string{{"role": "user", "content": prompt}}})
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+clientKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		res.err = err
		return res
	}
	defer resp.Body.Close()
	res.id = resp.Header.Get("x-request-id")
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		res.err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
		return res
	}
	if !stream {
		var out struct {
			Choices []json.RawMessage `json:"choices"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Choices) == 0 {
			res.err = fmt.Errorf("bad completion body: %v", err)
		}
		return res
	}
	sc := bufio.NewScanner(resp.Body)
	done := false
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, `"error"`) {
			res.err = fmt.Errorf("error event in stream: %s", line)
			return res
		}
		if line == "data: [DONE]" {
			done = true
		}
	}
	if err := sc.Err(); err != nil || !done {
		res.err = fmt.Errorf("stream ended without [DONE] (%v)", err)
	}
	return res
}

// TestHotReloadUnderTraffic deploys 20 new versions and makes 5 rollbacks
// through the admin API while plain and streaming requests run. No request
// may fail, every decision must name a version that was active while the
// request ran, and the last move's version must be the one serving.
func TestHotReloadUnderTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	e := newEnv(t)
	routers := []*router.Router{trainedRouter(t, router.KindKNN, 1), trainedRouter(t, router.KindKNN, 2)}
	const deploys = 20
	version := func(i int) string { return fmt.Sprintf("v%02d", i) }
	for i := 0; i <= deploys; i++ {
		e.publish(t, routers[i%2], "m", version(i), nil)
	}
	reg := e.registry(t, regOpts{poll: 25 * time.Millisecond})
	exp := tracetest.NewInMemoryExporter()
	srv := learnedGateway(t, reg, router.KindKNN, exp)
	run(t, reg)
	mgr, ok := reg.Lookup("m")
	if !ok {
		t.Fatal("the learned route did not register model m")
	}

	// The first version, before traffic: every decision below must name one.
	if code, out := adminCall(t, srv, "POST", "/admin/models/m/deploy", `{"version":"v00","reason":"initial"}`); code != 200 || out["activated"] != true {
		t.Fatalf("initial deploy: %d %v", code, out)
	}

	prompts := synthetic.Prompts(64, 12, 9).Prompts
	var (
		mu      sync.Mutex
		results []chatResult
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := chat(srv.Client(), srv.URL, prompts[(w*7+i)%len(prompts)], (w+i)%2 == 0)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		}()
	}

	// 20 deploys, a rollback after every fourth: "previous" and explicit
	// targets alternately. cur and prev mirror what the trail will say.
	cur, prev := version(0), ""
	rollbacks := 0
	for i := 1; i <= deploys; i++ {
		move(t, srv, "/admin/models/m/deploy", fmt.Sprintf(`{"version":%q}`, version(i)), version(i))
		cur, prev = version(i), cur
		if i%4 == 0 {
			rollbacks++
			target := modelmgr.Previous
			want := prev
			if rollbacks%2 == 0 {
				target, want = version(i-3), version(i-3)
			}
			move(t, srv, "/admin/model/rollback", fmt.Sprintf(`{"model":"m","version":%q,"reason":"test rollback %d"}`, target, rollbacks), want)
			cur, prev = want, cur
		}
		time.Sleep(30 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()

	if rollbacks != 5 {
		t.Fatalf("made %d rollbacks, want 5", rollbacks)
	}
	checkDecisions(t, results, exp, mgr.Activations())
	if s := mgr.Snapshot(); s.Version != cur {
		t.Fatalf("serving %s at the end, want %s", s.Version, cur)
	}
	if n := len(mgr.Activations()); n != 1+deploys+rollbacks {
		t.Fatalf("%d activations, want %d", n, 1+deploys+rollbacks)
	}
	checkReported(t, srv, cur)
	evs, err := reg.Audit().List(context.Background(), audit.Filter{Target: "m", Actor: "ops", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, ev := range evs {
		count[ev.Action+"/"+ev.Result]++
	}
	if count["model.deploy/ok"] != 1+deploys || count["model.rollback/ok"] != rollbacks || len(evs) != 1+deploys+rollbacks {
		t.Fatalf("audit by the admin key: %v", count)
	}
}

// move posts a deploy or rollback and requires this replica to serve want
// when it answers.
func move(t *testing.T, srv *httptest.Server, path, body, want string) {
	t.Helper()
	code, out := adminCall(t, srv, "POST", path, body)
	if code != http.StatusOK || out["to"] != want || out["activated"] != true {
		t.Fatalf("POST %s %s: %d %v, want %s activated", path, body, code, out, want)
	}
}

// checkDecisions joins each response to its request span by the request id
// (the trace id) and checks the decision's model version against the
// activation intervals.
func checkDecisions(t *testing.T, results []chatResult, exp *tracetest.InMemoryExporter, acts []modelmgr.Activation) {
	t.Helper()
	versionOf := map[string]string{}
	for _, sp := range exp.GetSpans() {
		if sp.Name != "POST /v1/chat/completions" {
			continue
		}
		for _, ev := range sp.Events {
			if ev.Name != telemetry.DecisionEventName {
				continue
			}
			for _, a := range ev.Attributes {
				if a.Key == "switchyard.decision" {
					var d struct {
						ModelVersion string `json:"model_version"`
						Reason       string `json:"reason"`
					}
					if err := json.Unmarshal([]byte(a.Value.AsString()), &d); err != nil {
						t.Fatal(err)
					}
					versionOf[sp.SpanContext.TraceID().String()] = d.ModelVersion + "|" + d.Reason
				}
			}
		}
	}
	streams, seen := 0, map[string]bool{}
	for _, r := range results {
		if r.err != nil {
			t.Fatalf("request failed during reloads: %v", r.err)
		}
		if r.stream {
			streams++
		}
		vr, ok := versionOf[r.id]
		if !ok {
			t.Fatalf("no decision event for request %s", r.id)
		}
		v, reason, _ := strings.Cut(vr, "|")
		if v == "" {
			t.Fatalf("request %s decided without a model version (reason %q)", r.id, reason)
		}
		seen[v] = true
		if !activeDuring(acts, v, r.start, r.end) {
			t.Fatalf("request %s (%s .. %s) decided with %s, which was not active then; activations %+v",
				r.id, r.start.Format(time.StampMicro), r.end.Format(time.StampMicro), v, acts)
		}
	}
	if len(results) < 200 || streams < 50 || len(seen) < 10 {
		t.Fatalf("too little traffic to mean anything: %d requests, %d streams, %d versions seen", len(results), streams, len(seen))
	}
	t.Logf("%d requests (%d streams) decided by %d versions, none failed", len(results), streams, len(seen))
}

func activeDuring(acts []modelmgr.Activation, v string, start, end time.Time) bool {
	for _, a := range acts {
		if a.Version == v && !a.From.After(end) && (a.Until.IsZero() || !a.Until.Before(start)) {
			return true
		}
	}
	return false
}

// checkReported reads the version from /health/ready and /admin/models.
func checkReported(t *testing.T, srv *httptest.Server, want string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + "/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ready struct {
		Routes []struct {
			Name         string `json:"name"`
			ModelVersion string `json:"model_version"`
		} `json:"routes"`
		Models []modelmgr.Status `json:"models"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ready); err != nil {
		t.Fatal(err)
	}
	if len(ready.Models) != 1 || ready.Models[0].ActiveVersion != want || ready.Models[0].SHA256 == "" || ready.Models[0].LoadedAt == nil || ready.Models[0].PreviousVersion == "" {
		t.Fatalf("/health/ready models: %+v, want %s active with sha256, loaded_at and previous", ready.Models, want)
	}
	found := false
	for _, r := range ready.Routes {
		found = found || r.ModelVersion == want
	}
	if !found {
		t.Fatalf("/health/ready routes: %+v, want a route on model version %s", ready.Routes, want)
	}
	code, out := adminCall(t, srv, "GET", "/admin/models", "")
	models, _ := out["models"].([]any)
	if code != 200 || len(models) != 1 || models[0].(map[string]any)["active_version"] != want {
		t.Fatalf("GET /admin/models: %d %v", code, out)
	}
}
