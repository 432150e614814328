package router

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/switchyard-ai/switchyard/internal/bundle"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/ml/knn"
	"github.com/switchyard-ai/switchyard/internal/ml/mlp"
	"github.com/switchyard-ai/switchyard/internal/ml/svm"
)

// FileConfig is the YAML `switchyard train --config` reads. Relative paths
// are resolved against the config file's directory, so a config and its data
// can move together.
type FileConfig struct {
	Name    string `yaml:"name"`
	Version string `yaml:"version"`
	Kind    string `yaml:"kind"`
	Seed    int64  `yaml:"seed"`
	Data    struct {
		// Either Train (and optionally Test) or File with TestFrac.
		Train     string  `yaml:"train"`
		Test      string  `yaml:"test"`
		File      string  `yaml:"file"`
		TestFrac  float64 `yaml:"test_frac"`
		SplitSeed int64   `yaml:"split_seed"`
	} `yaml:"data"`
	Featurizer      feature.Config     `yaml:"featurizer"`
	KNN             *knn.Config        `yaml:"knn"`
	MLP             *mlp.Config        `yaml:"mlp"`
	SVM             *svm.Config        `yaml:"svm"`
	Candidates      []bundle.Candidate `yaml:"candidates"`
	OperatingPoints map[string]float64 `yaml:"operating_points"`
	ValidationFrac  float64            `yaml:"validation_frac"`
	Refit           *bool              `yaml:"refit"`
	Output          string             `yaml:"output"`
	Labels          map[string]string  `yaml:"labels"`
	Canaries        int                `yaml:"canaries"`

	dir string // the config file's directory, set by LoadConfig
}

// LoadConfig reads and validates a training config strictly: an unknown key,
// a wrong type, a missing data file or an unknown kind is an error before
// any training starts.
func LoadConfig(path string) (FileConfig, error) {
	var c FileConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("train config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("train config %s: %w", path, err)
	}
	c.dir = filepath.Dir(path)
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("train config %s: %w", path, err)
	}
	return c, nil
}

// Path resolves p against the config file's directory.
func (c FileConfig) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// Validate checks everything that can be checked without training.
func (c FileConfig) Validate() error {
	var errs []error
	if c.Name == "" || c.Version == "" {
		errs = append(errs, errors.New("name and version are required"))
	}
	if !slices.Contains(Kinds, c.Kind) {
		errs = append(errs, fmt.Errorf("unknown kind %q (want one of %v)", c.Kind, Kinds))
	}
	for kind, set := range map[string]bool{KindKNN: c.KNN != nil, KindMLP: c.MLP != nil, KindSVM: c.SVM != nil} {
		if set && kind != c.Kind {
			errs = append(errs, fmt.Errorf("section %q given but kind is %q", kind, c.Kind))
		}
	}
	if c.KNN != nil {
		// Before any featurizing: a bad index option is a config error.
		if err := c.KNN.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.SVM != nil {
		// Likewise a bad kernel option.
		if err := c.SVM.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	d := c.Data
	switch {
	case d.File != "" && d.Train != "":
		errs = append(errs, errors.New("data: give either file (with test_frac) or train (and test), not both"))
	case d.File == "" && d.Train == "":
		errs = append(errs, errors.New("data: file or train is required"))
	case d.File != "" && !(d.TestFrac > 0 && d.TestFrac < 1):
		errs = append(errs, fmt.Errorf("data: test_frac %v must be in (0, 1) with file", d.TestFrac))
	case d.Train != "" && d.TestFrac != 0:
		errs = append(errs, errors.New("data: test_frac applies to file, not train/test"))
	}
	for _, p := range []string{d.File, d.Train, d.Test} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(c.Path(p)); err != nil {
			errs = append(errs, fmt.Errorf("data: %w", err))
		} else if st.IsDir() {
			errs = append(errs, fmt.Errorf("data: %s is a directory", c.Path(p)))
		}
	}
	if c.Featurizer.Kind != feature.KindTFIDF && c.Featurizer.Kind != feature.KindEmbeddings {
		errs = append(errs, fmt.Errorf("featurizer: unknown kind %q (want %q or %q)", c.Featurizer.Kind, feature.KindTFIDF, feature.KindEmbeddings))
	}
	seen := map[string]bool{}
	for _, cd := range c.Candidates {
		if cd.Name == "" || seen[cd.Name] {
			errs = append(errs, fmt.Errorf("candidates: name %q empty or repeated", cd.Name))
		}
		seen[cd.Name] = true
		if cd.InputPrice < 0 || cd.OutputPrice < 0 {
			errs = append(errs, fmt.Errorf("candidates: %q has a negative price", cd.Name))
		}
		if cd.CostTarget != "" {
			errs = append(errs, fmt.Errorf("candidates: %q: cost_target is chosen by training, not configured", cd.Name))
		}
	}
	for name, f := range c.OperatingPoints {
		if name == "" || !(f > 0 && f <= 1) {
			errs = append(errs, fmt.Errorf("operating_points: %q fraction %v must be in (0, 1]", name, f))
		}
	}
	if c.ValidationFrac != 0 && !(c.ValidationFrac > 0 && c.ValidationFrac < 0.5) {
		errs = append(errs, fmt.Errorf("validation_frac %v must be in (0, 0.5)", c.ValidationFrac))
	}
	if c.Output == "" {
		errs = append(errs, errors.New("output directory is required"))
	}
	return errors.Join(errs...)
}

// TrainConfig converts the file into Train's configuration.
func (c FileConfig) TrainConfig() TrainConfig {
	tc := TrainConfig{
		Name: c.Name, Version: c.Version, Kind: c.Kind, Seed: c.Seed,
		Featurizer:      c.Featurizer,
		Candidates:      slices.Clone(c.Candidates),
		OperatingPoints: c.OperatingPoints,
		ValFrac:         c.ValidationFrac,
		NoRefit:         c.Refit != nil && !*c.Refit,
		Canaries:        c.Canaries,
	}
	if c.KNN != nil {
		tc.KNN = *c.KNN
	}
	if c.MLP != nil {
		tc.MLP = *c.MLP
	}
	if c.SVM != nil {
		tc.SVM = *c.SVM
	}
	return tc
}
