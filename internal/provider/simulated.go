package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/openai"
)

// Defaults for a simulated profile's unset fields.
const (
	DefaultSimOutputTokens   = 128
	DefaultSimEmbeddingsDims = 256
	// simRateLimitShare is the share of simulated failures that are 429s;
	// the rest are 500s.
	simRateLimitShare = 0.3
)

func init() { Register("simulated", newSimulated) }

// simProvider answers offline from a config.SimProfile, so the whole system
// runs and is tested with no network. It is only ever built for a deployment
// that says provider: simulated; nothing falls back to it.
//
// Randomness is deterministic given the profile's seed. What is drawn per
// prompt (the answer's words and length) comes from the seed and the prompt,
// so one prompt always gets the same answer, as at temperature 0. What is
// drawn per call (latency jitter, failures) comes from the seed and the
// call's sequence number, so retries can succeed and a sequence of calls
// replays exactly; concurrent calls take sequence numbers in arrival order.
type simProvider struct {
	name    string
	model   string
	prof    config.SimProfile
	dims    int
	calls   atomic.Uint64
	now     func() time.Time
	timerFn func(time.Duration) *time.Timer // replaced in tests to skip waits
}

func newSimulated(d config.Deployment, _ Options) (Provider, error) {
	p := d.Simulated
	if p == nil {
		return nil, errors.New("provider simulated needs a simulated: profile")
	}
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("simulated."+format, args...))
		}
	}
	check(p.LatencyMS >= 0, "latency_ms %v must not be negative", p.LatencyMS)
	check(p.LatencyJitter >= 0, "latency_jitter %v must not be negative", p.LatencyJitter)
	check(p.PerTokenMS >= 0, "per_token_ms %v must not be negative", p.PerTokenMS)
	check(p.OutputTokens >= 0, "output_tokens %d must not be negative", p.OutputTokens)
	check(p.OutputJitter >= 0, "output_jitter %v must not be negative", p.OutputJitter)
	check(p.ErrorRate >= 0 && p.ErrorRate <= 1, "error_rate %v must be in [0,1]", p.ErrorRate)
	check(p.EmbeddingsDims >= 0, "embedding_dims %d must not be negative", p.EmbeddingsDims)
	for topic, q := range p.Quality {
		check(q >= 0 && q <= 1, "quality.%s %v must be in [0,1]", topic, q)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sp := &simProvider{name: d.Name, model: d.Model, prof: *p, dims: p.EmbeddingsDims, now: time.Now, timerFn: time.NewTimer}
	if sp.model == "" {
		sp.model = d.Name
	}
	if sp.prof.OutputTokens == 0 {
		sp.prof.OutputTokens = DefaultSimOutputTokens
	}
	if sp.dims == 0 {
		sp.dims = DefaultSimEmbeddingsDims
	}
	return sp, nil
}

// simPlan is everything drawn for one call.
type simPlan struct {
	id         string
	topic      string
	fail       int           // 0, 429 or 500
	firstToken time.Duration // until the first token, or the failure
	perToken   time.Duration
	pieces     []string // the answer, one streamed chunk each
	finish     string
	prompt     int // prompt tokens
}

// plan draws a call's outcome. seq is the call's sequence number.
func (p *simProvider) plan(cr *openai.ChatRequest, seq uint64) *simPlan {
	text := SimPromptText(cr)
	ph := hashString(text)
	seed := uint64(p.prof.Seed)
	call := rand.New(rand.NewPCG(seed, seq))
	answer := rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15, ph))

	pl := &simPlan{
		id:       fmt.Sprintf("chatcmpl-sim-%016x", ph^seq*0xff51afd7ed558ccd^hashString(p.name)^seed),
		topic:    SimTopic(text),
		perToken: msDuration(p.prof.PerTokenMS),
		finish:   "stop",
		prompt:   EstimatePromptTokens(cr),
	}
	// Lognormal around the profile's latency, which is the median.
	pl.firstToken = msDuration(p.prof.LatencyMS * math.Exp(p.prof.LatencyJitter*call.NormFloat64()))
	if call.Float64() < p.prof.ErrorRate {
		pl.fail = http.StatusInternalServerError
		if call.Float64() < simRateLimitShare {
			pl.fail = http.StatusTooManyRequests
		}
	}
	want := int(math.Round(float64(p.prof.OutputTokens) * (1 + p.prof.OutputJitter*answer.NormFloat64())))
	want = max(want, 1)
	if cr != nil {
		limit := cr.MaxCompletionTokens
		if limit == nil {
			limit = cr.MaxTokens
		}
		if limit != nil && *limit > 0 && want > *limit {
			want, pl.finish = *limit, "length"
		}
	}
	pl.pieces = simAnswer(answer, pl.topic, want)
	return pl
}

// simWords are the answer vocabularies per topic; answers are word salad
// with the right length and a topical flavour, which is all the gateway and
// the routers need.
var simWords = map[string][]string{
	TopicCode:    {"func", "return", "err", "nil", "loop", "index", "slice", "map", "test", "value", "type", "call"},
	TopicMath:    {"let", "x", "equals", "sum", "over", "n", "then", "proof", "hence", "prime", "term", "limit"},
	TopicScience: {"energy", "cell", "force", "mass", "atom", "wave", "field", "model", "data", "rate", "heat", "light"},
	TopicWriting: {"the", "story", "voice", "line", "draft", "scene", "tone", "word", "reader", "page", "theme", "close"},
	TopicChat:    {"sure", "here", "is", "a", "short", "answer", "that", "helps", "you", "with", "this", "today"},
}

// simAnswer draws words until the text is want tokens long by
// EstimateTokens, cutting the last word to fit, so the usage reported is
// exactly the text the client receives and never over max_tokens.
func simAnswer(r *rand.Rand, topic string, want int) []string {
	words := simWords[topic]
	pieces := make([]string, 0, want)
	n, size := 0, want*bytesPerToken
	for n < size {
		w := words[r.IntN(len(words))]
		if len(pieces) > 0 {
			w = " " + w
		}
		if n+len(w) > size {
			w = w[:size-n]
		}
		pieces = append(pieces, w)
		n += len(w)
	}
	return pieces
}

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

func hashString(s string) uint64 {
	h := fnv.New64a()
	_, _ = io.WriteString(h, s)
	return h.Sum64()
}

// wait sleeps for d or until ctx ends; a timer, not time.Sleep, so a
// client's disconnect ends the call at once.
func (p *simProvider) wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := p.timerFn(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("upstream %s: %w", p.name, ctx.Err())
	case <-t.C:
		return nil
	}
}

func (p *simProvider) failure(status int) *Error {
	reason, typ := "simulated server error", "server_error"
	if status == http.StatusTooManyRequests {
		reason, typ = "simulated rate limit", "rate_limit_error"
	}
	body, _ := json.Marshal(openai.ErrorBody{Error: openai.ErrorDetail{Message: reason, Type: typ}})
	return &Error{Deployment: p.name, Status: status, Reason: reason, Body: body}
}

func chatOf(name string, req *Request) (*openai.ChatRequest, error) {
	if req.Chat != nil {
		return req.Chat, nil
	}
	cr := new(openai.ChatRequest)
	if err := json.Unmarshal(req.Body, cr); err != nil {
		return nil, &Error{Deployment: name, Status: http.StatusBadRequest, Reason: "invalid chat request: " + err.Error(), Err: err}
	}
	return cr, nil
}

// Chat answers after the first-token latency plus the per-token time of the
// whole answer, as a non-streaming upstream would.
func (p *simProvider) Chat(ctx context.Context, req *Request) (*Response, error) {
	cr, err := chatOf(p.name, req)
	if err != nil {
		return nil, err
	}
	pl := p.plan(cr, p.calls.Add(1))
	if err := p.wait(ctx, pl.firstToken); err != nil {
		return nil, err
	}
	if pl.fail != 0 {
		return nil, p.failure(pl.fail)
	}
	content := strings.Join(pl.pieces, "")
	usage := pl.usage(content)
	if err := p.wait(ctx, time.Duration(usage.CompletionTokens)*pl.perToken); err != nil {
		return nil, err
	}
	body, err := json.Marshal(openai.ChatResponse{
		ID: pl.id, Object: "chat.completion", Created: p.now().Unix(), Model: p.model,
		Choices: []openai.Choice{{Message: openai.ResponseMessage{Role: "assistant", Content: &content}, FinishReason: pl.finish}},
		Usage:   usage,
	})
	if err != nil {
		return nil, fmt.Errorf("encode simulated answer: %w", err)
	}
	return &Response{Body: body, Usage: usage, Model: p.model, Status: http.StatusOK}, nil
}

func (pl *simPlan) usage(content string) *openai.Usage {
	out := EstimateTokens(content)
	return &openai.Usage{PromptTokens: pl.prompt, CompletionTokens: out, TotalTokens: pl.prompt + out}
}

// ChatStream waits for the first-token latency (or fails then, before
// anything is sent), then streams one chunk per word at the per-token pace.
func (p *simProvider) ChatStream(ctx context.Context, req *Request) (Stream, error) {
	cr, err := chatOf(p.name, req)
	if err != nil {
		return nil, err
	}
	pl := p.plan(cr, p.calls.Add(1))
	if err := p.wait(ctx, pl.firstToken); err != nil {
		return nil, err
	}
	if pl.fail != 0 {
		return nil, p.failure(pl.fail)
	}
	return &simStream{p: p, ctx: ctx, plan: pl, created: p.now().Unix(),
		includeUsage: cr.StreamOptions != nil && cr.StreamOptions.IncludeUsage}, nil
}

// simStream emits: a role chunk, one chunk per answer piece, a finish chunk,
// and the usage chunk when the client asked for it.
type simStream struct {
	p            *simProvider
	ctx          context.Context
	plan         *simPlan
	created      int64
	includeUsage bool
	next         int // pieces sent
	state        int // 0 role, 1 pieces, 2 finish, 3 usage, 4 done
	usage        *openai.Usage
	text         strings.Builder
}

func (s *simStream) Next() ([]byte, error) {
	if err := s.ctx.Err(); err != nil {
		return nil, fmt.Errorf("upstream %s: %w", s.p.name, err)
	}
	switch s.state {
	case 0:
		s.state = 1
		empty := ""
		return s.chunk(openai.Delta{Role: "assistant", Content: &empty}, nil)
	case 1:
		if s.next < len(s.plan.pieces) {
			piece := s.plan.pieces[s.next]
			s.next++
			// The pace follows the piece's estimated tokens, fractions
			// included, so the whole stream takes per_token_ms per token.
			d := time.Duration(float64(len(piece)) / bytesPerToken * float64(s.plan.perToken))
			if err := s.p.wait(s.ctx, d); err != nil {
				return nil, err
			}
			s.text.WriteString(piece)
			return s.chunk(openai.Delta{Content: &piece}, nil)
		}
		s.state = 2
		fallthrough
	case 2:
		s.state = 3
		s.usage = s.plan.usage(s.text.String())
		return s.chunk(openai.Delta{}, &s.plan.finish)
	case 3:
		s.state = 4
		if s.includeUsage {
			return json.Marshal(openai.ChatChunk{ID: s.plan.id, Object: "chat.completion.chunk", Created: s.created,
				Model: s.p.model, Choices: []openai.ChunkChoice{}, Usage: s.usage})
		}
	}
	return nil, io.EOF
}

func (s *simStream) chunk(d openai.Delta, finish *string) ([]byte, error) {
	return json.Marshal(openai.ChatChunk{ID: s.plan.id, Object: "chat.completion.chunk", Created: s.created,
		Model: s.p.model, Choices: []openai.ChunkChoice{{Delta: d, FinishReason: finish}}})
}

func (s *simStream) Usage() *openai.Usage { return s.usage }
func (s *simStream) Close() error         { return nil }

var (
	_ Provider = (*simProvider)(nil)
	_ Embedder = (*simProvider)(nil)
	_ Stream   = (*simStream)(nil)
)
