package feature

import (
	"context"
	"fmt"
)

// Featurizer turns prompts into vectors. A fitted featurizer is saved in the
// router bundle (MarshalBinary) and restored with Unmarshal, so the features a
// router serves with are exactly the ones it was trained on.
type Featurizer interface {
	// Transform featurizes texts; it is safe for concurrent use.
	Transform(ctx context.Context, texts []string) ([]Vector, error)
	// Dim is the size of the vector space (indices are < Dim).
	Dim() int
	// Kind is "tfidf" or "embeddings", the key Unmarshal needs.
	Kind() string
	// Spec is a human-readable description of the parameters for the manifest.
	Spec() map[string]any
	MarshalBinary() ([]byte, error)
}

// Kinds of featurizer.
const (
	KindTFIDF      = "tfidf"
	KindEmbeddings = "embeddings"
)

// Config chooses and parameterises a featurizer. Zero fields take the
// defaults listed beside them.
type Config struct {
	Kind string `yaml:"kind" json:"kind"` // "tfidf" or "embeddings"

	// TF-IDF.
	Dim int `yaml:"dim,omitempty" json:"dim,omitempty"` // hash space, default 1<<18
	// N-gram ranges [min,max]. Both unset: words [1,2] and no character
	// n-grams. If only one is set, the other kind is off.
	WordNgrams [2]int `yaml:"word_ngrams,omitempty" json:"word_ngrams,omitempty"`
	CharNgrams [2]int `yaml:"char_ngrams,omitempty" json:"char_ngrams,omitempty"` // e.g. [3,5]
	MinDF      int    `yaml:"min_df,omitempty" json:"min_df,omitempty"`           // drop buckets seen in fewer training texts, default 1

	// Embeddings.
	BaseURL   string `yaml:"base_url,omitempty" json:"base_url,omitempty"`       // e.g. http://localhost:8080/v1
	Model     string `yaml:"model,omitempty" json:"model,omitempty"`             // embedding model id
	APIKeyEnv string `yaml:"api_key_env,omitempty" json:"api_key_env,omitempty"` // env var holding the key; empty = no auth
	BatchSize int    `yaml:"batch_size,omitempty" json:"batch_size,omitempty"`   // texts per request, default 64
	CacheSize int    `yaml:"cache_size,omitempty" json:"cache_size,omitempty"`   // cached vectors, default 100000
}

// Fit builds a featurizer from cfg, fitting what it learns (tf-idf's idf) on
// texts, which must be the training texts only. For embeddings it embeds the
// texts (which also warms the cache) to learn and check the dimension.
func Fit(ctx context.Context, cfg Config, texts []string) (Featurizer, error) {
	switch cfg.Kind {
	case KindTFIDF:
		t, err := fitTFIDF(cfg, texts)
		if err != nil {
			return nil, fmt.Errorf("fit featurizer: %w", err)
		}
		return t, nil
	case KindEmbeddings:
		e, err := fitEmbeddings(ctx, cfg, texts)
		if err != nil {
			return nil, fmt.Errorf("fit featurizer: %w", err)
		}
		return e, nil
	default:
		return nil, fmt.Errorf("fit featurizer: unknown kind %q (want %q or %q)", cfg.Kind, KindTFIDF, KindEmbeddings)
	}
}

// Unmarshal restores a fitted featurizer from the output of its
// MarshalBinary. Truncated or corrupt data is an error, never a panic.
func Unmarshal(kind string, data []byte) (Featurizer, error) {
	switch kind {
	case KindTFIDF:
		t, err := unmarshalTFIDF(data)
		if err != nil {
			return nil, fmt.Errorf("unmarshal featurizer: %w", err)
		}
		return t, nil
	case KindEmbeddings:
		e, err := unmarshalEmbeddings(data)
		if err != nil {
			return nil, fmt.Errorf("unmarshal featurizer: %w", err)
		}
		return e, nil
	default:
		return nil, fmt.Errorf("unmarshal featurizer: unknown kind %q", kind)
	}
}
