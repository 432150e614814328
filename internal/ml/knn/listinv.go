package knn

import (
	"math/bits"
	"slices"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// featureSets holds, for each of a number of sets, the features it uses,
// so that the features a query shares with a set are found a 64-bit word
// of the query's feature bitset at a time. Within a set the features have
// ordinals in ascending order; ordinals run across sets, so they index the
// callers' per-feature data directly.
//
// Two layouts, the smaller one chosen (dense at the default 2^18 features
// and 100,000 rows: 100 MB against 140):
//   - dense: a bitset over the whole feature space per set (dim/8 bytes),
//     each word's rank (the ordinal of its lowest feature) kept per 8
//     words (a cache line). A query reads the set's words at its own ~180
//     words: set i's bitset is mask[i*words:(i+1)*words], its ranks
//     rank[i*blocks:(i+1)*blocks].
//   - sparse: per set, the words it uses, ascending, each with its mask and
//     the ordinal of its lowest feature (set i's are entries
//     entOff[i]:entOff[i+1] of word, mask and base). A query ANDs every
//     one with its own bitset: more reads, but memory independent of the
//     feature space (a 2^24 space would need 2 MiB a set dense).
type featureSets struct {
	dense         bool
	words, blocks int
	mask          []uint64
	rank          []uint32
	entOff        []uint32
	word          []uint32
	base          []uint32
	n             uint32 // ordinals given so far
}

// Layouts of featureSets.
const (
	layoutSmaller = iota // the smaller of the two for the data
	layoutDense
	layoutSparse
)

// newFeatureSets makes room for sets sets over dim features that use
// pairs (set, 64-feature word) pairs in all, in the given layout.
func newFeatureSets(sets, dim, pairs, layout int) featureSets {
	words := (dim + 63) / 64
	blocks := (words + 7) / 8
	if layout == layoutDense || (layout == layoutSmaller && sets*(words*8+blocks*4) <= pairs*16+sets*4) {
		return featureSets{dense: true, words: words, blocks: blocks,
			mask: make([]uint64, sets*words), rank: make([]uint32, sets*blocks)}
	}
	return featureSets{words: words, entOff: make([]uint32, 1, sets+1),
		word: make([]uint32, 0, pairs), mask: make([]uint64, 0, pairs), base: make([]uint32, 0, pairs)}
}

// add records set i's features feats (ascending, below dim), giving them
// the next ordinals; sets are added in order, each once.
func (fs *featureSets) add(i int, feats []uint32) {
	if !fs.dense {
		for k, f := range feats {
			if k == 0 || f>>6 != feats[k-1]>>6 {
				fs.word = append(fs.word, f>>6)
				fs.mask = append(fs.mask, 0)
				fs.base = append(fs.base, fs.n+uint32(k))
			}
			fs.mask[len(fs.mask)-1] |= 1 << (f & 63)
		}
		fs.n += uint32(len(feats))
		fs.entOff = append(fs.entOff, uint32(len(fs.word)))
		return
	}
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

// wordHit is a word of the query's bitset, the features a set has there
// and, in the sparse layout, the set's entry for the word.
type wordHit struct {
	w, e uint32
	hit  uint64
}

// shared leaves in s.shared the features the query (s.bits, its words in
// s.qwords ascending) shares with set i, ascending.
//
// A set is mostly out of cache when a query comes. Done word by word with
// a branch on the AND, a mispredicted branch on a word still in flight
// threw away the reads issued after it; so the words are ANDed in a first
// pass that keeps the nonzero ones without a branch, their reads
// independent of each other.
func (fs *featureSets) shared(i int, s *scratch) []sharedFeature {
	qbits := s.bits
	var hits []wordHit
	if fs.dense {
		mask := fs.mask[i*fs.words : (i+1)*fs.words]
		hits = s.hitBuf(len(s.qwords))
		n := 0
		for _, w := range s.qwords {
			h := qbits[w] & mask[w]
			hits[n] = wordHit{w: w, hit: h}
			if h != 0 {
				n++
			}
		}
		hits = hits[:n]
	} else {
		lo, hi := fs.entOff[i], fs.entOff[i+1]
		words, masks := fs.word[lo:hi], fs.mask[lo:hi]
		masks = masks[:len(words)]
		hits = s.hitBuf(len(words))
		n := 0
		for e, w := range words {
			h := qbits[w] & masks[e]
			hits[n] = wordHit{w: w, e: lo + uint32(e), hit: h}
			if h != 0 {
				n++
			}
		}
		hits = hits[:n]
	}
	out := s.shared[:0]
	for _, e := range hits {
		var u0 uint32 // ordinal of the word's lowest feature
		var wm uint64
		if fs.dense {
			mask := fs.mask[i*fs.words : (i+1)*fs.words]
			wm, u0 = mask[e.w], fs.rank[i*fs.blocks+int(e.w>>3)]
			for v := e.w &^ 7; v < e.w; v++ {
				u0 += uint32(bits.OnesCount64(mask[v]))
			}
		} else {
			wm, u0 = fs.mask[e.e], fs.base[e.e]
		}
		for hit := e.hit; hit != 0; hit &= hit - 1 {
			b := uint(bits.TrailingZeros64(hit))
			out = append(out, sharedFeature{u: u0 + uint32(bits.OnesCount64(wm&(1<<b-1))), f: e.w<<6 | uint32(b)})
		}
	}
	s.shared = out
	return out
}

// hitBuf is s.hits with room for n words.
func (s *scratch) hitBuf(n int) []wordHit {
	if len(s.hits) < n {
		s.hits = make([]wordHit, n)
	}
	return s.hits[:n]
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
// dim), its featureSets in the given layout.
func buildListIndex(rows []feature.Vector, listOff, listRow []uint32, dim, layout int) listIndex {
	total := 0
	for _, r := range listRow {
		total += len(rows[r].Idx)
	}
	lists := len(listOff) - 1
	// The (list, word) pairs, to choose the featureSets layout.
	pairs := 0
	stamp := make([]uint32, (dim+63)/64)
	for l := range lists {
		for p := listOff[l]; p < listOff[l+1]; p++ {
			for _, f := range rows[listRow[p]].Idx {
				if stamp[f>>6] != uint32(l)+1 {
					stamp[f>>6] = uint32(l) + 1
					pairs++
				}
			}
		}
	}
	li := listIndex{
		sets:    newFeatureSets(lists, dim, pairs, layout),
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
