package feature

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestColumns(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n, dim int) []uint32 {
		set := map[uint32]bool{}
		for len(set) < n {
			set[uint32(rng.IntN(dim))] = true
		}
		var cols []uint32
		for f := range set {
			cols = append(cols, f)
		}
		slices.Sort(cols)
		return cols
	}
	for _, tc := range []struct {
		name string
		cols []uint32
		dim  int
	}{
		{"empty", nil, 1 << 10},
		{"dim zero", nil, 0},
		{"ends", []uint32{0, 63, 64, 127, 1023}, 1 << 10},
		{"full", func() (c []uint32) {
			for i := range 200 {
				c = append(c, uint32(i))
			}
			return c
		}(), 200},
		{"sparse", random(500, 1<<18), 1 << 18},
		{"dense", random(900, 1000), 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewColumns(tc.cols, tc.dim)
			if err != nil {
				t.Fatal(err)
			}
			if c.Len() != len(tc.cols) {
				t.Fatalf("Len %d, want %d", c.Len(), len(tc.cols))
			}
			want := map[uint32]int{}
			for i, f := range tc.cols {
				want[f] = i
			}
			for f := uint32(0); f < uint32(tc.dim)+130; f++ {
				w, ok := want[f]
				if !ok {
					w = -1
				}
				if got := c.Col(f); got != w {
					t.Fatalf("Col(%d) = %d, want %d", f, got, w)
				}
				if c.Has(f) != ok {
					t.Fatalf("Has(%d) = %v, want %v", f, !ok, ok)
				}
			}
		})
	}
}

func TestColumnsRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		cols []uint32
		dim  int
	}{
		{"unsorted", []uint32{5, 3}, 10},
		{"duplicate", []uint32{3, 3}, 10},
		{"beyond dim", []uint32{3, 10}, 10},
		{"negative dim", nil, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewColumns(tc.cols, tc.dim); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// A fitted featurizer counts only buckets it has an idf for, so its count
// table holds none of a text's unseen n-grams.
func TestCountSkipsUnseenBuckets(t *testing.T) {
	f := fitTest(t, Config{Kind: KindTFIDF})
	s := f.getScratch()
	defer f.scratchPool.Put(s)
	f.count(s, "write a python function zzzunseen qqqunseen")
	if len(s.touched) == 0 {
		t.Fatal("no bucket counted")
	}
	for _, i := range s.touched {
		if f.idfOf(i) == 0 {
			t.Fatalf("bucket %d counted but has no idf", i)
		}
	}
	f.reset(s)
	f.count(s, "zzzunseen qqqunseen")
	if len(s.touched) != 0 {
		t.Fatalf("unseen text counted %d buckets", len(s.touched))
	}
	f.reset(s)
}
