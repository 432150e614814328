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
	cfg.KNN = knn.Config{}
	cfg.MLP = mlp.Config{}
	cfg.SVM = svm.Config{}
	return cfg
}
