package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard-ai/switchyard/internal/openai"
	"github.com/switchyard-ai/switchyard/internal/provider"
	"github.com/switchyard-ai/switchyard/internal/telemetry"
)

func (s *Server) handleEmbeddings(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx := r.Context()
	span := trace.SpanFromContext(ctx)
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var req openai.EmbeddingRequest
	if len(body) == 0 {
		writeError(w, badRequest("", "request body is empty; expected a JSON embeddings request"))
		return
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, badRequest("", "malformed JSON body: %v", err))
		return
	}
	if req.Model == "" {
		writeError(w, badRequest("model", "missing required field: model"))
		return
	}
	if len(req.Input) == 0 || string(req.Input) == "null" {
		writeError(w, badRequest("input", "missing required field: input"))
		return
	}
	rt, aerr := lookup(s.state.Load(), req.Model)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	order := make([]int, 0, len(rt.cands))
	for i, d := range rt.cands {
		if _, ok := d.prov.(provider.Embedder); ok {
			order = append(order, i)
		}
	}
	if len(order) == 0 {
		writeError(w, errf(http.StatusBadRequest, "invalid_request_error", "model_not_supported", "model", "no deployment of %q serves embeddings", req.Model))
		return
	}
	setAttrs(span, attribute.String("gen_ai.operation.name", "embeddings"), attribute.String("gen_ai.request.model", req.Model), attribute.String("switchyard.route", rt.name))
	preq := &provider.Request{Body: body, Embedding: &req, Header: r.Header}
	var resp *provider.Response
	out := s.dispatch(ctx, rt, order, func(ctx context.Context, d *deployment) error {
		var err error
		resp, err = d.prov.(provider.Embedder).Embeddings(ctx, preq)
		return err
	})
	rec := &telemetry.DecisionRecord{Route: rt.name, Strategy: rt.strategy.Info()}
	rec.Outcome = telemetry.Outcome{Fallbacks: out.fallbacks, Retries: out.retries, Tried: out.tried}
	if out.dep == nil {
		if errors.Is(out.err, context.Canceled) {
			return
		}
		s.fail(w, span, rt, rec, out, start, false)
		return
	}
	u := openai.Usage{}
	estimated := resp.Usage == nil
	if resp.Usage != nil {
		u = *resp.Usage
	} else {
		u.PromptTokens = provider.EstimateTokens(string(req.Input))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp.Body)
	s.metrics.Requests.WithLabelValues(rt.name, out.dep.cfg.Name, "200").Inc()
	s.metrics.Tokens.WithLabelValues(rt.name, out.dep.cfg.Name, "input").Add(float64(u.PromptTokens))
	cost := out.dep.cfg.Price.Cost(u.PromptTokens, 0)
	s.metrics.CostUSD.WithLabelValues(rt.name, out.dep.cfg.Name).Add(cost)
	setAttrs(span, attribute.String("switchyard.deployment", out.dep.cfg.Name), attribute.Int("gen_ai.usage.input_tokens", u.PromptTokens),
		attribute.Float64("switchyard.cost_usd", cost), attribute.Bool("switchyard.usage_estimated", estimated))
}

func (s *Server) handleModels(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.state.Load().modelsBody)
}
