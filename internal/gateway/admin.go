package gateway

import (
	"net/http"
	"time"

	"github.com/switchyard-ai/switchyard/internal/audit"
)

// adminRoutes serves /admin/*. The strategy, experiment, model and pipeline
// endpoints register here as those parts land.
func (s *Server) adminRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/routes", s.handleAdminRoutes)
	s.registerStrategyAdmin(mux)
	if s.models != nil {
		s.models.RegisterAdmin(mux) // /admin/models, /admin/model/rollback, /admin/audit
	}
	if s.pipeline != nil {
		s.pipeline.RegisterAdmin(mux) // /admin/pipeline/runs
	}
	mux.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errf(http.StatusNotFound, "invalid_request_error", "unknown_url", "", "unknown admin endpoint %s %s", r.Method, r.URL.Path))
	})
	// The admin key id is the actor of every audited change.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(audit.WithActor(r.Context(), keyID(r.Context()))))
	})
}

type adminDeployment struct {
	Name          string  `json:"name"`
	Provider      string  `json:"provider"`
	Model         string  `json:"model"`
	Healthy       bool    `json:"healthy"`
	InputPerMTok  float64 `json:"input_per_mtok"`
	OutputPerMTok float64 `json:"output_per_mtok"`
}

func (s *Server) handleAdminRoutes(w http.ResponseWriter, _ *http.Request) {
	snap := s.state.Load()
	now := time.Now()
	type adminRoute struct {
		Name        string            `json:"name"`
		Strategy    any               `json:"strategy"`
		Exploration float64           `json:"exploration_rate"`
		Candidates  []adminDeployment `json:"candidates"`
	}
	out := []adminRoute{}
	for _, name := range snap.routeNames {
		r := snap.routes[name]
		ar := adminRoute{Name: name, Strategy: r.strategy.Info(), Exploration: r.exploration}
		for _, d := range r.cands {
			ar.Candidates = append(ar.Candidates, adminDeployment{Name: d.cfg.Name, Provider: d.cfg.Provider, Model: d.cfg.Model,
				Healthy: d.health.healthy(now), InputPerMTok: d.cfg.Price.InputPerMTok, OutputPerMTok: d.cfg.Price.OutputPerMTok})
		}
		out = append(out, ar)
	}
	writeJSON(w, http.StatusOK, map[string]any{"routes": out})
}
