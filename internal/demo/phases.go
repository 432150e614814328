package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/internal/bundle"
	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/eval"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
	"github.com/switchyard-ai/switchyard/internal/provider"
	"github.com/switchyard-ai/switchyard/internal/traffic"
)

// PhaseStats are the realised figures of a stretch of traffic: quality is the
// simulated ground truth of the model that answered, cost what the gateway
// accounted.
type PhaseStats struct {
	Requests    int                       `json:"requests"`
	Failed      int                       `json:"failed"`
	MeanQuality float64                   `json:"mean_quality"`
	MeanCostUSD float64                   `json:"mean_cost_usd"`
	Picks       map[string]map[string]int `json:"picks"`
}

// costTotal sums the gateway's cost and request counters for the route.
func (r *run) costTotal() (cost, requests float64) {
	mfs, err := r.reg.Gather()
	if err != nil {
		return 0, 0
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			onRoute := false
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" && l.GetValue() == route {
					onRoute = true
				}
			}
			if !onRoute {
				continue
			}
			switch mf.GetName() {
			case "switchyard_cost_usd_total":
				cost += m.GetCounter().GetValue()
			case "switchyard_requests_total":
				requests += m.GetCounter().GetValue()
			}
		}
	}
	return cost, requests
}

// traffic sends n requests with feedback and measures them.
func (r *run) traffic(ctx context.Context, n int, seed uint64) (PhaseStats, error) {
	c0, n0 := r.costTotal()
	sum, err := traffic.Run(ctx, traffic.Options{
		Gateway: r.url, Key: clientKey, Route: route, Requests: n, Concurrency: 8,
		MaxDuration: 2 * time.Minute, Seed: seed, Config: r.cfg, HTTP: r.client,
	})
	if err != nil {
		return PhaseStats{}, fmt.Errorf("traffic: %w", err)
	}
	// The gateway accounts a request just after its response is written.
	time.Sleep(50 * time.Millisecond)
	c1, n1 := r.costTotal()
	st := PhaseStats{Requests: sum.Sent, Failed: sum.Failed, Picks: sum.Picks}
	var q float64
	k := 0
	for _, res := range sum.Results {
		d := r.deployment(res.Deployment)
		if d == nil || res.Status != http.StatusOK {
			continue
		}
		q += provider.SimQuality(d.Simulated, res.Topic)
		k++
	}
	if k > 0 {
		st.MeanQuality = q / float64(k)
	}
	if n1 > n0 {
		st.MeanCostUSD = (c1 - c0) / (n1 - n0)
	}
	return st, nil
}

func (r *run) deployment(name string) *config.Deployment {
	for i := range r.cfg.Deployments {
		d := &r.cfg.Deployments[i]
		if d.Name == name || d.Model == name {
			return d
		}
	}
	return nil
}

// whileTraffic runs fn while n requests flow, and reports how they fared.
func (r *run) whileTraffic(ctx context.Context, n int, seed uint64, fn func() error) (PhaseStats, error) {
	type result struct {
		st  PhaseStats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := r.traffic(ctx, n, seed)
		done <- result{st, err}
	}()
	time.Sleep(100 * time.Millisecond)
	ferr := fn()
	res := <-done
	if ferr != nil {
		return res.st, ferr
	}
	return res.st, res.err
}

// evaluationSet is n prompts with every model's true quality and cost: what
// the simulated providers would score and charge.
func evaluationSet(cfg *config.Config, n int, seed uint64) []dataset.Row {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	rows := make([]dataset.Row, 0, n)
	for i := 0; i < n; i++ {
		topic := provider.SimTopics[rng.IntN(len(provider.SimTopics))]
		prompt := traffic.Prompt(rng, topic)
		truth := provider.SimTopic(prompt)
		in := provider.EstimateTokens(prompt) + 7
		row := dataset.Row{ID: fmt.Sprintf("eval-%d", i), Prompt: prompt, Source: "simulated", Outcomes: map[string]dataset.Outcome{}}
		for _, d := range cfg.Deployments {
			q := provider.SimQuality(d.Simulated, truth)
			out := d.Simulated.OutputTokens
			c := d.Price.Cost(in, out)
			inT, outT := in, out
			row.Outcomes[d.Name] = dataset.Outcome{Quality: &q, Cost: &c, InputTokens: &inT, OutputTokens: &outT}
		}
		rows = append(rows, row)
	}
	return rows
}

// RouterResult is one trained router's evaluation.
type RouterResult struct {
	Kind         string     `json:"kind"`
	AIQ          float64    `json:"aiq"`
	TrainSeconds float64    `json:"train_seconds"`
	Balanced     eval.Point `json:"balanced"`
	BalancedMet  bool       `json:"balanced_met"`
}

type trained struct {
	kind   string
	rt     *router.Router
	report eval.Report
}

func (r *run) trainConfig(kind, version string) router.TrainConfig {
	var cands []bundle.Candidate
	for _, d := range r.cfg.Deployments {
		cands = append(cands, bundle.Candidate{Name: d.Name, InputPrice: d.Price.InputPerMTok, OutputPrice: d.Price.OutputPerMTok})
	}
	return router.TrainConfig{Name: modelName, Version: version, Kind: kind, Featurizer: feature.Config{Kind: "tfidf"},
		Candidates: cands, OperatingPoints: eval.DefaultOperatingPoints(), Seed: int64(r.o.Seed)}
}

// calibrationTargets are the operating points with a one-point safety
// margin: calibration picks the cheapest lambda that just meets its target on
// the golden set, so without a margin new prompts land below it about half
// the time (seen: 0.886 against 0.887), and with half a point about one run
// in ten (0.888 against 0.888). One point is about three standard errors of
// a 1,000-prompt golden set.
func calibrationTargets() map[string]float64 {
	return map[string]float64{"balanced": 0.99, "economy": 0.96}
}

// train fits a router on trace rows and calibrates its operating points on
// the golden set.
func (r *run) train(ctx context.Context, kind, version string, rows, golden []dataset.Row) (*router.Router, router.Summary, error) {
	rt, sum, err := router.Train(ctx, r.trainConfig(kind, version), rows)
	if err != nil {
		return nil, sum, fmt.Errorf("train %s: %w", kind, err)
	}
	if rt, err = rt.Recalibrate(ctx, golden, calibrationTargets()); err != nil {
		return nil, sum, fmt.Errorf("train %s: %w", kind, err)
	}
	return rt, sum, nil
}

// trainAll trains every kind and returns them with the best by AIQ.
func (r *run) trainAll(ctx context.Context, rows, golden, evalRows []dataset.Row) ([]RouterResult, trained, error) {
	var out []RouterResult
	var best trained
	for _, kind := range []string{"knn", "mlp", "svm"} {
		rt, sum, err := r.train(ctx, kind, "candidate", rows, golden)
		if err != nil {
			return nil, best, err
		}
		rep, err := evaluate(ctx, rt, evalRows)
		if err != nil {
			return nil, best, fmt.Errorf("evaluate %s: %w", kind, err)
		}
		res := RouterResult{Kind: kind, AIQ: rep.AIQ, TrainSeconds: sum.Seconds}
		for _, op := range rep.OperatingPoints {
			if op.Name == "balanced" {
				res.Balanced, res.BalancedMet = eval.Point{Lambda: op.Lambda, Quality: op.Quality, Cost: op.Cost}, op.Met
			}
		}
		r.logf("trained %s on %d rows in %.1fs", kind, len(rows), sum.Seconds)
		out = append(out, res)
		if best.rt == nil || rep.AIQ > best.report.AIQ {
			best = trained{kind: kind, rt: rt, report: rep}
		}
	}
	return out, best, nil
}

func evaluate(ctx context.Context, rt *router.Router, rows []dataset.Row) (eval.Report, error) {
	pred, err := rt.PredictRows(ctx, rows)
	if err != nil {
		return eval.Report{}, err
	}
	truth := eval.FromRows(rows, rt.Candidates())
	var ops []eval.OperatingPoint
	for _, op := range rt.Manifest().Operating {
		ops = append(ops, eval.OperatingPoint{Name: op.Name, Lambda: op.Lambda, Fraction: op.Fraction})
	}
	return eval.Evaluate(truth, pred, ops), nil
}

// admin calls the gateway's admin API.
func (r *run) admin(ctx context.Context, method, path string, body any) ([]byte, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, method, r.url+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return out, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// deployAndSelect publishes and deploys a version, then points the route at
// a learned strategy instance serving it.
func (r *run) deployAndSelect(ctx context.Context, t trained, version string) error {
	if err := r.publish(ctx, t.rt, version); err != nil {
		return err
	}
	// The instance first, so its model manager exists and follows the
	// deploy at once; then the deploy; then the switch.
	if _, err := r.admin(ctx, "POST", "/admin/strategies", map[string]any{"name": "learned", "kind": t.kind, "params": map[string]any{"model": modelName}}); err != nil {
		return err
	}
	if _, err := r.admin(ctx, "POST", "/admin/models/"+modelName+"/deploy", map[string]any{"version": version, "reason": "demo: best AIQ", "wait": true}); err != nil {
		return err
	}
	r.logf("deployed %s@%s (CURRENT moved; the model manager validated its canaries and swapped it in)", modelName, version)
	if _, err := r.admin(ctx, "PUT", "/admin/routes/"+route+"/strategy", map[string]any{"strategy": "learned"}); err != nil {
		return err
	}
	r.logf("route %q now uses strategy \"learned\" (%s, balanced operating point)", route, t.kind)
	return nil
}

// retrainAndRollback trains v2 on every trace, deploys it, and rolls back.
func (r *run) retrainAndRollback(ctx context.Context, kind string, rep *Report) error {
	rows, err := r.export(time.Time{})
	if err != nil {
		return err
	}
	rt, _, err := r.train(ctx, kind, "v2", rows, r.golden)
	if err != nil {
		return fmt.Errorf("retrain: %w", err)
	}
	if err := r.publish(ctx, rt, "v2"); err != nil {
		return err
	}
	if _, err := r.admin(ctx, "POST", "/admin/models/"+modelName+"/deploy", map[string]any{"version": "v2", "reason": "demo: retrained on all traces", "wait": true}); err != nil {
		return err
	}
	r.logf("deployed v2 (trained on %d rows)", len(rows))
	if _, err := r.admin(ctx, "POST", "/admin/model/rollback", map[string]any{"model": modelName, "version": "previous", "reason": "demo: rollback drill", "wait": true}); err != nil {
		return err
	}
	body, err := r.admin(ctx, "GET", "/admin/models", nil)
	if err != nil {
		return err
	}
	var st struct {
		Models []struct {
			Name     string `json:"name"`
			Active   string `json:"active_version"`
			Previous string `json:"previous_version"`
		} `json:"models"`
	}
	_ = json.Unmarshal(body, &st)
	for _, m := range st.Models {
		if m.Name == modelName {
			rep.ActiveAfterRollback = m.Active
		}
	}
	r.logf("rolled back: %s is serving %s again (GET /admin/models)", modelName, rep.ActiveAfterRollback)
	return nil
}
