package traffic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/openai"
	"github.com/switchyard-ai/switchyard/internal/provider"
)

// Options configure a synthetic run.
type Options struct {
	// Gateway is the gateway's base URL, e.g. http://127.0.0.1:8080.
	Gateway string
	// Key is a client API key (sent as a bearer token).
	Key string
	// Route is the model name to ask for (default "auto").
	Route string
	// Requests bounds the count; MaxDuration bounds the time (0: none).
	Requests    int
	Concurrency int
	MaxDuration time.Duration
	// Seed makes the prompts, topics, feedback choices and noise repeatable.
	Seed uint64
	// Topics to draw from, uniformly (default: every simulated topic).
	Topics []string
	// Config is the gateway's config, the ground truth: feedback is the
	// simulated quality of the deployment that answered. Without it no
	// feedback is posted.
	Config *config.Config
	// FeedbackMetric names the metric posted (default "quality"); its range
	// comes from Config.Feedback.
	FeedbackMetric string
	// FeedbackRate is the share of answered requests that get feedback
	// (default 1; negative: none).
	FeedbackRate float64
	// Noise is the standard deviation of the Gaussian noise added to the
	// true quality, as real raters disagree (default 0.05; negative: none).
	Noise float64
	HTTP  *http.Client
}

// Result is what happened to one request.
type Result struct {
	RequestID  string
	Topic      string
	Prompt     string
	Model      string
	Deployment string
	Status     int
	// Feedback is the value posted, nil when none was.
	Feedback *float64
	Err      string
}

// Summary is a run's outcome.
type Summary struct {
	Sent, OK, Failed int
	ByStatus         map[int]int
	FeedbackPosted   int
	FeedbackFailed   int
	// Picks counts answers per topic and deployment: with a learned router
	// each topic should go mostly to its best deployment.
	Picks    map[string]map[string]int
	Duration time.Duration
	// TimedOut is set when MaxDuration stopped the run early.
	TimedOut bool
	Results  []Result
}

type groundTruth struct {
	byModel map[string]*config.Deployment // response model -> deployment, nil when ambiguous
	byName  map[string]*config.Deployment
	min     float64
	max     float64
}

func newGroundTruth(cfg *config.Config, metric string) (*groundTruth, error) {
	if cfg == nil {
		return nil, nil
	}
	g := &groundTruth{byModel: map[string]*config.Deployment{}, byName: map[string]*config.Deployment{}, min: 0, max: 1}
	for i := range cfg.Deployments {
		d := &cfg.Deployments[i]
		g.byName[d.Name] = d
		if _, dup := g.byModel[d.Model]; dup {
			g.byModel[d.Model] = nil
		} else {
			g.byModel[d.Model] = d
		}
	}
	found := len(cfg.Feedback.Metrics) == 0 && metric == "quality"
	for _, m := range cfg.Feedback.Metrics {
		if m.Name == metric {
			g.min, g.max, found = m.Min, m.Max, true
		}
	}
	if !found {
		return nil, fmt.Errorf("feedback metric %q is not configured in %s", metric, cfg.Path)
	}
	return g, nil
}

// deployment finds the deployment that answered from the response's model.
func (g *groundTruth) deployment(model string) *config.Deployment {
	if d := g.byModel[model]; d != nil {
		return d
	}
	return g.byName[model]
}

// Run sends the traffic and returns what happened. It stops at Requests, at
// MaxDuration, or at the first transport error (a gateway that cannot be
// reached makes every further request pointless).
func Run(ctx context.Context, o Options) (*Summary, error) {
	if o.Gateway == "" {
		return nil, errors.New("synth: no gateway URL")
	}
	if o.Requests <= 0 {
		return nil, errors.New("synth: requests must be positive")
	}
	o.Gateway = strings.TrimRight(o.Gateway, "/")
	if o.Route == "" {
		o.Route = "auto"
	}
	o.Concurrency = max(o.Concurrency, 1)
	if len(o.Topics) == 0 {
		o.Topics = provider.SimTopics
	}
	if o.FeedbackMetric == "" {
		o.FeedbackMetric = "quality"
	}
	if o.FeedbackRate == 0 {
		o.FeedbackRate = 1
	}
	if o.Noise == 0 {
		o.Noise = 0.05
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 2 * time.Minute}
	}
	gt, err := newGroundTruth(o.Config, o.FeedbackMetric)
	if err != nil {
		return nil, err
	}
	if o.MaxDuration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.MaxDuration)
		defer cancel()
	}
	start := time.Now()
	results := make([]Result, o.Requests)
	done := make([]bool, o.Requests)
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	for i := 0; i < o.Requests; i++ {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			r, err := o.one(gctx, gt, uint64(i))
			if err != nil {
				if gctx.Err() != nil {
					return nil // stopped by MaxDuration or another error
				}
				return err
			}
			mu.Lock()
			results[i], done[i] = r, true
			mu.Unlock()
			return nil
		})
	}
	werr := g.Wait()
	s := &Summary{ByStatus: map[int]int{}, Picks: map[string]map[string]int{}, Duration: time.Since(start)}
	s.TimedOut = o.MaxDuration > 0 && ctx.Err() != nil
	for i, r := range results {
		if !done[i] {
			continue
		}
		s.Results = append(s.Results, r)
		s.Sent++
		s.ByStatus[r.Status]++
		if r.Status == http.StatusOK {
			s.OK++
			if s.Picks[r.Topic] == nil {
				s.Picks[r.Topic] = map[string]int{}
			}
			s.Picks[r.Topic][r.Deployment]++
		} else {
			s.Failed++
		}
		if r.Feedback != nil {
			s.FeedbackPosted++
		} else if r.Err != "" && r.Status == http.StatusOK {
			s.FeedbackFailed++
		}
	}
	if werr != nil {
		return s, werr
	}
	return s, nil
}

// one sends request i. Everything random about it comes from a generator
// seeded by (Seed, i), so a run is repeatable at any concurrency.
func (o *Options) one(ctx context.Context, gt *groundTruth, i uint64) (Result, error) {
	rng := rand.New(rand.NewPCG(o.Seed, i))
	topic := o.Topics[rng.IntN(len(o.Topics))]
	r := Result{Topic: topic, Prompt: Prompt(rng, topic)}
	content, _ := json.Marshal(r.Prompt)
	body, _ := json.Marshal(openai.ChatRequest{Model: o.Route, Messages: []openai.Message{{Role: "user", Content: content}}})
	resp, err := o.post(ctx, "/v1/chat/completions", body)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	r.Status = resp.StatusCode
	r.RequestID = resp.Header.Get("x-request-id")
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return r, fmt.Errorf("synth: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		r.Err = strings.TrimSpace(string(raw))
		return r, nil
	}
	var cr openai.ChatResponse
	if err := json.Unmarshal(raw, &cr); err != nil {
		r.Err = fmt.Sprintf("answer is not a chat completion: %v", err)
		return r, nil
	}
	r.Model = cr.Model
	wantFeedback := rng.Float64() < o.FeedbackRate
	noise := rng.NormFloat64() * max(o.Noise, 0)
	if gt == nil {
		return r, nil
	}
	d := gt.deployment(cr.Model)
	if d == nil {
		r.Err = fmt.Sprintf("answer's model %q names no single deployment in the config", cr.Model)
		return r, nil
	}
	r.Deployment = d.Name
	if !wantFeedback || r.RequestID == "" {
		return r, nil
	}
	q := min(max(provider.SimQuality(d.Simulated, provider.SimTopic(r.Prompt))+noise, 0), 1)
	v := gt.min + q*(gt.max-gt.min)
	fb, _ := json.Marshal(map[string]any{"request_id": r.RequestID, "metric": o.FeedbackMetric, "value": v})
	fresp, err := o.post(ctx, "/v1/feedback", fb)
	if err != nil {
		return r, err
	}
	defer fresp.Body.Close()
	if fresp.StatusCode != http.StatusAccepted && fresp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(fresp.Body, 1024))
		r.Err = fmt.Sprintf("feedback answered %s: %s", fresp.Status, strings.TrimSpace(string(msg)))
		return r, nil
	}
	_, _ = io.Copy(io.Discard, fresp.Body)
	r.Feedback = &v
	return r, nil
}

func (o *Options) post(ctx context.Context, path string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.Gateway+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if o.Key != "" {
		req.Header.Set("Authorization", "Bearer "+o.Key)
	}
	resp, err := o.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("synth: gateway at %s unreachable: %w", o.Gateway, err)
	}
	return resp, nil
}
