package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/tidwall/gjson"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard-ai/switchyard/internal/openai"
	"github.com/switchyard-ai/switchyard/internal/provider"
	"github.com/switchyard-ai/switchyard/internal/routing"
	"github.com/switchyard-ai/switchyard/internal/telemetry"
)

// HeaderOperatingPoint lets a request override its route's operating point.
const HeaderOperatingPoint = "x-switchyard-operating-point"

// readBody reads a request body within the size limit: 413 past it.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	if r.ContentLength > s.maxBody {
		return nil, errf(http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", "", "request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, s.maxBody)
	}
	rd := http.MaxBytesReader(w, r.Body, s.maxBody)
	var body []byte
	var err error
	if r.ContentLength > 0 {
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(rd, body)
	} else {
		body, err = io.ReadAll(rd)
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errf(http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", "", "request body exceeds the limit of %d bytes", s.maxBody)
		}
		return nil, badRequest("", "read request body: %v", err)
	}
	return body, nil
}

// parseChat decodes and validates a chat request.
func parseChat(body []byte) (*openai.ChatRequest, *apiError) {
	if len(body) == 0 {
		return nil, badRequest("", "request body is empty; expected a JSON chat completion request")
	}
	if req, ok := fastChat(body); ok {
		return validateChat(req)
	}
	var req openai.ChatRequest
	// goccy/go-json decodes the same types about three times faster than
	// encoding/json; on an error, encoding/json decodes again for its
	// standard, field-naming error message (the error path can be slow).
	if gojson.Unmarshal(body, &req) != nil {
		req = openai.ChatRequest{}
	} else if req.Model != "" && req.Messages != nil {
		return validateChat(&req)
	}
	if err := json.Unmarshal(body, &req); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return nil, badRequest(ute.Field, "field %q has the wrong type: expected %s, got JSON %s", ute.Field, ute.Type, ute.Value)
		}
		return nil, badRequest("", "malformed JSON body: %v", err)
	}
	return validateChat(&req)
}

func validateChat(req *openai.ChatRequest) (*openai.ChatRequest, *apiError) {
	if req.Model == "" {
		return nil, badRequest("model", "missing required field: model")
	}
	if req.Messages == nil {
		return nil, badRequest("messages", "missing required field: messages")
	}
	if len(req.Messages) == 0 {
		return nil, badRequest("messages", "messages must contain at least one message")
	}
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "developer", "user", "assistant", "tool", "function":
		case "":
			return nil, badRequest("messages", "messages[%d]: missing required field: role", i)
		default:
			return nil, badRequest("messages", "messages[%d]: unknown role %q", i, m.Role)
		}
	}
	return req, nil
}

// lookup resolves the model a client named to a route: 404 when unknown.
func lookup(snap *snapshot, model string) (*route, *apiError) {
	rt, ok := snap.routes[model]
	if !ok {
		return nil, errf(http.StatusNotFound, "invalid_request_error", "model_not_found", "model", "the model %q does not exist; GET /v1/models lists the routes and deployments", model)
	}
	return rt, nil
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx := r.Context()
	span := trace.SpanFromContext(ctx)
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	req, aerr := parseChat(body)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	snap := s.state.Load()
	rt, aerr := lookup(snap, req.Model)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	inflight := s.metrics.InFlightFor(rt.name)
	inflight.Inc()
	defer inflight.Dec()

	preq := &provider.Request{Body: body, Chat: req, Header: r.Header}
	rreq := s.routingRequest(ctx, rt, req, r)
	dec, cands := s.decide(ctx, rt, rreq)
	setAttrs(span,
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.request.model", req.Model),
		attribute.String("switchyard.route", rt.name),
	)
	if req.Stream {
		// Flags and counters are set only when they are not the default:
		// every attribute costs a few allocations in the OTLP export.
		setAttrs(span, attribute.Bool("switchyard.stream", true))
	}
	rec := &telemetry.DecisionRecord{Route: rt.name, Strategy: rt.strategy.Info(), Decision: dec, Candidates: cands, DecideDuration: time.Since(start)}
	if dec.Experiment != "" {
		rec.Strategy, rec.Experiment, rec.Arm, rec.Bucket = dec.ArmStrategy, dec.Experiment, dec.Arm, dec.Bucket
	}
	if span.IsRecording() {
		s.capturePrompt(rec, rreq)
	}
	if req.Stream {
		s.serveStream(w, r, rt, req, preq, dec, rec, start)
		return
	}
	var resp *provider.Response
	out := s.dispatch(ctx, rt, dec.Order, func(ctx context.Context, d *deployment) error {
		var err error
		resp, err = d.prov.Chat(ctx, preq)
		return err
	})
	rec.Outcome = telemetry.Outcome{Fallbacks: out.fallbacks, Retries: out.retries, Tried: out.tried, Latency: time.Since(start)}
	if out.dep == nil {
		s.fail(w, span, rt, rec, out, start, false)
		return
	}
	u, estimated := usageOf(resp.Usage, req, func() int {
		return provider.EstimateTokens(gjson.GetBytes(resp.Body, "choices.0.message.content").String())
	})
	w.Header()["Content-Type"] = []string{"application/json"} // canonical key: no canonicalisation per request
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp.Body)
	s.account(span, rt, out, rec, resp.Model, u, estimated, http.StatusOK, start, false)
}

// routingRequest summarises a request for the strategy.
func (s *Server) routingRequest(ctx context.Context, rt *route, req *openai.ChatRequest, r *http.Request) *routing.Request {
	rr := &routing.Request{
		Route:          rt.name,
		User:           req.User,
		APIKeyID:       keyID(ctx),
		Header:         r.Header,
		OperatingPoint: rt.operatingPoint,
	}
	if op := r.Header.Get(HeaderOperatingPoint); op != "" {
		rr.OperatingPoint = op
	}
	if req.MaxCompletionTokens != nil {
		rr.MaxTokens = *req.MaxCompletionTokens
	} else if req.MaxTokens != nil {
		rr.MaxTokens = *req.MaxTokens
	}
	var text string
	var done bool
	rr.PromptText = func() string {
		if !done {
			text, done = PromptText(req), true
		}
		return text
	}
	rr.PromptTokens = provider.EstimatePromptTokens(req)
	return rr
}

// PromptText is the text a router featurizes: every message's text, in order,
// one per line. Training data is built with the same function.
func PromptText(req *openai.ChatRequest) string {
	var b strings.Builder
	for i, m := range req.Messages {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(m.Text())
	}
	return b.String()
}

// usageOf returns the upstream's usage, or an estimate when it gave none.
func usageOf(u *openai.Usage, req *openai.ChatRequest, outTokens func() int) (openai.Usage, bool) {
	if u != nil {
		return *u, false
	}
	est := openai.Usage{PromptTokens: provider.EstimatePromptTokens(req), CompletionTokens: outTokens()}
	est.TotalTokens = est.PromptTokens + est.CompletionTokens
	return est, true
}

// account records usage, cost, latency and the decision on metrics and span.
func (s *Server) account(span trace.Span, rt *route, out outcome, rec *telemetry.DecisionRecord, respModel string, u openai.Usage, estimated bool, code int, start time.Time, stream bool) {
	d, hot := out.dep, out.hot
	name := d.cfg.Name
	cost := d.cfg.Price.Cost(u.PromptTokens, u.CompletionTokens)
	if code == http.StatusOK {
		hot.OK.Inc()
	} else {
		s.metrics.Requests.WithLabelValues(rt.name, name, codeLabel(code)).Inc()
	}
	if stream {
		hot.StreamDuration.Observe(time.Since(start).Seconds())
	} else {
		hot.Duration.Observe(time.Since(start).Seconds())
	}
	hot.TokensIn.Add(float64(u.PromptTokens))
	hot.TokensOut.Add(float64(u.CompletionTokens))
	hot.CostUSD.Add(cost)
	if estimated {
		s.metrics.UsageEstimated.WithLabelValues(rt.name, name).Inc()
	}
	if respModel == "" {
		respModel = d.cfg.Model
	}
	rec.Outcome.Deployment = name
	rec.Outcome.Status = code
	rec.Outcome.InputTokens = u.PromptTokens
	rec.Outcome.OutputTokens = u.CompletionTokens
	rec.Outcome.CostUSD = cost
	rec.Outcome.UsageEstimated = estimated
	rec.Outcome.Latency = time.Since(start)
	setAttrs(span,
		attribute.String("gen_ai.response.model", respModel),
		attribute.String("gen_ai.system", d.cfg.Provider),
		attribute.Int("gen_ai.usage.input_tokens", u.PromptTokens),
		attribute.Int("gen_ai.usage.output_tokens", u.CompletionTokens),
		attribute.String("switchyard.deployment", name),
		attribute.Float64("switchyard.cost_usd", cost),
	)
	if estimated {
		setAttrs(span, attribute.Bool("switchyard.usage_estimated", true))
	}
	if rec.Outcome.Fallbacks > 0 {
		setAttrs(span, attribute.Int("switchyard.fallbacks", rec.Outcome.Fallbacks))
	}
	rec.AddTo(span)
	if rec.Experiment != "" {
		s.recordArm(span.SpanContext().TraceID().String(), rec, code >= 500)
	}
}

// fail answers a request no deployment could serve and records why.
func (s *Server) fail(w http.ResponseWriter, span trace.Span, rt *route, rec *telemetry.DecisionRecord, out outcome, start time.Time, stream bool) {
	last := ""
	if len(out.tried) > 0 {
		last = out.tried[len(out.tried)-1]
	}
	if errors.Is(out.err, context.Canceled) || rec.ClientGone {
		s.metrics.Requests.WithLabelValues(rt.name, last, "499").Inc()
		rec.Outcome.Status = 499
		rec.Outcome.Error = "client closed the request"
		rec.AddTo(span)
		return
	}
	ae := failure(out)
	if ra := retryAfterHeader(out); ra != "" && ae.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", ra)
	}
	writeError(w, ae)
	s.metrics.Requests.WithLabelValues(rt.name, last, codeLabel(ae.Status)).Inc()
	s.metrics.RequestDuration.WithLabelValues(rt.name, last, boolLabel(stream)).Observe(time.Since(start).Seconds())
	rec.Outcome.Status = ae.Status
	rec.Outcome.Error = ae.Message
	rec.Outcome.Latency = time.Since(start)
	rec.AddTo(span)
	s.recordArm(span.SpanContext().TraceID().String(), rec, ae.Status >= 500 || ae.Status == http.StatusTooManyRequests)
	s.log.Warn("request failed", "route", rt.name, "status", ae.Status, "tried", out.tried, "err", ae.Message)
}

func codeLabel(code int) string { return strconv.Itoa(code) }

func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// capturePrompt records the prompt on the decision as the capture policy
// says: nothing, its hashed n-gram vector, or its text.
func (s *Server) capturePrompt(rec *telemetry.DecisionRecord, rreq *routing.Request) {
	switch s.capture {
	case "text":
		rec.Prompt = rreq.PromptText()
	case "features":
		rec.Features = s.hashed.TransformOne(rreq.PromptText())
	}
}
