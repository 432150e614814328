package routing

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/config"
)

func cands(healthy ...bool) []Candidate {
	out := make([]Candidate, len(healthy))
	for i, h := range healthy {
		out[i] = Candidate{Name: fmt.Sprintf("d%d", i), Healthy: h, Price: config.Price{InputPerMTok: float64(10 - i), OutputPerMTok: float64(20 - 2*i)}}
	}
	return out
}

func mustNew(t testing.TB, kind string, params map[string]any) Strategy {
	t.Helper()
	s, err := New(Spec{Name: "s", Kind: kind, Params: params, Candidates: []string{"d0", "d1", "d2"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestKindsValidateParams(t *testing.T) {
	tests := []struct {
		kind   string
		params map[string]any
		want   string
	}{
		{"nope", nil, `unknown kind "nope"`},
		{"weighted", map[string]any{"weights": map[string]any{"d0": -1.0}}, "negative"},
		{"weighted", map[string]any{"weights": map[string]any{"d0": 0.0, "d1": 0}}, "all weights are zero"},
		{"weighted", map[string]any{"weights": map[string]any{"zz": 1.0}}, "not a candidate"},
		{"weighted", map[string]any{"wieghts": map[string]any{}}, `unknown param "wieghts"`},
		{"round_robin", map[string]any{"x": 1}, "this kind takes none"},
		{"least_latency", map[string]any{"alpha": 2.0}, "alpha"},
		{"lowest_cost", map[string]any{"expected_output_tokens": "many"}, "not a number"},
		{"remote", map[string]any{}, "params.url is required"},
		{"remote", map[string]any{"url": "ftp://x"}, "http(s) URL"},
		{"remote", map[string]any{"url": "http://x", "timeout": "soon"}, "duration"},
		{"remote", map[string]any{"url": "http://x", "fallback": map[string]any{"kind": "remote"}}, "non-remote"},
		{"remote", map[string]any{"url": "http://x", "fallback": map[string]any{"kind": "weighted", "params": map[string]any{"weights": map[string]any{"d0": -1}}}}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.kind+"/"+tt.want, func(t *testing.T) {
			_, err := New(Spec{Name: "s", Kind: tt.kind, Params: tt.params, Candidates: []string{"d0", "d1", "d2"}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

func TestHeuristicDecisions(t *testing.T) {
	ctx := context.Background()
	req := &Request{PromptTokens: 100}
	t.Run("fallback skips unhealthy", func(t *testing.T) {
		d, _ := mustNew(t, "fallback", nil).Decide(ctx, req, cands(false, true, true))
		if fmt.Sprint(d.Order) != "[1 2 0]" {
			t.Errorf("order %v", d.Order)
		}
	})
	t.Run("round robin cycles healthy", func(t *testing.T) {
		s := mustNew(t, "round_robin", nil)
		counts := map[int]int{}
		for i := 0; i < 300; i++ {
			d, _ := s.Decide(ctx, req, cands(true, false, true))
			counts[d.Pick()]++
		}
		if counts[1] != 0 || counts[0] < 100 || counts[2] < 100 {
			t.Errorf("counts %v", counts)
		}
	})
	t.Run("lowest cost", func(t *testing.T) {
		d, _ := mustNew(t, "lowest_cost", nil).Decide(ctx, req, cands(true, true, false))
		if d.Pick() != 1 || fmt.Sprint(d.Order) != "[1 0 2]" {
			t.Errorf("order %v scores %v", d.Order, d.Scores)
		}
		want := (100*9 + 256*18) / 1e6
		if math.Abs(d.Scores[1].Cost-want) > 1e-12 {
			t.Errorf("cost %g, want %g", d.Scores[1].Cost, want)
		}
	})
	t.Run("weighted shares", func(t *testing.T) {
		s := mustNew(t, "weighted", map[string]any{"weights": map[string]any{"d0": 3.0, "d1": 1.0, "d2": 0.0}})
		counts := map[int]int{}
		for i := 0; i < 20000; i++ {
			d, _ := s.Decide(ctx, req, cands(true, true, true))
			counts[d.Pick()]++
		}
		if counts[2] != 0 || math.Abs(float64(counts[0])/20000-0.75) > 0.02 {
			t.Errorf("counts %v", counts)
		}
	})
	t.Run("least latency prefers faster", func(t *testing.T) {
		s := mustNew(t, "least_latency", nil)
		o := s.(Observer)
		for i := 0; i < 10; i++ {
			o.Observe("d0", 0.5, false)
			o.Observe("d1", 0.05, false)
			o.Observe("d2", 0.2, false)
		}
		counts := map[int]int{}
		var props float64
		for i := 0; i < 3000; i++ {
			d, _ := s.Decide(ctx, req, cands(true, true, true))
			counts[d.Pick()]++
			if d.Pick() == 1 {
				props = d.Propensity
			}
		}
		// d1 wins both pairs it is drawn in: 2/3; d0 never wins.
		if counts[0] != 0 || math.Abs(float64(counts[1])/3000-2.0/3) > 0.04 {
			t.Errorf("counts %v", counts)
		}
		if math.Abs(props-2.0/3) > 1e-9 {
			t.Errorf("propensity of the fastest = %g, want 2/3", props)
		}
		o.Observe("d1", 0.01, true) // a failure counts as the penalty
		if l := s.(*leastLatency).Latency("d1"); l < 0.9 {
			t.Errorf("failure did not raise the EWMA: %g", l)
		}
	})
}

func TestRemote(t *testing.T) {
	var mu sync.Mutex
	var got RemoteRequest
	mode := "ok"
	sidecar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		m := mode
		mu.Unlock()
		switch m {
		case "ok":
			var rr RemoteRequest
			_ = jsonDecode(r, &rr)
			mu.Lock()
			got = rr
			mu.Unlock()
			fmt.Fprint(w, `{"pick":"d2","scores":{"d2":{"quality":0.9,"cost":0.001}},"reason":"cheap and good","model_version":"sk-3"}`)
		case "slow":
			time.Sleep(200 * time.Millisecond)
		case "garbage":
			fmt.Fprint(w, `<html>`)
		case "bad pick":
			fmt.Fprint(w, `{"pick":"gpt-9"}`)
		case "500":
			w.WriteHeader(500)
		}
	}))
	defer sidecar.Close()
	s := mustNew(t, "remote", map[string]any{"url": sidecar.URL, "timeout": "50ms"})
	req := &Request{Route: "auto", PromptTokens: 12, PromptText: func() string { return "hello" }}
	d, err := s.Decide(context.Background(), req, cands(true, true, true))
	if err != nil || d.Pick() != 2 || d.ModelVersion != "sk-3" || d.Scores[2].Quality != 0.9 || !strings.Contains(d.Reason, "cheap and good") {
		t.Fatalf("decision %+v err %v", d, err)
	}
	if got.Prompt != "hello" || len(got.Candidates) != 3 || got.ProtocolVersion != 1 {
		t.Errorf("sidecar got %+v", got)
	}
	for _, m := range []string{"slow", "garbage", "bad pick", "500"} {
		t.Run(m, func(t *testing.T) {
			mu.Lock()
			mode = m
			mu.Unlock()
			d, err := s.Decide(context.Background(), req, cands(true, true, true))
			if err != nil {
				t.Fatal(err)
			}
			if d.Pick() != 0 || !strings.Contains(d.Reason, "remote strategy failed") || !strings.Contains(d.Reason, "fallback") {
				t.Errorf("want the fallback's pick with the reason in the trace, got %d %q", d.Pick(), d.Reason)
			}
		})
	}
}
