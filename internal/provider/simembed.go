package provider

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"strings"
	"unicode"

	"github.com/tidwall/gjson"

	"github.com/switchyard-ai/switchyard/internal/openai"
)

// Embeddings answers with deterministic hashed bag-of-words vectors: each
// lower-cased word adds ±1 at a position chosen by hashing it with the
// profile's seed, and the vector is scaled to unit length. Texts that share
// words get similar vectors, which is enough for anything that clusters or
// searches them in tests and demos; it is not a language model.
func (p *simProvider) Embeddings(ctx context.Context, req *Request) (*Response, error) {
	er := req.Embedding
	if er == nil {
		er = new(openai.EmbeddingRequest)
		if err := json.Unmarshal(req.Body, er); err != nil {
			return nil, &Error{Deployment: p.name, Status: http.StatusBadRequest, Reason: "invalid embeddings request: " + err.Error(), Err: err}
		}
	}
	texts, err := embeddingInputs(er.Input)
	if err != nil {
		return nil, &Error{Deployment: p.name, Status: http.StatusBadRequest, Reason: err.Error(), Err: err}
	}
	dims := p.dims
	if er.Dimensions != nil && *er.Dimensions > 0 {
		dims = *er.Dimensions
	}
	pl := p.plan(nil, p.calls.Add(1))
	if err := p.wait(ctx, pl.firstToken); err != nil {
		return nil, err
	}
	if pl.fail != 0 {
		return nil, p.failure(pl.fail)
	}
	type item struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	out := struct {
		Object string        `json:"object"`
		Data   []item        `json:"data"`
		Model  string        `json:"model"`
		Usage  *openai.Usage `json:"usage"`
	}{Object: "list", Model: p.model, Usage: &openai.Usage{}}
	for i, t := range texts {
		v := SimEmbedding(t, dims, p.prof.Seed)
		var enc any = v
		if er.EncodingFormat == "base64" {
			enc = encodeFloats(v)
		}
		out.Data = append(out.Data, item{Object: "embedding", Index: i, Embedding: enc})
		out.Usage.PromptTokens += EstimateTokens(t)
	}
	out.Usage.TotalTokens = out.Usage.PromptTokens
	body, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode simulated embeddings: %w", err)
	}
	return &Response{Body: body, Usage: out.Usage, Model: p.model, Status: http.StatusOK}, nil
}

// SimEmbedding is the simulated provider's vector for text.
func SimEmbedding(text string, dims int, seed int64) []float32 {
	v := make([]float32, dims)
	if dims <= 0 {
		return v
	}
	var sb [8]byte
	binary.LittleEndian.PutUint64(sb[:], uint64(seed))
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		h := fnv.New64a()
		h.Write(sb[:])
		h.Write([]byte(w))
		x := h.Sum64()
		if x>>63 == 1 {
			v[x%uint64(dims)]--
		} else {
			v[x%uint64(dims)]++
		}
	}
	var norm float64
	for _, f := range v {
		norm += float64(f) * float64(f)
	}
	if norm > 0 {
		s := float32(1 / math.Sqrt(norm))
		for i := range v {
			v[i] *= s
		}
	}
	return v
}

// embeddingInputs reads "input": a string, an array of strings, or token
// arrays (hashed by their JSON text, as there is no tokenizer here).
func embeddingInputs(raw json.RawMessage) ([]string, error) {
	r := gjson.ParseBytes(raw)
	switch {
	case r.Type == gjson.String:
		return []string{r.String()}, nil
	case r.IsArray():
		items := r.Array()
		if len(items) == 0 {
			return nil, fmt.Errorf("input must not be empty")
		}
		if items[0].Type == gjson.Number { // one token array
			return []string{r.Raw}, nil
		}
		out := make([]string, 0, len(items))
		for i, it := range items {
			switch {
			case it.Type == gjson.String:
				out = append(out, it.String())
			case it.IsArray():
				out = append(out, it.Raw)
			default:
				return nil, fmt.Errorf("input[%d] must be a string or a token array", i)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("input must be a string or an array")
}

// encodeFloats is OpenAI's base64 encoding: little-endian float32s.
func encodeFloats(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}
