package gateway

import (
	"sync"
	"sync/atomic"
	"time"
)

// health tracks one deployment's recent failures. After AllowedFails failures
// within a minute it is cooled down for CooldownTime, as LiteLLM does: the
// router skips it while healthy candidates remain. A success resets the count.
type health struct {
	allowedFails int
	cooldown     time.Duration

	until atomic.Int64 // unix nanos; the hot path reads only this

	mu       sync.Mutex
	failures []time.Time
}

func newHealth(allowedFails int, cooldown time.Duration) *health {
	return &health{allowedFails: allowedFails, cooldown: cooldown}
}

// healthy reports whether the deployment is out of cooldown at now.
func (h *health) healthy(now time.Time) bool { return now.UnixNano() >= h.until.Load() }

// success clears the failure window.
func (h *health) success() {
	h.mu.Lock()
	h.failures = h.failures[:0]
	h.mu.Unlock()
}

// failure records a failure and reports whether it started a cooldown.
func (h *health) failure(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	cut := now.Add(-time.Minute)
	kept := h.failures[:0]
	for _, t := range h.failures {
		if t.After(cut) {
			kept = append(kept, t)
		}
	}
	h.failures = append(kept, now)
	if len(h.failures) >= h.allowedFails && h.healthy(now) {
		h.until.Store(now.Add(h.cooldown).UnixNano())
		h.failures = h.failures[:0]
		return true
	}
	return false
}
