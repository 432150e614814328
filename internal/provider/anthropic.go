package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/jsonvalid"
	"github.com/switchyard-ai/switchyard/internal/openai"
)

const (
	// DefaultAnthropicBaseURL is used when an anthropic deployment sets no base_url.
	DefaultAnthropicBaseURL = "https://api.anthropic.com/v1"
	// AnthropicVersion is the Messages API version this translation follows.
	AnthropicVersion = "2023-06-01"
)

func init() { Register("anthropic", newAnthropic) }

// anthropicProvider serves OpenAI-shaped chat completions from Anthropic's
// Messages API, translating requests, answers and streams both ways. It does
// not serve embeddings: Anthropic has no embeddings endpoint.
type anthropicProvider struct {
	name    string
	model   string
	url     string
	timeout time.Duration
	client  *http.Client
	jsonHdr http.Header
	sseHdr  http.Header
	now     func() time.Time // stamps "created"; fixed in golden tests
}

func newAnthropic(d config.Deployment, opts Options) (Provider, error) {
	base, err := baseURL(d.BaseURL, DefaultAnthropicBaseURL)
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
		h.Set("anthropic-version", AnthropicVersion)
		if k := d.Key(); k != "" {
			h.Set("x-api-key", k)
		}
		for k, v := range d.Headers {
			h.Set(k, v)
		}
		return h
	}
	return &anthropicProvider{
		name:    d.Name,
		model:   d.Model,
		url:     base + "/messages",
		timeout: d.Timeout.D(),
		client:  opts.client(),
		jsonHdr: hdr("application/json"),
		sseHdr:  hdr("text/event-stream"),
		now:     time.Now,
	}, nil
}

// translate builds the Messages body. A request that cannot be expressed in
// Messages is the client's error, so it comes back as a 400 *Error, which the
// gateway neither retries nor falls back on.
func (p *anthropicProvider) translate(req *Request, stream bool) ([]byte, *openai.ChatRequest, error) {
	cr := req.Chat
	if cr == nil {
		cr = new(openai.ChatRequest)
		if err := json.Unmarshal(req.Body, cr); err != nil {
			return nil, nil, &Error{Deployment: p.name, Status: http.StatusBadRequest, Reason: "invalid chat request: " + err.Error(), Err: err}
		}
	}
	body, err := toAnthropic(cr, req.Body, p.model, stream)
	if err != nil {
		return nil, nil, &Error{Deployment: p.name, Status: http.StatusBadRequest, Reason: truncate("cannot translate to Anthropic Messages: "+err.Error(), maxReasonLen), Err: err}
	}
	return body, cr, nil
}

// Chat sends a Messages request and answers in OpenAI's chat.completion shape.
func (p *anthropicProvider) Chat(ctx context.Context, req *Request) (*Response, error) {
	body, _, err := p.translate(req, false)
	if err != nil {
		return nil, err
	}
	c := startCall(ctx, p.timeout)
	defer c.end()
	resp, err := c.post(p.client, p.url, p.jsonHdr, body)
	if err != nil {
		return nil, c.fail(p.name, err)
	}
	defer drainAndClose(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, statusError(p.name, resp, anthropicReason)
	}
	raw, err := readBody(resp)
	if err != nil {
		return nil, c.fail(p.name, fmt.Errorf("read response: %w", err))
	}
	if mt := mediaType(resp.Header); mt != "application/json" && mt != "" {
		return nil, badResponse(p.name, resp.StatusCode, raw, "content-type %q, expected application/json", mt)
	}
	var msg anthropicResponse
	if err := json.Unmarshal(raw, &msg); err != nil {
		return nil, badResponse(p.name, resp.StatusCode, raw, "response is not a Messages JSON object: %v", err)
	}
	if msg.Type != "message" {
		if msg.Type == "error" {
			return nil, badResponse(p.name, resp.StatusCode, raw, "error in a %d answer: %s", resp.StatusCode, anthropicReason(raw))
		}
		return nil, badResponse(p.name, resp.StatusCode, raw, "response type %q, expected message", msg.Type)
	}
	out, usage := fromAnthropic(&msg, p.now())
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode translated response: %w", err)
	}
	return &Response{Body: b, Usage: usage, Model: msg.Model, Status: resp.StatusCode}, nil
}

// ChatStream starts a Messages stream and translates its events into OpenAI
// chat.completion.chunk events. The deployment's timeout bounds the time to
// the headers and each wait between events, as for OpenAI streams.
func (p *anthropicProvider) ChatStream(ctx context.Context, req *Request) (Stream, error) {
	body, cr, err := p.translate(req, true)
	if err != nil {
		return nil, err
	}
	c, resp, err := openStream(ctx, p.client, p.timeout, p.name, p.url, p.sseHdr, body, anthropicReason)
	if err != nil {
		return nil, err
	}
	return &anthropicStream{
		name:         p.name,
		call:         c,
		resp:         resp,
		sse:          newSSEReader(resp.Body),
		status:       resp.StatusCode,
		includeUsage: cr.StreamOptions != nil && cr.StreamOptions.IncludeUsage,
		created:      p.now().Unix(),
		tools:        map[int]int{},
	}, nil
}

// anthropicResponse is a Messages answer (and message_start's message).
type anthropicResponse struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Role    string `json:"role"`
	Model   string `json:"model"`
	Content []struct {
		Type  string          `json:"type"`
		Text  string          `json:"text"`
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	} `json:"content"`
	StopReason string         `json:"stop_reason"`
	Usage      anthropicUsage `json:"usage"`
}

// anthropicUsage counts tokens. input_tokens excludes tokens read from or
// written to the prompt cache; OpenAI's prompt_tokens includes cached tokens,
// so the translation adds them up.
type anthropicUsage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
}

func (u anthropicUsage) openAI() *openai.Usage {
	in := u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
	return &openai.Usage{PromptTokens: in, CompletionTokens: u.OutputTokens, TotalTokens: in + u.OutputTokens}
}

// fromAnthropic translates a Messages answer: text blocks joined into the
// content, tool_use blocks into tool_calls, thinking blocks left out.
func fromAnthropic(m *anthropicResponse, now time.Time) (*openai.ChatResponse, *openai.Usage) {
	var text strings.Builder
	var calls []openAIToolCall
	for _, b := range m.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "tool_use":
			var c openAIToolCall
			c.ID, c.Type, c.Function.Name = b.ID, "function", b.Name
			c.Function.Arguments = compactJSON(b.Input)
			calls = append(calls, c)
		}
	}
	msg := openai.ResponseMessage{Role: "assistant"}
	if text.Len() > 0 || len(calls) == 0 {
		s := text.String()
		msg.Content = &s
	}
	if len(calls) > 0 {
		msg.ToolCalls, _ = json.Marshal(calls)
	}
	usage := m.Usage.openAI()
	return &openai.ChatResponse{
		ID:      m.ID,
		Object:  "chat.completion",
		Created: now.Unix(),
		Model:   m.Model,
		Choices: []openai.Choice{{Index: 0, Message: msg, FinishReason: finishReason(m.StopReason)}},
		Usage:   usage,
	}, usage
}

// finishReason maps stop_reason to OpenAI's finish_reason.
func finishReason(s string) string {
	switch s {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	default: // end_turn, stop_sequence, pause_turn
		return "stop"
	}
}

func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return "{}"
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return string(raw)
	}
	return buf.String()
}

// anthropicReason reads "type: message" from Anthropic's error envelope.
func anthropicReason(body []byte) string {
	if !jsonvalid.Valid(body) {
		return ""
	}
	r := gjson.GetManyBytes(body, "error.type", "error.message")
	switch {
	case r[0].String() != "" && r[1].String() != "":
		return r[0].String() + ": " + r[1].String()
	case r[1].String() != "":
		return r[1].String()
	}
	return openAIReason(body)
}

// anthropicErrorStatus gives the HTTP status Anthropic uses for an error type,
// for errors that arrive inside a stream after a 200.
func anthropicErrorStatus(typ string) int {
	switch typ {
	case "invalid_request_error":
		return http.StatusBadRequest
	case "authentication_error":
		return http.StatusUnauthorized
	case "permission_error":
		return http.StatusForbidden
	case "not_found_error":
		return http.StatusNotFound
	case "request_too_large":
		return http.StatusRequestEntityTooLarge
	case "rate_limit_error":
		return http.StatusTooManyRequests
	case "timeout_error":
		return http.StatusGatewayTimeout
	case "overloaded_error":
		return 529
	default: // api_error and anything new
		return http.StatusInternalServerError
	}
}

var _ Provider = (*anthropicProvider)(nil)
