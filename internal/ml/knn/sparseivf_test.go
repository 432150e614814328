package knn

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/bundle"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
)

// groups draws n unit rows in g groups: each row takes 12 features from its
// group's own 40 and 4 from 50 features every group shares, values uniform
// in [0.5, 1.5). Rows of one group share 3.6 features on average and rows of
// different groups only the common ones (0.3 on average), so a row's
// nearest neighbours are in its group, which a clustering of the rows can
// find.
func groups(n, g int, seed uint64) ([]feature.Vector, [][]float64, int) {
	const own, common = 40, 50
	dim := g*own + common
	rng := rand.New(rand.NewPCG(seed, 17))
	xs := make([]feature.Vector, n)
	ys := make([][]float64, n)
	for i := range xs {
		grp := i % g
		set := map[uint32]float32{}
		for len(set) < 12 {
			set[uint32(grp*own+rng.IntN(own))] = float32(0.5 + rng.Float64())
		}
		for len(set) < 16 {
			set[uint32(g*own+rng.IntN(common))] = float32(0.5 + rng.Float64())
		}
		v := feature.Vector{}
		for f := range set {
			v.Idx = append(v.Idx, f)
		}
		slices.Sort(v.Idx)
		var norm float64
		for _, f := range v.Idx {
			v.Val = append(v.Val, set[f])
			norm += float64(set[f]) * float64(set[f])
		}
		for k := range v.Val {
			v.Val[k] /= float32(math.Sqrt(norm))
		}
		xs[i] = v
		ys[i] = []float64{float64(grp % 2), float64(grp%2) * 0.5}
	}
	return xs, ys, dim
}

// neighbours returns the rows m finds for each query.
func neighbours(m *Model, qs []feature.Vector) [][]item {
	out := make([][]item, len(qs))
	for i, q := range qs {
		s := m.pool.Get().(*scratch)
		s.top.reset()
		switch {
		case m.sparse != nil:
			m.searchSparseIVF(q, s)
		default:
			m.searchSparse(q, s)
		}
		out[i] = slices.Clone(s.top.items)
		m.pool.Put(s)
	}
	return out
}

// TestSparseIVFRecall compares the sparse-ivf search with the exact one on
// 16 groups of 250 rows. Probing every list scores every row exactly, so it
// must find the exact neighbours with the same similarities, bit for bit.
// Otherwise the similarities of the rows scored are exact, and recall is
// the share of the exact neighbours (all in the query's group: rows of other
// groups share only common features) that lie in the probed lists. Lists 32
// makes lists of about 125 rows, two per group when the clustering follows
// the groups: probing 4 should then hold all of them (0.9 leaves room for a
// group split across three lists), probing 1 about half (and the nearest
// list holds more of the nearest rows than the other). With 64 centroid
// terms a list centroid keeps 8 features, fewer than a group's 40, so lists
// are told apart less well: 0.85.
func TestSparseIVFRecall(t *testing.T) {
	xs, ys, dim := groups(4000, 16, 1)
	qs, _, _ := groups(200, 16, 2)
	exact, err := Train(context.Background(), Config{K: 10}, xs, dim, ys, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := neighbours(exact, qs)
	for _, tc := range []struct {
		name      string
		cfg       Config
		minRecall float64
	}{
		{"all lists probed", Config{K: 10, Index: IndexSparseIVF, Lists: 32, Probe: 32, Seed: 1}, 1},
		{"4 of 32 lists", Config{K: 10, Index: IndexSparseIVF, Lists: 32, Probe: 4, Seed: 1}, 0.9},
		{"64 centroid terms", Config{K: 10, Index: IndexSparseIVF, Lists: 32, Probe: 4, CentroidTerms: 64, Seed: 1}, 0.85},
		{"1 of 32 lists", Config{K: 10, Index: IndexSparseIVF, Lists: 32, Probe: 1, Seed: 1}, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Train(context.Background(), tc.cfg, xs, dim, ys, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := neighbours(m, qs)
			hits, total := 0, 0
			for i := range qs {
				for _, w := range want[i] {
					total++
					if slices.Contains(got[i], w) { // same row and same similarity bits
						hits++
					}
				}
			}
			recall := float64(hits) / float64(total)
			t.Logf("recall@10 %.3f", recall)
			if recall < tc.minRecall {
				t.Fatalf("recall@10 %.3f below %.2f", recall, tc.minRecall)
			}
			if tc.minRecall == 1 {
				// Both layouts of the lists' feature sets (the smaller
				// one is dense here) find the same rows.
				sv := m.sparse
				for _, layout := range []int{layoutDense, layoutSparse} {
					sv.inv = buildListIndex(m.rows, sv.listOff, sv.listRow, m.dim, layout)
					if sv.inv.sets.dense != (layout == layoutDense) {
						t.Fatalf("layout %d not taken", layout)
					}
					got := neighbours(m, qs)
					for i := range qs {
						if !slices.Equal(got[i], want[i]) {
							t.Fatalf("layout %d, query %d: all lists probed gave %v, exact %v", layout, i, got[i], want[i])
						}
					}
				}
			}
		})
	}
}

// TestSparseIVFRoutes checks the index on the two-topic vectors every
// learner is tested on, and that training is deterministic with the seed
// and survives a save/load round trip bit for bit.
func TestSparseIVFRoutes(t *testing.T) {
	train := synthetic.Vectors(2000, 30, 1)
	test := synthetic.Vectors(300, 30, 2)
	cfg := Config{K: 10, Index: IndexSparseIVF, Lists: 24, Probe: 2, Seed: 5}
	m, err := Train(context.Background(), cfg, train.X, synthetic.Dim, train.Q, nil)
	if err != nil {
		t.Fatal(err)
	}
	pred := predictAll(m, test.X)
	wrong := 0
	for i, p := range pred {
		if (p[1] > p[0]) != (test.Topic[i] == 1) {
			wrong++
		}
	}
	if wrong > len(pred)/50 {
		t.Fatalf("%d of %d rows routed to the wrong candidate", wrong, len(pred))
	}
	again, err := Train(context.Background(), cfg, train.X, synthetic.Dim, train.Q, nil)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	blob2, _ := again.MarshalBinary()
	if !slices.Equal(blob, blob2) {
		t.Fatal("two trainings with one seed wrote different payloads")
	}
	if v := binary.LittleEndian.Uint32(blob); v != 2 {
		t.Fatalf("sparse-ivf payload version %d, want 2", v)
	}
	loaded, err := Unmarshal(blob)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.cfg != m.cfg {
		t.Fatalf("loaded config %+v, trained %+v", loaded.cfg, m.cfg)
	}
	for i, p := range predictAll(loaded, test.X) {
		for j := range p {
			if math.Float64bits(p[j]) != math.Float64bits(pred[i][j]) {
				t.Fatalf("loaded model differs at row %d candidate %d: %v vs %v", i, j, p[j], pred[i][j])
			}
		}
	}
	other, err := Train(context.Background(), Config{K: 10, Index: IndexSparseIVF, Lists: 24, Probe: 2, Seed: 6}, train.X, synthetic.Dim, train.Q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if blob3, _ := other.MarshalBinary(); slices.Equal(blob, blob3) {
		t.Fatal("another seed gave the same clustering")
	}
}

// TestOlderIndexesKeepVersion1 pins the compatibility promise: exact and
// ivf models are still written as version 1, which readers before
// sparse-ivf accept.
func TestOlderIndexesKeepVersion1(t *testing.T) {
	d := synthetic.Vectors(200, 10, 1)
	for _, cfg := range []Config{{K: 5}, {K: 5, Index: IndexIVF, Lists: 4}} {
		m, err := Train(context.Background(), cfg, d.X, synthetic.Dim, d.Q, nil)
		if err != nil {
			t.Fatal(err)
		}
		blob, _ := m.MarshalBinary()
		if v := binary.LittleEndian.Uint32(blob); v != 1 {
			t.Fatalf("index %q written as version %d, want 1", m.cfg.Index, v)
		}
	}
}

func TestSparseIVFBadInput(t *testing.T) {
	d := synthetic.Vectors(100, 10, 1)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"centroid terms on exact", Config{CentroidTerms: 8}, "only index"},
		{"centroid terms on ivf", Config{Index: IndexIVF, CentroidTerms: 8}, "only index"},
		{"negative centroid terms", Config{Index: IndexSparseIVF, CentroidTerms: -1}, "centroid_terms -1"},
		{"huge centroid terms", Config{Index: IndexSparseIVF, CentroidTerms: 1 << 20}, "centroid_terms"},
		{"negative probe", Config{Index: IndexSparseIVF, Probe: -2}, "probe"},
		{"unknown index names the choices", Config{Index: "hnsw"}, "sparse-ivf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Train(context.Background(), tc.cfg, d.X, synthetic.Dim, d.Q, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Train: got %v, want an error containing %q", err, tc.want)
			}
			if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: got %v, want an error containing %q", err, tc.want)
			}
		})
	}

	good := Config{K: 5, Index: IndexSparseIVF, Lists: 6, Probe: 2, Seed: 1}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	m, err := Train(context.Background(), good, d.X, synthetic.Dim, d.Q, nil)
	if err != nil {
		t.Fatal(err)
	}
	blob, _ := m.MarshalBinary()
	for n := 0; n < len(blob); n += 5 {
		if _, err := Unmarshal(blob[:n]); !errors.Is(err, bundle.ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: got %v, want ErrCorrupt", n, err)
		}
	}
	future := slices.Clone(blob)
	binary.LittleEndian.PutUint32(future, 3)
	if _, err := Unmarshal(future); err == nil || !strings.Contains(err.Error(), "unknown payload version 3") {
		t.Fatalf("version 3: got %v", err)
	}
	// A version 1 payload cannot carry a sparse-ivf section.
	old := slices.Clone(blob)
	binary.LittleEndian.PutUint32(old, 1)
	if _, err := Unmarshal(old); err == nil {
		t.Fatal("version 1 payload with a sparse-ivf section loaded")
	}
	// Every single-byte corruption either fails cleanly or loads a model
	// that predicts without panicking.
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]float64, 2)
	for range 300 {
		bad := slices.Clone(blob)
		bad[4+rng.IntN(len(bad)-4)] ^= byte(1 + rng.IntN(255))
		if bm, err := Unmarshal(bad); err == nil {
			for _, x := range d.X[:10] {
				bm.Predict(x, out)
			}
		}
	}
}

// TestSparseIVFSmallSets covers the edges of the defaults (rows/32 lists
// is 0 below 32 rows) and of the clustering (groups and lists with one row):
// training and loading work, and probing every list predicts exactly what
// the exact index does.
func TestSparseIVFSmallSets(t *testing.T) {
	d := synthetic.Vectors(300, 8, 3)
	for _, n := range []int{1, 2, 5, 31, 32, 300} {
		t.Run("", func(t *testing.T) {
			x, y := d.X[:n], d.Q[:n]
			m, err := Train(context.Background(), Config{K: 3, Index: IndexSparseIVF, Seed: 1}, x, synthetic.Dim, y, nil)
			if err != nil {
				t.Fatalf("%d rows: %v", n, err)
			}
			if want := max(1, n/32); m.cfg.Lists != want || m.cfg.Probe != 1 {
				t.Fatalf("%d rows: lists %d probe %d, want %d and 1", n, m.cfg.Lists, m.cfg.Probe, want)
			}
			all, err := Train(context.Background(), Config{K: 3, Index: IndexSparseIVF, Lists: max(1, n/4), Probe: n, Seed: 1}, x, synthetic.Dim, y, nil)
			if err != nil {
				t.Fatal(err)
			}
			exact, _ := Train(context.Background(), Config{K: 3}, x, synthetic.Dim, y, nil)
			blob, _ := all.MarshalBinary()
			loaded, err := Unmarshal(blob)
			if err != nil {
				t.Fatal(err)
			}
			want := predictAll(exact, d.X[:40])
			for name, mm := range map[string]*Model{"trained": all, "loaded": loaded} {
				for i, p := range predictAll(mm, d.X[:40]) {
					for j := range p {
						if math.Float64bits(p[j]) != math.Float64bits(want[i][j]) {
							t.Fatalf("%d rows, %s, all lists probed: row %d candidate %d %v, exact %v", n, name, i, j, p[j], want[i][j])
						}
					}
				}
			}
		})
	}
}
