package telemetry

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// RouteDeployment holds the series one route and deployment update on every
// successful request, resolved once. WithLabelValues hashes every label value
// and takes a lock per call; a plain request touched seven series that way.
type RouteDeployment struct {
	OK             prometheus.Counter  // requests, code 200
	Duration       prometheus.Observer // request duration, stream=false
	StreamDuration prometheus.Observer // request duration, stream=true
	Upstream       prometheus.Observer // upstream attempt duration
	FirstChunk     prometheus.Observer // time to a stream's first chunk
	TokensIn       prometheus.Counter
	TokensOut      prometheus.Counter
	CostUSD        prometheus.Counter
}

type rdKey struct{ route, deployment string }

// hotCache maps a route and deployment to their resolved series. Series are
// never deleted from the vectors, so a resolved child stays the one
// /metrics reports.
type hotCache struct{ m, inFlight sync.Map }

// For returns the resolved series of route and deployment, resolving them
// on first use.
func (m *Metrics) For(route, deployment string) *RouteDeployment {
	k := rdKey{route, deployment}
	if v, ok := m.hot.m.Load(k); ok {
		return v.(*RouteDeployment)
	}
	rd := &RouteDeployment{
		OK:             m.Requests.WithLabelValues(route, deployment, "200"),
		Duration:       m.RequestDuration.WithLabelValues(route, deployment, "false"),
		StreamDuration: m.RequestDuration.WithLabelValues(route, deployment, "true"),
		Upstream:       m.UpstreamDuration.WithLabelValues(route, deployment),
		FirstChunk:     m.TimeToFirstByte.WithLabelValues(route, deployment),
		TokensIn:       m.Tokens.WithLabelValues(route, deployment, "input"),
		TokensOut:      m.Tokens.WithLabelValues(route, deployment, "output"),
		CostUSD:        m.CostUSD.WithLabelValues(route, deployment),
	}
	v, _ := m.hot.m.LoadOrStore(k, rd)
	return v.(*RouteDeployment)
}

// InFlightFor returns route's in-flight gauge, resolved once.
func (m *Metrics) InFlightFor(route string) prometheus.Gauge {
	if v, ok := m.hot.inFlight.Load(route); ok {
		return v.(prometheus.Gauge)
	}
	v, _ := m.hot.inFlight.LoadOrStore(route, m.InFlight.WithLabelValues(route))
	return v.(prometheus.Gauge)
}
