package knn

import (
	"cmp"
	"context"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// sparseIVF is the approximate index for sparse tf-idf rows: a two-level
// spherical k-means on the rows themselves (no projection) with centroids
// truncated to their heaviest terms. About sqrt(Lists) groups split the
// rows, and each group's rows are split again, in proportion to its size,
// into lists of about 32 rows (by default), none over 5/4 of its group's
// mean. A query scores the group centroids, then the list centroids of its
// best groups, then every row of its Probe best lists exactly.
//
// Why not the projected "ivf": a 64-dimension random-sign projection adds
// noise of about 1/8 in cosine, while the similarities that separate a
// tf-idf query's neighbours are a few hundredths (0.04-0.06 on
// synthetic.Realistic). Clustering the sparse vectors keeps the terms the
// rows of a list share (topic words, common words) in its centroid.
//
// Why small lists: a query's time is the rows it scores.
// Scoring ~300-row lists through an inverted index grouped by list cost
// ~130 us on this machine under the other helpers' load (31 us when the
// same query ran again, its data cached): a query's ~190 features each have
// their postings elsewhere in hundreds of megabytes. Here a list's rows
// lie together, as an inverted index of their own (listinv.go), and a
// probe is one sequential read of it.
type sparseIVF struct {
	// Stored. The fine lists of group g are groupOff[g]:groupOff[g+1];
	// the rows of list l are listRow[listOff[l]:listOff[l+1]], ascending.
	coarse   centroids
	groupOff []uint32
	fine     centroids
	listOff  []uint32
	listRow  []uint32

	// Derived on build and load: each list's rows as a small inverted
	// index over the features they use (listinv.go).
	inv listIndex
}

func (sv *sparseIVF) lists() int  { return sv.fine.n() }
func (sv *sparseIVF) groups() int { return sv.coarse.n() }

// groupCount is the number of groups for lists lists: sqrt(lists) balances
// the two centroid levels a query scores.
func groupCount(lists int) int { return max(1, int(math.Ceil(math.Sqrt(float64(lists))))) }

// groupProbe is how many groups a query looks into: enough to hold Probe
// lists at the mean group size. (One more group changed a quarter of the
// probe-1 predictions at 100,000 rows by 0.003 on average, at a sixth of
// the search time.)
func groupProbe(probe, lists, groups int) int {
	return min(groups, max(1, (probe*groups+lists-1)/lists))
}

// buildSparseIVF clusters rows into groups, then each group into its
// share of cfg.Lists lists (fewer when a group has fewer rows), all
// deterministic with cfg.Seed, and lays the rows out in list order.
func buildSparseIVF(ctx context.Context, cfg Config, rows []feature.Vector, dim int) (*sparseIVF, error) {
	n := len(rows)
	g := min(groupCount(cfg.Lists), n)
	all := make([]uint32, n)
	for i := range all {
		all[i] = uint32(i)
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x73697666))
	coarse, gAssign, err := kmeans(ctx, rows, all, g, cfg.CentroidTerms, dim, rng)
	if err != nil {
		return nil, err
	}
	members := make([][]uint32, g)
	for i, c := range gAssign {
		members[c] = append(members[c], uint32(i))
	}
	sv := &sparseIVF{coarse: centroids{off: coarse.off, idx: coarse.idx, val: coarse.val}}
	sv.groupOff = []uint32{0}
	sv.listOff = []uint32{0}
	var fine []feature.Vector
	target := max(1, n/cfg.Lists) // rows per list
	terms := fineTerms(cfg.CentroidTerms)
	for grp := range g {
		// Lists in proportion to the group's rows, so lists are about
		// target rows wherever they are.
		k := min(len(members[grp]), max(1, (len(members[grp])+target/2)/target))
		if len(members[grp]) == 0 {
			k = 0
		}
		grng := rand.New(rand.NewPCG(uint64(cfg.Seed)+uint64(grp)+1, 0x66696e65))
		lists, cents, err := splitLists(ctx, rows, members[grp], k, terms, dim, grng)
		if err != nil {
			return nil, err
		}
		for c := range lists {
			fine = append(fine, cents[c])
			sv.listRow = append(sv.listRow, lists[c]...)
			sv.listOff = append(sv.listOff, uint32(len(sv.listRow)))
		}
		sv.groupOff = append(sv.groupOff, uint32(len(fine)))
	}
	sv.fine.set(fine)
	sv.derive(rows, dim)
	return sv, nil
}

// derive builds what is not stored: the group centroids' feature-major
// view and the lists' inverted indexes.
func (sv *sparseIVF) derive(rows []feature.Vector, dim int) {
	sv.coarse.index(dim)
	sv.inv = buildListIndex(rows, sv.listOff, sv.listRow, dim, layoutSmaller)
}

// fineTerms is how many features a list centroid keeps: an eighth of a
// group centroid's, since it only tells apart the lists of one group, and
// a query tests every feature of the list centroids of two or more groups
// (about 100 of them at 100,000 rows).
func fineTerms(terms int) int { return max(1, terms/8) }

// splitLists clusters members into k lists of at most 5/4 of the mean
// size (members ascending, so each list is too), dropping empty ones.
//
// Plain k-means left lists of 1 to 580 rows where the mean was 24, and the
// big lists' smoother centroids drew most queries, whose time is the rows
// they score; so after the k-means rounds the rows are placed greedily,
// the most decided first (largest best similarity, ties to the lower row),
// each in the most similar list that still has room. A list's centroid is
// then the mean of the rows it got.
func splitLists(ctx context.Context, rows []feature.Vector, members []uint32, k, terms, dim int, rng *rand.Rand) ([][]uint32, []feature.Vector, error) {
	if k == 0 {
		return nil, nil, nil
	}
	cs, _, err := kmeans(ctx, rows, members, k, terms, dim, rng)
	if err != nil {
		return nil, nil, err
	}
	capacity := (5*len(members) + 4*k - 1) / (4 * k)
	sims := make([]float32, len(members)*k)
	best := make([]float32, len(members))
	for i, r := range members {
		sc := sims[i*k : (i+1)*k]
		cs.score(rows[r], sc)
		best[i] = slices.Max(sc)
	}
	order := make([]int, len(members))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(best[b], best[a]) })
	lists := make([][]uint32, k)
	pref := make([]int, k)
	for _, i := range order {
		sc := sims[i*k : (i+1)*k]
		for c := range pref {
			pref[c] = c
		}
		slices.SortStableFunc(pref, func(a, b int) int { return cmp.Compare(sc[b], sc[a]) })
		for _, c := range pref {
			if len(lists[c]) < capacity {
				lists[c] = append(lists[c], members[i])
				break
			}
		}
	}
	acc := make([]float32, dim)
	var outL [][]uint32
	var outC []feature.Vector
	for c := range k {
		if len(lists[c]) == 0 {
			continue
		}
		slices.Sort(lists[c])
		outL = append(outL, lists[c])
		outC = append(outC, centroidOf(rows, lists[c], acc, terms))
	}
	return outL, outC, nil
}

// searchSparseIVF leaves the K nearest rows of the query's Probe best
// lists in s.top. A row's similarity is summed over the features it shares
// with the query in ascending order, the order the exact search adds them
// in, so it is bit for bit the exact similarity: probing every list gives
// the exact search's answer.
func (m *Model) searchSparseIVF(x feature.Vector, s *scratch) {
	sv := m.sparse
	gs := s.listScores[:sv.groups()]
	sv.coarse.score(x, gs)
	s.groupTop.reset()
	for g, v := range gs {
		s.groupTop.push(v, uint32(g))
	}
	s.qwords = s.qwords[:0]
	for k, ix := range x.Idx {
		if int(ix) < m.dim {
			if s.bits[ix>>6] == 0 {
				s.qwords = append(s.qwords, ix>>6)
			}
			s.bits[ix>>6] |= 1 << (ix & 63)
			s.qval[ix] = x.Val[k]
		}
	}
	s.probe.reset()
	for _, g := range s.groupTop.items {
		for l := sv.groupOff[g.row]; l < sv.groupOff[g.row+1]; l++ {
			lo, hi := sv.fine.off[l], sv.fine.off[l+1]
			s.probe.push(s.gather(sv.fine.idx[lo:hi], sv.fine.val[lo:hi]), l)
		}
	}
	for _, l := range s.probe.items {
		sv.scoreList(l.row, s)
	}
	for _, ix := range x.Idx {
		if int(ix) < m.dim {
			s.bits[ix>>6] = 0
			s.qval[ix] = 0
		}
	}
}

// gather is the query's dot product with a list centroid, reading s.qval
// (zero off the query) for every centroid feature. A list centroid's
// features are common words, about half of them in any query, so a bit
// test mispredicts half the time: list scoring took 7 ns a feature with
// it, 3.8 without. Adding the zeros leaves the sum as the bit-tested one,
// so the same lists are ranked. (Reading a small array of the list
// centroids' features renumbered, or four sums side by side, gained
// nothing measurable; nor did masking the value by the bit test; a
// per-group bitset of the list centroids' features with a dense column
// per feature, as the lists' rows are read, was slower out of cache.)
func (s *scratch) gather(idx []uint32, val []float32) float32 {
	val = val[:len(idx)]
	var d float32
	for k, ix := range idx {
		d += s.qval[ix] * val[k]
	}
	return d
}
