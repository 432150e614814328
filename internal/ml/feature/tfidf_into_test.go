package feature

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// longText has thousands of distinct words, so the count table must grow
// several times, and a short text after it takes the sparse reset path.
func longText(words int) string {
	var b strings.Builder
	for i := range words {
		fmt.Fprintf(&b, "w%d ", i%(words/2+1))
	}
	return b.String()
}

func TestTransformIntoMatchesTransformOne(t *testing.T) {
	texts := append(slices.Clone(corpus), longText(6000), corpus[0], "", "...", longText(300), corpus[2])
	for _, cfg := range []Config{
		{Kind: KindTFIDF},
		{Kind: KindTFIDF, Dim: 1 << 12, WordNgrams: [2]int{1, 3}, CharNgrams: [2]int{2, 4}},
	} {
		t.Run(fmt.Sprintf("dim%d_chars%v", cfg.Dim, cfg.CharNgrams), func(t *testing.T) {
			f, err := Fit(context.Background(), cfg, append(slices.Clone(corpus), longText(6000)))
			if err != nil {
				t.Fatal(err)
			}
			tf := f.(*TFIDF)
			batch, err := tf.Transform(context.Background(), texts)
			if err != nil {
				t.Fatal(err)
			}
			var dst Vector
			for i, text := range texts {
				one := tf.TransformOne(text)
				dst = tf.TransformInto(text, dst)
				if !reflect.DeepEqual(one, batch[i]) {
					t.Fatalf("text %d: TransformOne differs from Transform", i)
				}
				if len(dst.Idx) != len(one.Idx) || (len(one.Idx) > 0 && (!reflect.DeepEqual(dst.Idx, one.Idx) || !reflect.DeepEqual(dst.Val, one.Val))) {
					t.Fatalf("text %d: TransformInto %v, TransformOne %v", i, dst, one)
				}
			}
		})
	}
}

// TestCountTable checks the per-call counts of word unigrams against the
// text's words, including texts long enough to grow the table and short texts
// after a grown table. The featurizer is hashed tf (every bucket active), as
// a fitted one counts only the buckets seen in training.
func TestCountTable(t *testing.T) {
	f, err := NewHashedTF(Config{Kind: KindTFIDF, WordNgrams: [2]int{1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	s := f.getScratch()
	f.count(s, "a a a b")
	if len(s.touched) != 2 || s.countOf(0)+s.countOf(1) != 4 || s.countOf(0)*s.countOf(1) != 3 {
		t.Fatalf("a a a b: buckets %v", s.touched)
	}
	f.reset(s)
	for _, text := range []string{"a a a b", longText(5000), "c b c", longText(40), "x"} {
		f.count(s, text)
		want := map[string]int{}
		for _, w := range strings.Fields(text) {
			want[w]++
		}
		// Distinct words may share a bucket (hashing), rarely.
		if len(s.touched) > len(want) || len(s.touched) < len(want)*99/100 {
			t.Fatalf("%.20q: %d distinct buckets for %d distinct words", text, len(s.touched), len(want))
		}
		total := 0
		for k := range s.touched {
			total += int(s.countOf(k))
		}
		if total != len(strings.Fields(text)) {
			t.Fatalf("%.20q: counts sum to %d, want %d", text, total, len(strings.Fields(text)))
		}
		if wantSorted := len(strings.Fields(text)) <= sortedLimit; s.sorted != wantSorted {
			t.Fatalf("%.20q: sorted mode %v, want %v", text, s.sorted, wantSorted)
		}
		if !s.sorted && 2*len(s.touched) > len(s.tabKey) {
			t.Fatalf("%.20q: table of %d slots over half full with %d keys", text, len(s.tabKey), len(s.touched))
		}
		f.reset(s)
		for i, k := range s.tabKey {
			if k != 0 {
				t.Fatalf("%.20q: slot %d not cleared by reset", text, i)
			}
		}
	}
}

func TestSortBuckets(t *testing.T) {
	var s scratch
	for _, tc := range []struct{ n, dim int }{{0, 1 << 18}, {5, 1 << 18}, {33, 1 << 18}, {200, 1 << 18}, {3000, 1 << 24}, {300, 16}, {500, 1 << 12}} {
		t.Run(fmt.Sprintf("%d_of_%d", tc.n, tc.dim), func(t *testing.T) {
			seen := map[uint32]bool{}
			var idx []uint32
			x := uint64(tc.n)
			for len(idx) < tc.n && len(seen) < tc.dim {
				x = x*6364136223846793005 + 1442695040888963407
				v := uint32((x >> 33) % uint64(tc.dim))
				if !seen[v] {
					seen[v] = true
					idx = append(idx, v)
				}
			}
			want := slices.Clone(idx)
			slices.Sort(want)
			s.sortBuckets(idx, tc.dim)
			if !slices.Equal(idx, want) {
				t.Fatalf("sorted %v, want %v", idx, want)
			}
		})
	}
}
