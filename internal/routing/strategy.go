// Package routing decides which deployment answers a request: the Strategy
// interface, the registry of strategy kinds, and the heuristic kinds.
package routing

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"sync"

	"github.com/switchyard-ai/switchyard/internal/config"
)

// Candidate is one deployment a strategy may pick, as seen at decision time.
type Candidate struct {
	Name          string
	Price         config.Price
	ContextWindow int
	// Healthy is false while the deployment is in cooldown.
	Healthy bool
}

// Request is what a strategy may look at. Prompt text is computed once by the
// gateway and only when a strategy asks for it through PromptText.
type Request struct {
	Route          string
	PromptTokens   int
	MaxTokens      int
	User           string
	APIKeyID       string
	Header         http.Header
	OperatingPoint string
	// PromptText returns the concatenated message text (cached).
	PromptText func() string
}

// Score is a strategy's view of one candidate. Fields a strategy does not
// estimate are NaN, and are written as null in the decision event.
type Score struct {
	Quality float64 `json:"quality"`
	Cost    float64 `json:"cost"`
	Score   float64 `json:"score"`
}

// Decision is a strategy's answer: the order in which to try the candidates
// (the pick first, then fallbacks), every candidate's score, and why.
type Decision struct {
	// Order holds candidate indexes; Order[0] is the pick.
	Order  []int
	Scores []Score
	// Propensity is the probability with which Order[0] was picked, so rows
	// from traces can be weighted by inverse propensity when training.
	Propensity float64
	Reason     string
	// ModelVersion is the learned model's version, empty for heuristics.
	ModelVersion string
	// Experiment, Arm and Bucket are set when an experiment assigned the
	// request (Bucket is -1 once the experiment is stopped); ArmStrategy is
	// the arm's strategy instance.
	Experiment  string
	Arm         string
	Bucket      int
	ArmStrategy Info
}

// Pick returns the chosen candidate index.
func (d Decision) Pick() int { return d.Order[0] }

// Info describes a strategy instance.
type Info struct {
	Name         string   `json:"name"`
	Kind         string   `json:"kind"`
	Version      string   `json:"version"`
	Capabilities []string `json:"capabilities"`
}

// Capabilities a strategy may declare.
const (
	CapLearned      = "learned"
	CapCostTradeoff = "cost_tradeoff"
	CapNeedsModel   = "needs_model_artifact"
	CapRandomized   = "randomized"
	CapObserves     = "observes_outcomes"
	CapRemote       = "remote"
)

// Strategy decides among a route's candidates for one request. Decide must be
// safe for concurrent use; it must not block on I/O unless it is a remote kind.
type Strategy interface {
	Info() Info
	Decide(ctx context.Context, req *Request, cands []Candidate) (Decision, error)
}

// Close releases what a strategy instance holds (a learned kind holds its
// model's manager, which polls the model store) when the host drops the
// instance: deleted, replaced, or built only to validate a spec. Kinds that
// hold nothing do not implement io.Closer. Requests still in flight on the
// instance may call Decide after Close; implementations must allow that.
func Close(st Strategy) error {
	if c, ok := st.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// Observer is implemented by strategies that learn from outcomes online
// (least-latency). The gateway reports every attempt.
type Observer interface {
	Observe(deployment string, latencySeconds float64, failed bool)
}

// Spec is a strategy instance's definition: a name, a kind and its params.
type Spec struct {
	Name   string
	Kind   string
	Params map[string]any
	// Candidates are the deployments of the route(s) it serves, when known.
	Candidates []string
	// Env is what the host offers factories (the model registry for learned
	// kinds); a factory finds what it needs by type assertion, as Caddy's
	// modules find their apps. It may be nil.
	Env *Env
}

// Env carries host services to strategy factories.
type Env struct {
	// Models is the host's model registry (a *modelmgr.Registry in the
	// gateway); learned kinds assert the interface they need.
	Models any
	Logger *slog.Logger
}

// Factory builds a strategy from a spec, validating the params.
type Factory func(spec Spec) (Strategy, error)

// Kind is a registered strategy kind.
type Kind struct {
	Name         string
	Description  string
	Capabilities []string
	New          Factory
}

var (
	kindsMu sync.RWMutex
	kinds   = map[string]Kind{}
)

// RegisterKind adds a strategy kind; call it from init. A duplicate panics.
func RegisterKind(k Kind) {
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if _, dup := kinds[k.Name]; dup {
		panic("routing: duplicate strategy kind " + k.Name)
	}
	kinds[k.Name] = k
}

// Kinds lists the registered kinds sorted by name.
func Kinds() []Kind {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	out := make([]Kind, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// New builds a strategy instance from its spec.
func New(spec Spec) (Strategy, error) {
	kindsMu.RLock()
	k, ok := kinds[spec.Kind]
	kindsMu.RUnlock()
	if !ok {
		names := make([]string, 0)
		for _, k := range Kinds() {
			names = append(names, k.Name)
		}
		return nil, fmt.Errorf("strategy %q: unknown kind %q (known: %v)", spec.Name, spec.Kind, names)
	}
	s, err := k.New(spec)
	if err != nil {
		return nil, fmt.Errorf("strategy %q (%s): %w", spec.Name, spec.Kind, err)
	}
	return s, nil
}

// NaNScores returns n scores with every field NaN.
func NaNScores(n int) []Score {
	s := make([]Score, n)
	for i := range s {
		s[i] = Score{math.NaN(), math.NaN(), math.NaN()}
	}
	return s
}

// HealthyFirst returns the candidate indexes with the given first pick, then
// the remaining healthy ones in order, then the unhealthy ones: when every
// deployment is cooling down the gateway still tries them rather than fail.
func HealthyFirst(pick int, cands []Candidate) []int {
	order := make([]int, 0, len(cands))
	order = append(order, pick)
	for i, c := range cands {
		if i != pick && c.Healthy {
			order = append(order, i)
		}
	}
	for i, c := range cands {
		if i != pick && !c.Healthy {
			order = append(order, i)
		}
	}
	return order
}
