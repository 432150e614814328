package routing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

func init() {
	RegisterKind(Kind{
		Name: "remote",
		Description: "Asks an HTTP sidecar for the pick (see docs/routing-strategies.md for the protocol); " +
			"on timeout, error or a bad answer, params.fallback decides and the trace says why.",
		Capabilities: []string{CapRemote},
		New:          newRemote,
	})
}

// RemoteProtocolVersion is the version of the sidecar request/response.
const RemoteProtocolVersion = 1

// RemoteRequest is what the gateway POSTs to a remote strategy.
type RemoteRequest struct {
	ProtocolVersion int               `json:"protocol_version"`
	Route           string            `json:"route"`
	Prompt          string            `json:"prompt,omitempty"`
	PromptTokens    int               `json:"prompt_tokens"`
	MaxTokens       int               `json:"max_tokens,omitempty"`
	User            string            `json:"user,omitempty"`
	OperatingPoint  string            `json:"operating_point,omitempty"`
	Candidates      []RemoteCandidate `json:"candidates"`
}

// RemoteCandidate describes one candidate to the sidecar.
type RemoteCandidate struct {
	Name          string  `json:"name"`
	Healthy       bool    `json:"healthy"`
	InputPerMTok  float64 `json:"input_per_mtok"`
	OutputPerMTok float64 `json:"output_per_mtok"`
	ContextWindow int     `json:"context_window,omitempty"`
}

// RemoteResponse is the sidecar's answer: the pick, optional per-candidate
// scores, and a reason that is recorded in the trace.
type RemoteResponse struct {
	Pick   string                 `json:"pick"`
	Scores map[string]RemoteScore `json:"scores,omitempty"`
	Reason string                 `json:"reason,omitempty"`
	// ModelVersion names the sidecar's model, recorded in the trace.
	ModelVersion string `json:"model_version,omitempty"`
}

// RemoteScore is the sidecar's estimate for one candidate.
type RemoteScore struct {
	Quality *float64 `json:"quality,omitempty"`
	Cost    *float64 `json:"cost,omitempty"`
	Score   *float64 `json:"score,omitempty"`
}

type remote struct {
	info       Info
	url        string
	timeout    time.Duration
	sendPrompt bool
	fallback   Strategy
	client     *http.Client
}

var remoteClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}}

func newRemote(spec Spec) (Strategy, error) {
	p := newParams(spec.Params)
	u := p.str("url", "")
	timeout := p.duration("timeout", 50*time.Millisecond)
	sendPrompt := p.bool("send_prompt", true)
	fb := p.object("fallback")
	if u == "" {
		p.fail("params.url is required")
	} else if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		p.fail("params.url %q must be an http(s) URL", u)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	fspec := Spec{Name: spec.Name + "/fallback", Kind: "fallback", Candidates: spec.Candidates, Env: spec.Env}
	if fb != nil {
		kind, _ := fb["kind"].(string)
		if kind == "" || kind == "remote" {
			return nil, errors.New("params.fallback.kind must name a non-remote strategy kind")
		}
		fspec.Kind = kind
		fspec.Params, _ = fb["params"].(map[string]any)
	}
	fallback, err := New(fspec)
	if err != nil {
		return nil, fmt.Errorf("params.fallback: %w", err)
	}
	return &remote{
		info: Info{Name: spec.Name, Kind: "remote", Version: "1", Capabilities: []string{CapRemote}},
		url:  u, timeout: timeout, sendPrompt: sendPrompt, fallback: fallback, client: remoteClient,
	}, nil
}

func (r *remote) Info() Info { return r.info }

func (r *remote) Decide(ctx context.Context, req *Request, cands []Candidate) (Decision, error) {
	dec, err := r.ask(ctx, req, cands)
	if err == nil {
		return dec, nil
	}
	fd, ferr := r.fallback.Decide(ctx, req, cands)
	if ferr != nil {
		return Decision{}, fmt.Errorf("remote: %v; fallback: %w", err, ferr)
	}
	fd.Reason = fmt.Sprintf("remote strategy failed (%v); fallback %s: %s", err, r.fallback.Info().Kind, fd.Reason)
	return fd, nil
}

func (r *remote) ask(ctx context.Context, req *Request, cands []Candidate) (Decision, error) {
	body := RemoteRequest{ProtocolVersion: RemoteProtocolVersion, Route: req.Route, PromptTokens: req.PromptTokens,
		MaxTokens: req.MaxTokens, User: req.User, OperatingPoint: req.OperatingPoint}
	if r.sendPrompt && req.PromptText != nil {
		body.Prompt = req.PromptText()
	}
	for _, c := range cands {
		body.Candidates = append(body.Candidates, RemoteCandidate{Name: c.Name, Healthy: c.Healthy,
			InputPerMTok: c.Price.InputPerMTok, OutputPerMTok: c.Price.OutputPerMTok, ContextWindow: c.ContextWindow})
	}
	b, err := json.Marshal(body)
	if err != nil {
		return Decision{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(b))
	if err != nil {
		return Decision{}, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(hreq)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Decision{}, fmt.Errorf("no answer within %s", r.timeout)
		}
		return Decision{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Decision{}, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Decision{}, fmt.Errorf("sidecar answered status %d", resp.StatusCode)
	}
	var rr RemoteResponse
	if err := json.Unmarshal(raw, &rr); err != nil {
		return Decision{}, fmt.Errorf("sidecar answer is not valid JSON: %v", err)
	}
	pick := -1
	for i, c := range cands {
		if c.Name == rr.Pick {
			pick = i
		}
	}
	if pick < 0 {
		return Decision{}, fmt.Errorf("sidecar picked %q, which is not a candidate", rr.Pick)
	}
	scores := NaNScores(len(cands))
	for i, c := range cands {
		if s, ok := rr.Scores[c.Name]; ok {
			if s.Quality != nil {
				scores[i].Quality = *s.Quality
			}
			if s.Cost != nil {
				scores[i].Cost = *s.Cost
			}
			if s.Score != nil {
				scores[i].Score = *s.Score
			}
		}
	}
	reason := "remote: " + rr.Reason
	return Decision{Order: HealthyFirst(pick, cands), Scores: scores, Propensity: 1, Reason: reason, ModelVersion: rr.ModelVersion}, nil
}

var _ Strategy = (*remote)(nil)
