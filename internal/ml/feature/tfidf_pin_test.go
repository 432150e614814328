package feature

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"runtime"
	"strings"
	"testing"
)

// pinTexts mixes what featurization must treat alike across versions:
// ASCII prose and code, mixed case and whitespace, non-ASCII letters and
// spaces, n-grams unseen in training, repeated words (counts above 1) and a
// long text (the bitset path for sorting).
var pinTexts = []string{
	"Write a Python function that returns the sum of a list.",
	"  MiXeD\tCase\n\nwords, 42 times!! write WRITE write a function ",
	"Ünïcödé straße — ΑΒΓ αβγ\u00a0naïve café; write a function",
	"def add(a, b):\n    return a + b  # sum sum sum",
	"entirely unseen vocabulary zyxw qrst",
	"",
	strings.Repeat("the trophy doesn't fit into the brown suitcase because it is too large. ", 200),
}

// digestVectors hashes vectors' indices and the exact bits of their values.
func digestVectors(vs []Vector) string {
	h := sha256.New()
	var b [4]byte
	for _, v := range vs {
		binary.LittleEndian.PutUint32(b[:], uint32(len(v.Idx)))
		h.Write(b[:])
		for k, i := range v.Idx {
			binary.LittleEndian.PutUint32(b[:], i)
			h.Write(b[:])
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v.Val[k]))
			h.Write(b[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestTFIDFOutputPinned pins featurization bit for bit: bundles already
// saved carry only document frequencies, so any change to tokenising,
// hashing, weighting or normalising would silently change what they
// predict. The digests were recorded from the implementation before the
// speed work of issue #4 (commit babc3f0); a change that must alter
// features has to version the featurizer instead of editing these. They
// hold on amd64, where Go never fuses a multiply and add; architectures
// where it may (arm64, ppc64, s390x) round the L2 norm differently.
func TestTFIDFOutputPinned(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("digests recorded on amd64; %s may fuse multiply-adds", runtime.GOARCH)
	}
	fitTexts := append(append([]string{}, corpus...), pinTexts[:4]...)
	for _, tc := range []struct {
		name   string
		cfg    Config
		hashed bool
		want   string
	}{
		{"default", Config{Kind: KindTFIDF}, false, "6f389f964b5e1061362304ae3e9ba93a3378e4748856add5456e93c1ad069f0a"},
		{"word1-3-dim2^10", Config{Kind: KindTFIDF, Dim: 1 << 10, WordNgrams: [2]int{1, 3}}, false, "d4bd55858c0eb9b983f3fa89d34e8651e455530a3e3f5b509e395aa96f8c95cf"},
		{"word1-2-char3-5", Config{Kind: KindTFIDF, WordNgrams: [2]int{1, 2}, CharNgrams: [2]int{3, 5}}, false, "4b758f0a7f77e2d5e0c59a926293312026fcfb174a31a902bbbe6c333c7d6a75"},
		{"char2-4-dim100", Config{Kind: KindTFIDF, Dim: 100, CharNgrams: [2]int{2, 4}}, false, "f9edf98428f82e9858018e624e7ec48a4cff17bf0282925b9113cf2f447dc449"},
		{"word1-mindf2", Config{Kind: KindTFIDF, Dim: 1 << 20, WordNgrams: [2]int{1, 1}, MinDF: 2}, false, "929d5441bcfff598ae77163356cef702a6599acf522bc9b24f7f68cb43344322"},
		{"hashed-tf", Config{Kind: KindTFIDF}, true, "b985894c3366e3eae49bde07aedcd2ceaff4210f1296fe2982c7c62494ce263c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f *TFIDF
			if tc.hashed {
				var err error
				if f, err = NewHashedTF(tc.cfg); err != nil {
					t.Fatal(err)
				}
			} else {
				g, err := Fit(context.Background(), tc.cfg, fitTexts)
				if err != nil {
					t.Fatal(err)
				}
				f = g.(*TFIDF)
			}
			vs, err := f.Transform(context.Background(), pinTexts)
			if err != nil {
				t.Fatal(err)
			}
			into := make([]Vector, len(pinTexts))
			var dst Vector
			for i, text := range pinTexts {
				dst = f.TransformInto(text, dst)
				into[i] = Vector{Idx: append([]uint32(nil), dst.Idx...), Val: append([]float32(nil), dst.Val...)}
			}
			got := digestVectors(vs)
			if d := digestVectors(into); d != got {
				t.Fatalf("TransformInto digest %s, Transform %s", d, got)
			}
			if got != tc.want {
				t.Fatalf("output digest %s, pinned %s", got, tc.want)
			}
		})
	}
}
