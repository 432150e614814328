// Package knn predicts every candidate's quality for a prompt as the
// similarity-weighted mean of the qualities observed on its k nearest
// training prompts (cosine similarity).
//
// Two indexes find the neighbours. The exact index scores a query against
// every training row: for sparse L2-normalised tf-idf it walks an inverted
// index over the query's nonzero features, so rows sharing no feature cost
// nothing; for dense embeddings it is one matrix-vector product. The "ivf"
// index is approximate, for large sets: rows are projected to a few dozen
// dimensions by hashed random signs, clustered by spherical k-means, and a
// query scores only the rows of its nearest clusters in the projection, then
// re-ranks a short list by exact cosine.
package knn

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// Index kinds.
const (
	IndexExact = "exact"
	IndexIVF   = "ivf"
)

// Config holds the KNN hyper-parameters; zero values take the defaults noted.
type Config struct {
	// K is the number of neighbours (default 20).
	K int `yaml:"k" json:"k"`
	// Index is "exact" (default) or "ivf".
	Index string `yaml:"index" json:"index"`
	// Prior is the weight, in units of one perfectly similar neighbour, of
	// the candidate's training mean blended into every prediction. It keeps a
	// query with few or dissimilar neighbours near the base rate (default 0.5).
	Prior float64 `yaml:"prior" json:"prior"`
	// Power sharpens the similarity weighting: a neighbour weighs sim^Power
	// (default 1).
	Power float64 `yaml:"power" json:"power"`
	// Lists is the number of ivf clusters (default 2*sqrt(rows)).
	Lists int `yaml:"lists" json:"lists"`
	// Probe is how many clusters an ivf query scores (default 8).
	Probe int `yaml:"probe" json:"probe"`
	// ProjDim is the ivf projection width, a multiple of 64 (default 64).
	ProjDim int `yaml:"proj_dim" json:"proj_dim"`
	// Rerank is how many ivf candidates are re-scored exactly (default 2*K).
	Rerank int `yaml:"rerank" json:"rerank"`
	// Seed drives the projection and the clustering.
	Seed int64 `yaml:"seed" json:"seed"`
}

func (c Config) withDefaults(rows int) (Config, error) {
	if c.K == 0 {
		c.K = 20
	}
	if c.Index == "" {
		c.Index = IndexExact
	}
	if c.Prior == 0 {
		c.Prior = 0.5
	}
	if c.Power == 0 {
		c.Power = 1
	}
	if c.Lists == 0 {
		c.Lists = int(2 * math.Sqrt(float64(rows)))
	}
	c.Lists = max(1, min(c.Lists, rows))
	if c.Probe == 0 {
		c.Probe = 8
	}
	c.Probe = min(c.Probe, c.Lists)
	if c.ProjDim == 0 {
		c.ProjDim = 64
	}
	if c.Rerank == 0 {
		c.Rerank = 2 * c.K
	}
	switch {
	case c.K < 1:
		return c, fmt.Errorf("k %d: must be at least 1", c.K)
	case c.Index != IndexExact && c.Index != IndexIVF:
		return c, fmt.Errorf("index %q: want %q or %q", c.Index, IndexExact, IndexIVF)
	case c.Prior < 0 || c.Power <= 0:
		return c, errors.New("prior must be >= 0 and power > 0")
	case c.ProjDim%64 != 0 || c.ProjDim > 1024:
		return c, fmt.Errorf("proj_dim %d: must be a multiple of 64 up to 1024", c.ProjDim)
	case c.Probe < 1 || c.Rerank < c.K:
		return c, errors.New("probe must be >= 1 and rerank >= k")
	}
	return c, nil
}

// Model is a trained KNN predictor. It is immutable after Train or
// UnmarshalBinary and safe for concurrent Predict calls.
type Model struct {
	cfg   Config
	dim   int
	nCand int
	rows  []feature.Vector
	y     []float32 // rows*nCand, NaN where missing
	w     []float32 // per-row weight
	prior []float32 // weighted training mean per candidate

	dense bool
	mat   []float32 // rows*dim when dense

	// Inverted index over features: the postings of feature f are
	// postRow/postVal[postOff[f]:postOff[f+1]].
	postOff []uint32
	postRow []uint32
	postVal []float32
	// postMax is each feature's largest posting value, and nonneg whether
	// every posting is >= 0: then searchSparse may prune (see there).
	postMax []float32
	nonneg  bool

	ivf *ivf

	pool sync.Pool
}

// Train indexes the training rows. x are the feature vectors (L2-normalised
// by the featurizer), dim their dimension, y the rows x candidates quality
// matrix with NaN where an outcome is missing, and w the per-row weights (nil
// means 1; rows from traces carry their inverse propensity).
func Train(ctx context.Context, cfg Config, x []feature.Vector, dim int, y [][]float64, w []float64) (*Model, error) {
	if len(x) == 0 {
		return nil, errors.New("knn: no training rows")
	}
	if len(y) != len(x) || (w != nil && len(w) != len(x)) {
		return nil, fmt.Errorf("knn: %d rows but %d quality rows and %d weights", len(x), len(y), len(w))
	}
	cfg, err := cfg.withDefaults(len(x))
	if err != nil {
		return nil, fmt.Errorf("knn: %w", err)
	}
	m := &Model{cfg: cfg, dim: dim, nCand: len(y[0]), rows: x}
	m.y = make([]float32, len(x)*m.nCand)
	m.w = make([]float32, len(x))
	for i := range x {
		if len(y[i]) != m.nCand {
			return nil, fmt.Errorf("knn: row %d has %d candidates, want %d", i, len(y[i]), m.nCand)
		}
		if err := checkVector(x[i], dim); err != nil {
			return nil, fmt.Errorf("knn: row %d: %w", i, err)
		}
		for j, q := range y[i] {
			m.y[i*m.nCand+j] = float32(q)
		}
		m.w[i] = 1
		if w != nil {
			if !(w[i] >= 0) || math.IsInf(w[i], 0) {
				return nil, fmt.Errorf("knn: row %d weight %v: must be finite and >= 0", i, w[i])
			}
			m.w[i] = float32(w[i])
		}
	}
	if err := m.build(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

func checkVector(v feature.Vector, dim int) error {
	if len(v.Idx) != len(v.Val) {
		return errors.New("vector index and value counts differ")
	}
	for k, ix := range v.Idx {
		if int(ix) >= dim || (k > 0 && ix <= v.Idx[k-1]) {
			return fmt.Errorf("vector index %d not ascending below dimension %d", ix, dim)
		}
	}
	return nil
}

// build derives everything that is not serialised: priors, the exact index
// and, for ivf, the clusters. Training and loading share it, so a loaded
// model is the trained one.
func (m *Model) build(ctx context.Context) error {
	m.prior = make([]float32, m.nCand)
	for j := 0; j < m.nCand; j++ {
		var s, ws float64
		for i := range m.rows {
			if q := m.y[i*m.nCand+j]; !math.IsNaN(float64(q)) {
				s += float64(m.w[i] * q)
				ws += float64(m.w[i])
			}
		}
		m.prior[j] = 0.5
		if ws > 0 {
			m.prior[j] = float32(s / ws)
		}
	}
	m.dense = m.dim <= 4096
	for _, r := range m.rows {
		if len(r.Idx) != m.dim {
			m.dense = false
			break
		}
	}
	if m.dense {
		m.mat = make([]float32, len(m.rows)*m.dim)
		for i, r := range m.rows {
			copy(m.mat[i*m.dim:], r.Val)
		}
	} else {
		m.buildPostings()
	}
	if m.cfg.Index == IndexIVF && m.ivf == nil {
		iv, err := buildIVF(ctx, m.cfg, m.rows)
		if err != nil {
			return fmt.Errorf("knn: %w", err)
		}
		m.ivf = iv
	}
	m.pool.New = func() any { return m.newScratch() }
	return nil
}

func (m *Model) buildPostings() {
	m.postOff = make([]uint32, m.dim+1)
	for _, r := range m.rows {
		for _, ix := range r.Idx {
			m.postOff[ix+1]++
		}
	}
	for f := 0; f < m.dim; f++ {
		m.postOff[f+1] += m.postOff[f]
	}
	n := m.postOff[m.dim]
	m.postRow = make([]uint32, n)
	m.postVal = make([]float32, n)
	next := append([]uint32(nil), m.postOff[:m.dim]...)
	m.postMax = make([]float32, m.dim)
	m.nonneg = true
	for i, r := range m.rows {
		for k, ix := range r.Idx {
			p := next[ix]
			v := r.Val[k]
			m.postRow[p] = uint32(i)
			m.postVal[p] = v
			next[ix]++
			m.postMax[ix] = max(m.postMax[ix], v)
			if !(v >= 0) {
				m.nonneg = false
			}
		}
	}
}

// Candidates is the number of candidates the model predicts.
func (m *Model) Candidates() int { return m.nCand }

// Rows is the number of indexed training rows.
func (m *Model) Rows() int { return len(m.rows) }

type scratch struct {
	scores  []float32
	touched []uint32
	top     topK
	probe   topK
	proj    []float32
	cand    []uint32
	bits    []uint64  // ivf: query features, one bit per feature
	qval    []float32 // ivf: query values by feature, 0 elsewhere
	// ivf: similarity of the query to every centroid, and to every row
	// of one probed list.
	listScores, rowScores []float32
	// exact pruned search: the query's terms by bound, and the K best
	// partial scores.
	terms   []term
	bound   topK
	inBound []uint64
}

// term is a query feature in the pruned exact search: its position in the
// query and the most it can add to any row's similarity.
type term struct {
	k  int32
	ub float32
}

func (m *Model) newScratch() any {
	s := &scratch{top: topK{k: m.cfg.K}, probe: topK{k: m.cfg.Probe}}
	if m.ivf == nil {
		s.scores = make([]float32, len(m.rows))
		if m.postOff != nil {
			s.bits = make([]uint64, (m.dim+63)/64)
			s.qval = make([]float32, m.dim)
			s.bound = topK{k: m.cfg.K}
			s.inBound = make([]uint64, (len(m.rows)+63)/64)
		}
	} else {
		s.proj = make([]float32, m.cfg.ProjDim)
		s.bits = make([]uint64, (m.dim+63)/64)
		s.qval = make([]float32, m.dim)
		s.top.k = m.cfg.Rerank
		s.listScores = make([]float32, len(m.ivf.listOff)-1)
		longest := 0
		for c := range len(m.ivf.listOff) - 1 {
			longest = max(longest, int(m.ivf.listOff[c+1]-m.ivf.listOff[c]))
		}
		s.rowScores = make([]float32, longest)
	}
	return s
}

// Predict writes each candidate's predicted quality for x into out (length
// Candidates()). It allocates nothing in the steady state.
func (m *Model) Predict(x feature.Vector, out []float64) {
	s := m.pool.Get().(*scratch)
	defer m.pool.Put(s)
	s.top.reset()
	switch {
	case m.ivf != nil:
		m.searchIVF(x, s)
	case m.dense:
		m.searchDense(x, s)
	default:
		m.searchSparse(x, s)
	}
	m.aggregate(s.top.items, out)
}

// searchSparse is the exact search over the inverted index. With 100,000
// rows of ordinary text the common words' postings cover most rows, so
// scoring every posting touches ~every row (milliseconds); searchPruned
// finds the same neighbours with far less work when it may.
func (m *Model) searchSparse(x feature.Vector, s *scratch) {
	if m.nonneg && s.bits != nil && m.searchPruned(x, s) {
		return
	}
	s.touched = s.touched[:0]
	for k, ix := range x.Idx {
		if int(ix) >= m.dim {
			continue
		}
		qv := x.Val[k]
		lo, hi := m.postOff[ix], m.postOff[ix+1]
		rows, vals := m.postRow[lo:hi], m.postVal[lo:hi]
		for p, r := range rows {
			if s.scores[r] == 0 {
				s.touched = append(s.touched, r)
			}
			s.scores[r] += qv * vals[p]
		}
	}
	for _, r := range s.touched {
		s.top.push(s.scores[r], r)
		s.scores[r] = 0
	}
}

func (m *Model) searchDense(x feature.Vector, s *scratch) {
	if len(x.Val) != m.dim {
		return
	}
	impl := blas32.Implementation()
	for i := range m.rows {
		s.top.push(impl.Sdot(m.dim, m.mat[i*m.dim:], 1, x.Val, 1), uint32(i))
	}
}

// aggregate turns neighbours into per-candidate predictions:
// (sum w_i q_ij + prior*p_j) / (sum w_i + prior) over neighbours whose
// outcome for j is known, with w_i = rowweight * sim^power.
func (m *Model) aggregate(nb []item, out []float64) {
	for j := 0; j < m.nCand; j++ {
		num := m.cfg.Prior * float64(m.prior[j])
		den := m.cfg.Prior
		for _, it := range nb {
			if it.sim <= 0 {
				continue
			}
			q := m.y[int(it.row)*m.nCand+j]
			if math.IsNaN(float64(q)) {
				continue
			}
			sw := float64(it.sim)
			if m.cfg.Power != 1 {
				sw = math.Pow(sw, m.cfg.Power)
			}
			wt := float64(m.w[it.row]) * sw
			num += wt * float64(q)
			den += wt
		}
		if den > 0 {
			out[j] = num / den
		} else {
			out[j] = float64(m.prior[j])
		}
	}
}

// item is one neighbour.
type item struct {
	sim float32
	row uint32
}

// topK keeps the k best items, sorted by descending similarity (ties by the
// lower row, so results do not depend on visiting order).
type topK struct {
	k     int
	items []item
}

func (t *topK) reset() { t.items = t.items[:0] }

func better(a, b item) bool { return a.sim > b.sim || (a.sim == b.sim && a.row < b.row) }

func (t *topK) push(sim float32, row uint32) {
	it := item{sim, row}
	n := len(t.items)
	if n == t.k && !better(it, t.items[n-1]) {
		return
	}
	if n < t.k {
		t.items = append(t.items, it)
		n++
	}
	i := n - 1
	for i > 0 && better(it, t.items[i-1]) {
		t.items[i] = t.items[i-1]
		i--
	}
	t.items[i] = it
}

// searchPruned is the exact search by the max-score method of text
// retrieval: it scores the query's terms in decreasing order of the most
// each can add to a row's similarity (query value times the term's largest
// posting), and stops once the bounds of the terms left sum to less than
// the K-th best partial score. Partial scores only grow (values are
// nonnegative), so that K-th best bounds the final K-th best from below,
// and a row not yet touched cannot reach it; a touched row can only if its
// partial score plus the bounds left does. Those rows are then scored
// exactly, one merge of the row with the query each, adding the shared
// features in ascending order as searchSparse's accumulation does, so the
// similarities, and the neighbours, are bit for bit searchSparse's. It
// reports false, having done nothing, for a query with a negative value.
func (m *Model) searchPruned(x feature.Vector, s *scratch) bool {
	terms := s.terms[:0]
	var rest float64
	for k, ix := range x.Idx {
		v := x.Val[k]
		if !(v >= 0) {
			return false
		}
		if int(ix) >= m.dim || m.postOff[ix] == m.postOff[ix+1] || v == 0 {
			continue
		}
		ub := v * m.postMax[ix]
		terms = append(terms, term{int32(k), ub})
		rest += float64(ub)
	}
	s.terms = terms
	slices.SortFunc(terms, func(a, b term) int { return cmp.Compare(b.ub, a.ub) })
	s.touched = s.touched[:0]
	// bound holds K distinct touched rows with partial scores they had
	// when they entered it (scores only grow, so these are lower bounds):
	// its smallest entry bounds the K-th best partial score from below,
	// without ranking every touched row. inBound marks its rows.
	b := &s.bound
	b.reset()
	k := m.cfg.K
	floor := float32(0) // smallest entry once bound is full, else 0
	for _, tm := range terms {
		qv := x.Val[tm.k]
		ix := x.Idx[tm.k]
		lo, hi := m.postOff[ix], m.postOff[ix+1]
		rows, vals := m.postRow[lo:hi], m.postVal[lo:hi]
		for p, r := range rows {
			d := qv * vals[p]
			if d == 0 {
				continue // keeps a touched row's partial score above 0
			}
			sc := s.scores[r]
			if sc == 0 {
				s.touched = append(s.touched, r)
			}
			sc += d
			s.scores[r] = sc
			if sc > floor && s.inBound[r>>6]&(1<<(r&63)) == 0 {
				if len(b.items) == k {
					last := b.items[k-1].row
					s.inBound[last>>6] &^= 1 << (last & 63)
				}
				b.push(sc, r)
				s.inBound[r>>6] |= 1 << (r & 63)
				if len(b.items) == k {
					floor = b.items[k-1].sim
				}
			}
		}
		rest -= float64(tm.ub)
		if len(b.items) == k && slack(rest) < float64(floor) {
			break
		}
	}
	rest = max(rest, 0)
	for _, it := range b.items {
		s.inBound[it.row>>6] = 0
	}
	var theta float64 // lower bound on the K-th best final score
	if len(s.touched) >= k {
		theta = m.kthPartial(s)
	}
	// Score exactly the rows that can still make the K best.
	for k, ix := range x.Idx {
		if int(ix) < m.dim {
			s.bits[ix>>6] |= 1 << (ix & 63)
			s.qval[ix] = x.Val[k]
		}
	}
	for _, r := range s.touched {
		if float64(s.scores[r])+slack(rest) >= theta*(1-1e-4) {
			row := m.rows[r]
			val := row.Val[:len(row.Idx)]
			var dot float32
			for k, ix := range row.Idx {
				if s.bits[ix>>6]&(1<<(ix&63)) != 0 {
					dot += s.qval[ix] * val[k]
				}
			}
			s.top.push(dot, r)
		}
		s.scores[r] = 0
	}
	for _, ix := range x.Idx {
		if int(ix) < m.dim {
			s.bits[ix>>6] = 0
			s.qval[ix] = 0
		}
	}
	return true
}

// slack pads a sum of bounds against float32 rounding in the partial
// scores it is compared with (a relative 1e-4 is far above the rounding of
// a few thousand float32 additions).
func slack(rest float64) float64 { return rest*(1+1e-4) + 1e-6 }

// kthPartial is the K-th best partial score among the touched rows.
func (m *Model) kthPartial(s *scratch) float64 {
	b := &s.bound
	b.reset()
	for _, r := range s.touched {
		b.push(s.scores[r], r)
	}
	return float64(b.items[len(b.items)-1].sim)
}
