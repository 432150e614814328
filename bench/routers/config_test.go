package routers

import (
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/ml/knn"
	"github.com/switchyard-ai/switchyard/internal/ml/mlp"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
	"github.com/switchyard-ai/switchyard/internal/ml/svm"
)

// Config is the training configuration benchmarked for a data set and kind.
// The hyper-parameters were chosen on the training split's own validation
// part (router.Summary.Validation), never on the test split.
func Config(set, kind string) router.TrainConfig {
	cfg := router.TrainConfig{
		Name: set + "-" + kind, Version: "bench", Kind: kind, Seed: 7,
		Featurizer: feature.Config{Kind: feature.KindTFIDF},
	}
	switch set {
	case "routerbench":
		cfg.KNN = knn.Config{K: 150, Prior: 3}
		cfg.MLP = mlp.Config{Hidden: []int{32}, L2: 1e-4, LearningRate: 3e-3, Ensemble: 3}
		cfg.NoRefit = kind == router.KindMLP
		cfg.SVM = svm.Config{C: 0.003}
	case "dcrouter":
		cfg.KNN = knn.Config{K: 80, Prior: 0.5}
		cfg.MLP = mlp.Config{Hidden: []int{128}, L2: 1e-5, LearningRate: 1e-3, Ensemble: 3}
		cfg.SVM = svm.Config{C: 0.3}
	}
	return cfg
}

// PrevConfig is the configuration benchmarked before the MLP ensemble, kept
// so latency runs can measure both side by side.
func PrevConfig(set, kind string) router.TrainConfig {
	cfg := Config(set, kind)
	cfg.Featurizer = feature.Config{Kind: feature.KindTFIDF}
	cfg.MLP.Ensemble = 1
	return cfg
}
