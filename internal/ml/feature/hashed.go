package feature

import (
	"errors"
	"fmt"
	"math"
)

// NewHashedTF returns a tf-idf featurizer with every idf at 1: sublinear,
// L2-normalised hashed term frequencies. The gateway records it on traces
// when prompt capture is "features", so a trace holds the prompt's hashed
// n-grams (same hashing and n-gram settings as a tf-idf bundle with this
// config) but never its text. A featurizer fitted later can re-weight these
// vectors, since idf is a per-bucket factor.
func NewHashedTF(cfg Config) (*TFIDF, error) {
	t, err := newTFIDF(cfg)
	if err != nil {
		return nil, err
	}
	t.nDocs = 1
	t.df = make([]uint32, t.dim)
	for i := range t.df {
		t.df[i] = 1
	}
	t.computeIDF()
	for i := range t.idf {
		t.idf[i] = 1
	}
	return t, nil
}

// CaptureCompatible reports whether a tf-idf config hashes prompts the way
// the gateway's "features" prompt capture does (NewHashedTF with the default
// config), so captured vectors can be re-weighted by its idf.
func CaptureCompatible(cfg Config) bool {
	return cfg.Kind == KindTFIDF && (cfg.Dim == 0 || cfg.Dim == DefaultDim) &&
		cfg.WordNgrams == [2]int{} && cfg.CharNgrams == [2]int{}
}

// FitTFIDFMixed fits tf-idf on training texts and on captured hashed-tf
// vectors (rows whose prompt was recorded as features only): a bucket's
// document frequency counts both. cfg must be CaptureCompatible when vecs is
// not empty.
func FitTFIDFMixed(cfg Config, texts []string, vecs []Vector) (*TFIDF, error) {
	if len(vecs) > 0 && !CaptureCompatible(cfg) {
		return nil, errors.New("tfidf: rows that carry only captured features need the default tf-idf settings (dim, word 1-2 grams), the gateway's capture settings")
	}
	t, err := newTFIDF(cfg)
	if err != nil {
		return nil, err
	}
	if len(texts)+len(vecs) == 0 {
		return nil, errors.New("tfidf: no training texts")
	}
	t.nDocs = len(texts) + len(vecs)
	t.df = make([]uint32, t.dim)
	s := t.getScratch()
	for _, text := range texts {
		t.count(s, text)
		for _, idx := range s.touched {
			t.df[idx]++
		}
		t.reset(s)
	}
	t.scratchPool.Put(s)
	for i, v := range vecs {
		for _, idx := range v.Idx {
			if int(idx) >= t.dim {
				return nil, fmt.Errorf("tfidf: captured vector %d has index %d outside dim %d", i, idx, t.dim)
			}
			t.df[idx]++
		}
	}
	t.computeIDF()
	return t, nil
}

// Reweight turns a captured hashed-tf vector into this featurizer's tf-idf
// vector: each value times its bucket's idf, L2-normalised again. Because
// the capture is the L2-normalised sublinear tf, this equals featurizing the
// original text.
func (t *TFIDF) Reweight(v Vector) Vector {
	out := Vector{Idx: make([]uint32, 0, len(v.Idx)), Val: make([]float32, 0, len(v.Val))}
	var sum float64
	for k, i := range v.Idx {
		if int(i) >= t.dim {
			continue
		}
		w := t.idfOf(i)
		if w == 0 {
			continue
		}
		x := v.Val[k] * w
		out.Idx = append(out.Idx, i)
		out.Val = append(out.Val, x)
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return Vector{}
	}
	inv := float32(1 / math.Sqrt(sum))
	for k := range out.Val {
		out.Val[k] *= inv
	}
	return out
}
