package lock

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the lock metrics, labelled by the lock's name (a handful of
// names chosen in code, such as "model_download"; never the key, whose
// cardinality is unbounded). One Metrics serves every Locker of a process.
type Metrics struct {
	acquisitions *prometheus.CounterVec
	contention   *prometheus.CounterVec
	timeouts     *prometheus.CounterVec
	lost         *prometheus.CounterVec
	errors       *prometheus.CounterVec
	wait         *prometheus.HistogramVec
	hold         *prometheus.HistogramVec
}

// NewMetrics creates the lock metrics and registers them with reg; a nil reg
// leaves them unregistered (they still count, which tests read directly).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	label := []string{"lock"}
	m := &Metrics{
		acquisitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_lock_acquisitions_total",
			Help: "Leases acquired.",
		}, label),
		contention: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_lock_contention_total",
			Help: "Acquire or TryAcquire calls that found the key held and had to wait or give up.",
		}, label),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_lock_timeouts_total",
			Help: "Acquire calls whose bounded wait ran out before the key was free.",
		}, label),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_lock_lost_total",
			Help: "Leases lost while held: renewal found another owner or could not reach the backend in time.",
		}, label),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_lock_backend_errors_total",
			Help: "Acquire, extend and release calls that failed because the backend was unreachable or failed.",
		}, label),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchyard_lock_wait_seconds",
			Help:    "Time from the start of Acquire to the lease, or to giving up.",
			Buckets: prometheus.ExponentialBucketsRange(0.001, 120, 14),
		}, label),
		hold: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchyard_lock_hold_seconds",
			Help:    "Time a lease was held: until release, loss, or its owner's context ended.",
			Buckets: prometheus.ExponentialBucketsRange(0.01, 3600, 14),
		}, label),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.acquisitions, m.contention, m.timeouts, m.lost, m.errors, m.wait, m.hold} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register lock metrics: %w", err)
			}
		}
	}
	return m, nil
}

// lockMetrics are Metrics curried with one lock name, so the hot path does not
// look labels up.
type lockMetrics struct {
	acquisitions, contention, timeouts, lost, errors prometheus.Counter
	wait, hold                                       prometheus.Observer
}

func (m *Metrics) forLock(name string) lockMetrics {
	if m == nil {
		// Unregistered metrics keep every call site free of nil checks.
		m, _ = NewMetrics(nil)
	}
	return lockMetrics{
		acquisitions: m.acquisitions.WithLabelValues(name),
		contention:   m.contention.WithLabelValues(name),
		timeouts:     m.timeouts.WithLabelValues(name),
		lost:         m.lost.WithLabelValues(name),
		errors:       m.errors.WithLabelValues(name),
		wait:         m.wait.WithLabelValues(name),
		hold:         m.hold.WithLabelValues(name),
	}
}
