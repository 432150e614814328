package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"
)

type routeHealth struct {
	Name         string   `json:"name"`
	Strategy     string   `json:"strategy"`
	StrategyKind string   `json:"strategy_kind"`
	ModelVersion string   `json:"model_version,omitempty"`
	Candidates   []string `json:"candidates"`
	Healthy      []string `json:"healthy"`
}

func (s *Server) handleLive(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"status": "ok", "version": s.opts.Version, "uptime_seconds": int(time.Since(s.started).Seconds()),
	})
}

// handleReady answers 200 while accepting traffic, 503 once shutdown began,
// and lists each route with its active strategy (and model version).
func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	snap := s.state.Load()
	now := time.Now()
	routes := make([]routeHealth, 0, len(snap.routeNames))
	for _, name := range snap.routeNames {
		r := snap.routes[name]
		info := r.strategy.Info()
		rh := routeHealth{Name: name, Strategy: info.Name, StrategyKind: info.Kind, ModelVersion: info.Version, Candidates: []string{}, Healthy: []string{}}
		if !hasCap(info.Capabilities, "learned") {
			rh.ModelVersion = ""
		}
		for _, d := range r.cands {
			rh.Candidates = append(rh.Candidates, d.cfg.Name)
			if d.health.healthy(now) {
				rh.Healthy = append(rh.Healthy, d.cfg.Name)
			}
		}
		routes = append(routes, rh)
	}
	status, code := "ready", http.StatusOK
	if !s.ready.Load() {
		status, code = "shutting_down", http.StatusServiceUnavailable
	}
	out := map[string]any{"status": status, "routes": routes}
	if s.models != nil {
		out["models"] = s.models.Statuses() // active version, sha256, loaded at, previous, last error
	}
	writeJSON(w, code, out)
}

func hasCap(caps []string, c string) bool {
	for _, x := range caps {
		if x == c {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, errf(http.StatusInternalServerError, "server_error", "", "", "encode response: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func newRandomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
