package feature

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Limits on tf-idf parameters, checked on Fit and on Unmarshal.
const (
	DefaultDim  = 1 << 18
	minDim      = 16
	maxDim      = 1 << 24
	maxWordGram = 5
	maxCharGram = 8
)

// TFIDF is a hashed tf-idf featurizer over word and character n-grams.
//
// Text is lowercased and runs of whitespace collapse to one space. Words are
// runs of letters and digits (any non-ASCII byte counts as a letter so UTF-8
// stays whole); character n-grams run over the normalised bytes, spaces and
// punctuation included, which catches code and formatting cues words miss.
// Every n-gram is hashed (64-bit FNV-1a, finalised with a murmur3 mix, word
// and character grams in separate seeds) into Dim buckets. The term weight is
// sublinear, 1+ln(count), times the smoothed idf ln((1+N)/(1+df))+1 fitted on
// the training texts; buckets seen in fewer than MinDF training texts (and all
// buckets never seen in training) get weight 0, as an unseen term has no
// column in a vocabulary-based vectorizer. The output is L2-normalised; a text
// with no known n-gram gives the empty vector.
//
// Hashing needs no vocabulary in the bundle: only the document frequencies of
// the buckets that occurred are stored.
type TFIDF struct {
	dim     int
	wordMin int
	wordMax int
	charMin int
	charMax int
	minDF   int
	nDocs   int
	df      []uint32 // per bucket, as fitted
	// active indexes the buckets with a nonzero idf (df >= minDF) and
	// idf holds their weights in bucket order. Transform counts only
	// active buckets: on a trained vocabulary most of a prompt's n-grams
	// are unseen (~150 of ~190 for a 500-character prompt), and each of
	// them cost a count-table slot, a place in the sort and a miss in a
	// Dim-sized idf array before being dropped. Empty until fitted, so the
	// fit's own document counting sees every bucket.
	active      Columns
	idf         []float32
	scratchPool sync.Pool
}

func newTFIDF(cfg Config) (*TFIDF, error) {
	t := &TFIDF{dim: cfg.Dim, minDF: cfg.MinDF}
	if t.dim == 0 {
		t.dim = DefaultDim
	}
	if t.minDF == 0 {
		t.minDF = 1
	}
	// Both unset: word unigrams and bigrams, the scikit-learn reference's
	// setting and the one that meets the serving-path budget; character
	// n-grams are opt-in (they cost about four times as much per prompt,
	// see bench/notes/ml-data.md).
	w, c := cfg.WordNgrams, cfg.CharNgrams
	if w == [2]int{} && c == [2]int{} {
		w = [2]int{1, 2}
	}
	t.wordMin, t.wordMax, t.charMin, t.charMax = w[0], w[1], c[0], c[1]
	if err := t.checkParams(); err != nil {
		return nil, err
	}
	t.init()
	return t, nil
}

func (t *TFIDF) checkParams() error {
	rangeOK := func(lo, hi, limit int) bool { return (lo == 0 && hi == 0) || (1 <= lo && lo <= hi && hi <= limit) }
	switch {
	case t.dim < minDim || t.dim > maxDim:
		return fmt.Errorf("tfidf: dim %d outside [%d, %d]", t.dim, minDim, maxDim)
	case !rangeOK(t.wordMin, t.wordMax, maxWordGram):
		return fmt.Errorf("tfidf: word_ngrams [%d,%d] invalid (want 1 <= min <= max <= %d, or unset)", t.wordMin, t.wordMax, maxWordGram)
	case !rangeOK(t.charMin, t.charMax, maxCharGram):
		return fmt.Errorf("tfidf: char_ngrams [%d,%d] invalid (want 1 <= min <= max <= %d, or unset)", t.charMin, t.charMax, maxCharGram)
	case t.wordMax == 0 && t.charMax == 0:
		return errors.New("tfidf: neither word nor character n-grams enabled")
	case t.minDF < 1:
		return fmt.Errorf("tfidf: min_df %d < 1", t.minDF)
	}
	return nil
}

func (t *TFIDF) init() {
	t.scratchPool.New = func() any {
		return &scratch{
			tabKey: make([]uint32, minTable),
			tabCnt: make([]uint16, minTable),
			bits:   make([]uint64, (t.dim+63)/64),
		}
	}
}

func fitTFIDF(cfg Config, texts []string) (*TFIDF, error) {
	t, err := newTFIDF(cfg)
	if err != nil {
		return nil, err
	}
	if len(texts) == 0 {
		return nil, errors.New("tfidf: no training texts")
	}
	if len(texts) > math.MaxUint32 {
		return nil, errors.New("tfidf: too many training texts")
	}
	t.nDocs = len(texts)
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
	t.computeIDF()
	return t, nil
}

func (t *TFIDF) computeIDF() {
	var cols []uint32
	t.idf = t.idf[:0]
	n := float64(t.nDocs)
	for i, d := range t.df {
		if d >= uint32(t.minDF) {
			cols = append(cols, uint32(i))
			t.idf = append(t.idf, float32(math.Log((1+n)/(1+float64(d)))+1))
		}
	}
	var err error
	if t.active, err = NewColumns(cols, t.dim); err != nil {
		panic(err) // cols ascend below dim by construction
	}
}

// idfOf is bucket i's idf, 0 if it was dropped or never seen.
func (t *TFIDF) idfOf(i uint32) float32 {
	if c := t.active.Col(i); c >= 0 {
		return t.idf[c]
	}
	return 0
}

// scratch is the per-call working memory of Transform.
//
// A text's n-grams are first listed as buckets (grams, duplicates and all,
// only the buckets with an idf once fitted). A prompt's list is short, so
// it is sorted and its runs counted: touched gets the distinct buckets in
// order and cnts their counts, with no further lookup (sorted mode). A long
// text's list is instead counted in a small open-addressing hash table
// keyed by bucket, sized to at least twice its distinct buckets so it stays
// in the L1/L2 cache, with touched in first-seen order; the bitset over the
// hash space (32 KiB at 2^18) then orders them when walking it beats
// sorting. A dense Dim-sized count array (512 KiB at 2^18) did the same
// work but cost a cache miss per n-gram once a model's weights had evicted
// it. Everything is cleared through touched, so a call costs O(n-grams),
// not O(Dim).
type scratch struct {
	grams   []uint32 // the text's buckets, in text order or sorted
	sorted  bool     // counts are in cnts (sorted mode), else in the table
	cnts    []uint16 // sorted mode: count of touched[k]
	tabKey  []uint32 // bucket+1, 0 = empty slot; length a power of two
	tabCnt  []uint16
	bits    []uint64
	touched []uint32 // distinct buckets: ascending (sorted mode) or first-seen order
	norm    []byte
	words   []uint64
	tmp     []uint32 // sortBuckets' output before it is copied back
	hist    [1 << sortBits]uint32
}

// sortedLimit is the most n-grams counted by sorting their list; longer
// texts go through the count table, whose cost does not grow faster than
// their length.
const sortedLimit = 4096

// countOf is the count of touched[k].
func (s *scratch) countOf(k int) uint16 {
	if s.sorted {
		return s.cnts[k]
	}
	return s.count(s.touched[k])
}

// tally counts s.grams into touched and cnts (sorted mode) or the table.
func (t *TFIDF) tally(s *scratch) {
	g := s.grams
	if len(g) > sortedLimit {
		s.sorted = false
		for _, idx := range g {
			s.add(idx)
		}
		return
	}
	s.sorted = true
	s.sortBuckets(g, t.dim)
	touched, cnts := s.touched[:0], s.cnts[:0]
	for i := 0; i < len(g); {
		j := i + 1
		for j < len(g) && g[j] == g[i] {
			j++
		}
		touched = append(touched, g[i])
		cnts = append(cnts, uint16(min(j-i, math.MaxUint16)))
		i = j
	}
	s.touched, s.cnts = touched, cnts
}

// sortBits is the widest leading-bits bucket sortBuckets files by.
const sortBits = 12

// sortBuckets sorts bucket numbers below dim. A comparison sort of
// a prompt's ~200 buckets was half of featurization: the buckets are hash
// values, so nearly every comparison branch mispredicted. Filing them by
// their leading sortBits bits (a counting sort) leaves each among a handful
// of neighbours, and the insertion sort that finishes the job then takes
// predictable branches and few steps.
func (s *scratch) sortBuckets(idx []uint32, dim int) {
	if len(idx) > 32 {
		// About one bucket per element: the histogram's clearing and
		// prefix sum cost what the elements do.
		nb := min(bits.Len(uint(len(idx))), sortBits)
		shift := max(bits.Len32(uint32(dim-1))-nb, 0)
		h := s.hist[:1<<nb]
		clear(h)
		for _, v := range idx {
			h[v>>shift]++
		}
		var sum uint32
		for i, c := range h {
			h[i] = sum
			sum += c
		}
		if cap(s.tmp) < len(idx) {
			s.tmp = make([]uint32, len(idx))
		}
		tmp := s.tmp[:len(idx)]
		for _, v := range idx {
			tmp[h[v>>shift]] = v
			h[v>>shift]++
		}
		copy(idx, tmp)
	}
	for i := 1; i < len(idx); i++ {
		v := idx[i]
		j := i
		for ; j > 0 && idx[j-1] > v; j-- {
			idx[j] = idx[j-1]
		}
		idx[j] = v
	}
}

// minTable is the smallest count table: 256 slots fit a ~500-character
// prompt's word 1-2 grams at under half load.
const minTable = 256

func (t *TFIDF) getScratch() *scratch { return t.scratchPool.Get().(*scratch) }

func (t *TFIDF) reset(s *scratch) {
	if s.sorted {
		s.touched, s.cnts = s.touched[:0], s.cnts[:0]
		return
	}
	if len(s.bits) <= 8*len(s.touched) {
		for _, idx := range s.touched {
			s.bits[idx>>6] = 0
		}
	}
	if len(s.tabKey) <= 8*len(s.touched) {
		clear(s.tabKey)
	} else {
		// A table grown by one long text stays large; empty only the
		// used slots. Every key is deleted, so no probe chain needs to
		// survive and the search may run over emptied slots.
		mask := uint32(len(s.tabKey) - 1)
		for _, idx := range s.touched {
			i := idx & mask
			for s.tabKey[i] != idx+1 {
				i = (i + 1) & mask
			}
			s.tabKey[i] = 0
		}
	}
	s.touched = s.touched[:0]
}

// count of bucket idx, which must be in the table.
func (s *scratch) count(idx uint32) uint16 {
	mask := uint32(len(s.tabKey) - 1)
	i := idx & mask
	for s.tabKey[i] != idx+1 {
		i = (i + 1) & mask
	}
	return s.tabCnt[i]
}

// grow doubles the count table and re-inserts its entries.
func (s *scratch) grow() {
	oldKey, oldCnt := s.tabKey, s.tabCnt
	s.tabKey = make([]uint32, 2*len(oldKey))
	s.tabCnt = make([]uint16, 2*len(oldKey))
	mask := uint32(len(s.tabKey) - 1)
	for j, k := range oldKey {
		if k == 0 {
			continue
		}
		i := (k - 1) & mask
		for s.tabKey[i] != 0 {
			i = (i + 1) & mask
		}
		s.tabKey[i], s.tabCnt[i] = k, oldCnt[j]
	}
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
	seedWord  = 0x9e3779b97f4a7c15
	seedChar  = 0xc2b2ae3d27d4eb4f
)

func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// bucket maps an n-gram hash to its bucket: Lemire's multiply-shift maps
// the top 32 hash bits onto [0, dim).
func (t *TFIDF) bucket(h uint64) uint32 { return uint32((h >> 32) * uint64(t.dim) >> 32) }

// add counts bucket idx in the table.
func (s *scratch) add(idx uint32) {
	// Buckets are hash-derived, so their low bits place them in the table.
	mask := uint32(len(s.tabKey) - 1)
	for i := idx & mask; ; i = (i + 1) & mask {
		switch s.tabKey[i] {
		case idx + 1:
			if s.tabCnt[i] < math.MaxUint16 {
				s.tabCnt[i]++
			}
			return
		case 0:
			s.tabKey[i], s.tabCnt[i] = idx+1, 1
			s.touched = append(s.touched, idx)
			if 2*len(s.touched) > len(s.tabKey) {
				s.grow()
			}
			return
		}
	}
}

// normalise lowercases text and collapses whitespace into s.norm.
func normalise(s *scratch, text string) {
	b := s.norm[:0]
	space := true // drop leading space
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
				if !space {
					b = append(b, ' ')
					space = true
				}
				continue
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			}
			b = append(b, c)
			space = false
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		if unicode.IsSpace(r) {
			if !space {
				b = append(b, ' ')
				space = true
			}
			continue
		}
		b = utf8.AppendRune(b, unicode.ToLower(r))
		space = false
	}
	if n := len(b); n > 0 && b[n-1] == ' ' {
		b = b[:n-1]
	}
	s.norm = b
}

func isWordByte(c byte) bool {
	return c >= utf8.RuneSelf || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9')
}

// count fills s with the n-gram counts of text: touched and countOf.
func (t *TFIDF) count(s *scratch, text string) {
	s.grams = s.grams[:0]
	t.listGrams(s, text)
	if t.active.n > 0 && t.active.n < t.dim {
		s.grams = t.active.filter(s.grams)
	}
	t.tally(s)
}

// listGrams appends the buckets of text's n-grams to s.grams.
func (t *TFIDF) listGrams(s *scratch, text string) {
	// Word n-grams alone over ASCII text (the default, on the serving path)
	// need no normalised copy: wordTab lowercases and classifies each byte
	// exactly as normalise and isWordByte would.
	if t.charMax == 0 && isASCII(text) {
		s.words = appendWordHashes(s.words[:0], text)
		t.addWordGrams(s)
		return
	}
	normalise(s, text)
	b := s.norm
	if t.charMax > 0 {
		for i := range b {
			h := uint64(fnvOffset ^ seedChar)
			for n := 1; n <= t.charMax && i+n <= len(b); n++ {
				h = (h ^ uint64(b[i+n-1])) * fnvPrime
				if n >= t.charMin {
					s.grams = append(s.grams, t.bucket(fmix64(h^uint64(n))))
				}
			}
		}
	}
	if t.wordMax > 0 {
		w := s.words[:0]
		for i := 0; i < len(b); {
			if !isWordByte(b[i]) {
				i++
				continue
			}
			h := uint64(fnvOffset)
			for ; i < len(b) && isWordByte(b[i]); i++ {
				h = (h ^ uint64(b[i])) * fnvPrime
			}
			w = append(w, h)
		}
		s.words = w
		t.addWordGrams(s)
	}
}

func (t *TFIDF) addWordGrams(s *scratch) {
	w, g := s.words, s.grams
	for i := range w {
		h := uint64(seedWord)
		for n := 1; n <= t.wordMax && i+n <= len(w); n++ {
			h = (h ^ w[i+n-1]) * fnvPrime
			if n >= t.wordMin {
				g = append(g, t.bucket(fmix64(h^uint64(n)<<56)))
			}
		}
	}
	s.grams = g
}

// wordTab maps an ASCII byte to its lowercase form if it is a word byte
// (letter or digit), else to 0.
var wordTab = func() (tab [128]byte) {
	for c := byte('0'); c <= '9'; c++ {
		tab[c] = c
	}
	for c := byte('a'); c <= 'z'; c++ {
		tab[c], tab[c-'a'+'A'] = c, c
	}
	return tab
}()

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// appendWordHashes appends the FNV-1a hash of each lowercased word of the
// ASCII text. The loop takes no branch on the bytes (conditional moves
// instead): a branch at every word boundary mispredicted about twice a
// word. It stores the running hash at every byte and advances only at a
// word's end, so w needs room for the most words a text can hold.
func appendWordHashes(w []uint64, text string) []uint64 {
	n := len(w)
	if need := n + len(text)/2 + 1; cap(w) < need {
		w = append(w[:cap(w)], make([]uint64, need-cap(w))...)
	}
	w = w[:cap(w)]
	h, in := uint64(fnvOffset), 0
	for i := 0; i < len(text); i++ {
		c := wordTab[text[i]&0x7f]
		w[n] = h
		next, end, word := (h^uint64(c))*fnvPrime, 0, 1
		if c == 0 {
			next, end, word = fnvOffset, in, 0
		}
		n += end
		h, in = next, word
	}
	w[n] = h
	return w[:n+in]
}

// sublinear[k] = 1 + ln(k), so the common small counts skip math.Log.
var sublinear = func() (tab [64]float32) {
	for k := 1; k < len(tab); k++ {
		tab[k] = float32(1 + math.Log(float64(k)))
	}
	return tab
}()

// vector turns the counts in s into the normalised, index-sorted output,
// in dst's storage when it has the capacity.
func (t *TFIDF) vector(s *scratch, dst Vector) Vector {
	n := len(s.touched)
	if n == 0 {
		return Vector{Idx: dst.Idx[:0], Val: dst.Val[:0]}
	}
	// Sorted order: touched already is in sorted mode; otherwise walk the
	// bitset when it is small relative to the number of n-grams, or sort the
	// touched list.
	idx := dst.Idx[:0]
	if cap(idx) < n {
		idx = make([]uint32, 0, n)
	}
	if s.sorted {
		idx = append(idx, s.touched...)
	} else if len(s.bits) <= 8*n {
		// Long text: mark the buckets in the bitset here rather than as
		// they are counted, so a short text (the serving path) never
		// touches the bitset's Dim/8 bytes and their cache misses.
		for _, i := range s.touched {
			s.bits[i>>6] |= 1 << (i & 63)
		}
		for w, word := range s.bits {
			for word != 0 {
				b := bits.TrailingZeros64(word)
				word &= word - 1
				idx = append(idx, uint32(w*64+b))
			}
		}
	} else {
		idx = append(idx, s.touched...)
		s.sortBuckets(idx, t.dim)
	}
	val := dst.Val[:0]
	if cap(val) < n {
		val = make([]float32, 0, n)
	}
	val = val[:n]
	var sum float64
	k := 0
	for p, i := range idx {
		w := t.idfOf(i)
		if w == 0 {
			continue
		}
		var c uint16
		if s.sorted {
			c = s.cnts[p]
		} else {
			c = s.count(i)
		}
		var tf float32
		if int(c) < len(sublinear) {
			tf = sublinear[c]
		} else {
			tf = float32(1 + math.Log(float64(c)))
		}
		v := tf * w
		idx[k], val[k] = i, v
		sum += float64(v) * float64(v)
		k++
	}
	if k == 0 {
		return Vector{Idx: idx[:0], Val: val[:0]}
	}
	inv := float32(1 / math.Sqrt(sum))
	for j := range val[:k] {
		val[j] *= inv
	}
	return Vector{Idx: idx[:k], Val: val[:k]}
}

// Transform featurizes texts. It never fails for tf-idf except on a cancelled
// context, checked between texts.
func (t *TFIDF) Transform(ctx context.Context, texts []string) ([]Vector, error) {
	out := make([]Vector, len(texts))
	s := t.getScratch()
	defer t.scratchPool.Put(s)
	for i, text := range texts {
		if i%256 == 255 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("tfidf transform: %w", err)
			}
		}
		t.count(s, text)
		out[i] = t.oneVector(s)
		t.reset(s)
	}
	return out, nil
}

// oneVector is vector into fresh storage of exactly the needed size (a
// text with no known n-gram gives the zero Vector).
func (t *TFIDF) oneVector(s *scratch) Vector {
	v := t.vector(s, Vector{})
	if len(v.Idx) == 0 {
		return Vector{}
	}
	return Vector{Idx: v.Idx[:len(v.Idx):len(v.Idx)], Val: v.Val[:len(v.Val):len(v.Val)]}
}

// TransformOne featurizes one text; the serving path uses it to avoid the
// slice Transform returns.
func (t *TFIDF) TransformOne(text string) Vector {
	s := t.getScratch()
	t.count(s, text)
	v := t.oneVector(s)
	t.reset(s)
	t.scratchPool.Put(s)
	return v
}

// TransformInto is TransformOne writing into dst's storage (grown if
// needed), so a caller that keeps its vector allocates nothing per call. The
// result aliases dst's arrays; a text with no known n-gram gives an empty,
// not nil, vector when dst had storage.
func (t *TFIDF) TransformInto(text string, dst Vector) Vector {
	s := t.getScratch()
	t.count(s, text)
	v := t.vector(s, dst)
	t.reset(s)
	t.scratchPool.Put(s)
	return v
}

// Dim is the hash space size.
func (t *TFIDF) Dim() int { return t.dim }

// Kind is "tfidf".
func (t *TFIDF) Kind() string { return KindTFIDF }

// Spec describes the parameters for a bundle manifest.
func (t *TFIDF) Spec() map[string]any {
	nz := t.active.Len()
	return map[string]any{
		"kind":            KindTFIDF,
		"dim":             t.dim,
		"word_ngrams":     []int{t.wordMin, t.wordMax},
		"char_ngrams":     []int{t.charMin, t.charMax},
		"min_df":          t.minDF,
		"tf":              "sublinear 1+ln(count)",
		"idf":             "ln((1+N)/(1+df))+1",
		"norm":            "l2",
		"hash":            "fnv1a64+fmix64",
		"training_texts":  t.nDocs,
		"active_features": nz,
	}
}

var _ Featurizer = (*TFIDF)(nil)
