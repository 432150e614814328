package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/jsonvalid"
)

// DefaultOpenAIBaseURL is used when an openai deployment sets no base_url.
const DefaultOpenAIBaseURL = "https://api.openai.com/v1"

func init() { Register("openai", newOpenAI) }

// openAIProvider speaks to OpenAI-compatible upstreams: OpenAI itself, vLLM,
// Ollama, llama.cpp's server and the many proxies that copy the API. Bodies
// pass through: only "model" (and the stream flags a stream needs) are
// spliced into the client's bytes, so fields Switchyard does not know still
// reach the upstream, and answers go back to the client unchanged.
type openAIProvider struct {
	name    string
	model   string
	chatURL string
	embURL  string
	timeout time.Duration
	client  *http.Client
	jsonHdr http.Header // headers for non-streaming calls
	sseHdr  http.Header // headers for streams
}

func newOpenAI(d config.Deployment, opts Options) (Provider, error) {
	base, err := baseURL(d.BaseURL, DefaultOpenAIBaseURL)
	if err != nil {
		return nil, err
	}
	if d.Model == "" {
		return nil, errors.New("model (the upstream model id) is required")
	}
	if d.Timeout < 0 {
		return nil, fmt.Errorf("timeout %s must not be negative", d.Timeout.D())
	}
	hdr := func(accept string) http.Header {
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("Accept", accept)
		if k := d.Key(); k != "" {
			h.Set("Authorization", "Bearer "+k)
		}
		for k, v := range d.Headers {
			h.Set(k, v)
		}
		return h
	}
	return &openAIProvider{
		name:    d.Name,
		model:   d.Model,
		chatURL: base + "/chat/completions",
		embURL:  base + "/embeddings",
		timeout: d.Timeout.D(),
		client:  opts.client(),
		jsonHdr: hdr("application/json"),
		sseHdr:  hdr("text/event-stream"),
	}, nil
}

// Chat forwards a non-streaming chat completion. The whole exchange, body
// included, is bounded by the deployment's timeout.
func (p *openAIProvider) Chat(ctx context.Context, req *Request) (*Response, error) {
	body, err := sjson.SetBytes(req.Body, "model", p.model)
	if err != nil {
		return nil, fmt.Errorf("set upstream model: %w", err)
	}
	if req.Chat != nil && req.Chat.Stream {
		// The gateway asked for a whole answer; an SSE reply would not parse.
		if body, err = sjson.SetBytes(body, "stream", false); err != nil {
			return nil, fmt.Errorf("unset stream: %w", err)
		}
	}
	return p.do(ctx, p.chatURL, body, "choices")
}

// Embeddings forwards an embeddings request.
func (p *openAIProvider) Embeddings(ctx context.Context, req *Request) (*Response, error) {
	body, err := sjson.SetBytes(req.Body, "model", p.model)
	if err != nil {
		return nil, fmt.Errorf("set upstream model: %w", err)
	}
	return p.do(ctx, p.embURL, body, "data")
}

// do runs one non-streaming exchange and checks that the answer is JSON
// holding the key the endpoint promises (choices, data).
func (p *openAIProvider) do(ctx context.Context, u string, body []byte, want string) (*Response, error) {
	c := startCall(ctx, p.timeout)
	defer c.end()
	resp, err := c.post(p.client, u, p.jsonHdr, body)
	if err != nil {
		return nil, c.fail(p.name, err)
	}
	defer drainAndClose(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, statusError(p.name, resp, openAIReason)
	}
	out, err := readBody(resp)
	if err != nil {
		return nil, c.fail(p.name, fmt.Errorf("read response: %w", err))
	}
	if mt := mediaType(resp.Header); mt != "application/json" && mt != "" {
		return nil, badResponse(p.name, resp.StatusCode, out, "content-type %q, expected application/json", mt)
	}
	if !jsonvalid.Valid(out) {
		return nil, badResponse(p.name, resp.StatusCode, out, "response is not valid JSON")
	}
	var r [4]gjson.Result
	topLevel(r[:], out, want, "usage", "model", "error")
	if !r[0].Exists() {
		if msg := openAIReason(out); r[3].Exists() && msg != "" {
			return nil, badResponse(p.name, resp.StatusCode, out, "error in a %d answer: %s", resp.StatusCode, msg)
		}
		return nil, badResponse(p.name, resp.StatusCode, out, "response has no %q", want)
	}
	return &Response{Body: out, Usage: parseUsage(r[1]), Model: strings.Clone(r[2].String()), Status: resp.StatusCode}, nil
}

// ChatStream starts a streaming chat completion. The upstream is always asked
// for usage (stream_options.include_usage) so cost can be counted; when the
// client did not ask for it, the usage-only last chunk is kept from it.
func (p *openAIProvider) ChatStream(ctx context.Context, req *Request) (Stream, error) {
	clientUsage, stream := false, false
	if req.Chat != nil {
		stream = req.Chat.Stream
		clientUsage = req.Chat.StreamOptions != nil && req.Chat.StreamOptions.IncludeUsage
	} else {
		r := gjson.GetManyBytes(req.Body, "stream", "stream_options.include_usage")
		stream, clientUsage = r[0].Bool(), r[1].Bool()
	}
	body, err := sjson.SetBytes(req.Body, "model", p.model)
	if err != nil {
		return nil, fmt.Errorf("set upstream model: %w", err)
	}
	if !stream {
		if body, err = sjson.SetBytes(body, "stream", true); err != nil {
			return nil, fmt.Errorf("set stream: %w", err)
		}
	}
	if !clientUsage {
		if body, err = sjson.SetBytes(body, "stream_options.include_usage", true); err != nil {
			return nil, fmt.Errorf("set stream_options.include_usage: %w", err)
		}
	}

	c, resp, err := openStream(ctx, p.client, p.timeout, p.name, p.chatURL, p.sseHdr, body, openAIReason)
	if err != nil {
		return nil, err
	}
	return &openAIStream{
		name:      p.name,
		call:      c,
		resp:      resp,
		sse:       newSSEReader(resp.Body),
		hideUsage: !clientUsage,
		status:    resp.StatusCode,
	}, nil
}

var (
	_ Provider = (*openAIProvider)(nil)
	_ Embedder = (*openAIProvider)(nil)
)
