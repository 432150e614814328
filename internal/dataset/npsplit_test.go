package dataset

import (
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mathext/prng"
)

// TestMT19937KnownOutputs pins the generator under NumPyPermutation to the
// reference MT19937: init_genrand(5489)'s first outputs (OEIS A221557, the C++
// std::mt19937 default-seed test vector).
func TestMT19937KnownOutputs(t *testing.T) {
	src := prng.NewMT19937()
	src.Seed(5489)
	want := []uint32{3499211612, 581869302, 3890346734, 3586334585, 545404204}
	for i, w := range want {
		if got := src.Uint32(); got != w {
			t.Fatalf("output %d: got %d, want %d", i, got, w)
		}
	}
}

// TestNumPyPermutation checks permutations numpy is widely quoted as giving:
// np.random.RandomState(42).permutation(10) (equivalently np.random.seed(42);
// np.random.permutation(10), or RandomState(42).shuffle(np.arange(10))).
func TestNumPyPermutation(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		seed uint32
		want []int
	}{
		{"seed42_n10", 10, 42, []int{8, 1, 5, 0, 7, 2, 9, 4, 3, 6}},
		// np.random.seed(0); np.random.shuffle(np.arange(10)).
		{"seed0_n10", 10, 0, []int{2, 8, 4, 9, 1, 6, 7, 3, 0, 5}},
		{"n1", 1, 7, []int{0}},
		{"n0", 0, 7, []int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NumPyPermutation(tc.n, tc.seed); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestNumPyPermutationContinues checks the draw sequence beyond one shuffle:
// after np.random.seed(42), a second np.random.permutation(10) from the same
// state is quoted as [0 1 8 5 3 4 7 9 6 2]. Two back-to-back shuffles of
// length 10 from one generator are reproduced by one shuffle's draws
// continuing, so this checks the rejection loop consumes exactly numpy's
// outputs (a wrong mask or an off-by-one bound shifts every later draw).
func TestNumPyPermutationContinues(t *testing.T) {
	src := prng.NewMT19937()
	src.Seed(42)
	shuffle := func() []int {
		p := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
		for i := len(p) - 1; i > 0; i-- {
			j := npInterval(src, uint32(i))
			p[i], p[j] = p[j], p[i]
		}
		return p
	}
	first, second := shuffle(), shuffle()
	if want := []int{8, 1, 5, 0, 7, 2, 9, 4, 3, 6}; !slices.Equal(first, want) {
		t.Fatalf("first: got %v, want %v", first, want)
	}
	if want := []int{0, 1, 8, 5, 3, 4, 7, 9, 6, 2}; !slices.Equal(second, want) {
		t.Fatalf("second: got %v, want %v", second, want)
	}
}

func TestSplitSKLearn(t *testing.T) {
	rows := sampleRows(10)
	train, test, err := SplitSKLearn(rows, 0.3, 42)
	if err != nil {
		t.Fatal(err)
	}
	// ceil(0.3*10) = 3 test rows: perm[:3] = 8, 1, 5; train the rest in order.
	ids := func(rs []Row) (out []string) {
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	wantTest := []string{rows[8].ID, rows[1].ID, rows[5].ID}
	wantTrain := []string{rows[0].ID, rows[7].ID, rows[2].ID, rows[9].ID, rows[4].ID, rows[3].ID, rows[6].ID}
	if !slices.Equal(ids(test), wantTest) || !slices.Equal(ids(train), wantTrain) {
		t.Fatalf("test %v train %v, want %v and %v", ids(test), ids(train), wantTest, wantTrain)
	}
	// 3178 RouterBench rows: ceil(953.4) = 954 test rows, as scikit-learn.
	train, test, err = SplitSKLearn(sampleRows(3178), 0.3, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(test) != 954 || len(train) != 2224 {
		t.Fatalf("3178 rows: %d test / %d train, want 954 / 2224", len(test), len(train))
	}
	for _, tc := range []struct {
		name string
		n    int
		frac float64
	}{
		{"zero fraction", 10, 0},
		{"one", 10, 1},
		{"nan", 10, math.NaN()},
		{"no train left", 1, 0.3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := SplitSKLearn(sampleRows(tc.n), tc.frac, 7); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}
