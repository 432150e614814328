package routing

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkDecide measures one decision per kind over four candidates.
func BenchmarkDecide(b *testing.B) {
	sidecar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"pick":"d1"}`)
	}))
	defer sidecar.Close()
	kinds := []struct {
		kind   string
		params map[string]any
	}{
		{"fallback", nil},
		{"weighted", map[string]any{"weights": map[string]any{"d0": 1.0, "d1": 2.0, "d2": 3.0}}},
		{"round_robin", nil},
		{"least_latency", nil},
		{"lowest_cost", nil},
		{"remote", map[string]any{"url": sidecar.URL, "timeout": "1s", "send_prompt": false}},
	}
	cs := cands(true, true, true, true)
	req := &Request{Route: "auto", PromptTokens: 200, PromptText: func() string { return "hi" }}
	for _, k := range kinds {
		s, err := New(Spec{Name: "b", Kind: k.kind, Params: k.params, Candidates: []string{"d0", "d1", "d2", "d3"}})
		if err != nil {
			b.Fatal(err)
		}
		if o, ok := s.(Observer); ok {
			for i, c := range cs {
				o.Observe(c.Name, 0.1*float64(i+1), false)
			}
		}
		b.Run(k.kind, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := s.Decide(context.Background(), req, cs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	e, _ := NewExperiment(ExperimentSpec{ID: "x", StickyKey: "user", Arms: []ArmSpec{{Name: "a", Strategy: "first", Weight: 7}, {Name: "b", Strategy: "cheap", Weight: 3}}}, testLookup(b))
	b.Run("experiment", func(b *testing.B) {
		b.ReportAllocs()
		r := &Request{User: "user-42", PromptTokens: 200}
		for i := 0; i < b.N; i++ {
			if _, err := e.Decide(context.Background(), r, cs); err != nil {
				b.Fatal(err)
			}
		}
	})
}
