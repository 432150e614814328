package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/switchyard-ai/switchyard/internal/demo"
)

func init() {
	var o demo.Options
	cmd := &cobra.Command{
		Use:   "demo [--dir DIR] [--short]",
		Short: "Run the whole loop on this machine: traffic, traces, training, hot reload, rollback",
		Long: `Demo runs Switchyard's loop end to end with embedded defaults and simulated
providers, with no network: a gateway serves traffic with exploration and
feedback; the traces are exported to a training set; KNN, MLP and SVM routers
are trained and evaluated; the best is deployed through hot reload while
traffic continues; cost and quality are compared before and after; a second
version is deployed and rolled back. It ends with a report and a cost-quality
plot in --dir.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = cmd.OutOrStdout()
			rep, err := demo.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			if !rep.Check.Pass {
				fmt.Fprintln(os.Stderr, "demo: the learned router did not meet the balanced target on this run")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Dir, "dir", ".switchyard/demo", "working directory (emptied first)")
	cmd.Flags().BoolVar(&o.Short, "short", false, "less traffic and data (CI)")
	cmd.Flags().Uint64Var(&o.Seed, "seed", 42, "seed for traffic and training")
	rootCmd.AddCommand(cmd)
}
