package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/internal/ml/eval"
)

// Report is what the demo shows and saves (report.json, report.md).
type Report struct {
	Dir                 string         `json:"dir"`
	Seconds             float64        `json:"seconds"`
	Before              PhaseStats     `json:"before"`
	After               PhaseStats     `json:"after"`
	DuringFailed        int            `json:"failed_during_deploy"`
	TrainingRows        int            `json:"training_rows"`
	Routers             []RouterResult `json:"routers"`
	Deployed            string         `json:"deployed_kind"`
	Eval                eval.Report    `json:"evaluation"`
	ActiveAfterRollback string         `json:"active_after_rollback"`
	Plot                string         `json:"plot"`
	// Check is the demo's claim: at the balanced operating point the deployed
	// router keeps at least 98% of the best single model's quality at a lower
	// cost, on held-out prompts.
	Check Check `json:"check"`
}

// Check is the demo's pass/fail claim with its figures.
type Check struct {
	BestSingle        string  `json:"best_single"`
	BestSingleQuality float64 `json:"best_single_quality"`
	BestSingleCost    float64 `json:"best_single_cost"`
	TargetQuality     float64 `json:"target_quality"`
	RouterQuality     float64 `json:"router_quality"`
	RouterCost        float64 `json:"router_cost"`
	CostSaving        float64 `json:"cost_saving"`
	Pass              bool    `json:"pass"`
}

func (rep *Report) finish(d time.Duration) {
	rep.Seconds = d.Seconds()
	e := rep.Eval
	c := Check{BestSingle: e.BestSingle, BestSingleQuality: e.BestSingleQuality, BestSingleCost: e.BestSingleCost, TargetQuality: 0.98 * e.BestSingleQuality}
	for _, op := range e.OperatingPoints {
		if op.Name == "balanced" {
			c.RouterQuality, c.RouterCost = op.Quality, op.Cost
		}
	}
	if c.BestSingleCost > 0 {
		c.CostSaving = 1 - c.RouterCost/c.BestSingleCost
	}
	c.Pass = c.RouterCost < c.BestSingleCost && c.RouterQuality >= c.TargetQuality-1e-9
	rep.Check = c
}

// Print writes the human report.
func (rep *Report) Print(w io.Writer) {
	fmt.Fprint(w, rep.Markdown())
}

// Markdown renders the report.
func (rep *Report) Markdown() string {
	var b strings.Builder
	c := rep.Check
	fmt.Fprintf(&b, "\n## Switchyard demo report (%.0fs)\n\n", rep.Seconds)
	fmt.Fprintf(&b, "| traffic | requests | failed | mean quality | mean cost / request |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| before: always %s, 25%% exploration | %d | %d | %.3f | $%.6f |\n", "frontier", rep.Before.Requests, rep.Before.Failed, rep.Before.MeanQuality, rep.Before.MeanCostUSD)
	fmt.Fprintf(&b, "| after: learned %s router, 25%% exploration | %d | %d | %.3f | $%.6f |\n", rep.Deployed, rep.After.Requests, rep.After.Failed, rep.After.MeanQuality, rep.After.MeanCostUSD)
	fmt.Fprintf(&b, "\nRequests that failed while the router was deployed and switched in: %d.\n", rep.DuringFailed)
	fmt.Fprintf(&b, "After the switch, each topic went mostly to: %s.\n", topicsOf(rep.After.Picks))
	fmt.Fprintf(&b, "\nOffline, on %d held-out prompts (trained on %d trace rows):\n\n", rep.Eval.Rows, rep.TrainingRows)
	fmt.Fprintf(&b, "| router | AIQ | balanced quality | balanced cost | train s |\n|---|---|---|---|---|\n")
	for _, r := range rep.Routers {
		fmt.Fprintf(&b, "| %s | %.3f | %.3f | $%.6f | %.1f |\n", r.Kind, r.AIQ, r.Balanced.Quality, r.Balanced.Cost, r.TrainSeconds)
	}
	fmt.Fprintf(&b, "| single models (hull) | %.3f | | | |\n", rep.Eval.AIQSingles)
	fmt.Fprintf(&b, "\nBest single model %s: quality %.3f at $%.6f; oracle %.3f.\n", c.BestSingle, c.BestSingleQuality, c.BestSingleCost, rep.Eval.OracleQuality)
	verdict := "PASS"
	if !c.Pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "%s: the deployed %s router at the balanced point: quality %.3f (target >= %.3f, 98%% of the best single) at $%.6f, %.0f%% cheaper than %s.\n",
		verdict, rep.Deployed, c.RouterQuality, c.TargetQuality, c.RouterCost, 100*c.CostSaving, c.BestSingle)
	fmt.Fprintf(&b, "Rollback drill: deployed v2, rolled back to previous; serving %s.\n", rep.ActiveAfterRollback)
	fmt.Fprintf(&b, "Cost-quality plot: %s\n", rep.Plot)
	return b.String()
}

// Save writes report.json and report.md into dir.
func (rep *Report) Save(dir string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), b, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(rep.Markdown()), 0o644)
}
