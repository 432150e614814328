package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/switchyard-ai/switchyard/internal/dataset"
)

func init() {
	cmd := &cobra.Command{
		Use:   "dataset",
		Short: "Import, inspect and split routing data sets",
		Long: `A routing data set is JSON lines, one prompt per line with every candidate
model's observed outcome (quality in [0,1], cost in USD, tokens, latency, and the
propensity for rows from traces). These commands build one from public routing
benchmarks, summarise it and split it for training.`,
	}
	cmd.AddCommand(datasetImportCmd(), datasetStatsCmd(), datasetSplitCmd())
	rootCmd.AddCommand(cmd)
}

func datasetImportCmd() *cobra.Command {
	var format, prices, out string
	cmd := &cobra.Command{
		Use:   "import --format routerbench|llmrouter FILES... [--prices FILE] --out FILE",
		Short: "Convert RouterBench CSV or LLMRouter JSON files into a data set",
		Long: `Convert public routing data into Switchyard's JSON-lines format.

  routerbench  RouterBench CSV files (one score column per model, <model>|total_cost,
               a Python-list prompt). Blank scores are missing outcomes.
  llmrouter    LLMRouter JSON lists of {"question", "scores"}; --prices names the
               default_llm.json with per-model prices per million tokens, from which a
               price-proxy cost is computed. Questions repeated in later files are
               dropped, so pass the train file first.`,
		Example: `  switchyard dataset import --format routerbench ../shared/data/routing/routerbench-zeroshot/*.csv --out data/routerbench.jsonl
  switchyard dataset import --format llmrouter train.json test.json --prices default_llm.json --out data/dcrouter.jsonl`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if out == "" {
				return errors.New("dataset import: --out is required")
			}
			switch format {
			case "routerbench":
				if prices != "" {
					return errors.New("dataset import: --prices applies to --format llmrouter only (RouterBench has per-prompt costs)")
				}
			case "llmrouter":
				if prices == "" {
					return errors.New("dataset import: --format llmrouter needs --prices FILE")
				}
				files = append(files, prices) // checked for existence below
			default:
				return fmt.Errorf("dataset import: unknown --format %q (want routerbench or llmrouter)", format)
			}
			for _, f := range files {
				if _, err := os.Stat(f); err != nil {
					return fmt.Errorf("dataset import: %w", err)
				}
			}
			var rows []dataset.Row
			err := datasetWithSpinner(cmd.ErrOrStderr(), "importing "+format, func() error {
				var err error
				if format == "routerbench" {
					rows, err = dataset.ImportRouterBench(files...)
				} else {
					rows, err = dataset.ImportLLMRouter(files[:len(files)-1], prices)
				}
				if err != nil {
					return err
				}
				return dataset.Write(out, rows)
			})
			if err != nil {
				return fmt.Errorf("dataset import: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d rows, %d candidates to %s\n", len(rows), len(dataset.Candidates(rows)), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "input format: routerbench or llmrouter")
	cmd.Flags().StringVar(&prices, "prices", "", "LLMRouter prices file (default_llm.json), for --format llmrouter")
	cmd.Flags().StringVar(&out, "out", "", "output data set (JSON lines); written atomically")
	return cmd
}

func datasetStatsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats FILE",
		Short: "Summarise a data set: rows, candidates, mean quality and cost, missing values, sources",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var rows []dataset.Row
			err := datasetWithSpinner(cmd.ErrOrStderr(), "loading", func() (err error) {
				rows, err = dataset.Load(args[0])
				return err
			})
			if err != nil {
				return fmt.Errorf("dataset stats: %w", err)
			}
			s := dataset.Stats(rows)
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			return datasetPrintStats(cmd.OutOrStdout(), args[0], s)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return cmd
}

func datasetPrintStats(w io.Writer, name string, s dataset.Summary) error {
	fmt.Fprintf(w, "%s: %d rows (%d with prompt text, %d with features only), %d candidates\n\n",
		name, s.Rows, s.WithPrompt, s.Rows-s.WithPrompt, len(s.Candidates))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "candidate\toutcomes\tmean quality\tmean cost (USD)\tmissing quality\tmissing cost\t")
	for _, c := range s.Candidates {
		fmt.Fprintf(tw, "%s\t%d\t%.4f\t%.3g\t%d\t%d\t\n", c.Name, c.Outcomes, c.MeanQuality, c.MeanCost, c.MissingQuality, c.MissingCost)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nsources:")
	srcs := make([]string, 0, len(s.Sources))
	for k := range s.Sources {
		srcs = append(srcs, k)
	}
	sort.Strings(srcs)
	for _, k := range srcs {
		fmt.Fprintf(w, "  %-40s %d\n", k, s.Sources[k])
	}
	return nil
}

func datasetSplitCmd() *cobra.Command {
	var in, trainOut, testOut string
	var frac float64
	var seed int64
	cmd := &cobra.Command{
		Use:   "split --in FILE --test-frac 0.3 --seed 7 --train-out A --test-out B",
		Short: "Split a data set at random, reproducibly, into train and test files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case in == "" || trainOut == "" || testOut == "":
				return errors.New("dataset split: --in, --train-out and --test-out are required")
			case !(frac > 0 && frac < 1):
				return fmt.Errorf("dataset split: --test-frac %v must be strictly between 0 and 1", frac)
			case trainOut == testOut || trainOut == in || testOut == in:
				return errors.New("dataset split: --in, --train-out and --test-out must be three different files")
			}
			var train, test []dataset.Row
			err := datasetWithSpinner(cmd.ErrOrStderr(), "splitting", func() error {
				rows, err := dataset.Load(in)
				if err != nil {
					return err
				}
				train, test = dataset.Split(rows, frac, seed)
				if err := dataset.Write(trainOut, train); err != nil {
					return err
				}
				return dataset.Write(testOut, test)
			})
			if err != nil {
				return fmt.Errorf("dataset split: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d train rows to %s and %d test rows to %s (seed %d)\n", len(train), trainOut, len(test), testOut, seed)
			return nil
		},
	}
	cmd.Flags().StringVar(&in, "in", "", "input data set")
	cmd.Flags().Float64Var(&frac, "test-frac", 0.3, "fraction of rows for the test split")
	cmd.Flags().Int64Var(&seed, "seed", 7, "random seed; the same seed always gives the same split")
	cmd.Flags().StringVar(&trainOut, "train-out", "", "training rows output")
	cmd.Flags().StringVar(&testOut, "test-out", "", "test rows output")
	return cmd
}

// datasetWithSpinner runs work while a progress spinner with elapsed time
// turns on w, if w is a terminal (logs and pipes stay clean). The importers
// and Load work file by file without a callback, so the spinner shows that
// work is going on and for how long rather than a percentage.
func datasetWithSpinner(w io.Writer, what string, work func() error) error {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return work()
	}
	bar := progressbar.NewOptions(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionClearOnFinish(),
	)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = bar.Add(1)
			}
		}
	}()
	err := work()
	close(done)
	_ = bar.Finish()
	return err
}
