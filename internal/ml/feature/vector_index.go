package feature

import (
	"fmt"
	"math/bits"
)

// Columns maps the feature indices a model (or the featurizer) keeps to
// their ordinals: the k-th smallest kept index maps to k, any other index to
// -1. Models keep the features seen in training, a sixth of a 2^18 hash
// space on RouterBench, and look one up per nonzero feature of every
// decision.
//
// It is a rank index: one 64-bit membership word per 64 indices, each with
// the count of kept indices before it, 16 bytes per 64 indices (64 KiB at
// 2^18). The dense int32 array it replaces took 1 MiB per model, so each
// lookup missed the caches that a decision's other tables had just filled;
// this one stays in L2, and a lookup reads one cache line.
type Columns struct {
	words []colWord
	n     int
}

type colWord struct {
	bits uint64
	base uint32
}

// NewColumns indexes cols, which must be ascending, unique and below dim.
func NewColumns(cols []uint32, dim int) (Columns, error) {
	if dim < 0 {
		return Columns{}, fmt.Errorf("columns: dim %d < 0", dim)
	}
	c := Columns{words: make([]colWord, (dim+63)/64), n: len(cols)}
	for i, f := range cols {
		if int64(f) >= int64(dim) || (i > 0 && f <= cols[i-1]) {
			return Columns{}, fmt.Errorf("columns: index %d at %d not ascending or not below dim %d", f, i, dim)
		}
		c.words[f>>6].bits |= 1 << (f & 63)
	}
	var base uint32
	for w := range c.words {
		c.words[w].base = base
		base += uint32(bits.OnesCount64(c.words[w].bits))
	}
	return c, nil
}

// Len is the number of kept indices.
func (c *Columns) Len() int { return c.n }

// Has reports whether f is kept.
func (c *Columns) Has(f uint32) bool {
	w := int(f >> 6)
	return w < len(c.words) && c.words[w].bits&(1<<(f&63)) != 0
}

// Col returns f's ordinal among the kept indices, or -1.
func (c *Columns) Col(f uint32) int {
	w := int(f >> 6)
	if w >= len(c.words) {
		return -1
	}
	e := c.words[w]
	bit := uint64(1) << (f & 63)
	if e.bits&bit == 0 {
		return -1
	}
	return int(e.base) + bits.OnesCount64(e.bits&(bit-1))
}

// filter keeps the kept indices of g, in order, in g's storage. It takes no
// branch on membership: on a fitted featurizer's vocabulary most of a
// prompt's n-grams are unseen, in no pattern a branch predictor could learn.
func (c *Columns) filter(g []uint32) []uint32 {
	n := 0
	words := c.words
	for _, f := range g {
		g[n] = f
		n += int(words[f>>6].bits >> (f & 63) & 1)
	}
	return g[:n]
}
