package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/tidwall/gjson"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard-ai/switchyard/internal/openai"
	"github.com/switchyard-ai/switchyard/internal/provider"
	"github.com/switchyard-ai/switchyard/internal/routing"
	"github.com/switchyard-ai/switchyard/internal/telemetry"
)

var (
	sseData = []byte("data: ")
	sseEnd  = []byte("\n\n")
	sseDone = []byte("data: [DONE]\n\n")
)

// serveStream relays a streaming completion chunk by chunk as it arrives.
// Nothing is written to the client until the first chunk came from some
// deployment, so a failure before that falls back to the next candidate; once
// a byte went out, a failure ends the stream with an error event instead.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, rt *route, req *openai.ChatRequest, preq *provider.Request, dec routing.Decision, rec *telemetry.DecisionRecord, start time.Time) {
	ctx := r.Context()
	span := trace.SpanFromContext(ctx)
	var st provider.Stream
	var first []byte
	out := s.dispatch(ctx, rt, dec.Order, func(ctx context.Context, d *deployment) error {
		var err error
		st, err = d.prov.ChatStream(ctx, preq)
		if err != nil {
			return err
		}
		first, err = st.Next()
		if err != nil {
			st.Close()
			if errors.Is(err, io.EOF) {
				return &provider.Error{Deployment: d.cfg.Name, Status: http.StatusOK, BadResponse: true, Reason: "stream ended before the first chunk"}
			}
			return err
		}
		return nil
	})
	rec.Outcome = telemetry.Outcome{Fallbacks: out.fallbacks, Retries: out.retries, Tried: out.tried}
	if out.dep == nil {
		s.fail(w, span, rt, rec, out, start, true)
		return
	}
	defer st.Close()
	ttfb := time.Since(start)
	out.hot.FirstChunk.Observe(ttfb.Seconds())
	rec.Outcome.TimeToFirstChunk = ttfb

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)

	var model string
	outTokens := 0
	countChunk := func(c []byte) {
		if model == "" {
			model = gjson.GetBytes(c, "model").String()
		}
		// About one token per content chunk: the estimate used only when the
		// upstream reports no usage.
		outTokens += provider.EstimateTokens(gjson.GetBytes(c, "choices.0.delta.content").Str)
	}
	// Events are flushed when the stream is about to wait on the upstream
	// (or after each one, for a stream that cannot say so): events that
	// arrived together leave in one write, and none waits for the next.
	// A bare reverse proxy coalesces the same way, by copying whatever one
	// read returned; flushing every event doubled the gateway's writes.
	var flushErr error
	unflushed := false
	flush := func() {
		if unflushed && flushErr == nil {
			flushErr = rc.Flush()
		}
		unflushed = false
	}
	wn, coalesce := st.(provider.WaitNotifier)
	if coalesce {
		wn.BeforeWait(flush)
		defer wn.BeforeWait(nil)
	}
	chunk := first
	var streamErr error
	for {
		countChunk(chunk)
		if err := writeEvent(w, chunk); err != nil {
			streamErr = err
			break
		}
		unflushed = true
		if !coalesce {
			flush()
		}
		if flushErr != nil {
			streamErr = flushErr
			break
		}
		var err error
		chunk, err = st.Next()
		if flushErr != nil {
			streamErr = flushErr
			break
		}
		if errors.Is(err, io.EOF) {
			_, werr := w.Write(sseDone)
			if werr == nil {
				werr = rc.Flush()
			}
			streamErr = werr
			break
		}
		if err != nil {
			streamErr = err
			if ctx.Err() == nil {
				writeStreamError(w, err)
				_ = rc.Flush()
			}
			break
		}
	}
	code := http.StatusOK
	if streamErr != nil {
		if ctx.Err() != nil {
			rec.ClientGone = true
			code = 499
		}
		rec.Outcome.Error = streamErr.Error()
		s.metrics.Errors.WithLabelValues(rt.name, out.dep.cfg.Name, "stream_interrupted").Inc()
		s.log.Warn("stream interrupted", "route", rt.name, "deployment", out.dep.cfg.Name, "err", streamErr)
	}
	u, estimated := usageOf(st.Usage(), req, func() int { return outTokens })
	s.account(span, rt, out, rec, model, u, estimated, code, start, true)
}

func writeEvent(w io.Writer, payload []byte) error {
	if _, err := w.Write(sseData); err != nil {
		return err
	}
	if _, err := w.Write(payload); err != nil {
		return err
	}
	_, err := w.Write(sseEnd)
	return err
}

// writeStreamError ends a stream that already started with an error event in
// OpenAI's error shape, the way OpenAI reports mid-stream failures.
func writeStreamError(w io.Writer, err error) {
	msg := err.Error()
	b, _ := json.Marshal(openai.ErrorBody{Error: openai.ErrorDetail{Message: "upstream stream failed: " + msg, Type: "upstream_error"}})
	_ = writeEvent(w, b)
}
