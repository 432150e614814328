package gateway

import (
	"bytes"
	"sync"

	"github.com/switchyard-ai/switchyard/internal/telemetry"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// armMemory remembers which experiment arm served each recent request, so
// feedback posted later can count toward that arm. It holds the last n
// requests of this replica; feedback for older requests, or for requests
// another replica served, reaches the arm's figures only through the trace
// export (documented in docs/routing-strategies.md).
//
// It grows as experiment traffic comes: a gateway without experiments keeps
// nothing. (Allocated up front for 100,000 requests it was a 17 MB map of
// pointers that every GC cycle scanned, on every gateway.)
type armMemory struct {
	mu   sync.Mutex
	n    int
	m    map[string]armRef
	ring []string
	pos  int
}

type armRef struct{ experiment, arm string }

func newArmMemory(n int) *armMemory { return &armMemory{n: n} }

func (a *armMemory) put(requestID string, ref armRef) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[string]armRef{}
	}
	if len(a.ring) < a.n {
		a.ring = append(a.ring, requestID)
	} else {
		if old := a.ring[a.pos]; old != "" {
			delete(a.m, old)
		}
		a.ring[a.pos] = requestID
		a.pos = (a.pos + 1) % a.n
	}
	a.m[requestID] = ref
}

func (a *armMemory) get(requestID string) (armRef, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.m[requestID]
	return r, ok
}

// recordArm feeds a finished request's outcome to its experiment arm and the
// per-arm metrics.
func (s *Server) recordArm(requestID string, rec *telemetry.DecisionRecord, failed bool) {
	if rec.Experiment == "" {
		return
	}
	e, ok := s.state.Load().experiments[rec.Experiment]
	if !ok {
		return
	}
	e.Record(rec.Arm, rec.Outcome.Latency, rec.Outcome.CostUSD, failed)
	outcome := "ok"
	if failed {
		outcome = "error"
	}
	s.metrics.ArmRequests.WithLabelValues(rec.Experiment, rec.Arm, outcome).Inc()
	s.metrics.ArmLatency.WithLabelValues(rec.Experiment, rec.Arm).Observe(rec.Outcome.Latency.Seconds())
	s.metrics.ArmCost.WithLabelValues(rec.Experiment, rec.Arm).Add(rec.Outcome.CostUSD)
	s.arms.put(requestID, armRef{rec.Experiment, rec.Arm})
}
