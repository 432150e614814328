package feature

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

var corpus = []string{
	"Write a Python function that returns the sum of a list.",
	"Which skin surface will produce the most heat? A) dry palms B) wet palms",
	"The trophy doesn't fit into the brown suitcase because it is too large.",
	"def add(a, b):\n    return a + b",
	"Translate 'good morning' into French.",
	"Write a Python function that reverses a string.",
}

func fitTest(t testing.TB, cfg Config) *TFIDF {
	t.Helper()
	f, err := Fit(context.Background(), cfg, corpus)
	if err != nil {
		t.Fatal(err)
	}
	return f.(*TFIDF)
}

func TestTFIDFProperties(t *testing.T) {
	for _, cfg := range []Config{
		{Kind: KindTFIDF},
		{Kind: KindTFIDF, Dim: 1 << 10, WordNgrams: [2]int{1, 3}},
		{Kind: KindTFIDF, Dim: 1 << 18, WordNgrams: [2]int{1, 2}, CharNgrams: [2]int{3, 5}},
		{Kind: KindTFIDF, Dim: 100, CharNgrams: [2]int{2, 4}},
		{Kind: KindTFIDF, Dim: 1 << 20, WordNgrams: [2]int{1, 1}, MinDF: 2},
	} {
		t.Run(strings.ReplaceAll(strings.Trim(strings.ReplaceAll(fmtCfg(cfg), " ", "_"), "{}"), "/", ""), func(t *testing.T) {
			f := fitTest(t, cfg)
			vs, err := f.Transform(context.Background(), append(corpus, corpus[0], "", "zzzz qqqq"))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(vs[0], vs[len(corpus)]) {
				t.Fatal("same text, different vectors")
			}
			if v := f.TransformOne(corpus[0]); !reflect.DeepEqual(v, vs[0]) {
				t.Fatal("TransformOne differs from Transform")
			}
			for i, v := range vs[:len(corpus)] {
				if err := v.Validate(); err != nil {
					t.Fatalf("vector %d: %v", i, err)
				}
				if len(v.Idx) == 0 {
					continue // possible only with min_df > 1
				}
				if n := v.Norm(); math.Abs(n-1) > 1e-5 {
					t.Fatalf("vector %d has norm %v", i, n)
				}
				if int(v.Idx[len(v.Idx)-1]) >= f.Dim() {
					t.Fatalf("index beyond dim")
				}
			}
			if len(vs[len(corpus)+1].Idx) != 0 {
				t.Fatal("empty text gave a non-empty vector")
			}
		})
	}
}

func fmtCfg(c Config) string {
	return strings.Join([]string{c.Kind, itoa(c.Dim), itoa(c.WordNgrams[0]) + "-" + itoa(c.WordNgrams[1]), itoa(c.CharNgrams[0]) + "-" + itoa(c.CharNgrams[1]), itoa(c.MinDF)}, " ")
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// With one n-gram kind and a large hash space, a text's vector can be
// checked against tf-idf computed by hand.
func TestTFIDFWeightsSublinearAndIDFFromTraining(t *testing.T) {
	train := []string{"apple banana", "apple cherry", "banana banana"}
	f, err := Fit(context.Background(), Config{Kind: KindTFIDF, Dim: 1 << 24, WordNgrams: [2]int{1, 1}}, train)
	if err != nil {
		t.Fatal(err)
	}
	tf := f.(*TFIDF)
	idf := func(df float64) float64 { return math.Log((1+3)/(1+df)) + 1 }
	// "apple apple apple banana durian": apple tf 3 (df 2), banana tf 1
	// (df 2), durian unseen in training -> dropped.
	v := tf.TransformOne("Apple apple APPLE banana durian")
	if len(v.Idx) != 2 {
		t.Fatalf("want 2 active features, got %d (unseen word must be dropped)", len(v.Idx))
	}
	a := (1 + math.Log(3)) * idf(2)
	b := 1 * idf(2)
	norm := math.Hypot(a, b)
	got := []float64{float64(v.Val[0]), float64(v.Val[1])}
	want := []float64{a / norm, b / norm}
	if got[0] < got[1] {
		got[0], got[1] = got[1], got[0]
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-6 {
			t.Fatalf("weights %v, want %v", got, want)
		}
	}
	// idf comes from the training texts only: transforming other texts
	// does not change it.
	before, _ := tf.MarshalBinary()
	if _, err := tf.Transform(context.Background(), []string{"durian durian", "apple"}); err != nil {
		t.Fatal(err)
	}
	after, _ := tf.MarshalBinary()
	if !bytes.Equal(before, after) {
		t.Fatal("Transform changed the fitted state")
	}
	// A rarer training word weighs more: cherry (df 1) vs apple (df 2).
	w := tf.TransformOne("apple cherry")
	if len(w.Idx) != 2 || math.Abs(float64(w.Val[0]-w.Val[1])) < 1e-6 {
		t.Fatalf("idf did not separate words: %+v", w)
	}
}

func TestTFIDFMarshalRoundTrip(t *testing.T) {
	f := fitTest(t, Config{Kind: KindTFIDF, Dim: 1 << 16, WordNgrams: [2]int{1, 2}, CharNgrams: [2]int{3, 4}, MinDF: 1})
	data, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	g, err := Unmarshal(KindTFIDF, data)
	if err != nil {
		t.Fatal(err)
	}
	data2, _ := g.MarshalBinary()
	if !bytes.Equal(data, data2) {
		t.Fatal("marshal of the restored featurizer differs")
	}
	a, _ := f.Transform(context.Background(), corpus)
	b, _ := g.Transform(context.Background(), corpus)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("restored featurizer gives different vectors")
	}
	if !reflect.DeepEqual(f.Spec(), g.Spec()) || g.Kind() != KindTFIDF || g.Dim() != 1<<16 {
		t.Fatal("restored spec differs")
	}
}

func TestTFIDFUnmarshalRejectsBadData(t *testing.T) {
	good, _ := fitTest(t, Config{Kind: KindTFIDF, Dim: 1 << 12}).MarshalBinary()
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 0x40; return b }
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"header only", good[:tfidfHeader], "truncated"},
		{"cut short", good[:len(good)-5], "truncated or padded"},
		{"padded", append(bytes.Clone(good), 0), "truncated or padded"},
		{"magic", flip(0), "bad magic"},
		{"version", flip(4), "unknown format version"},
		{"body bit flip", flip(tfidfHeader + 3), "checksum"},
		{"checksum bit flip", flip(len(good) - 1), "checksum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Unmarshal(KindTFIDF, tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Unmarshal("word2vec", good); err == nil {
		t.Fatal("unknown kind accepted")
	}
}

func TestFitRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"unknown kind", Config{Kind: "bow"}, "unknown kind"},
		{"dim too small", Config{Kind: KindTFIDF, Dim: 4}, "dim"},
		{"word range reversed", Config{Kind: KindTFIDF, WordNgrams: [2]int{3, 1}}, "word_ngrams"},
		{"char range too long", Config{Kind: KindTFIDF, CharNgrams: [2]int{1, 20}}, "char_ngrams"},
		{"negative min_df", Config{Kind: KindTFIDF, MinDF: -1}, "min_df"},
		{"embeddings without url", Config{Kind: KindEmbeddings, Model: "m"}, "base_url"},
		{"embeddings without model", Config{Kind: KindEmbeddings, BaseURL: "http://x/v1"}, "model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Fit(context.Background(), tc.cfg, corpus)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Fit(context.Background(), Config{Kind: KindTFIDF}, nil); err == nil {
		t.Fatal("fit on no texts accepted")
	}
}

func FuzzUnmarshalTFIDF(f *testing.F) {
	good, _ := fitTest(f, Config{Kind: KindTFIDF, Dim: 64, WordNgrams: [2]int{1, 1}}).MarshalBinary()
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("SYTF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Random bytes rarely pass the checksum, so also try each input
		// with a valid checksum to reach the parser behind it.
		if len(data) >= 4 {
			fixed := bytes.Clone(data)
			binary.LittleEndian.PutUint32(fixed[len(fixed)-4:], crc32.ChecksumIEEE(fixed[:len(fixed)-4]))
			checkDecoded(t, fixed)
		}
		checkDecoded(t, data)
	})
}

func checkDecoded(t *testing.T, data []byte) {
	g, err := Unmarshal(KindTFIDF, data)
	if err != nil {
		return
	}
	// Whatever decodes must work and re-encode to the same bytes.
	v := g.(*TFIDF).TransformOne("fuzz the featurizer")
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	again, err := g.MarshalBinary()
	if err != nil || !bytes.Equal(again, data) {
		t.Fatalf("re-encode differs: %v", err)
	}
}

func FuzzUnmarshalEmbeddings(f *testing.F) {
	f.Add([]byte(`{"format":1,"base_url":"http://x/v1","model":"m","batch_size":8,"cache_size":10,"dim":4}`))
	f.Add([]byte(`{"format":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Unmarshal(KindEmbeddings, data) // must not panic
	})
}

// benchPrompt is a ~500-character prompt, the serving-path size the issue
// sets the 20 us target for.
var benchPrompt = ("George wants to warm his hands quickly by rubbing them. Which skin surface will " +
	"produce the most heat?\nA) dry palms\nB) wet palms\nC) palms covered with oil\nD) palms covered " +
	"with lotion\nPrint only a single choice from A or B or C or D without explanation. Which of the " +
	"following statements best explains why magnets usually stick to a refrigerator door? A) The " +
	"refrigerator door is smooth. B) The refrigerator door contains iron. C) The refrigerator door is a " +
	"good conductor. D) The refrigerator door has electric wires in it. Answer with one letter only.")[:500]

func BenchmarkTFIDFTransformOne(b *testing.B) {
	for _, cfg := range []struct {
		name string
		cfg  Config
	}{
		{"default_words1-2_2^18", Config{Kind: KindTFIDF}},
		{"words1-2_chars3-5_2^18", Config{Kind: KindTFIDF, WordNgrams: [2]int{1, 2}, CharNgrams: [2]int{3, 5}}},
		{"words1-2_chars3-5_2^20", Config{Kind: KindTFIDF, Dim: 1 << 20, WordNgrams: [2]int{1, 2}, CharNgrams: [2]int{3, 5}}},
		{"words1-2_chars3-5_2^16", Config{Kind: KindTFIDF, Dim: 1 << 16, WordNgrams: [2]int{1, 2}, CharNgrams: [2]int{3, 5}}},
		{"words1-3_2^20", Config{Kind: KindTFIDF, Dim: 1 << 20, WordNgrams: [2]int{1, 3}}},
	} {
		b.Run(cfg.name, func(b *testing.B) {
			f := fitTest(b, cfg.cfg)
			b.SetBytes(int64(len(benchPrompt)))
			b.ReportAllocs()
			for b.Loop() {
				_ = f.TransformOne(benchPrompt)
			}
		})
	}
	b.Run("Transform_interface_default", func(b *testing.B) {
		var f Featurizer = fitTest(b, Config{Kind: KindTFIDF})
		in := []string{benchPrompt}
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			_, _ = f.Transform(ctx, in)
		}
	})
}

// genPrompts returns n ~500-character prompts of made-up words, different
// ones each, so a benchmark over them sees the branch and cache behaviour of
// serving rather than one prompt learnt by heart.
func genPrompts(n int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 4))
	syl := []string{"ba", "ca", "da", "fe", "ga", "ha", "ki", "lo", "ma", "ne", "po", "ru", "se", "ta", "vu", "ze"}
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		for b.Len() < 500 {
			for range 1 + rng.IntN(3) {
				b.WriteString(syl[rng.IntN(len(syl))])
			}
			if rng.IntN(10) == 0 {
				b.WriteString(", ")
			} else {
				b.WriteByte(' ')
			}
		}
		out[i] = b.String()
	}
	return out
}

// BenchmarkTFIDFTransformDistinct featurizes 2,000 different prompts in
// turn with a featurizer fitted on 2,000 others (so, as in serving, part of
// each prompt's n-grams were never seen in training).
func BenchmarkTFIDFTransformDistinct(b *testing.B) {
	f, err := Fit(context.Background(), Config{Kind: KindTFIDF}, genPrompts(2000, 1))
	if err != nil {
		b.Fatal(err)
	}
	t := f.(*TFIDF)
	prompts := genPrompts(2000, 2)
	var dst Vector
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		dst = t.TransformInto(prompts[i%len(prompts)], dst)
		i++
	}
}

// Transform shares pooled scratch memory between calls; concurrent callers
// must still get exactly the sequential answers.
func TestTFIDFConcurrentTransform(t *testing.T) {
	f := fitTest(t, Config{Kind: KindTFIDF, WordNgrams: [2]int{1, 2}, CharNgrams: [2]int{2, 4}})
	want, _ := f.Transform(context.Background(), corpus)
	errs := make(chan string, 8)
	for g := range 8 {
		go func() {
			for i := range 50 {
				j := (g + i) % len(corpus)
				if v := f.TransformOne(corpus[j]); !reflect.DeepEqual(v, want[j]) {
					errs <- corpus[j]
					return
				}
			}
			errs <- ""
		}()
	}
	for range 8 {
		if bad := <-errs; bad != "" {
			t.Fatalf("concurrent transform of %q differs", bad)
		}
	}
}

// The ASCII fast path for word n-grams must agree with the general path
// (normalise + isWordByte), which non-ASCII text and character n-grams take.
func TestWordFastPathMatchesGeneralPath(t *testing.T) {
	f := fitTest(t, Config{Kind: KindTFIDF, Dim: 1 << 12, WordNgrams: [2]int{1, 3}})
	for _, text := range append(corpus, "  MiXeD\tCase\n\nwords, 42 times!! ", "", "...", "x") {
		fast := f.getScratch()
		f.count(fast, text)
		slow := f.getScratch()
		normalise(slow, text)
		var w []uint64
		for _, word := range strings.FieldsFunc(string(slow.norm), func(r rune) bool { return r < 128 && !isWordByte(byte(r)) }) {
			h := uint64(fnvOffset)
			for i := 0; i < len(word); i++ {
				h = (h ^ uint64(word[i])) * fnvPrime
			}
			w = append(w, h)
		}
		if !reflect.DeepEqual(fast.words, w) && !(len(fast.words) == 0 && len(w) == 0) {
			t.Fatalf("%q: fast path words %v, general %v", text, fast.words, w)
		}
		f.reset(fast)
	}
}
