// Package telemetry sets up the gateway's traces, metrics and logs, and holds
// the routing decision contract written on each request's trace.
package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gateway's Prometheus series. Labels are bounded by config:
// routes and deployments are declared, status is a class, reason an enum.
type Metrics struct {
	Requests         *prometheus.CounterVec   // route, deployment, code
	RequestDuration  *prometheus.HistogramVec // route, deployment, stream
	UpstreamDuration *prometheus.HistogramVec // route, deployment
	TimeToFirstByte  *prometheus.HistogramVec // route, deployment
	Tokens           *prometheus.CounterVec   // route, deployment, type
	CostUSD          *prometheus.CounterVec   // route, deployment
	Errors           *prometheus.CounterVec   // route, deployment, reason
	Fallbacks        *prometheus.CounterVec   // route, from, to
	Retries          *prometheus.CounterVec   // route, deployment
	UsageEstimated   *prometheus.CounterVec   // route, deployment
	InFlight         *prometheus.GaugeVec     // route
	Cooldowns        *prometheus.CounterVec   // deployment
	Feedback         *prometheus.CounterVec   // metric
	FeedbackValue    *prometheus.HistogramVec // metric
	ArmRequests      *prometheus.CounterVec   // experiment, arm, outcome
	ArmLatency       *prometheus.HistogramVec // experiment, arm
	ArmCost          *prometheus.CounterVec   // experiment, arm
	ArmFeedbackSum   *prometheus.CounterVec   // experiment, arm, metric
	ArmFeedbackCount *prometheus.CounterVec   // experiment, arm, metric

	hot hotCache
}

// latencyBuckets span sub-millisecond gateway work to multi-minute streams.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// NewMetrics creates and registers the gateway metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_requests_total", Help: "Client requests by route, deployment that answered, and HTTP status code.",
		}, []string{"route", "deployment", "code"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchyard_request_duration_seconds", Help: "Total request latency seen by the gateway.", Buckets: latencyBuckets,
		}, []string{"route", "deployment", "stream"}),
		UpstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchyard_upstream_duration_seconds", Help: "Latency of each upstream attempt.", Buckets: latencyBuckets,
		}, []string{"route", "deployment"}),
		TimeToFirstByte: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchyard_time_to_first_chunk_seconds", Help: "Time from request to the first streamed chunk.", Buckets: latencyBuckets,
		}, []string{"route", "deployment"}),
		Tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_tokens_total", Help: "Tokens by route, deployment and type (input, output).",
		}, []string{"route", "deployment", "type"}),
		CostUSD: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_cost_usd_total", Help: "Cost in USD: usage tokens times deployment prices.",
		}, []string{"route", "deployment"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_errors_total", Help: "Failed attempts and requests by reason.",
		}, []string{"route", "deployment", "reason"}),
		Fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_fallbacks_total", Help: "Times a request moved from one deployment to the next.",
		}, []string{"route", "from", "to"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_retries_total", Help: "Retries of the same deployment.",
		}, []string{"route", "deployment"}),
		UsageEstimated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_usage_estimated_total", Help: "Responses whose upstream omitted usage, so tokens were estimated.",
		}, []string{"route", "deployment"}),
		InFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchyard_in_flight_requests", Help: "Requests being served.",
		}, []string{"route"}),
		Cooldowns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_deployment_cooldowns_total", Help: "Times a deployment was put in cooldown after repeated failures.",
		}, []string{"deployment"}),
		Feedback: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_feedback_total", Help: "Feedback posts accepted, by metric.",
		}, []string{"metric"}),
		FeedbackValue: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchyard_feedback_value", Help: "Feedback values, by metric.", Buckets: prometheus.LinearBuckets(0, 0.1, 11),
		}, []string{"metric"}),
		ArmRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_experiment_requests_total", Help: "Requests per experiment arm, by outcome (ok, error).",
		}, []string{"experiment", "arm", "outcome"}),
		ArmLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchyard_experiment_latency_seconds", Help: "Request latency per experiment arm.", Buckets: latencyBuckets,
		}, []string{"experiment", "arm"}),
		ArmCost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_experiment_cost_usd_total", Help: "Cost per experiment arm.",
		}, []string{"experiment", "arm"}),
		ArmFeedbackSum: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_experiment_feedback_sum", Help: "Sum of feedback values per experiment arm and metric (divide by _count for the mean).",
		}, []string{"experiment", "arm", "metric"}),
		ArmFeedbackCount: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_experiment_feedback_count", Help: "Feedback posts per experiment arm and metric.",
		}, []string{"experiment", "arm", "metric"}),
	}
	if reg != nil {
		reg.MustRegister(m.ArmRequests, m.ArmLatency, m.ArmCost, m.ArmFeedbackSum, m.ArmFeedbackCount)
		reg.MustRegister(m.Requests, m.RequestDuration, m.UpstreamDuration, m.TimeToFirstByte, m.Tokens,
			m.CostUSD, m.Errors, m.Fallbacks, m.Retries, m.UsageEstimated, m.InFlight, m.Cooldowns, m.Feedback, m.FeedbackValue)
	}
	return m
}
