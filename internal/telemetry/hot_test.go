package telemetry

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestForUpdatesTheVectorsSeries: the cached children are the series the
// vectors export, so /metrics sees what the hot path counts.
func TestForUpdatesTheVectorsSeries(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	for range 3 {
		rd := m.For("r", "d")
		rd.OK.Inc()
		rd.TokensIn.Add(10)
		rd.TokensOut.Add(5)
		rd.CostUSD.Add(0.5)
		rd.Duration.Observe(0.1)
		rd.StreamDuration.Observe(0.2)
		rd.Upstream.Observe(0.05)
	}
	if m.For("r", "d") != m.For("r", "d") {
		t.Fatal("For resolved the same series twice")
	}
	checks := []struct {
		name string
		got  float64
		want float64
	}{
		{"requests 200", testutil.ToFloat64(m.Requests.WithLabelValues("r", "d", "200")), 3},
		{"input tokens", testutil.ToFloat64(m.Tokens.WithLabelValues("r", "d", "input")), 30},
		{"output tokens", testutil.ToFloat64(m.Tokens.WithLabelValues("r", "d", "output")), 15},
		{"cost", testutil.ToFloat64(m.CostUSD.WithLabelValues("r", "d")), 1.5},
		{"other route untouched", testutil.ToFloat64(m.Requests.WithLabelValues("r2", "d", "200")), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.RequestDuration); n != 2 {
		t.Errorf("request duration series = %d, want 2 (stream false and true)", n)
	}
	g := m.InFlightFor("r")
	g.Inc()
	if v := testutil.ToFloat64(m.InFlight.WithLabelValues("r")); v != 1 || m.InFlightFor("r") != g {
		t.Errorf("in-flight gauge = %v (or not cached), want 1", v)
	}
}
