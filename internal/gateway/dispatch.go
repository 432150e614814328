package gateway

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/switchyard-ai/switchyard/internal/provider"
	"github.com/switchyard-ai/switchyard/internal/routing"
	"github.com/switchyard-ai/switchyard/internal/telemetry"
)

const (
	backoffBase = 50 * time.Millisecond
	backoffCap  = 2 * time.Second
	// maxRetryAfter is the longest Retry-After the gateway waits out on the
	// same deployment; a longer one sends the request to the next candidate.
	maxRetryAfter = 5 * time.Second
)

// attempt is one call to one deployment; it returns nil when the deployment
// answered and the caller has what it needs to respond.
type attempt func(ctx context.Context, d *deployment) error

// outcome says how dispatch ended.
type outcome struct {
	dep *deployment // the deployment that answered, nil on failure
	// hot is the route and answering deployment's metric series, resolved
	// once for the attempts and the accounting after.
	hot       *telemetry.RouteDeployment
	fallbacks int
	retries   int
	tried     []string
	err       error // the last upstream error when every candidate failed
}

// dispatch tries the candidates in the decision's order. A deployment is
// retried with jittered exponential backoff (honouring Retry-After) on rate
// limits, server errors and connection failures; then the next candidate is
// tried. An error that is about the request itself (a 400) stops at once.
func (s *Server) dispatch(ctx context.Context, rt *route, order []int, call attempt) outcome {
	var out outcome
	var prev *deployment
	for _, idx := range order {
		d := rt.cands[idx]
		if prev != nil {
			out.fallbacks++
			s.metrics.Fallbacks.WithLabelValues(rt.name, prev.cfg.Name, d.cfg.Name).Inc()
		}
		prev = d
		out.tried = append(out.tried, d.cfg.Name)
		maxRetries := *d.cfg.MaxRetries
		hot := s.metrics.For(rt.name, d.cfg.Name)
		for try := 0; ; try++ {
			start := time.Now()
			err := call(ctx, d)
			hot.Upstream.Observe(time.Since(start).Seconds())
			if o, ok := rt.strategy.(routing.Observer); ok {
				o.Observe(d.cfg.Name, time.Since(start).Seconds(), err != nil)
			}
			if err == nil {
				d.health.success()
				out.dep, out.hot = d, hot
				return out
			}
			out.err = err
			if ctx.Err() != nil {
				// The client went away or the gateway is past its deadline:
				// no point in trying anyone else.
				s.metrics.Errors.WithLabelValues(rt.name, d.cfg.Name, "client_canceled").Inc()
				return out
			}
			pe, ok := provider.AsError(err)
			if !ok {
				pe = &provider.Error{Deployment: d.cfg.Name, Reason: "provider failed", Err: err}
				out.err = pe
			}
			s.metrics.Errors.WithLabelValues(rt.name, d.cfg.Name, errorReason(pe)).Inc()
			s.log.Warn("upstream attempt failed", "route", rt.name, "deployment", d.cfg.Name, "try", try, "err", err)
			if pe.Retryable() {
				if d.health.failure(time.Now()) {
					s.metrics.Cooldowns.WithLabelValues(d.cfg.Name).Inc()
					s.log.Warn("deployment cooling down", "deployment", d.cfg.Name, "for", d.cfg.Cooldown.CooldownTime.D())
				}
			}
			if !pe.Fallbackable() {
				return out
			}
			if !pe.Retryable() || try >= maxRetries || pe.RetryAfter > maxRetryAfter || !d.health.healthy(time.Now()) {
				break
			}
			if !sleepCtx(ctx, backoff(try, pe.RetryAfter)) {
				return out
			}
			out.retries++
			s.metrics.Retries.WithLabelValues(rt.name, d.cfg.Name).Inc()
		}
	}
	return out
}

// backoff is full-jitter exponential backoff, or the upstream's Retry-After
// when it gave one.
func backoff(try int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter
	}
	ceil := backoffBase << try
	if ceil > backoffCap || ceil <= 0 {
		ceil = backoffCap
	}
	return time.Duration(rand.Int64N(int64(ceil))) + time.Millisecond
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// errorReason is a bounded label for an upstream error.
func errorReason(e *provider.Error) string {
	switch {
	case e.Status == 0 && errors.Is(e.Err, context.DeadlineExceeded):
		return "timeout"
	case e.Status == 0:
		return "connection"
	case e.Status == http.StatusTooManyRequests:
		return "rate_limited"
	case e.Status >= 500:
		return "upstream_5xx"
	case e.Status >= 400:
		return "upstream_4xx"
	default:
		return "bad_response"
	}
}

// failure turns the last upstream error into the client's answer. A request
// the upstream rejected as invalid keeps the upstream's status; rate limits
// everywhere give 429 with Retry-After; everything else is a 502 that names
// the upstream status and reason.
func failure(out outcome) *apiError {
	pe, ok := provider.AsError(out.err)
	if !ok {
		return errf(http.StatusBadGateway, "upstream_error", "upstream_error", "", "no deployment answered: %v", out.err)
	}
	switch {
	case !pe.Fallbackable():
		return errf(pe.Status, "invalid_request_error", "upstream_rejected", "", "%s rejected the request: %s", pe.Deployment, pe.Reason)
	case pe.Status == http.StatusTooManyRequests:
		e := errf(http.StatusTooManyRequests, "rate_limit_error", "rate_limited", "", "every candidate is rate limited (tried %v); last: %s", out.tried, pe.Error())
		return e
	case pe.Status == 0 && errors.Is(pe.Err, context.DeadlineExceeded):
		return errf(http.StatusGatewayTimeout, "upstream_error", "upstream_timeout", "", "no deployment answered in time (tried %v); last: %s", out.tried, pe.Error())
	default:
		return errf(http.StatusBadGateway, "upstream_error", "upstream_error", "", "no deployment answered (tried %v); last: %s", out.tried, pe.Error())
	}
}

func retryAfterHeader(out outcome) string {
	if pe, ok := provider.AsError(out.err); ok && pe.RetryAfter > 0 {
		return strconv.Itoa(int(pe.RetryAfter.Round(time.Second).Seconds()))
	}
	return ""
}
