package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/eval"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
)

func init() { rootCmd.AddCommand(newTrainCmd()) }

func newTrainCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "train --config FILE",
		Short: "Train a learned router (knn, mlp or svm) and write its bundle",
		Long: `Train reads a YAML training config (data, split, featurizer, kind and
hyper-parameters, candidates, operating points, output), validates all of it
before any work starts, trains the router, calibrates its operating points on
a validation part of the training rows, evaluates it on the test split and
writes a checksummed bundle (manifest.json + model.bin) atomically.`,
		Example: `  switchyard train --config examples/mlops/configs/knn_config.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return fmt.Errorf("train: --config is required")
			}
			return runTrain(cmd.Context(), cfgPath, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "training config (YAML)")
	return cmd
}

func runTrain(ctx context.Context, cfgPath string, out, errw io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	fc, err := router.LoadConfig(cfgPath)
	if err != nil {
		return err
	}
	train, test, files, err := loadTrainData(fc)
	if err != nil {
		return err
	}
	bar := progressbar.NewOptions(-1,
		progressbar.OptionSetWriter(errw),
		progressbar.OptionSetDescription("training"),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionClearOnFinish(),
	)
	tc := fc.TrainConfig()
	tc.Progress = func(stage string, step, steps int) {
		bar.ChangeMax(steps)
		bar.Describe(fmt.Sprintf("[%d/%d] %s", step, steps, stage))
		_ = bar.Set(step - 1)
	}
	r, sum, err := router.Train(ctx, tc, train)
	_ = bar.Finish()
	if err != nil {
		return err
	}
	m := r.Manifest()
	m.Data.Rows = len(train) + len(test)
	m.Data.TrainRows, m.Data.ValRows, m.Data.TestRows = sum.TrainRows, sum.ValRows, len(test)
	m.Data.Sources = dataset.Stats(append(append([]dataset.Row{}, train...), test...)).Sources
	m.Data.Files = files
	m.Data.SplitSeed = fc.Data.SplitSeed
	m.Data.TestFrac = fc.Data.TestFrac
	m.Data.TrainSecs = sum.Seconds
	m.Data.Split = "train/test files"
	if fc.Data.File != "" {
		m.Data.Split = fmt.Sprintf("random %g test fraction, seed %d", fc.Data.TestFrac, fc.Data.SplitSeed)
	}
	m.Labels = fc.Labels
	m.Params = hyperParams(tc)
	report := sum.Validation
	evaluatedOn := "validation"
	if len(test) > 0 {
		if report, err = evaluateRouter(ctx, r, test); err != nil {
			return err
		}
		evaluatedOn = "test"
	}
	metrics, err := json.Marshal(struct {
		On string `json:"evaluated_on"`
		eval.Report
	}{evaluatedOn, report})
	if err != nil {
		return fmt.Errorf("train: encode metrics: %w", err)
	}
	m.Metrics = metrics
	if r, err = r.WithManifest(m); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := r.Save(fc.Path(fc.Output)); err != nil {
		return err
	}
	fmt.Fprintf(out, "trained %s %s/%s on %d rows (%d fit, %d validation) in %.1fs\n", m.Kind, m.Name, m.Version, len(train), sum.TrainRows, sum.ValRows, sum.Seconds)
	fmt.Fprintf(out, "bundle written to %s\n", fc.Path(fc.Output))
	printSummary(out, evaluatedOn, report)
	return nil
}

// loadTrainData reads the configured data and applies the split.
func loadTrainData(fc router.FileConfig) (train, test []dataset.Row, files []string, err error) {
	d := fc.Data
	if d.File != "" {
		rows, err := dataset.Load(fc.Path(d.File))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("train: %w", err)
		}
		train, test = dataset.Split(rows, d.TestFrac, d.SplitSeed)
		return train, test, []string{fileDigest(fc.Path(d.File))}, nil
	}
	if train, err = dataset.Load(fc.Path(d.Train)); err != nil {
		return nil, nil, nil, fmt.Errorf("train: %w", err)
	}
	files = []string{fileDigest(fc.Path(d.Train))}
	if d.Test != "" {
		if test, err = dataset.Load(fc.Path(d.Test)); err != nil {
			return nil, nil, nil, fmt.Errorf("train: %w", err)
		}
		files = append(files, fileDigest(fc.Path(d.Test)))
	}
	return train, test, files, nil
}

// fileDigest names a data file with its SHA-256, so a manifest says exactly
// which data trained it.
func fileDigest(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return path
	}
	s := sha256.Sum256(b)
	return path + " sha256:" + hex.EncodeToString(s[:])
}

func hyperParams(tc router.TrainConfig) map[string]any {
	var v any
	switch tc.Kind {
	case router.KindKNN:
		v = tc.KNN
	case router.KindMLP:
		v = tc.MLP
	case router.KindSVM:
		v = tc.SVM
	}
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["seed"] = tc.Seed
	m["validation_frac"] = tc.ValFrac
	m["refit"] = !tc.NoRefit
	return m
}

// evaluateRouter scores r on rows at its own operating points.
func evaluateRouter(ctx context.Context, r *router.Router, rows []dataset.Row) (eval.Report, error) {
	pred, err := r.PredictRows(ctx, rows)
	if err != nil {
		return eval.Report{}, err
	}
	m := r.Manifest()
	truth := eval.FromRows(rows, r.Candidates())
	var ops []eval.OperatingPoint
	for _, op := range m.Operating {
		ops = append(ops, eval.OperatingPoint{Name: op.Name, Lambda: op.Lambda, Fraction: op.Fraction, CostScale: m.CostScale})
	}
	return eval.Evaluate(truth, pred, ops), nil
}

func printSummary(w io.Writer, on string, r eval.Report) {
	fmt.Fprintf(w, "evaluation on %s (%d rows):\n", on, r.Rows)
	fmt.Fprintf(w, "  AIQ %.4f (single models %.4f)\n", r.AIQ, r.AIQSingles)
	fmt.Fprintf(w, "  best single %s: quality %.4f cost $%.6f\n", r.BestSingle, r.BestSingleQuality, r.BestSingleCost)
	fmt.Fprintf(w, "  oracle: quality %.4f cost $%.6f; random: quality %.4f cost $%.6f\n", r.OracleQuality, r.OracleCost, r.RandomQuality, r.RandomCost)
	for _, op := range r.OperatingPoints {
		fmt.Fprintf(w, "  %-10s lambda %-8.4g quality %.4f cost $%.6f\n", op.Name, op.Lambda, op.Quality, op.Cost)
	}
	for _, s := range r.Savings {
		if s.Reached {
			fmt.Fprintf(w, "  at %3.0f%% of best quality: %.1f%% cheaper (lambda %.4g)\n", 100*s.Fraction, 100*s.Saving, s.Lambda)
		} else {
			fmt.Fprintf(w, "  at %3.0f%% of best quality: not reached\n", 100*s.Fraction)
		}
	}
}
