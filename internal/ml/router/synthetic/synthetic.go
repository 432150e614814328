// Package synthetic generates routing data whose right answer is known, for
// the learners' tests and the latency benchmarks.
//
// Vectors: rows about topic A are answered well only by candidate "x-large",
// rows about topic B only by "y-small". Prompts: "x-large" is a dear
// generalist good on both topics, "y-small" a cheap specialist good only on
// topic B, so a cost-aware router should send B to y-small and A to x-large,
// while the best single model (x-large) sets a quality bar of 1.
package synthetic

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// Candidate names, in the column order of Y.
const (
	X = "x-large"
	Y = "y-small"
)

// Costs per prompt in USD: x-large is ten times dearer.
const (
	CostX = 0.01
	CostY = 0.001
)

// Data is generated rows: vectors, prompts, qualities (rows x 2: x-large,
// y-small) and each row's topic (0 = A, 1 = B).
type Data struct {
	X       []feature.Vector
	Prompts []string
	Q       [][]float64
	Topic   []int
}

// Dim is the dimension of the generated vectors.
const Dim = 1 << 12

// Vectors draws n rows of L2-normalised sparse vectors: topic A rows use
// features [0, Dim/2), topic B rows [Dim/2, Dim), nnz nonzeros each drawn
// from a skewed distribution so some features are common, as in tf-idf.
func Vectors(n, nnz int, seed uint64) Data {
	rng := rand.New(rand.NewPCG(seed, 1))
	var d Data
	half := Dim / 2
	for i := 0; i < n; i++ {
		topic := i % 2
		set := map[uint32]float32{}
		for len(set) < nnz {
			f := uint32(math.Floor(math.Pow(rng.Float64(), 2) * float64(half)))
			set[f+uint32(topic*half)] = float32(0.5 + rng.Float64())
		}
		d.X = append(d.X, normalised(set))
		d.Topic = append(d.Topic, topic)
		d.Q = append(d.Q, quality(topic))
	}
	return d
}

func quality(topic int) []float64 {
	if topic == 0 {
		return []float64{1, 0}
	}
	return []float64{0, 1}
}

func normalised(set map[uint32]float32) feature.Vector {
	var v feature.Vector
	for f := range set {
		v.Idx = append(v.Idx, f)
	}
	slices.Sort(v.Idx)
	var n float64
	for _, f := range v.Idx {
		v.Val = append(v.Val, set[f])
		n += float64(set[f] * set[f])
	}
	for k := range v.Val {
		v.Val[k] /= float32(math.Sqrt(n))
	}
	return v
}

var (
	topicA = []string{"integral", "derivative", "matrix", "eigenvalue", "theorem", "proof", "polynomial", "calculus", "topology", "lemma"}
	topicB = []string{"recipe", "pasta", "garden", "holiday", "weather", "movie", "music", "birthday", "coffee", "travel"}
	common = []string{"please", "explain", "the", "a", "how", "what", "is", "about", "my", "question", "help", "with"}
)

// Prompts draws n prompts of about words words: topic A prompts mix maths
// words with common ones, topic B prompts everyday words.
func Prompts(n, words int, seed uint64) Data {
	rng := rand.New(rand.NewPCG(seed, 2))
	var d Data
	for i := 0; i < n; i++ {
		topic := i % 2
		vocab := topicA
		if topic == 1 {
			vocab = topicB
		}
		var b strings.Builder
		fmt.Fprintf(&b, "q%d:", rng.IntN(1000))
		for w := 0; w < words; w++ {
			b.WriteByte(' ')
			if rng.IntN(3) == 0 {
				b.WriteString(vocab[rng.IntN(len(vocab))])
			} else {
				b.WriteString(common[rng.IntN(len(common))])
			}
		}
		d.Prompts = append(d.Prompts, b.String())
		d.Topic = append(d.Topic, topic)
		d.Q = append(d.Q, []float64{1, float64(topic)})
	}
	return d
}

// Realistic draws n prompts of about chars characters from a Zipf-distributed
// vocabulary of 20,000 made-up words, with one topic word in eight, so
// inverted-index postings have the long-tailed lengths real text gives
// (unlike Prompts, whose tiny vocabulary makes every prompt share words).
// Quality follows Prompts: x-large good on both topics, y-small on B only.
func Realistic(n, chars int, seed uint64) Data {
	rng := rand.New(rand.NewPCG(seed, 3))
	zipf := rand.NewZipf(rng, 1.1, 2, 19999)
	var d Data
	for i := 0; i < n; i++ {
		topic := i % 2
		vocab := topicA
		if topic == 1 {
			vocab = topicB
		}
		var b strings.Builder
		for b.Len() < chars {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			if rng.IntN(8) == 0 {
				b.WriteString(vocab[rng.IntN(len(vocab))])
			} else {
				b.WriteString(word(zipf.Uint64()))
			}
		}
		d.Prompts = append(d.Prompts, b.String())
		d.Topic = append(d.Topic, topic)
		d.Q = append(d.Q, []float64{1, float64(topic)})
	}
	return d
}

// word spells vocabulary entry k as a pronounceable made-up word.
func word(k uint64) string {
	const cons, vows = "bcdfghklmnprstvz", "aeiou"
	var b [12]byte
	n := 0
	for {
		b[n] = cons[k%16]
		k /= 16
		b[n+1] = vows[k%5]
		k /= 5
		n += 2
		if k == 0 || n >= len(b) {
			break
		}
	}
	return string(b[:n])
}
