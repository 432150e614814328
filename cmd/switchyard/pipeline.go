package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchyard-ai/switchyard/internal/artifact"
	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/pipeline"
)

func init() {
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "Run the training pipeline (export, train, evaluate, gate, upload, register, deploy) and inspect runs",
	}
	cmd.AddCommand(pipelineRunCmd(), pipelineStatusCmd())
	rootCmd.AddCommand(cmd)
}

func pipelineRunCmd() *cobra.Command {
	var (
		cfgPath  string
		deploy   bool
		asJSON   bool
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "run --config FILE [--deploy=true|false] [--json]",
		Short: "Run the pipeline once",
		Long: `Run validates the whole pipeline config before any work starts, then runs
export, train, evaluate, gate, upload, register and (when deploy.enabled)
deploy, logging and timing each step. The run's record is written to the
artifact store (pipeline/runs/<id>.json) after every step.

The exit status is 0 when the run succeeded, and 1 when it failed or the gate
rejected the candidate (the summary says which and why).`,
		Example: `  switchyard pipeline run --config examples/mlops/pipeline.yaml
  switchyard pipeline run --config examples/mlops/pipeline.yaml --deploy=false`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return errors.New("pipeline run: --config is required")
			}
			raw, err := os.ReadFile(cfgPath)
			if err != nil {
				return fmt.Errorf("pipeline config: %w", err)
			}
			var override []byte
			if cmd.Flags().Changed("deploy") {
				override = fmt.Appendf(nil, `{"deploy": {"enabled": %t}}`, deploy)
			}
			c, err := pipeline.WithOverride(raw, cfgPath, override)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			log := newLogger(config.Telemetry{LogLevel: logLevel}, os.Stderr)
			rec, runErr := pipeline.NewRunner(pipeline.Options{Logger: log}).Run(ctx, c, pipeline.Trigger{Kind: pipeline.TriggerCLI})
			if rec != nil {
				if asJSON {
					enc := json.NewEncoder(cmd.OutOrStdout())
					enc.SetIndent("", "  ")
					_ = enc.Encode(rec)
				} else {
					printRecord(cmd.OutOrStdout(), rec)
				}
			}
			if runErr != nil {
				return runErr
			}
			if rec.Status == pipeline.StatusRejected {
				return fmt.Errorf("pipeline run %s: rejected at the gate: %s", rec.ID, rec.Error)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "pipeline config (YAML)")
	cmd.Flags().BoolVar(&deploy, "deploy", false, "override deploy.enabled")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the run record as JSON")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "step log level on stderr (debug, info, warn, error)")
	return cmd
}

func pipelineStatusCmd() *cobra.Command {
	var (
		cfgPath, storeURI string
		limit             int
		asJSON            bool
	)
	cmd := &cobra.Command{
		Use:   "status [RUN_ID] (--config FILE | --store URI) [--json]",
		Short: "Show a run's status and step log, or the recent runs",
		Example: `  switchyard pipeline status --config examples/mlops/pipeline.yaml
  switchyard pipeline status 20260102T030405.006Z-1a2b3c --store s3://switchyard-models/prod`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (cfgPath == "") == (storeURI == "") {
				return errors.New("pipeline status: give exactly one of --config or --store")
			}
			if cfgPath != "" {
				c, err := pipeline.Load(cfgPath)
				if err != nil {
					return err
				}
				storeURI = c.StoreURI()
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			store, err := artifact.OpenStore(ctx, storeURI, artifact.Options{})
			if err != nil {
				return err
			}
			records := pipeline.NewRecords(store)
			out := cmd.OutOrStdout()
			if len(args) == 1 {
				rec, err := records.Get(ctx, args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return writeIndented(out, rec)
				}
				printRecord(out, rec)
				return nil
			}
			recs, err := records.List(ctx, limit)
			if err != nil {
				return err
			}
			if asJSON {
				return writeIndented(out, recs)
			}
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tTRIGGER\tSTATUS\tSTARTED\tSECONDS\tVERSION\tDEPLOYED")
			for _, r := range recs {
				secs := "-"
				if r.Finished != nil {
					secs = fmt.Sprintf("%.1f", r.Finished.Sub(r.Started).Seconds())
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%t\n", r.ID, r.Trigger, r.Status, r.Started.Format(time.RFC3339), secs, orDash(r.Version), r.Deployed)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "pipeline config (its store holds the run records)")
	cmd.Flags().StringVar(&storeURI, "store", "", "artifact store URI (file:///dir or s3://bucket/prefix)")
	cmd.Flags().IntVar(&limit, "limit", 20, "runs to list")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// printRecord prints a run for people: status, steps with their times, the
// gate's comparison and where the model went.
func printRecord(w io.Writer, r *pipeline.Record) {
	fmt.Fprintf(w, "run %s (%s, model %s): %s\n", r.ID, r.Trigger, r.Model, r.Status)
	if r.Error != "" {
		fmt.Fprintf(w, "  reason: %s\n", r.Error)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, s := range r.Steps {
		line := s.Detail
		if s.Error != "" {
			line = s.Error
		}
		fmt.Fprintf(tw, "  %s\t%s\t%.2fs\t%s\n", s.Name, s.Status, s.Duration, line)
	}
	_ = tw.Flush()
	for _, c := range r.Candidates {
		mark := ""
		if c.Chosen {
			mark = " (chosen)"
		}
		fmt.Fprintf(w, "  %s%s: aiq %.4f on %d held-out rows\n", c.Kind, mark, c.Metrics["aiq"], c.HeldOutRows)
	}
	if r.Version != "" {
		fmt.Fprintf(w, "  version %s at %s\n", r.Version, r.Bundle)
	}
	if t := r.Tracking; t != nil && t.ModelVersion != "" {
		fmt.Fprintf(w, "  %s run %s, model version %s, aliases %v\n", t.Backend, t.RunID, t.ModelVersion, t.Aliases)
	}
	for _, c := range r.Cleanup {
		fmt.Fprintf(w, "  undone: %s\n", c)
	}
}

func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
