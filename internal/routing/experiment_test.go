package routing

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

func jsonDecode(r *http.Request, v any) error { return json.NewDecoder(r.Body).Decode(v) }

func testLookup(t testing.TB) func(string) (Strategy, bool) {
	a := mustNew(t, "fallback", nil)
	b := mustNew(t, "lowest_cost", nil)
	return func(name string) (Strategy, bool) {
		switch name {
		case "first":
			return a, true
		case "cheap":
			return b, true
		}
		return nil, false
	}
}

func newExp(t testing.TB, spec ExperimentSpec) *Experiment {
	t.Helper()
	e, err := NewExperiment(spec, testLookup(t))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestExperimentSplitIsStickyAndAccurate(t *testing.T) {
	e := newExp(t, ExperimentSpec{ID: "ab", StickyKey: "user", Arms: []ArmSpec{{Name: "control", Strategy: "first", Weight: 70}, {Name: "treat", Strategy: "cheap", Weight: 30}}})
	counts := [2]int{}
	const n = 100000
	for i := 0; i < n; i++ {
		arm, _ := e.Assign(&Request{User: fmt.Sprintf("user-%d", i)})
		counts[arm]++
	}
	if share := float64(counts[0]) / n; math.Abs(share-0.70) > 0.01 {
		t.Errorf("control share %.4f, want 0.70 within one point", share)
	}
	for i := 0; i < 1000; i++ {
		key := fmt.Sprintf("user-%d", i)
		a1, b1 := e.Assign(&Request{User: key})
		for j := 0; j < 3; j++ {
			if a2, b2 := e.Assign(&Request{User: key}); a2 != a1 || b2 != b1 {
				t.Fatalf("key %s moved from arm %d to %d", key, a1, a2)
			}
		}
	}
	d, err := e.Decide(context.Background(), &Request{User: "user-1", PromptTokens: 5}, cands(true, true, true))
	if err != nil || d.Experiment != "ab" || d.Arm == "" || d.Bucket < 0 || d.Bucket >= Buckets {
		t.Errorf("decision not annotated: %+v %v", d, err)
	}
	h := http.Header{}
	h.Set("X-Tenant", "acme")
	eh := newExp(t, ExperimentSpec{ID: "hdr", StickyKey: "header:x-tenant", Arms: []ArmSpec{{Strategy: "first", Weight: 1}, {Strategy: "cheap", Weight: 1}}})
	a1, b1 := eh.Assign(&Request{Header: h})
	a2, b2 := eh.Assign(&Request{Header: h})
	if a1 != a2 || b1 != b2 || b1 != Bucket("hdr", "acme") {
		t.Errorf("header key not sticky")
	}
}

func TestExperimentBadSpecs(t *testing.T) {
	arms := func(w1, w2 float64) []ArmSpec {
		return []ArmSpec{{Name: "a", Strategy: "first", Weight: w1}, {Name: "b", Strategy: "cheap", Weight: w2}}
	}
	tests := []struct {
		spec ExperimentSpec
		want string
	}{
		{ExperimentSpec{ID: "x", StickyKey: "user", Arms: arms(-1, 1)}, "negative"},
		{ExperimentSpec{ID: "x", StickyKey: "user", Arms: arms(0, 0)}, "all weights are zero"},
		{ExperimentSpec{ID: "x", StickyKey: "user", Arms: []ArmSpec{{Name: "a", Strategy: "first", Weight: 1}, {Name: "b", Strategy: "ghost", Weight: 1}}}, `"ghost", which does not exist`},
		{ExperimentSpec{ID: "x", StickyKey: "cookie", Arms: arms(1, 1)}, "sticky_key"},
		{ExperimentSpec{ID: "x", StickyKey: "user", Arms: arms(1, 1)[:1]}, "at least two arms"},
		{ExperimentSpec{ID: "", StickyKey: "user", Arms: arms(1, 1)}, "id is required"},
		{ExperimentSpec{ID: "x", StickyKey: "user", Arms: arms(1, 1), Adaptive: &AdaptiveSpec{Metric: "q", Max: 1, MinShare: 0.6}}, "impossible"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if _, err := NewExperiment(tt.spec, testLookup(t)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	e := newExp(t, ExperimentSpec{ID: "x", StickyKey: "user", Arms: arms(1, 1)})
	if err := e.SetWeights(map[string]float64{"a": 0, "b": 0}); err == nil {
		t.Error("all-zero weights accepted")
	}
	if err := e.SetWeights(map[string]float64{"zz": 1}); err == nil {
		t.Error("unknown arm accepted")
	}
	if w := e.Spec().Arms; w[0].Weight != 1 || w[1].Weight != 1 {
		t.Errorf("a rejected change changed the weights: %+v", w)
	}
}

func TestGuardrailDrainsFailingArm(t *testing.T) {
	var drained []string
	e := newExp(t, ExperimentSpec{ID: "g", StickyKey: "user", Arms: []ArmSpec{{Name: "a", Strategy: "first", Weight: 1}, {Name: "b", Strategy: "cheap", Weight: 1}},
		Guardrail: &GuardrailSpec{Window: 100, MinSamples: 50, MaxErrorRate: 0.2}})
	e.OnDrain = func(exp, arm, reason string) { drained = append(drained, arm+": "+reason) }
	for i := 0; i < 60; i++ {
		e.Record("a", time.Millisecond, 0, false)
		e.Record("b", time.Millisecond, 0, i%2 == 0)
	}
	if len(drained) != 1 || !strings.HasPrefix(drained[0], "b: error rate") {
		t.Fatalf("drained %v", drained)
	}
	for i := 0; i < 1000; i++ {
		if arm, _ := e.Assign(&Request{User: fmt.Sprint(i)}); arm != 0 {
			t.Fatal("a drained arm still gets traffic")
		}
	}
	// The last arm standing is never drained.
	for i := 0; i < 100; i++ {
		e.Record("a", time.Millisecond, 0, true)
	}
	if st := e.Stats(); st[0].Drained {
		t.Error("drained the last arm")
	}
}

func TestThompsonShiftsTrafficToBetterArm(t *testing.T) {
	e := newExp(t, ExperimentSpec{ID: "t", StickyKey: "user", Arms: []ArmSpec{{Name: "a", Strategy: "first", Weight: 1}, {Name: "b", Strategy: "cheap", Weight: 1}},
		Adaptive: &AdaptiveSpec{Metric: "quality", Min: 0, Max: 1, MinShare: 0.1, Every: 10}})
	for i := 0; i < 200; i++ {
		e.RecordFeedback("a", "quality", 0.4)
		e.RecordFeedback("b", "quality", 0.8)
	}
	st := e.Stats()
	if st[1].Share < 0.85 || st[0].Share < 0.0999 {
		t.Errorf("shares a=%.3f b=%.3f; want b near 0.9 and a at the 0.1 floor", st[0].Share, st[1].Share)
	}
	if math.Abs(st[1].MeanFeedback-0.8) > 1e-9 || st[1].FeedbackCount != 200 {
		t.Errorf("stats %+v", st[1])
	}
}
