package modelmgr

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/switchyard-ai/switchyard/internal/ml/router"
	"github.com/switchyard-ai/switchyard/internal/routing"
)

// DefaultOperatingPoint is used when neither the request, the route nor the
// strategy's params name one.
const DefaultOperatingPoint = "balanced"

var learnedCaps = []string{routing.CapLearned, routing.CapCostTradeoff, routing.CapNeedsModel}

func init() {
	for _, kind := range router.Kinds {
		routing.RegisterKind(routing.Kind{
			Name: kind,
			Description: "Learned router (" + kind + ") serving the active version of params.model from the model manager; " +
				"params: model (required), operating_point, fallback_order.",
			Capabilities: learnedCaps,
			New:          func(spec routing.Spec) (routing.Strategy, error) { return newLearned(kind, spec) },
		})
	}
}

// learned is a strategy backed by a managed model. It holds the manager, not
// a model: each decision loads the active snapshot once, so a hot reload
// changes the next decision and never one in progress.
type learned struct {
	name, kind string
	mgr        *Manager
	reg        *Registry
	closed     sync.Once
	point      string
	fallback   map[string]int // deployment -> rank in params.fallback_order
}

func newLearned(kind string, spec routing.Spec) (routing.Strategy, error) {
	s := &learned{name: spec.Name, kind: kind}
	var model string
	for k, v := range spec.Params {
		switch k {
		case "model":
			m, ok := v.(string)
			if !ok || m == "" {
				return nil, fmt.Errorf("params.model must be a model name, got %v", v)
			}
			model = m
		case "operating_point":
			p, ok := v.(string)
			if !ok || p == "" {
				return nil, fmt.Errorf("params.operating_point must be a name such as balanced, got %v", v)
			}
			s.point = p
		case "fallback_order":
			list, ok := v.([]any)
			if !ok {
				return nil, errors.New("params.fallback_order must be a list of deployment names")
			}
			s.fallback = map[string]int{}
			for i, x := range list {
				name, ok := x.(string)
				if !ok {
					return nil, fmt.Errorf("params.fallback_order[%d]: %v is not a deployment name", i, x)
				}
				if len(spec.Candidates) > 0 && !contains(spec.Candidates, name) {
					return nil, fmt.Errorf("params.fallback_order[%d]: %q is not a candidate of the route (%s)", i, name, strings.Join(spec.Candidates, ", "))
				}
				s.fallback[name] = i
			}
		default:
			return nil, fmt.Errorf("unknown param %q (known: model, operating_point, fallback_order)", k)
		}
	}
	if model == "" {
		return nil, errors.New("params.model is required: the name of the router model to serve")
	}
	var reg *Registry
	if spec.Env != nil {
		reg, _ = spec.Env.Models.(*Registry)
	}
	if reg == nil {
		return nil, fmt.Errorf("the %s strategy needs the model manager, which is not configured (set models.store in the config)", kind)
	}
	m, err := reg.Manager(model, kind)
	if err != nil {
		return nil, err
	}
	s.mgr, s.reg = m, reg
	return s, nil
}

// Close releases the strategy's hold on its model's manager: the gateway calls
// it when the instance is deleted or replaced. Decide keeps working on the
// last active snapshot for requests already in flight.
func (s *learned) Close() error {
	s.closed.Do(func() { s.reg.Release(s.mgr) })
	return nil
}

func (s *learned) Info() routing.Info {
	v := ""
	if snap := s.mgr.Snapshot(); snap != nil {
		v = snap.Version
	}
	return routing.Info{Name: s.name, Kind: s.kind, Version: v, Capabilities: learnedCaps}
}

// Decide maps the route's candidates onto the model's by name (candidates
// the model does not know get no score and go after the scored ones; model
// candidates the route lacks are left out), decides at the operating point
// (request or route > params > balanced) and orders the fallbacks.
func (s *learned) Decide(ctx context.Context, req *routing.Request, cands []routing.Candidate) (routing.Decision, error) {
	snap := s.mgr.Snapshot()
	if snap == nil {
		return routing.Decision{}, fmt.Errorf("model %s has no active version yet", s.mgr.name)
	}
	point := s.point
	prompt := ""
	if req != nil {
		if req.OperatingPoint != "" {
			point = req.OperatingPoint
		}
		if req.PromptText != nil {
			prompt = req.PromptText()
		}
	}
	if point == "" {
		point = DefaultOperatingPoint
	}
	n := len(snap.index)
	healthy := make([]bool, n)
	routeIdx := make([]int, n)
	for j := range routeIdx {
		routeIdx[j] = -1
	}
	known := 0
	for i, c := range cands {
		if j, ok := snap.index[c.Name]; ok {
			routeIdx[j], healthy[j] = i, c.Healthy
			known++
		}
	}
	if known == 0 {
		return routing.Decision{}, fmt.Errorf("model %s@%s knows none of the route's candidates (it scores %s)",
			snap.Name, snap.Version, strings.Join(snap.Router.Candidates(), ", "))
	}
	d, err := snap.Router.DecideAt(ctx, prompt, healthy, point)
	if err != nil {
		return routing.Decision{}, fmt.Errorf("model %s@%s: %w", snap.Name, snap.Version, err)
	}
	scores := routing.NaNScores(len(cands))
	for j, sc := range d.Candidates {
		if i := routeIdx[j]; i >= 0 {
			scores[i] = routing.Score{Quality: sc.Quality, Cost: sc.Cost, Score: sc.Score}
		}
	}
	return routing.Decision{
		Order:        s.order(routeIdx[d.Pick], cands, scores),
		Scores:       scores,
		Propensity:   1,
		Reason:       d.Reason + " at operating point " + point,
		ModelVersion: snap.Version,
	}, nil
}

// order puts the pick first, then healthy candidates before unhealthy ones;
// among those, params.fallback_order's names in its order, then scored
// candidates by score, then unscored ones in declared order.
func (s *learned) order(pick int, cands []routing.Candidate, scores []routing.Score) []int {
	rest := make([]int, 0, len(cands)-1)
	for i := range cands {
		if i != pick {
			rest = append(rest, i)
		}
	}
	rank := func(i int) (int, bool) {
		r, ok := s.fallback[cands[i].Name]
		return r, ok
	}
	scored := func(i int) bool { return scores[i].Score == scores[i].Score } // not NaN
	sort.SliceStable(rest, func(a, b int) bool {
		i, j := rest[a], rest[b]
		if cands[i].Healthy != cands[j].Healthy {
			return cands[i].Healthy
		}
		ri, oki := rank(i)
		rj, okj := rank(j)
		if oki != okj {
			return oki
		}
		if oki {
			return ri < rj
		}
		if scored(i) != scored(j) {
			return scored(i)
		}
		return scored(i) && scores[i].Score > scores[j].Score
	})
	return append([]int{pick}, rest...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var _ routing.Strategy = (*learned)(nil)
