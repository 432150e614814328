package provider

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/openai"
)

func newSimTest(t *testing.T, prof config.SimProfile) *simProvider {
	t.Helper()
	p, err := New(config.Deployment{Name: "sim", Provider: "simulated", Model: "sim-1", Simulated: &prof}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sp := p.(*simProvider)
	sp.now = func() time.Time { return time.Unix(1700000000, 0) }
	return sp
}

func simChat(prompt string, extra string) string {
	b, _ := json.Marshal(prompt)
	return `{"model":"auto","messages":[{"role":"system","content":"be brief"},{"role":"user","content":` + string(b) + `}]` + extra + `}`
}

func TestSimTopic(t *testing.T) {
	tests := []struct{ prompt, want string }{
		{"Write a Python function that reverses a list", TopicCode},
		{"Fix this bug: my SQL query returns nothing", TopicCode},
		{"Solve the equation 2x + 3 = 7", TopicMath},
		{"What is the probability of two sixes?", TopicMath},
		{"Explain photosynthesis in plant cells", TopicScience},
		{"How does gravity bend light around a planet?", TopicScience},
		{"Write a poem about autumn", TopicWriting},
		{"Please proofread my email to the landlord", TopicWriting},
		{"Hi, how are you today?", TopicChat},
		{"", TopicChat},
		{"WRITE PYTHON CODE", TopicCode},                    // code 2, writing 1
		{"prove it with code", TopicCode},                   // tie: code before math
		{"Let's go to the park", TopicChat},                 // "go" is not a keyword
		{"Summarize the theory of evolution", TopicScience}, // tie: science before writing
	}
	for _, tc := range tests {
		t.Run(tc.prompt, func(t *testing.T) {
			if got := SimTopic(tc.prompt); got != tc.want {
				t.Errorf("SimTopic(%q) = %q, want %q", tc.prompt, got, tc.want)
			}
		})
	}
}

func TestSimQuality(t *testing.T) {
	p := &config.SimProfile{Quality: map[string]float64{"code": 0.9, "default": 0.4, "math": 1.7}}
	tests := []struct {
		name  string
		p     *config.SimProfile
		topic string
		want  float64
	}{
		{"named topic", p, "code", 0.9},
		{"default", p, "writing", 0.4},
		{"clamped", p, "math", 1},
		{"no default", &config.SimProfile{}, "code", DefaultSimQuality},
		{"no profile", nil, "code", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SimQuality(tc.p, tc.topic); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSimulatedValidates(t *testing.T) {
	tests := []struct {
		name string
		prof *config.SimProfile
		want string
	}{
		{"no profile", nil, "needs a simulated: profile"},
		{"error rate", &config.SimProfile{ErrorRate: 1.5}, "error_rate"},
		{"latency", &config.SimProfile{LatencyMS: -1}, "latency_ms"},
		{"quality", &config.SimProfile{Quality: map[string]float64{"code": 2}}, "quality.code"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(config.Deployment{Name: "sim", Provider: "simulated", Simulated: tc.prof}, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// outcome is one call's visible result, for comparing runs.
func simOutcome(t *testing.T, p *simProvider, body string) string {
	resp, err := p.Chat(context.Background(), chatRequest(t, body))
	if err != nil {
		return "error: " + err.Error()
	}
	return string(resp.Body)
}

func TestSimulatedDeterministic(t *testing.T) {
	prof := config.SimProfile{LatencyMS: 0.01, LatencyJitter: 0.5, OutputTokens: 40, OutputJitter: 0.3, ErrorRate: 0.3, Seed: 42}
	prompts := []string{"write a poem", "solve 2+2", "hello", "write a poem", "debug my go code"}
	run := func(seed int64) []string {
		prof.Seed = seed
		p := newSimTest(t, prof)
		var out []string
		for i := 0; i < 4; i++ {
			for _, q := range prompts {
				out = append(out, simOutcome(t, p, simChat(q, "")))
				pl := p.plan(chatRequest(t, simChat(q, "")).Chat, uint64(1000+i))
				out = append(out, fmt.Sprint(pl.firstToken, pl.fail))
			}
		}
		return out
	}
	a, b, c := run(42), run(42), run(43)
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Error("two runs with the same seed differ")
	}
	if strings.Join(a, "\n") == strings.Join(c, "\n") {
		t.Error("runs with different seeds are identical")
	}
	// One prompt gets one answer, whatever the call.
	p := newSimTest(t, config.SimProfile{OutputTokens: 30, OutputJitter: 0.5, Seed: 1})
	content := func() string {
		resp, err := p.Chat(context.Background(), chatRequest(t, simChat("write a poem", "")))
		if err != nil {
			t.Fatal(err)
		}
		var r openai.ChatResponse
		if err := json.Unmarshal(resp.Body, &r); err != nil {
			t.Fatal(err)
		}
		return *r.Choices[0].Message.Content
	}
	first := content()
	for i := 0; i < 5; i++ {
		if got := content(); got != first {
			t.Fatalf("same prompt, different answer:\n%s\n%s", got, first)
		}
	}
}

func TestSimulatedErrorRate(t *testing.T) {
	tests := []struct {
		rate float64
		seed int64
	}{{0, 1}, {0.05, 2}, {0.2, 3}, {0.5, 4}, {1, 5}}
	const n = 2000
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.rate), func(t *testing.T) {
			p := newSimTest(t, config.SimProfile{ErrorRate: tc.rate, OutputTokens: 2, Seed: tc.seed})
			fails, limited := 0, 0
			for i := 0; i < n; i++ {
				_, err := p.Chat(context.Background(), chatRequest(t, simChat(fmt.Sprint("q", i%17), "")))
				if err == nil {
					continue
				}
				pe, ok := AsError(err)
				if !ok || (pe.Status != 500 && pe.Status != 429) || !pe.Retryable() {
					t.Fatalf("simulated failure %v is not a retryable 500 or 429", err)
				}
				fails++
				if pe.Status == 429 {
					limited++
				}
			}
			// Four standard deviations of a binomial: deterministic given the
			// seed, and loose enough to hold for any seed.
			sd := math.Sqrt(n * tc.rate * (1 - tc.rate))
			if got := float64(fails); math.Abs(got-n*tc.rate) > 4*sd+1 {
				t.Errorf("%d failures in %d calls at rate %v", fails, n, tc.rate)
			}
			if fails > 100 {
				if share := float64(limited) / float64(fails); math.Abs(share-simRateLimitShare) > 0.1 {
					t.Errorf("429 share %.2f, want about %.2f", share, simRateLimitShare)
				}
			}
		})
	}
}

func TestSimulatedLatencyDistribution(t *testing.T) {
	p := newSimTest(t, config.SimProfile{LatencyMS: 200, LatencyJitter: 0.4, Seed: 9})
	cr := chatRequest(t, simChat("hi", "")).Chat
	var ds []float64
	for i := uint64(0); i < 4001; i++ {
		ds = append(ds, float64(p.plan(cr, i).firstToken)/float64(time.Millisecond))
	}
	sort.Float64s(ds)
	if med := ds[len(ds)/2]; math.Abs(med-200) > 10 {
		t.Errorf("median latency %.1fms, want about 200ms", med)
	}
	// For a lognormal, the 84th percentile is the median times e^sigma.
	if p84 := ds[len(ds)*84/100]; math.Abs(p84/200-math.Exp(0.4)) > 0.08 {
		t.Errorf("84th percentile %.1fms, want about %.1fms", p84, 200*math.Exp(0.4))
	}
}

func TestSimulatedChatAndStreamAgree(t *testing.T) {
	prof := config.SimProfile{LatencyMS: 1, PerTokenMS: 0.05, OutputTokens: 25, Seed: 7}
	tests := []struct {
		name, extra string
		usageChunk  bool
		finish      string
	}{
		{"with usage", `,"stream":true,"stream_options":{"include_usage":true}`, true, "stop"},
		{"without usage", `,"stream":true`, false, "stop"},
		{"max tokens", `,"stream":true,"max_tokens":5`, false, "length"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newSimTest(t, prof)
			body := simChat("Explain quantum physics", tc.extra)
			resp, err := p.Chat(context.Background(), chatRequest(t, body))
			if err != nil {
				t.Fatal(err)
			}
			var whole openai.ChatResponse
			if err := json.Unmarshal(resp.Body, &whole); err != nil {
				t.Fatal(err)
			}
			s, err := p.ChatStream(context.Background(), chatRequest(t, body))
			if err != nil {
				t.Fatal(err)
			}
			chunks, err := drain(s, nil)
			if err != nil {
				t.Fatal(err)
			}
			var text strings.Builder
			var finish string
			sawUsage := false
			for i, c := range chunks {
				var ch openai.ChatChunk
				if err := json.Unmarshal([]byte(c), &ch); err != nil {
					t.Fatal(err)
				}
				if ch.Usage != nil {
					sawUsage = true
					if i != len(chunks)-1 || len(ch.Choices) != 0 || *ch.Usage != *resp.Usage {
						t.Errorf("usage chunk %d of %d: %s", i, len(chunks), c)
					}
					continue
				}
				if ch.Choices[0].Delta.Content != nil {
					text.WriteString(*ch.Choices[0].Delta.Content)
				}
				if ch.Choices[0].FinishReason != nil {
					finish = *ch.Choices[0].FinishReason
				}
			}
			if text.String() != *whole.Choices[0].Message.Content {
				t.Errorf("streamed %q, whole answer %q", text.String(), *whole.Choices[0].Message.Content)
			}
			if sawUsage != tc.usageChunk || finish != tc.finish || whole.Choices[0].FinishReason != tc.finish {
				t.Errorf("usage chunk %v finish %q/%q", sawUsage, finish, whole.Choices[0].FinishReason)
			}
			u := resp.Usage
			if s.Usage() == nil || *s.Usage() != *u || u.CompletionTokens != EstimateTokens(text.String()) ||
				u.PromptTokens != EstimatePromptTokens(chatRequest(t, body).Chat) {
				t.Errorf("usage %+v stream %+v", u, s.Usage())
			}
			if tc.finish == "length" && u.CompletionTokens != 5 {
				t.Errorf("max_tokens 5 gave %d tokens", u.CompletionTokens)
			}
		})
	}
}

func TestSimulatedCancel(t *testing.T) {
	tests := []struct {
		name string
		prof config.SimProfile
		run  func(ctx context.Context, p *simProvider) error
	}{
		{"waiting for first token", config.SimProfile{LatencyMS: 60_000}, func(ctx context.Context, p *simProvider) error {
			_, err := p.Chat(ctx, chatRequest(t, simChat("hi", "")))
			return err
		}},
		{"mid-stream", config.SimProfile{PerTokenMS: 60_000, OutputTokens: 10}, func(ctx context.Context, p *simProvider) error {
			_, err := drain(p.ChatStream(ctx, chatRequest(t, simChat("hi", `,"stream":true`))))
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newSimTest(t, tc.prof)
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- tc.run(ctx, p) }()
			time.Sleep(20 * time.Millisecond)
			cancel()
			select {
			case err := <-errc:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("error %v, want context.Canceled", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("cancellation did not end the simulated call")
			}
		})
	}
}

func TestSimulatedEmbeddings(t *testing.T) {
	p := newSimTest(t, config.SimProfile{Seed: 3})
	get := func(body string) [][]float32 {
		t.Helper()
		resp, err := p.Embeddings(context.Background(), &Request{Body: []byte(body)})
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Data []struct {
				Index     int             `json:"index"`
				Embedding json.RawMessage `json:"embedding"`
			} `json:"data"`
			Usage openai.Usage `json:"usage"`
		}
		if err := json.Unmarshal(resp.Body, &out); err != nil {
			t.Fatal(err)
		}
		if out.Usage != *resp.Usage || resp.Usage.PromptTokens == 0 {
			t.Errorf("usage %+v / %+v", out.Usage, resp.Usage)
		}
		var vs [][]float32
		for _, d := range out.Data {
			var v []float32
			if d.Embedding[0] == '"' {
				var s string
				json.Unmarshal(d.Embedding, &s)
				b, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < len(b); i += 4 {
					v = append(v, math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
				}
			} else if err := json.Unmarshal(d.Embedding, &v); err != nil {
				t.Fatal(err)
			}
			vs = append(vs, v)
		}
		return vs
	}
	vs := get(`{"model":"e","input":["the cat sat on the mat","the cat sat on a mat","quarterly revenue grew"]}`)
	if len(vs) != 3 || len(vs[0]) != DefaultSimEmbeddingsDims {
		t.Fatalf("got %d vectors of %d dims", len(vs), len(vs[0]))
	}
	dot := func(a, b []float32) (s float64) {
		for i := range a {
			s += float64(a[i]) * float64(b[i])
		}
		return s
	}
	if n := dot(vs[0], vs[0]); math.Abs(n-1) > 1e-5 {
		t.Errorf("norm² %v, want 1", n)
	}
	if dot(vs[0], vs[1]) <= dot(vs[0], vs[2]) {
		t.Error("similar texts are not closer than unrelated ones")
	}
	again := get(`{"model":"e","input":"the cat sat on the mat","encoding_format":"base64","dimensions":256}`)
	for i := range again[0] {
		if again[0][i] != vs[0][i] {
			t.Fatal("base64 vector differs from the float one")
		}
	}
	if d := get(`{"model":"e","input":"x","dimensions":64}`); len(d[0]) != 64 {
		t.Errorf("dimensions 64 gave %d", len(d[0]))
	}
	_, err := p.Embeddings(context.Background(), &Request{Body: []byte(`{"model":"e","input":[]}`)})
	if pe, ok := AsError(err); !ok || pe.Status != 400 {
		t.Errorf("empty input: %v", err)
	}
}

func TestEstimateTokens(t *testing.T) {
	tests := []struct {
		text string
		want int
	}{{"", 0}, {"a", 1}, {"abcd", 1}, {"abcde", 2}, {strings.Repeat("x", 400), 100}, {"日本語", 3}}
	for _, tc := range tests {
		if got := EstimateTokens(tc.text); got != tc.want {
			t.Errorf("EstimateTokens(%q) = %d, want %d", tc.text, got, tc.want)
		}
	}
	cr := chatRequest(t, `{"messages":[{"role":"user","content":[{"type":"text","text":"abcdabcd"},{"type":"image_url","image_url":{"url":"https://x"}}]}],"tools":[{"type":"function","function":{"name":"abcd"}}]}`).Chat
	// 3 priming + 3 framing + 1 role + 2 text + 85 image + tools JSON/4.
	want := 3 + 3 + 1 + 2 + 85 + (len(cr.Tools)+3)/4
	if got := EstimatePromptTokens(cr); got != want {
		t.Errorf("EstimatePromptTokens = %d, want %d", got, want)
	}
	if EstimatePromptTokens(nil) != 0 {
		t.Error("nil request")
	}
}
