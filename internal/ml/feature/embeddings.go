package feature

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/internal/openai"
)

// Embeddings featurizes prompts with an OpenAI-compatible /v1/embeddings
// endpoint. Requests are batched (BatchSize texts each) and results are cached
// in memory by the SHA-256 of the prompt, so training epochs and repeated
// prompts cost one call. Output vectors are dense and L2-normalised; all of
// them share one read-only Idx slice (0..Dim-1), which callers must not modify.
//
// The bundle stores the endpoint, model and the name of the API key's
// environment variable, never the key itself.
type Embeddings struct {
	cfg    embeddingsConfig
	apiKey string
	client *http.Client
	dim    int
	idx    []uint32 // shared 0..dim-1

	mu    sync.Mutex
	lru   *list.List // of *cacheEntry, front = most recent
	cache map[[32]byte]*list.Element
}

type embeddingsConfig struct {
	Format    int    `json:"format"`
	BaseURL   string `json:"base_url"`
	Model     string `json:"model"`
	APIKeyEnv string `json:"api_key_env,omitempty"`
	BatchSize int    `json:"batch_size"`
	CacheSize int    `json:"cache_size"`
	Dim       int    `json:"dim"`
}

type cacheEntry struct {
	key [32]byte
	vec []float32
}

const (
	embeddingsFormat  = 1
	defaultBatchSize  = 64
	defaultCacheSize  = 100_000
	maxEmbeddingDim   = 1 << 16
	maxEmbeddingsBody = 256 << 20
)

func newEmbeddings(c embeddingsConfig) (*Embeddings, error) {
	if c.BatchSize == 0 {
		c.BatchSize = defaultBatchSize
	}
	if c.CacheSize == 0 {
		c.CacheSize = defaultCacheSize
	}
	u, err := url.Parse(c.BaseURL)
	switch {
	case c.BaseURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, fmt.Errorf("embeddings: base_url %q is not an http(s) URL", c.BaseURL)
	case c.Model == "":
		return nil, errors.New("embeddings: model is required")
	case c.BatchSize < 1 || c.BatchSize > 2048:
		return nil, fmt.Errorf("embeddings: batch_size %d outside [1, 2048]", c.BatchSize)
	case c.CacheSize < 0:
		return nil, fmt.Errorf("embeddings: negative cache_size %d", c.CacheSize)
	case c.Dim < 0 || c.Dim > maxEmbeddingDim:
		return nil, fmt.Errorf("embeddings: dim %d outside [1, %d]", c.Dim, maxEmbeddingDim)
	}
	c.Format = embeddingsFormat
	e := &Embeddings{
		cfg:    c,
		client: &http.Client{Timeout: 2 * time.Minute},
		lru:    list.New(),
		cache:  map[[32]byte]*list.Element{},
	}
	if c.APIKeyEnv != "" {
		e.apiKey = os.Getenv(c.APIKeyEnv)
	}
	if c.Dim > 0 {
		e.setDim(c.Dim)
	}
	return e, nil
}

func (e *Embeddings) setDim(d int) {
	e.dim, e.cfg.Dim = d, d
	e.idx = make([]uint32, d)
	for i := range e.idx {
		e.idx[i] = uint32(i)
	}
}

func fitEmbeddings(ctx context.Context, cfg Config, texts []string) (*Embeddings, error) {
	e, err := newEmbeddings(embeddingsConfig{
		BaseURL: cfg.BaseURL, Model: cfg.Model, APIKeyEnv: cfg.APIKeyEnv,
		BatchSize: cfg.BatchSize, CacheSize: cfg.CacheSize,
	})
	if err != nil {
		return nil, err
	}
	if len(texts) == 0 {
		return nil, errors.New("embeddings: no training texts")
	}
	// Embedding the training texts learns the dimension, checks the endpoint
	// end to end and leaves the vectors in the cache for the trainer.
	if _, err := e.Transform(ctx, texts); err != nil {
		return nil, err
	}
	return e, nil
}

// Transform embeds texts, from the cache where it can.
func (e *Embeddings) Transform(ctx context.Context, texts []string) ([]Vector, error) {
	vecs := make([][]float32, len(texts))
	keys := make([][32]byte, len(texts))
	var miss []int // first index of each uncached distinct text
	firstOf := map[[32]byte]int{}
	for i, t := range texts {
		keys[i] = sha256.Sum256([]byte(t))
		if v, ok := e.lookup(keys[i]); ok {
			vecs[i] = v
			continue
		}
		if _, dup := firstOf[keys[i]]; !dup {
			firstOf[keys[i]] = i
			miss = append(miss, i)
		}
	}
	for start := 0; start < len(miss); start += e.cfg.BatchSize {
		batch := miss[start:min(start+e.cfg.BatchSize, len(miss))]
		in := make([]string, len(batch))
		for j, i := range batch {
			in[j] = texts[i]
		}
		got, err := e.request(ctx, in)
		if err != nil {
			return nil, err
		}
		for j, i := range batch {
			vecs[i] = got[j]
			e.store(keys[i], got[j])
		}
	}
	e.mu.Lock()
	idx := e.idx
	e.mu.Unlock()
	out := make([]Vector, len(texts))
	for i := range texts {
		if vecs[i] == nil {
			vecs[i] = vecs[firstOf[keys[i]]]
		}
		out[i] = Vector{Idx: idx, Val: vecs[i]}
	}
	return out, nil
}

func (e *Embeddings) request(ctx context.Context, in []string) ([][]float32, error) {
	input, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("embeddings: %w", err)
	}
	body, err := json.Marshal(openai.EmbeddingRequest{Model: e.cfg.Model, Input: input, EncodingFormat: "float"})
	if err != nil {
		return nil, fmt.Errorf("embeddings: %w", err)
	}
	endpoint := strings.TrimRight(e.cfg.BaseURL, "/") + "/embeddings"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("embeddings: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if e.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+e.apiKey)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("embeddings: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxEmbeddingsBody))
	if err != nil {
		return nil, fmt.Errorf("embeddings: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(raw))
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		return nil, fmt.Errorf("embeddings: %s returned %s: %s", endpoint, resp.Status, msg)
	}
	var er openai.EmbeddingResponse
	if err := json.Unmarshal(raw, &er); err != nil {
		return nil, fmt.Errorf("embeddings: decode response: %w", err)
	}
	if len(er.Data) != len(in) {
		return nil, fmt.Errorf("embeddings: asked for %d embeddings, got %d", len(in), len(er.Data))
	}
	out := make([][]float32, len(in))
	for _, d := range er.Data {
		if d.Index < 0 || d.Index >= len(in) || out[d.Index] != nil {
			return nil, fmt.Errorf("embeddings: response index %d out of range or repeated", d.Index)
		}
		if err := e.checkDim(len(d.Embedding)); err != nil {
			return nil, err
		}
		out[d.Index] = l2normalise(d.Embedding)
	}
	return out, nil
}

func (e *Embeddings) checkDim(n int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n == 0 || n > maxEmbeddingDim {
		return fmt.Errorf("embeddings: vector of dimension %d", n)
	}
	if e.dim == 0 {
		e.setDim(n)
	}
	if n != e.dim {
		return fmt.Errorf("embeddings: vector of dimension %d, featurizer has %d", n, e.dim)
	}
	return nil
}

func l2normalise(v []float32) []float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return v
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
	return v
}

func (e *Embeddings) lookup(k [32]byte) ([]float32, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	el, ok := e.cache[k]
	if !ok {
		return nil, false
	}
	e.lru.MoveToFront(el)
	return el.Value.(*cacheEntry).vec, true
}

func (e *Embeddings) store(k [32]byte, v []float32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cfg.CacheSize == 0 {
		return
	}
	if el, ok := e.cache[k]; ok {
		e.lru.MoveToFront(el)
		return
	}
	e.cache[k] = e.lru.PushFront(&cacheEntry{key: k, vec: v})
	for e.lru.Len() > e.cfg.CacheSize {
		old := e.lru.Back()
		e.lru.Remove(old)
		delete(e.cache, old.Value.(*cacheEntry).key)
	}
}

// Dim is the embedding dimension (0 until the first response was seen).
func (e *Embeddings) Dim() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dim
}

// Kind is "embeddings".
func (e *Embeddings) Kind() string { return KindEmbeddings }

// Spec describes the endpoint for a bundle manifest (no key).
func (e *Embeddings) Spec() map[string]any {
	return map[string]any{
		"kind": KindEmbeddings, "base_url": e.cfg.BaseURL, "model": e.cfg.Model,
		"api_key_env": e.cfg.APIKeyEnv, "batch_size": e.cfg.BatchSize, "dim": e.Dim(),
		"cache": "sha256(prompt), lru", "norm": "l2",
	}
}

// MarshalBinary encodes the configuration and dimension as JSON.
func (e *Embeddings) MarshalBinary() ([]byte, error) {
	e.mu.Lock()
	c := e.cfg
	e.mu.Unlock()
	if c.Dim == 0 {
		return nil, errors.New("embeddings: not fitted (dimension unknown)")
	}
	return json.Marshal(c)
}

func unmarshalEmbeddings(b []byte) (*Embeddings, error) {
	var c embeddingsConfig
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("embeddings: decode: %w", err)
	}
	if dec.More() {
		return nil, errors.New("embeddings: trailing data")
	}
	if c.Format != embeddingsFormat {
		return nil, fmt.Errorf("embeddings: unknown format version %d (this build reads %d)", c.Format, embeddingsFormat)
	}
	if c.Dim == 0 {
		return nil, errors.New("embeddings: dimension missing")
	}
	return newEmbeddings(c)
}

var _ Featurizer = (*Embeddings)(nil)
