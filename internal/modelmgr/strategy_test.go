package modelmgr_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/audit"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
	"github.com/switchyard-ai/switchyard/internal/routing"
)

func TestLearnedStrategyParams(t *testing.T) {
	e := newEnv(t)
	env := &routing.Env{Models: e.registry(t, regOpts{})}
	cands := []string{synthetic.X, synthetic.Y}
	tests := []struct {
		name    string
		env     *routing.Env
		params  map[string]any
		wantErr string
	}{
		{"no model manager", nil, map[string]any{"model": "m"}, "set models.store"},
		{"no model", env, map[string]any{}, "params.model is required"},
		{"model not a string", env, map[string]any{"model": 3}, "params.model must be"},
		{"unknown param", env, map[string]any{"model": "m", "lambda": 1}, `unknown param "lambda"`},
		{"fallback not a list", env, map[string]any{"model": "m", "fallback_order": "x"}, "must be a list"},
		{"fallback unknown deployment", env, map[string]any{"model": "m", "fallback_order": []any{"nope"}}, `"nope" is not a candidate`},
		{"ok", env, map[string]any{"model": "m", "operating_point": "economy", "fallback_order": []any{synthetic.Y}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := routing.New(routing.Spec{Name: "r", Kind: router.KindKNN, Params: tc.params, Candidates: cands, Env: tc.env})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
	// One model cannot be served as two kinds.
	if _, err := routing.New(routing.Spec{Name: "r2", Kind: router.KindMLP, Params: map[string]any{"model": "m"}, Env: env}); err == nil {
		t.Fatal("model m was accepted as mlp after being registered as knn")
	}
}

func TestLearnedStrategyDecide(t *testing.T) {
	e := newEnv(t)
	reg := e.registry(t, regOpts{})
	env := &routing.Env{Models: reg}
	newStrat := func(params map[string]any) routing.Strategy {
		t.Helper()
		s, err := routing.New(routing.Spec{Name: "auto", Kind: router.KindKNN, Params: params, Env: env})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	plain := newStrat(map[string]any{"model": "m"})
	maths := synthetic.Prompts(2, 12, 5).Prompts[0] // topic A: only x-large answers it
	req := func(point string) *routing.Request {
		return &routing.Request{OperatingPoint: point, PromptText: func() string { return maths }}
	}
	cands := func(healthyX bool) []routing.Candidate {
		return []routing.Candidate{{Name: "z-extra", Healthy: true}, {Name: synthetic.Y, Healthy: true}, {Name: synthetic.X, Healthy: healthyX}}
	}
	if _, err := plain.Decide(context.Background(), req(""), cands(true)); err == nil || !strings.Contains(err.Error(), "no active version") {
		t.Fatalf("decide before any version: %v", err)
	}
	if v := plain.Info().Version; v != "" {
		t.Fatalf("version %q before any activation", v)
	}

	run(t, reg)
	e.publish(t, trainedRouter(t, router.KindKNN, 1), "m", "v1", nil)
	if _, err := reg.Deploy(audit.WithActor(context.Background(), "ops"), "m", "v1", ""); err != nil {
		t.Fatal(err)
	}
	m, _ := reg.Lookup("m")
	waitActive(t, m, "v1")

	info := plain.Info()
	if info.Version != "v1" || info.Kind != router.KindKNN || strings.Join(info.Capabilities, ",") != "learned,cost_tradeoff,needs_model_artifact" {
		t.Fatalf("info %+v", info)
	}
	tests := []struct {
		name      string
		strat     routing.Strategy
		point     string
		healthyX  bool
		wantOrder []int // indexes into cands: 0 z-extra (unknown to the model), 1 y-small, 2 x-large
		wantPoint string
		wantErr   string
	}{
		{"default point, maths to x-large, unknown last", plain, "", true, []int{2, 1, 0}, "balanced", ""},
		{"request point", plain, "quality", true, []int{2, 1, 0}, "quality", ""},
		{"params point", newStrat(map[string]any{"model": "m", "operating_point": "quality"}), "", true, []int{2, 1, 0}, "quality", ""},
		{"unhealthy x-large passed through", plain, "quality", false, []int{1, 0, 2}, "quality", ""},
		{"fallback order", newStrat(map[string]any{"model": "m", "fallback_order": []any{"z-extra"}}), "", true, []int{2, 0, 1}, "balanced", ""},
		{"unknown point", plain, "cheapest", true, nil, "", `unknown operating point "cheapest"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := tc.strat.Decide(context.Background(), req(tc.point), cands(tc.healthyX))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equalInts(d.Order, tc.wantOrder) || d.ModelVersion != "v1" || d.Propensity != 1 || !strings.HasSuffix(d.Reason, "operating point "+tc.wantPoint) {
				t.Fatalf("decision %+v, want order %v at %s by v1", d, tc.wantOrder, tc.wantPoint)
			}
			if !math.IsNaN(d.Scores[0].Score) || math.IsNaN(d.Scores[1].Quality) || math.IsNaN(d.Scores[2].Cost) {
				t.Fatalf("scores %+v: want none for z-extra, quality and cost for the model's candidates", d.Scores)
			}
		})
	}
	if _, err := plain.Decide(context.Background(), req(""), []routing.Candidate{{Name: "z-extra", Healthy: true}}); err == nil || !strings.Contains(err.Error(), "knows none") {
		t.Fatalf("route with no candidate the model knows: %v", err)
	}
	if _, err := plain.Decide(context.Background(), req(""), []routing.Candidate{{Name: synthetic.X}, {Name: synthetic.Y}}); err == nil {
		t.Fatal("every candidate unhealthy, yet a decision")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The manager of a model lives as long as some learned strategy instance
// holds it: the last Close stops its polling and drops it from the registry,
// and a new instance starts a fresh one.
func TestLearnedStrategyCloseReleasesManager(t *testing.T) {
	e := newEnv(t)
	reg := e.registry(t, regOpts{})
	env := &routing.Env{Models: reg}
	run(t, reg)
	e.publish(t, trainedRouter(t, router.KindKNN, 1), "m", "v1", nil)
	if _, err := reg.Deploy(audit.WithActor(context.Background(), "ops"), "m", "v1", ""); err != nil {
		t.Fatal(err)
	}
	newStrat := func() routing.Strategy {
		t.Helper()
		s, err := routing.New(routing.Spec{Name: "auto", Kind: router.KindKNN, Params: map[string]any{"model": "m"}, Env: env})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s1, s2 := newStrat(), newStrat()
	m, ok := reg.Lookup("m")
	if !ok {
		t.Fatal("no manager for m after two strategies")
	}
	waitActive(t, m, "v1")

	if err := routing.Close(s1); err != nil {
		t.Fatal(err)
	}
	_ = routing.Close(s1) // a second Close must not release s2's hold
	if got, ok := reg.Lookup("m"); !ok || got != m {
		t.Fatal("manager dropped while another strategy still holds it")
	}
	if err := routing.Close(s2); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.Lookup("m"); ok {
		t.Fatal("manager still registered after its last strategy closed")
	}
	if st := reg.Statuses(); len(st) != 0 {
		t.Fatalf("statuses after release: %+v", st)
	}
	// A request still in flight on the closed instance decides as before.
	prompt := synthetic.Prompts(1, 12, 5).Prompts[0]
	cands := []routing.Candidate{{Name: synthetic.X, Healthy: true}, {Name: synthetic.Y, Healthy: true}}
	if _, err := s2.Decide(context.Background(), &routing.Request{PromptText: func() string { return prompt }}, cands); err != nil {
		t.Fatalf("decide on a closed instance: %v", err)
	}
	// Its polling stopped: the last check no longer moves (the poll interval
	// is 20 ms; a manager still running would check ~10 times in 200 ms). A
	// check already in flight at the release may still finish, so first wait
	// for the value to settle.
	settled := m.Status().LastCheck
	for i := 0; i < 20; i++ {
		time.Sleep(100 * time.Millisecond)
		now := m.Status().LastCheck
		if now.Equal(*settled) {
			break
		}
		settled = now
	}
	time.Sleep(200 * time.Millisecond)
	if after := m.Status().LastCheck; !after.Equal(*settled) {
		t.Fatalf("released manager still polls: last check %v -> %v", settled, after)
	}

	s3 := newStrat()
	defer routing.Close(s3)
	m3, ok := reg.Lookup("m")
	if !ok || m3 == m {
		t.Fatalf("a new strategy did not get a fresh manager (ok %v, same %v)", ok, m3 == m)
	}
	waitActive(t, m3, "v1")
}
