package knn

import (
	"math/bits"
	"slices"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// featureSets holds, for each of a number of sets, the features it uses
// as a bitset over the feature space with each word's rank, so the
// features a query shares with a set are found from the ~180 words of its
// own bitset, not by testing each of the set's features. Within a set the
// features have ordinals in ascending order; ordinals run across sets, so
// they index the callers' per-feature data directly.
//
// Bitsets are dim/8 bytes a set (32 KiB at the default 2^18 features);
// each word's rank (the ordinal of its lowest feature) is kept per 8 words
// (a cache line): set i's bitset is mask[i*words:(i+1)*words], its ranks
// rank[i*blocks:(i+1)*blocks].
type featureSets struct {
	words, blocks int
	mask          []uint64
	rank          []uint32
	n             uint32 // ordinals given so far
}

func newFeatureSets(sets, dim int) featureSets {
	words := (dim + 63) / 64
	blocks := (words + 7) / 8
	return featureSets{words: words, blocks: blocks,
		mask: make([]uint64, sets*words), rank: make([]uint32, sets*blocks)}
}

// add records set i's features feats (ascending, below dim), giving them
// the next ordinals; sets are added in order.
func (fs *featureSets) add(i int, feats []uint32) {
	mask := fs.mask[i*fs.words : (i+1)*fs.words]
	rank := fs.rank[i*fs.blocks : (i+1)*fs.blocks]
	next := 0
	for blk := range rank {
		rank[blk] = fs.n
		for next < len(feats) && int(feats[next]>>9) == blk {
			f := feats[next]
			mask[f>>6] |= 1 << (f & 63)
			fs.n++
			next++
		}
	}
}

// sharedFeature is a feature a query shares with a set, and its ordinal.
type sharedFeature struct{ u, f uint32 }

// shared leaves in s.shared the features the query (s.bits, its words in
// s.qwords ascending) shares with set i, ascending.
//
// A set's bitset is mostly out of cache when a query comes. Done word by
// word with a branch on the AND, a mispredicted branch on a word still in
// flight threw away the reads issued after it; so the words are ANDed in a
// first pass that keeps the nonzero ones without a branch, their reads
// independent of each other.
func (fs *featureSets) shared(i int, s *scratch) []sharedFeature {
	mask := fs.mask[i*fs.words : (i+1)*fs.words]
	rank := fs.rank[i*fs.blocks : (i+1)*fs.blocks]
	qbits := s.bits
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
	out := s.shared[:0]
	for _, e := range hits[:n] {
		w, wm := e.w, mask[e.w]
		u0 := rank[w>>3] // ordinal of the word's lowest feature
		for v := w &^ 7; v < w; v++ {
			u0 += uint32(bits.OnesCount64(mask[v]))
		}
		for hit := e.hit; hit != 0; hit &= hit - 1 {
			b := uint(bits.TrailingZeros64(hit))
			out = append(out, sharedFeature{u: u0 + uint32(bits.OnesCount64(wm&(1<<b-1))), f: w<<6 | uint32(b)})
		}
	}
	s.shared = out
	return out
}

// wordHit is a word of the query's bitset and its features in a set.
type wordHit struct {
	w   uint32
	hit uint64
}

// listIndex holds each sparse-ivf list's rows as an inverted index of its
// own: the features the list's rows use (a featureSets set per list), each
// with its postings (the rows of the list that have it, ascending, and
// their values): feature ordinal u's postings are
// postRow/postVal[postOff[u]:postOff[u+1]], postRow being positions within
// the list.
//
// Why: a query shares few features with a list. Over the ~40 rows a query
// of ~190 features scores at 100,000 rows there are ~7,500 row nonzeros,
// ~5,000 distinct features, and only ~75 of those in the query, with ~950
// postings. Testing every row nonzero against the query's bitset
// mispredicted the branch about once per shared row feature (~1,000 times)
// and cost ~3.5 ns a nonzero (~27 us a query); here a query reads ~180
// words of the list's bitset, then only the shared features' postings.
type listIndex struct {
	sets    featureSets
	postOff []uint32
	postRow []uint32
	postVal []float32
	longest int // rows in the longest list
}

// buildListIndex indexes the lists listOff/listRow of rows (features below
// dim).
func buildListIndex(rows []feature.Vector, listOff, listRow []uint32, dim int) listIndex {
	total := 0
	for _, r := range listRow {
		total += len(rows[r].Idx)
	}
	lists := len(listOff) - 1
	li := listIndex{
		sets:    newFeatureSets(lists, dim),
		postOff: make([]uint32, 1, total+1),
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
		li.sets.add(l, feats)
		for _, f := range feats {
			cursor[f] = pos
			pos += count[f]
			count[f] = 0
			li.postOff = append(li.postOff, pos)
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
// query into s.top. A row's similarity is summed over the shared features
// in ascending order, as the exact search adds them, so it is bit for bit
// the exact similarity. The postings offsets are read in a pass of their
// own, so their reads overlap (see featureSets.shared).
func (sv *sparseIVF) scoreList(l uint32, s *scratch) {
	li := &sv.inv
	qval := s.qval
	spans := s.spans[:0]
	for _, sf := range li.sets.shared(int(l), s) {
		spans = append(spans, postSpan{lo: li.postOff[sf.u], hi: li.postOff[sf.u+1], q: qval[sf.f]})
	}
	s.spans = spans
	first, last := sv.listOff[l], sv.listOff[l+1]
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

// postSpan is the postings of a feature the query shares with a list, and
// the query's value of it.
type postSpan struct {
	lo, hi uint32
	q      float32
}
