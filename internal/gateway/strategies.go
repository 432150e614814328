package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/switchyard-ai/switchyard/internal/routing"
)

// AuditEvent is one admin change, for the audit trail.
type AuditEvent struct {
	Actor  string `json:"actor"`
	Action string `json:"action"`
	Target string `json:"target"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
}

// AuditFunc records an admin change.
type AuditFunc func(ctx context.Context, e AuditEvent)

func (s *Server) audit(ctx context.Context, e AuditEvent) {
	s.log.Info("audit", "actor", e.Actor, "action", e.Action, "target", e.Target, "from", e.From, "to", e.To, "result", e.Result, "reason", e.Reason)
	if s.opts.Audit != nil {
		s.opts.Audit(ctx, e)
	}
}

// update applies a change to a copy of the routing state and swaps it in.
// Changes are serialized; requests in flight keep the snapshot they loaded.
func (s *Server) update(change func(next *snapshot) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.state.Load().clone()
	if err := change(next); err != nil {
		return err
	}
	s.state.Store(next)
	return nil
}

func (s *Server) registerStrategyAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/strategies", s.handleListStrategies)
	mux.HandleFunc("GET /admin/strategies/{name}", s.handleGetStrategy)
	mux.HandleFunc("POST /admin/strategies", s.handleCreateStrategy)
	mux.HandleFunc("DELETE /admin/strategies/{name}", s.handleDeleteStrategy)
	mux.HandleFunc("PUT /admin/routes/{route}/strategy", s.handleSelectStrategy)
	mux.HandleFunc("GET /admin/experiments", s.handleListExperiments)
	mux.HandleFunc("POST /admin/experiments", s.handleCreateExperiment)
	mux.HandleFunc("GET /admin/experiments/{id}", s.handleGetExperiment)
	mux.HandleFunc("PUT /admin/experiments/{id}", s.handleSetWeights)
	mux.HandleFunc("POST /admin/experiments/{id}/stop", s.handleStopExperiment)
}

type strategyView struct {
	routing.Info
	Params  map[string]any `json:"params,omitempty"`
	Source  string         `json:"source"`
	Created time.Time      `json:"created"`
	UsedBy  []string       `json:"used_by"`
}

func view(snap *snapshot, name string, in *instance) strategyView {
	used := snap.usersOf(name)
	if used == nil {
		used = []string{}
	}
	return strategyView{Info: in.strat.Info(), Params: in.spec.Params, Source: in.source, Created: in.created, UsedBy: used}
}

func (s *Server) handleListStrategies(w http.ResponseWriter, _ *http.Request) {
	snap := s.state.Load()
	type kindView struct {
		Name         string   `json:"name"`
		Description  string   `json:"description"`
		Capabilities []string `json:"capabilities"`
	}
	kinds := []kindView{}
	for _, k := range routing.Kinds() {
		kinds = append(kinds, kindView{k.Name, k.Description, k.Capabilities})
	}
	list := []strategyView{}
	for _, name := range snap.strategyNames() {
		list = append(list, view(snap, name, snap.strategies[name]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"strategies": list, "kinds": kinds})
}

func (s *Server) handleGetStrategy(w http.ResponseWriter, r *http.Request) {
	snap := s.state.Load()
	name := r.PathValue("name")
	in, ok := snap.strategies[name]
	if !ok {
		writeError(w, errf(http.StatusNotFound, "invalid_request_error", "not_found", "name", "strategy instance %q does not exist", name))
		return
	}
	writeJSON(w, http.StatusOK, view(snap, name, in))
}

// decodeAdmin decodes a JSON admin body strictly.
func (s *Server) decodeAdmin(w http.ResponseWriter, r *http.Request, v any) bool {
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		writeError(w, aerr)
		return false
	}
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, badRequest("", "malformed body: %v", err))
		return false
	}
	return true
}

func (s *Server) handleCreateStrategy(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name   string         `json:"name"`
		Kind   string         `json:"kind"`
		Params map[string]any `json:"params"`
	}
	if !s.decodeAdmin(w, r, &req) {
		return
	}
	actor := keyID(r.Context())
	if req.Name == "" || req.Kind == "" {
		writeError(w, badRequest("name", "name and kind are required"))
		return
	}
	spec := routing.Spec{Name: req.Name, Kind: req.Kind, Params: req.Params, Env: s.opts.Env}
	st, err := routing.New(spec)
	if err != nil {
		s.audit(r.Context(), AuditEvent{Actor: actor, Action: "strategy.create", Target: req.Name, To: req.Kind, Result: "rejected", Reason: err.Error()})
		writeError(w, badRequest("params", "%v", err))
		return
	}
	var conflict bool
	err = s.update(func(next *snapshot) error {
		if _, exists := next.strategies[req.Name]; exists {
			conflict = true
			return fmt.Errorf("strategy instance %q already exists", req.Name)
		}
		next.strategies[req.Name] = &instance{spec: spec, strat: st, source: "api", created: time.Now()}
		return nil
	})
	if err != nil {
		_ = routing.Close(st)
		code := http.StatusBadRequest
		if conflict {
			code = http.StatusConflict
		}
		writeError(w, errf(code, "invalid_request_error", "conflict", "name", "%v", err))
		return
	}
	s.audit(r.Context(), AuditEvent{Actor: actor, Action: "strategy.create", Target: req.Name, To: req.Kind, Result: "ok"})
	snap := s.state.Load()
	writeJSON(w, http.StatusCreated, view(snap, req.Name, snap.strategies[req.Name]))
}

func (s *Server) handleDeleteStrategy(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var code int
	var gone *instance
	err := s.update(func(next *snapshot) error {
		in, ok := next.strategies[name]
		if !ok {
			code = http.StatusNotFound
			return fmt.Errorf("strategy instance %q does not exist", name)
		}
		if users := next.usersOf(name); len(users) > 0 {
			code = http.StatusConflict
			return fmt.Errorf("strategy instance %q is in use by %v; select another strategy for those first", name, users)
		}
		delete(next.strategies, name)
		gone = in
		return nil
	})
	actor := keyID(r.Context())
	if err != nil {
		s.audit(r.Context(), AuditEvent{Actor: actor, Action: "strategy.delete", Target: name, Result: "rejected", Reason: err.Error()})
		writeError(w, errf(code, "invalid_request_error", "conflict", "name", "%v", err))
		return
	}
	// Requests that loaded the old state may still decide with it; Close
	// allows that (a learned instance stops following its model, and keeps
	// its last snapshot).
	if err := routing.Close(gone.strat); err != nil {
		s.log.Warn("closing deleted strategy instance", "strategy", name, "err", err)
	}
	s.audit(r.Context(), AuditEvent{Actor: actor, Action: "strategy.delete", Target: name, Result: "ok"})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleSelectStrategy(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Strategy   string `json:"strategy"`
		Experiment string `json:"experiment"`
	}
	if !s.decodeAdmin(w, r, &req) {
		return
	}
	name := r.PathValue("route")
	if (req.Strategy == "") == (req.Experiment == "") {
		writeError(w, badRequest("strategy", "give exactly one of strategy or experiment"))
		return
	}
	var from, to string
	code := http.StatusBadRequest
	err := s.update(func(next *snapshot) error {
		old, ok := next.routes[name]
		if !ok || old.implicit {
			code = http.StatusNotFound
			return fmt.Errorf("route %q does not exist", name)
		}
		r := *old
		var err error
		if req.Strategy != "" {
			err = next.selectStrategy(&r, req.Strategy)
		} else {
			err = next.selectExperiment(&r, req.Experiment)
		}
		if err != nil {
			return err
		}
		from, to = old.uses, r.uses
		next.routes[name] = &r
		return nil
	})
	actor := keyID(r.Context())
	if err != nil {
		s.audit(r.Context(), AuditEvent{Actor: actor, Action: "route.select", Target: name, To: req.Strategy + req.Experiment, Result: "rejected", Reason: err.Error()})
		writeError(w, errf(code, "invalid_request_error", "invalid_selection", "strategy", "%v", err))
		return
	}
	s.audit(r.Context(), AuditEvent{Actor: actor, Action: "route.select", Target: name, From: from, To: to, Result: "ok"})
	writeJSON(w, http.StatusOK, map[string]string{"route": name, "uses": to, "previous": from})
}

type experimentView struct {
	routing.ExperimentSpec
	Status   string             `json:"status"`
	Winner   string             `json:"winner,omitempty"`
	Routes   []string           `json:"routes"`
	Arms     []routing.ArmStats `json:"arm_stats"`
	NoKeyReq int64              `json:"requests_without_sticky_key"`
}

func experimentInfo(snap *snapshot, e *routing.Experiment) experimentView {
	v := experimentView{ExperimentSpec: e.Spec(), Status: "running", Routes: []string{}, Arms: e.Stats(), NoKeyReq: e.KeylessRequests()}
	if w, stopped := e.Stopped(); stopped {
		v.Status, v.Winner = "stopped", w
	}
	for _, rn := range snap.routeNames {
		if snap.routes[rn].uses == "experiment:"+e.ID() {
			v.Routes = append(v.Routes, rn)
		}
	}
	return v
}

func (s *Server) handleListExperiments(w http.ResponseWriter, _ *http.Request) {
	snap := s.state.Load()
	ids := make([]string, 0, len(snap.experiments))
	for id := range snap.experiments {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := []experimentView{}
	for _, id := range ids {
		out = append(out, experimentInfo(snap, snap.experiments[id]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"experiments": out})
}

func (s *Server) handleCreateExperiment(w http.ResponseWriter, r *http.Request) {
	var spec routing.ExperimentSpec
	if !s.decodeAdmin(w, r, &spec) {
		return
	}
	if spec.Adaptive != nil && spec.Adaptive.Max == spec.Adaptive.Min {
		if m, ok := s.feedbackMetrics[spec.Adaptive.Metric]; ok {
			spec.Adaptive.Min, spec.Adaptive.Max = m.Min, m.Max
		}
	}
	code := http.StatusBadRequest
	err := s.update(func(next *snapshot) error {
		if _, exists := next.experiments[spec.ID]; exists {
			code = http.StatusConflict
			return fmt.Errorf("experiment %q already exists", spec.ID)
		}
		e, err := routing.NewExperiment(spec, next.lookupStrategy)
		if err != nil {
			return err
		}
		s.hookExperiment(e)
		next.experiments[spec.ID] = e
		return nil
	})
	actor := keyID(r.Context())
	if err != nil {
		s.audit(r.Context(), AuditEvent{Actor: actor, Action: "experiment.create", Target: spec.ID, Result: "rejected", Reason: err.Error()})
		writeError(w, errf(code, "invalid_request_error", "invalid_experiment", "", "%v", err))
		return
	}
	s.audit(r.Context(), AuditEvent{Actor: actor, Action: "experiment.create", Target: spec.ID, Result: "ok"})
	snap := s.state.Load()
	writeJSON(w, http.StatusCreated, experimentInfo(snap, snap.experiments[spec.ID]))
}

func (s *Server) experiment(w http.ResponseWriter, r *http.Request) (*snapshot, *routing.Experiment, bool) {
	snap := s.state.Load()
	id := r.PathValue("id")
	e, ok := snap.experiments[id]
	if !ok {
		writeError(w, errf(http.StatusNotFound, "invalid_request_error", "not_found", "id", "experiment %q does not exist", id))
	}
	return snap, e, ok
}

func (s *Server) handleGetExperiment(w http.ResponseWriter, r *http.Request) {
	if snap, e, ok := s.experiment(w, r); ok {
		writeJSON(w, http.StatusOK, experimentInfo(snap, e))
	}
}

func (s *Server) handleSetWeights(w http.ResponseWriter, r *http.Request) {
	snap, e, ok := s.experiment(w, r)
	if !ok {
		return
	}
	var req struct {
		Weights map[string]float64 `json:"weights"`
	}
	if !s.decodeAdmin(w, r, &req) {
		return
	}
	actor := keyID(r.Context())
	from := fmt.Sprint(weightsOf(e))
	if len(req.Weights) == 0 {
		writeError(w, badRequest("weights", "weights are required: {\"weights\": {\"arm\": weight}}"))
		return
	}
	if err := e.SetWeights(req.Weights); err != nil {
		s.audit(r.Context(), AuditEvent{Actor: actor, Action: "experiment.weights", Target: e.ID(), From: from, Result: "rejected", Reason: err.Error()})
		writeError(w, badRequest("weights", "%v", err))
		return
	}
	s.audit(r.Context(), AuditEvent{Actor: actor, Action: "experiment.weights", Target: e.ID(), From: from, To: fmt.Sprint(weightsOf(e)), Result: "ok"})
	writeJSON(w, http.StatusOK, experimentInfo(snap, e))
}

func weightsOf(e *routing.Experiment) map[string]float64 {
	out := map[string]float64{}
	for _, a := range e.Spec().Arms {
		out[a.Name] = a.Weight
	}
	return out
}

func (s *Server) handleStopExperiment(w http.ResponseWriter, r *http.Request) {
	snap, e, ok := s.experiment(w, r)
	if !ok {
		return
	}
	var req struct {
		Winner string `json:"winner"`
	}
	if r.ContentLength != 0 && !s.decodeAdmin(w, r, &req) {
		return
	}
	if _, stopped := e.Stopped(); stopped {
		writeError(w, errf(http.StatusConflict, "invalid_request_error", "conflict", "", "experiment %q is already stopped", e.ID()))
		return
	}
	actor := keyID(r.Context())
	if err := e.Stop(req.Winner); err != nil {
		writeError(w, badRequest("winner", "%v", err))
		return
	}
	winner, _ := e.Stopped()
	s.audit(r.Context(), AuditEvent{Actor: actor, Action: "experiment.stop", Target: e.ID(), To: winner, Result: "ok"})
	writeJSON(w, http.StatusOK, experimentInfo(snap, e))
}

// hookExperiment connects an experiment's guardrail to the audit trail.
func (s *Server) hookExperiment(e *routing.Experiment) {
	e.OnDrain = func(exp, arm, reason string) {
		s.audit(context.Background(), AuditEvent{Actor: "guardrail", Action: "experiment.drain", Target: exp, From: arm, Result: "ok", Reason: reason})
	}
}
