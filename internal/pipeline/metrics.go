package pipeline

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the pipeline's Prometheus series. They exist (unregistered)
// even without a Registerer, so the code never checks for nil.
type Metrics struct {
	runs        *prometheus.CounterVec
	steps       *prometheus.HistogramVec
	running     prometheus.Gauge
	lastSuccess prometheus.Gauge
	ticks       *prometheus.CounterVec
}

// NewMetrics creates the series and registers them with reg when it is not
// nil; registering twice in one registry is an error.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_pipeline_runs_total",
			Help: "Training pipeline runs by trigger (cli, api, schedule) and final status (succeeded, rejected, failed).",
		}, []string{"trigger", "status"}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchyard_pipeline_step_duration_seconds",
			Help:    "Duration of each pipeline step by step and status.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}, []string{"step", "status"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchyard_pipeline_running",
			Help: "Pipeline runs in progress in this process.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchyard_pipeline_last_success_timestamp_seconds",
			Help: "When a pipeline run last succeeded in this process (alert when it is too old).",
		}),
		ticks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_pipeline_schedule_ticks_total",
			Help: "Cron ticks seen by this replica, by outcome: taken (this replica ran it), elsewhere (another replica took it), busy (a run was in progress here), error (the lock backend failed).",
		}, []string{"outcome"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.runs, m.steps, m.running, m.lastSuccess, m.ticks} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register pipeline metrics: %w", err)
			}
		}
	}
	return m, nil
}
