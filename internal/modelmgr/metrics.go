package modelmgr

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	reloads        *prometheus.CounterVec
	lastActivation *prometheus.GaugeVec
	moves          *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_model_reloads_total",
			Help: "Attempts to activate the version CURRENT names, by model and result: ok, rejected (the version is bad), failed (transient, retried).",
		}, []string{"model", "result"}),
		lastActivation: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchyard_model_last_activation_timestamp_seconds",
			Help: "When this replica last activated a version of the model.",
		}, []string{"model"}),
		moves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_model_current_moves_total",
			Help: "Deploys and rollbacks asked of this process, by action and result (ok, rejected, conflict, failed).",
		}, []string{"action", "result"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.reloads, m.lastActivation, m.moves} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register modelmgr metrics: %w", err)
			}
		}
	}
	return m, nil
}
