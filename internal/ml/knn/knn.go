// Package knn predicts every candidate's quality for a prompt as the
// similarity-weighted mean of the qualities observed on its k nearest
// training prompts (cosine similarity).
//
// Three indexes find the neighbours. The exact index scores a query against
// every training row: for sparse L2-normalised tf-idf it walks an inverted
// index over the query's nonzero features, so rows sharing no feature cost
// nothing; for dense embeddings it is one matrix-vector product. The "ivf"
// index is approximate, for large sets: rows are projected to a few dozen
// dimensions by hashed random signs, clustered by spherical k-means, and a
// query scores only the rows of its nearest clusters in the projection, then
// re-ranks a short list by exact cosine. The "sparse-ivf" index is
// approximate too: two-level spherical k-means on the sparse rows
// themselves, and a query scores every row of its nearest lists exactly
// (sparseivf.go has why).
package knn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// Index kinds.
const (
	IndexExact = "exact"
	IndexIVF   = "ivf"
	// IndexSparseIVF clusters the sparse rows themselves and scores the
	// rows of the nearest lists exactly (sparseivf.go).
	IndexSparseIVF = "sparse-ivf"
)

// Sparse-ivf defaults: a group centroid keeps 256 features; lists hold
// about 32 rows (at most 40), since a query's time is mostly the rows it
// scores.
const (
	defaultCentroidTerms = 256
	sparseRowsPerList    = 32
)

// Config holds the KNN hyper-parameters; zero values take the defaults noted.
type Config struct {
	// K is the number of neighbours (default 20).
	K int `yaml:"k" json:"k"`
	// Index is "exact" (default), "ivf" or "sparse-ivf".
	Index string `yaml:"index" json:"index"`
	// Prior is the weight, in units of one perfectly similar neighbour, of
	// the candidate's training mean blended into every prediction. It keeps a
	// query with few or dissimilar neighbours near the base rate (default 0.5).
	Prior float64 `yaml:"prior" json:"prior"`
	// Power sharpens the similarity weighting: a neighbour weighs sim^Power
	// (default 1).
	Power float64 `yaml:"power" json:"power"`
	// Lists is the number of ivf clusters (default 2*sqrt(rows)), or the
	// number of sparse-ivf lists (default rows/32; each holds at most 5/4
	// of the mean).
	Lists int `yaml:"lists" json:"lists"`
	// Probe is how many clusters an ivf query scores (default 8), or
	// how many lists a sparse-ivf query scores exactly (default 1: at
	// 100,000 rows it routes within the noise of exact search, its balanced
	// point nearer exact's than probe 2's, at ~50 us instead of ~65 us;
	// bench/notes/ml-knn.md).
	Probe int `yaml:"probe" json:"probe"`
	// ProjDim is the ivf projection width, a multiple of 64 (default 64).
	ProjDim int `yaml:"proj_dim" json:"proj_dim"`
	// Rerank is how many ivf candidates are re-scored exactly (default 2*K).
	Rerank int `yaml:"rerank" json:"rerank"`
	// CentroidTerms is how many of its heaviest features a sparse-ivf
	// group centroid keeps (default 256; a list centroid keeps an eighth
	// of them). Only for index sparse-ivf.
	CentroidTerms int `yaml:"centroid_terms" json:"centroid_terms"`
	// Seed drives the projection and the clustering.
	Seed int64 `yaml:"seed" json:"seed"`
}

// Validate checks the configuration without data, so a training config
// with a bad knn section can fail before any work starts (Train checks it
// again with the row count).
func (c Config) Validate() error {
	if _, err := c.withDefaults(1 << 20); err != nil {
		return fmt.Errorf("knn: %w", err)
	}
	return nil
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
		if c.Index == IndexSparseIVF {
			c.Lists = rows / sparseRowsPerList
		}
	}
	c.Lists = max(1, min(c.Lists, rows))
	if c.Probe == 0 {
		c.Probe = 8
		if c.Index == IndexSparseIVF {
			c.Probe = 1
		}
	}
	if c.Index == IndexSparseIVF {
		// Splitting big lists can leave more lists than asked for, and
		// probing all of them must stay possible (it is exact search).
		c.Probe = min(c.Probe, rows)
	} else {
		c.Probe = min(c.Probe, c.Lists)
	}
	if c.ProjDim == 0 {
		c.ProjDim = 64
	}
	if c.Rerank == 0 {
		c.Rerank = 2 * c.K
	}
	if c.Index == IndexSparseIVF && c.CentroidTerms == 0 {
		c.CentroidTerms = defaultCentroidTerms
	}
	switch {
	case c.K < 1:
		return c, fmt.Errorf("k %d: must be at least 1", c.K)
	case c.Index != IndexExact && c.Index != IndexIVF && c.Index != IndexSparseIVF:
		return c, fmt.Errorf("index %q: want %q, %q or %q", c.Index, IndexExact, IndexIVF, IndexSparseIVF)
	case c.Prior < 0 || c.Power <= 0:
		return c, errors.New("prior must be >= 0 and power > 0")
	case c.ProjDim%64 != 0 || c.ProjDim > 1024:
		return c, fmt.Errorf("proj_dim %d: must be a multiple of 64 up to 1024", c.ProjDim)
	case c.Probe < 1 || c.Rerank < c.K:
		return c, errors.New("probe must be >= 1 and rerank >= k")
	case c.Index != IndexSparseIVF && c.CentroidTerms != 0:
		return c, fmt.Errorf("centroid_terms %d: only index %q uses it", c.CentroidTerms, IndexSparseIVF)
	case c.CentroidTerms < 0 || c.CentroidTerms > 1<<16:
		return c, fmt.Errorf("centroid_terms %d: must be between 1 and 65536", c.CentroidTerms)
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

	ivf    *ivf
	sparse *sparseIVF

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
	switch {
	case m.cfg.Index == IndexSparseIVF:
		// Its own list-ordered postings replace the exact index's.
		if m.sparse == nil {
			sv, err := buildSparseIVF(ctx, m.cfg, m.rows, m.dim)
			if err != nil {
				return fmt.Errorf("knn: %w", err)
			}
			m.sparse = sv
		}
	case m.dense:
		m.mat = make([]float32, len(m.rows)*m.dim)
		for i, r := range m.rows {
			copy(m.mat[i*m.dim:], r.Val)
		}
	default:
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
	for i, r := range m.rows {
		for k, ix := range r.Idx {
			p := next[ix]
			m.postRow[p] = uint32(i)
			m.postVal[p] = r.Val[k]
			next[ix]++
		}
	}
}

// Candidates is the number of candidates the model predicts.
func (m *Model) Candidates() int { return m.nCand }

// Rows is the number of indexed training rows.
func (m *Model) Rows() int { return len(m.rows) }

type scratch struct {
	scores   []float32
	touched  []uint32
	top      topK
	probe    topK
	proj     []float32
	cand     []uint32
	groupTop topK      // sparse-ivf: the groups looked into
	bits     []uint64  // ivf: query features, one bit per feature
	qval     []float32 // ivf: query values by feature, 0 elsewhere
	acc      []float32 // sparse-ivf: the similarities of one list's rows
	qwords   []uint32  // sparse-ivf: the words of bits the query uses
	hits     []wordHit // sparse-ivf: those a probed list uses too
	spans    []postSpan
	shared   []sharedFeature
	// ivf: similarity of the query to every centroid, and to every row
	// of one probed list.
	listScores, rowScores []float32
}

func (m *Model) newScratch() any {
	s := &scratch{top: topK{k: m.cfg.K}, probe: topK{k: m.cfg.Probe}}
	switch {
	case m.sparse != nil:
		g := m.sparse.groups()
		s.listScores = make([]float32, g)
		s.groupTop.k = groupProbe(m.cfg.Probe, m.sparse.lists(), g)
		s.bits = make([]uint64, (m.dim+63)/64)
		s.qval = make([]float32, m.dim)
		s.acc = make([]float32, m.sparse.inv.longest)
		s.qwords = make([]uint32, 0, 1024)
		s.hits = make([]wordHit, 1024)
		s.spans = make([]postSpan, 0, 1024)
		s.shared = make([]sharedFeature, 0, 1024)
	case m.ivf == nil:
		s.scores = make([]float32, len(m.rows))
	default:
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
	case m.sparse != nil:
		m.searchSparseIVF(x, s)
	case m.ivf != nil:
		m.searchIVF(x, s)
	case m.dense:
		m.searchDense(x, s)
	default:
		m.searchSparse(x, s)
	}
	m.aggregate(s.top.items, out)
}

func (m *Model) searchSparse(x feature.Vector, s *scratch) {
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
