package feature

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/openai"
)

// fakeEmbeddings serves /v1/embeddings with a deterministic 3-d vector per
// text (length, vowel count, 1), counting requests and inputs.
type fakeEmbeddings struct {
	requests, inputs atomic.Int64
	maxBatch         atomic.Int64
	status           int
	dim              int
	wantKey          string
}

func (f *fakeEmbeddings) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/embeddings" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	if f.wantKey != "" && r.Header.Get("Authorization") != "Bearer "+f.wantKey {
		http.Error(w, `{"error":{"message":"bad key"}}`, http.StatusUnauthorized)
		return
	}
	f.requests.Add(1)
	if f.status != 0 {
		http.Error(w, `{"error":{"message":"overloaded"}}`, f.status)
		return
	}
	var req openai.EmbeddingRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var in []string
	if err := json.Unmarshal(req.Input, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.inputs.Add(int64(len(in)))
	if n := int64(len(in)); n > f.maxBatch.Load() {
		f.maxBatch.Store(n)
	}
	resp := openai.EmbeddingResponse{Object: "list", Model: req.Model}
	// Answer in reverse order: the client must place vectors by index.
	for i := len(in) - 1; i >= 0; i-- {
		v := []float32{float32(len(in[i])), float32(strings.Count(in[i], "a")), 1}
		if f.dim > 0 {
			v = make([]float32, f.dim)
			v[0] = 1
		}
		resp.Data = append(resp.Data, openai.Embedding{Object: "embedding", Index: i, Embedding: v})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func TestEmbeddingsBatchingAndCache(t *testing.T) {
	fake := &fakeEmbeddings{wantKey: "sekret"}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	t.Setenv("TEST_EMBED_KEY", "sekret")
	texts := []string{"a", "bb", "aaa", "cccc", "a", "dd"} // "a" twice
	cfg := Config{Kind: KindEmbeddings, BaseURL: srv.URL + "/v1", Model: "toy", APIKeyEnv: "TEST_EMBED_KEY", BatchSize: 2}
	f, err := Fit(context.Background(), cfg, texts)
	if err != nil {
		t.Fatal(err)
	}
	// 5 distinct texts in batches of 2: 3 requests, 5 inputs.
	if r, in, mb := fake.requests.Load(), fake.inputs.Load(), fake.maxBatch.Load(); r != 3 || in != 5 || mb != 2 {
		t.Fatalf("fit: %d requests, %d inputs, max batch %d; want 3, 5, 2", r, in, mb)
	}
	if f.Dim() != 3 || f.Kind() != KindEmbeddings {
		t.Fatalf("dim %d kind %s", f.Dim(), f.Kind())
	}
	vs, err := f.Transform(context.Background(), []string{"aaa", "a", "new"})
	if err != nil {
		t.Fatal(err)
	}
	if r := fake.requests.Load(); r != 4 {
		t.Fatalf("cached texts refetched: %d requests, want 4", r)
	}
	for i, v := range vs {
		if err := v.Validate(); err != nil || len(v.Idx) != 3 || math.Abs(v.Norm()-1) > 1e-6 {
			t.Fatalf("vector %d: %+v (%v)", i, v, err)
		}
	}
	// "aaa" -> (3,3,1)/sqrt(19): check the order survived the reversed reply.
	if want := float32(3 / math.Sqrt(19)); math.Abs(float64(vs[0].Val[0]-want)) > 1e-6 {
		t.Fatalf("aaa -> %v", vs[0].Val)
	}

	// Round trip through MarshalBinary: same endpoint, no key in the bytes.
	data, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "sekret") {
		t.Fatal("API key written into the bundle")
	}
	g, err := Unmarshal(KindEmbeddings, data)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := g.Transform(context.Background(), []string{"aaa"})
	if err != nil {
		t.Fatal(err)
	}
	if ws[0].Val[0] != vs[0].Val[0] || g.Dim() != 3 {
		t.Fatalf("restored featurizer differs: %v", ws[0].Val)
	}
}

func TestEmbeddingsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		fake *fakeEmbeddings
		key  string
		want string
	}{
		{"server error", &fakeEmbeddings{status: http.StatusServiceUnavailable}, "", "503"},
		{"bad key", &fakeEmbeddings{wantKey: "right"}, "wrong", "401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.fake)
			defer srv.Close()
			t.Setenv("TEST_EMBED_KEY", tc.key)
			_, err := Fit(context.Background(), Config{Kind: KindEmbeddings, BaseURL: srv.URL + "/v1", Model: "m", APIKeyEnv: "TEST_EMBED_KEY"}, []string{"x"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("dimension change", func(t *testing.T) {
		fake := &fakeEmbeddings{}
		srv := httptest.NewServer(fake)
		defer srv.Close()
		f, err := Fit(context.Background(), Config{Kind: KindEmbeddings, BaseURL: srv.URL + "/v1", Model: "m"}, []string{"x"})
		if err != nil {
			t.Fatal(err)
		}
		fake.dim = 5
		if _, err := f.Transform(context.Background(), []string{"other"}); err == nil || !strings.Contains(err.Error(), "dimension 5") {
			t.Fatalf("got %v", err)
		}
	})
	for _, tc := range []struct{ name, data, want string }{
		{"not json", "xx", "decode"},
		{"unknown version", `{"format":9,"base_url":"http://x/v1","model":"m","batch_size":1,"cache_size":1,"dim":3}`, "unknown format version"},
		{"no dim", `{"format":1,"base_url":"http://x/v1","model":"m","batch_size":1,"cache_size":1,"dim":0}`, "dimension"},
		{"bad url", `{"format":1,"base_url":"ftp://x","model":"m","batch_size":1,"cache_size":1,"dim":3}`, "base_url"},
		{"unknown field", `{"format":1,"api_key":"k"}`, "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Unmarshal(KindEmbeddings, []byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestEmbeddingsCacheEvicts(t *testing.T) {
	fake := &fakeEmbeddings{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	f, err := Fit(context.Background(), Config{Kind: KindEmbeddings, BaseURL: srv.URL + "/v1", Model: "m", CacheSize: 2}, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	before := fake.requests.Load()
	// "c" and "b" are the two most recent; "a" was evicted.
	if _, err := f.Transform(context.Background(), []string{"c", "b"}); err != nil {
		t.Fatal(err)
	}
	if fake.requests.Load() != before {
		t.Fatal("recent entries were not cached")
	}
	if _, err := f.Transform(context.Background(), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if fake.requests.Load() != before+1 {
		t.Fatal("evicted entry was not refetched")
	}
}
