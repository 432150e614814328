package gateway

import (
	"encoding/json"
	"fmt"
	"sort"
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

// route is a client-facing model name and how it chooses among candidates.
type route struct {
	name           string
	cands          []*deployment
	strategy       routing.Strategy
	exploration    float64
	operatingPoint string
	// implicit routes are the deployments themselves, so a client can name
	// a deployment directly and bypass routing.
	implicit bool
}

// snapshot is the gateway's whole routing state. It is immutable: a change
// builds and validates a new one, then swaps it in atomically, and a request
// keeps the snapshot it loaded until it ends.
type snapshot struct {
	routes      map[string]*route
	deployments map[string]*deployment
	routeNames  []string // declared routes, sorted
	modelsBody  []byte   // GET /v1/models, precomputed
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

// buildSnapshot assembles routes over existing deployments.
func buildSnapshot(cfg *config.Config, deps map[string]*deployment) (*snapshot, error) {
	s := &snapshot{routes: map[string]*route{}, deployments: deps}
	for _, rc := range cfg.Routes {
		r, err := buildRoute(rc, deps)
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
		s.routes[name] = &route{name: name, cands: []*deployment{d}, strategy: st, implicit: true}
	}
	s.modelsBody = modelsBody(s)
	return s, nil
}

func buildRoute(rc config.Route, deps map[string]*deployment) (*route, error) {
	r := &route{name: rc.Name, exploration: rc.ExplorationRate, operatingPoint: rc.OperatingPoint}
	for _, c := range rc.Candidates {
		d, ok := deps[c]
		if !ok {
			return nil, fmt.Errorf("route %q: candidate %q is not a declared deployment", rc.Name, c)
		}
		r.cands = append(r.cands, d)
	}
	spec := routing.Spec{Name: rc.Name, Kind: "fallback", Candidates: rc.Candidates}
	if rc.Strategy != nil {
		spec.Kind, spec.Params = rc.Strategy.Kind, rc.Strategy.Params
	}
	st, err := routing.New(spec)
	if err != nil {
		return nil, fmt.Errorf("route %q: %w", rc.Name, err)
	}
	r.strategy = st
	return r, nil
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
