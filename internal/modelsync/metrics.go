package modelsync

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of one Syncer. The lock's own metrics (acquisitions, contention,
// wait and hold seconds, timeouts) come from the lock.Metrics given to the
// Locker, under the lock name chosen there.
type metrics struct {
	downloads       *prometheus.CounterVec
	hits            prometheus.Counter
	bytes           prometheus.Counter
	unlocked        prometheus.Counter
	staleCleaned    prometheus.Counter
	damaged         prometheus.Counter
	lockUnreachable prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		downloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_modelsync_downloads_total",
			Help: "Model version downloads by result: ok, download_error, verify_error, store_error.",
		}, []string{"result"}),
		hits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_modelsync_cache_hits_total",
			Help: "Ensure calls served from the cache without downloading, including after waiting for another replica's download.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_modelsync_downloaded_bytes_total",
			Help: "Bytes of model files downloaded and verified.",
		}),
		unlocked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_modelsync_unlocked_downloads_total",
			Help: "Downloads started without the lock because the lock backend stayed unreachable past the configured wait.",
		}),
		staleCleaned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_modelsync_stale_partials_removed_total",
			Help: "Partial download directories left by dead or overtaken holders and removed.",
		}),
		damaged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_modelsync_damaged_versions_total",
			Help: "Cached versions that failed verification and were replaced.",
		}),
		lockUnreachable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_modelsync_lock_unreachable_total",
			Help: "Lock attempts that failed because the lock backend was unreachable.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.downloads, m.hits, m.bytes, m.unlocked, m.staleCleaned, m.damaged, m.lockUnreachable} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register modelsync metrics: %w", err)
			}
		}
	}
	for _, r := range []string{"ok", "download_error", "verify_error", "store_error"} {
		m.downloads.WithLabelValues(r)
	}
	return m, nil
}
