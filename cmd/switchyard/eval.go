package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/eval/evalplot"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
)

func init() { rootCmd.AddCommand(newEvalCmd()) }

func newEvalCmd() *cobra.Command {
	var modelDir, dataPath, plotPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "eval --model BUNDLE --data FILE [--json] [--plot FILE.png]",
		Short: "Evaluate a router bundle on a data set: AIQ, operating points, savings",
		Long: `Eval loads a router bundle (verifying its checksum and canaries), predicts
every candidate's quality and cost on each row of a data set, and reports the
best single model, the oracle, random choice, the router at each of its
operating points, AIQ and the cost saving at 100%, 98% and 95% of the best
single model's quality. Evaluate on rows the router was not trained on.`,
		Example: `  switchyard eval --model models/routerbench-knn --data data/routerbench-test.jsonl --plot knn.png`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if modelDir == "" || dataPath == "" {
				return fmt.Errorf("eval: --model and --data are required")
			}
			ctx := cmd.Context()
			r, err := router.Load(ctx, modelDir)
			if err != nil {
				return err
			}
			rows, err := dataset.Load(dataPath)
			if err != nil {
				return fmt.Errorf("eval: %w", err)
			}
			if len(rows) == 0 {
				return fmt.Errorf("eval: %s has no rows", dataPath)
			}
			rep, err := evaluateRouter(ctx, r, rows)
			if err != nil {
				return fmt.Errorf("eval: %w", err)
			}
			if plotPath != "" {
				if err := evalplot.Plot(rep, plotPath); err != nil {
					return fmt.Errorf("eval: %w", err)
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			m := r.Manifest()
			fmt.Fprintf(out, "router %s %s/%s (%s)\n", m.Kind, m.Name, m.Version, modelDir)
			printSummary(out, dataPath, rep)
			if plotPath != "" {
				fmt.Fprintf(out, "plot written to %s\n", plotPath)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&modelDir, "model", "", "router bundle directory")
	cmd.Flags().StringVar(&dataPath, "data", "", "data set to evaluate on (JSON lines)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	cmd.Flags().StringVar(&plotPath, "plot", "", "draw the cost-quality curve to this PNG")
	return cmd
}
