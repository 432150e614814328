package knn

import (
	"math/bits"
	"slices"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// listIndex holds each sparse-ivf list's rows as an inverted index of its
// own: the features the list's rows use, ascending, each with its postings
// (the rows of the list that have it, ascending, and their values).
//
// Why: a query shares few features with a list. Over the ~40 rows a query
// of ~190 features scores at 100,000 rows there are ~7,500 row nonzeros,
// ~5,000 distinct features, and only ~75 of those in the query, with ~950
// postings. Testing every row nonzero against the query's bitset
// mispredicted the branch about once per shared row feature (~1,000 times)
// and cost ~3.5 ns a nonzero. Here each list has a bitset of the features
// it uses, and a query ANDs it with its own bitset at the ~180 64-bit
// words the query uses, in ascending order: ~180 loads instead of 7,500,
// and only the postings of the shared features are read.
//
// The bitsets are dim/8 bytes a list (32 KiB at the default 2^18
// features, 100 MB for 3,125 lists), each word's rank (the ordinal of its
// lowest feature) kept per 8 words (a cache line). List l's bitset is
// mask[l*words:(l+1)*words], its ranks rank[l*blocks:(l+1)*blocks];
// feature ordinal u's postings are postRow/postVal[postOff[u]:postOff[u+1]],
// postRow being positions within the list. Ordinals run across lists.
type listIndex struct {
	words, blocks int
	mask          []uint64
	rank          []uint32
	postOff       []uint32
	postRow       []uint32
	postVal       []float32
	longest       int // rows in the longest list
}

// buildListIndex indexes the lists listOff/listRow of rows (features below
// dim).
func buildListIndex(rows []feature.Vector, listOff, listRow []uint32, dim int) listIndex {
	total := 0
	for _, r := range listRow {
		total += len(rows[r].Idx)
	}
	lists := len(listOff) - 1
	words := (dim + 63) / 64
	blocks := (words + 7) / 8
	li := listIndex{
		words:   words,
		blocks:  blocks,
		mask:    make([]uint64, lists*words),
		rank:    make([]uint32, lists*blocks),
		postOff: []uint32{0},
		postRow: make([]uint32, total),
		postVal: make([]float32, total),
	}
	count := make([]uint32, dim)
	cursor := make([]uint32, dim)
	var feats []uint32
	pos := uint32(0)
	for l := range lists {
		first, last := listOff[l], listOff[l+1]
		li.longest = max(li.longest, int(last-first))
		feats = feats[:0]
		for p := first; p < last; p++ {
			for _, f := range rows[listRow[p]].Idx {
				if count[f] == 0 {
					feats = append(feats, f)
				}
				count[f]++
			}
		}
		slices.Sort(feats)
		mask := li.mask[l*words : (l+1)*words]
		rank := li.rank[l*blocks : (l+1)*blocks]
		u := uint32(len(li.postOff) - 1) // the next feature's ordinal
		next := 0
		for blk := range rank {
			rank[blk] = u
			for next < len(feats) && int(feats[next]>>9) == blk {
				f := feats[next]
				mask[f>>6] |= 1 << (f & 63)
				cursor[f] = pos
				pos += count[f]
				count[f] = 0
				li.postOff = append(li.postOff, pos)
				u++
				next++
			}
		}
		for p := first; p < last; p++ {
			row := rows[listRow[p]]
			for k, f := range row.Idx {
				c := cursor[f]
				li.postRow[c] = p - first
				li.postVal[c] = row.Val[k]
				cursor[f]++
			}
		}
	}
	return li
}

// scoreList pushes every row of list l that shares a feature with the
// query into s.top: the query's features are in s.bits and s.qval, the
// words of s.bits it uses in s.qwords, ascending. A row's similarity is
// summed over the shared features in ascending order, as the exact search
// adds them, so it is bit for bit the exact similarity.
//
// A probed list is mostly out of cache, and each shared feature needs
// three dependent reads (the list's bitset word, its postings offsets,
// the postings). Done feature by feature, a mispredicted branch on a word
// still in flight threw away the reads issued after it; so the work is
// split into passes whose reads do not depend on each other: the words
// (kept without a branch), then the postings offsets, then the postings.
func (sv *sparseIVF) scoreList(l uint32, s *scratch) {
	li := &sv.inv
	first, last := sv.listOff[l], sv.listOff[l+1]
	mask := li.mask[int(l)*li.words : int(l+1)*li.words]
	rank := li.rank[int(l)*li.blocks : int(l+1)*li.blocks]
	qbits, qval := s.bits, s.qval

	if len(s.hits) < len(s.qwords) {
		s.hits = make([]wordHit, len(s.qwords))
	}
	hits := s.hits[:len(s.qwords)]
	n := 0
	for _, w := range s.qwords {
		h := qbits[w] & mask[w]
		hits[n] = wordHit{w: w, hit: h}
		if h != 0 {
			n++
		}
	}
	spans := s.spans[:0]
	for _, e := range hits[:n] {
		w, lm := e.w, mask[e.w]
		u0 := rank[w>>3] // ordinal of the word's lowest feature
		for v := w &^ 7; v < w; v++ {
			u0 += uint32(bits.OnesCount64(mask[v]))
		}
		for hit := e.hit; hit != 0; hit &= hit - 1 {
			b := uint(bits.TrailingZeros64(hit))
			u := u0 + uint32(bits.OnesCount64(lm&(1<<b-1)))
			spans = append(spans, postSpan{lo: li.postOff[u], hi: li.postOff[u+1], q: qval[w<<6|uint32(b)]})
		}
	}
	s.spans = spans
	acc := s.acc[:last-first]
	for _, sp := range spans {
		rows, vals := li.postRow[sp.lo:sp.hi], li.postVal[sp.lo:sp.hi]
		vals = vals[:len(rows)]
		for k, r := range rows {
			acc[r] += sp.q * vals[k]
		}
	}
	for r, d := range acc {
		if d != 0 {
			s.top.push(d, sv.listRow[first+uint32(r)])
			acc[r] = 0
		}
	}
}

// wordHit is a word of the query's bitset and its features in a list.
type wordHit struct {
	w   uint32
	hit uint64
}

// postSpan is the postings of a feature the query shares with a list, and
// the query's value of it.
type postSpan struct {
	lo, hi uint32
	q      float32
}
