package gateway

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/openai"
	"github.com/switchyard-ai/switchyard/internal/provider"
	"github.com/switchyard-ai/switchyard/internal/routing"
)

// deployment is one upstream model at run time. Its health outlives snapshots:
// a strategy swap must not forget that a deployment is cooling down.
type deployment struct {
	cfg    config.Deployment
	prov   provider.Provider
	health *health
}

// instance is a named strategy instance: a kind, its params and the built
// strategy. Instances are shared by the routes and experiments that use them.
type instance struct {
	spec    routing.Spec
	strat   routing.Strategy
	source  string // "config", "route" (inline in a route) or "api"
	created time.Time
}

// route is a client-facing model name and how it chooses among candidates.
type route struct {
	name  string
	cands []*deployment
	// strategy is what decides: an instance's strategy or an experiment.
	strategy routing.Strategy
	// uses names what the route selected: "strategy:NAME" or "experiment:ID".
	uses           string
	exploration    float64
	operatingPoint string
	// implicit routes are the deployments themselves, so a client can name
	// a deployment directly and bypass routing.
	implicit bool
}

func (r *route) candidateNames() []string {
	out := make([]string, len(r.cands))
	for i, d := range r.cands {
		out[i] = d.cfg.Name
	}
	return out
}

// snapshot is the gateway's whole routing state. It is immutable: a change
// builds and validates a new one, then swaps it in atomically, and a request
// keeps the snapshot it loaded until it ends.
type snapshot struct {
	routes      map[string]*route
	deployments map[string]*deployment
	strategies  map[string]*instance
	experiments map[string]*routing.Experiment
	routeNames  []string // declared routes, sorted
	modelsBody  []byte   // GET /v1/models, precomputed
}

// clone copies the maps so a change can be made to the copy.
func (s *snapshot) clone() *snapshot {
	c := &snapshot{routes: map[string]*route{}, deployments: s.deployments, strategies: map[string]*instance{},
		experiments: map[string]*routing.Experiment{}, routeNames: s.routeNames, modelsBody: s.modelsBody}
	for k, v := range s.routes {
		c.routes[k] = v
	}
	for k, v := range s.strategies {
		c.strategies[k] = v
	}
	for k, v := range s.experiments {
		c.experiments[k] = v
	}
	return c
}

// buildDeployments creates a provider per deployment. An unknown provider kind
// or an invalid deployment stops the gateway from starting, naming which.
func buildDeployments(cfg *config.Config, opts provider.Options) (map[string]*deployment, error) {
	out := make(map[string]*deployment, len(cfg.Deployments))
	for _, d := range cfg.Deployments {
		p, err := provider.New(d, opts)
		if err != nil {
			return nil, err
		}
		out[d.Name] = &deployment{cfg: d, prov: p, health: newHealth(d.Cooldown.AllowedFails, d.Cooldown.CooldownTime.D())}
	}
	return out, nil
}

// buildSnapshot assembles strategy instances, experiments and routes.
func buildSnapshot(cfg *config.Config, deps map[string]*deployment, env *routing.Env) (*snapshot, error) {
	s := &snapshot{routes: map[string]*route{}, deployments: deps, strategies: map[string]*instance{}, experiments: map[string]*routing.Experiment{}}
	now := time.Now()
	for _, sc := range cfg.Strategies {
		if sc.Name == "" {
			return nil, fmt.Errorf("strategies: an instance has no name")
		}
		if _, dup := s.strategies[sc.Name]; dup {
			return nil, fmt.Errorf("strategies: duplicate name %q", sc.Name)
		}
		spec := routing.Spec{Name: sc.Name, Kind: sc.Kind, Params: sc.Params, Env: env}
		st, err := routing.New(spec)
		if err != nil {
			return nil, err
		}
		s.strategies[sc.Name] = &instance{spec: spec, strat: st, source: "config", created: now}
	}
	for _, ec := range cfg.Experiments {
		e, err := routing.NewExperiment(experimentSpec(ec, cfg), s.lookupStrategy)
		if err != nil {
			return nil, err
		}
		if _, dup := s.experiments[e.ID()]; dup {
			return nil, fmt.Errorf("experiments: duplicate id %q", e.ID())
		}
		s.experiments[e.ID()] = e
	}
	for _, rc := range cfg.Routes {
		r, err := s.buildRoute(rc, env, now)
		if err != nil {
			return nil, err
		}
		s.routes[rc.Name] = r
		s.routeNames = append(s.routeNames, rc.Name)
	}
	sort.Strings(s.routeNames)
	// Every deployment not shadowed by a route is also a route of its own.
	for name, d := range deps {
		if _, taken := s.routes[name]; taken {
			continue
		}
		st, _ := routing.New(routing.Spec{Name: "direct", Kind: "fallback", Candidates: []string{name}})
		s.routes[name] = &route{name: name, cands: []*deployment{d}, strategy: st, uses: "direct", implicit: true}
	}
	s.modelsBody = modelsBody(s)
	return s, nil
}

// experimentSpec converts config to the routing spec; an adaptive metric's
// range comes from the feedback metric of that name.
func experimentSpec(ec config.Experiment, cfg *config.Config) routing.ExperimentSpec {
	spec := routing.ExperimentSpec{ID: ec.ID, StickyKey: ec.StickyKey}
	for _, a := range ec.Arms {
		spec.Arms = append(spec.Arms, routing.ArmSpec{Name: a.Name, Strategy: a.Strategy, Weight: a.Weight})
	}
	if ad := ec.Adaptive; ad != nil {
		spec.Adaptive = &routing.AdaptiveSpec{Metric: ad.Metric, MinShare: ad.MinShare, Every: ad.Every}
		for _, m := range cfg.Feedback.Metrics {
			if m.Name == ad.Metric {
				spec.Adaptive.Min, spec.Adaptive.Max = m.Min, m.Max
			}
		}
	}
	if g := ec.Guardrail; g != nil {
		spec.Guardrail = &routing.GuardrailSpec{Window: g.Window, MinSamples: g.MinSamples, MaxErrorRate: g.MaxErrorRate, Metric: g.Metric, MinFeedback: g.MinFeedback}
	}
	return spec
}

func (s *snapshot) lookupStrategy(name string) (routing.Strategy, bool) {
	in, ok := s.strategies[name]
	if !ok {
		return nil, false
	}
	return in.strat, true
}

func (s *snapshot) buildRoute(rc config.Route, env *routing.Env, now time.Time) (*route, error) {
	r := &route{name: rc.Name, exploration: rc.ExplorationRate, operatingPoint: rc.OperatingPoint}
	for _, c := range rc.Candidates {
		d, ok := s.deployments[c]
		if !ok {
			return nil, fmt.Errorf("route %q: candidate %q is not a declared deployment", rc.Name, c)
		}
		r.cands = append(r.cands, d)
	}
	switch {
	case rc.Use != "":
		if err := s.selectStrategy(r, rc.Use); err != nil {
			return nil, fmt.Errorf("route %q: %w", rc.Name, err)
		}
	case rc.Experiment != "":
		if err := s.selectExperiment(r, rc.Experiment); err != nil {
			return nil, fmt.Errorf("route %q: %w", rc.Name, err)
		}
	default:
		// An inline strategy (or the default fallback chain) becomes an
		// instance named after the route.
		spec := routing.Spec{Name: rc.Name, Kind: "fallback", Candidates: rc.Candidates, Env: env}
		if rc.Strategy != nil {
			spec.Kind, spec.Params = rc.Strategy.Kind, rc.Strategy.Params
		}
		if _, taken := s.strategies[rc.Name]; taken {
			return nil, fmt.Errorf("route %q: its inline strategy would be named %q, which a declared instance already uses; select that instance with use: instead", rc.Name, rc.Name)
		}
		st, err := routing.New(spec)
		if err != nil {
			return nil, fmt.Errorf("route %q: %w", rc.Name, err)
		}
		s.strategies[rc.Name] = &instance{spec: spec, strat: st, source: "route", created: now}
		r.strategy, r.uses = st, "strategy:"+rc.Name
	}
	return r, nil
}

// selectStrategy points r at a named instance, validating the instance
// against the route's candidates first.
func (s *snapshot) selectStrategy(r *route, name string) error {
	in, ok := s.strategies[name]
	if !ok {
		return fmt.Errorf("strategy instance %q does not exist (known: %s)", name, strings.Join(s.strategyNames(), ", "))
	}
	spec := in.spec
	spec.Candidates = r.candidateNames()
	probe, err := routing.New(spec)
	if err != nil {
		return fmt.Errorf("strategy %q cannot serve this route: %w", name, err)
	}
	_ = routing.Close(probe) // built only to validate

	r.strategy, r.uses = in.strat, "strategy:"+name
	return nil
}

// selectExperiment points r at an experiment, validating every arm's
// instance against the route's candidates.
func (s *snapshot) selectExperiment(r *route, id string) error {
	e, ok := s.experiments[id]
	if !ok {
		return fmt.Errorf("experiment %q does not exist", id)
	}
	for _, name := range e.Strategies() {
		probe := *r
		if err := s.selectStrategy(&probe, name); err != nil {
			return fmt.Errorf("experiment %q: %w", id, err)
		}
	}
	r.strategy, r.uses = e, "experiment:"+id
	return nil
}

func (s *snapshot) strategyNames() []string {
	out := make([]string, 0, len(s.strategies))
	for n := range s.strategies {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// usersOf lists what uses a strategy instance: routes and running experiments.
func (s *snapshot) usersOf(name string) []string {
	var out []string
	for _, rn := range s.routeNames {
		if s.routes[rn].uses == "strategy:"+name {
			out = append(out, "route "+rn)
		}
	}
	for id, e := range s.experiments {
		if _, stopped := e.Stopped(); stopped {
			continue
		}
		for _, st := range e.Strategies() {
			if st == name {
				out = append(out, "experiment "+id)
			}
		}
	}
	sort.Strings(out)
	return out
}

func modelsBody(s *snapshot) []byte {
	now := time.Now().Unix()
	list := openai.ModelList{Object: "list"}
	for _, name := range s.routeNames {
		list.Data = append(list.Data, openai.Model{ID: name, Object: "model", Created: now, OwnedBy: "switchyard"})
	}
	var direct []string
	for name, r := range s.routes {
		if r.implicit {
			direct = append(direct, name)
		}
	}
	sort.Strings(direct)
	for _, name := range direct {
		list.Data = append(list.Data, openai.Model{ID: name, Object: "model", Created: now, OwnedBy: s.deployments[name].cfg.Provider})
	}
	b, _ := json.Marshal(list)
	return b
}
