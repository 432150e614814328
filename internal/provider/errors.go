package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/switchyard-ai/switchyard/internal/jsonvalid"
)

const (
	// maxErrorBody bounds how much of an error answer is kept: enough for any
	// real error message, small enough that a misbehaving upstream cannot make
	// the gateway buffer a whole HTML page per failed attempt.
	maxErrorBody = 64 << 10
	// maxReasonLen bounds Error.Reason, which ends up in logs and client errors.
	maxReasonLen = 300
)

// Causes set on a call's context by its own timers, so a timeout can be told
// apart from the client going away.
var (
	errTimeout     = errors.New("upstream timeout")
	errIdleTimeout = errors.New("stream idle timeout")
)

// RetryAfter reads how long the upstream asked to wait: retry-after-ms (OpenAI
// and Azure send it, in milliseconds) wins over Retry-After, which is either
// delay-seconds or an HTTP date (RFC 9110 section 10.2.3). It returns 0 when
// neither is present, parseable or in the future.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("retry-after-ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// statusError turns a non-2xx upstream answer into an *Error. reason extracts
// the upstream's own message from the body; when it finds none the HTTP status
// text stands in.
func statusError(deployment string, resp *http.Response, reason func([]byte) string) *Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg := reason(body)
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
		if msg == "" {
			msg = "status " + strconv.Itoa(resp.StatusCode)
		}
	}
	return &Error{
		Deployment: deployment,
		Status:     resp.StatusCode,
		Reason:     truncate(msg, maxReasonLen),
		RetryAfter: RetryAfter(resp.Header, time.Now()),
		Body:       body,
	}
}

// openAIReason reads the message of OpenAI's error envelope, and the
// {"error": "text"} and {"message": "text"} shapes that Ollama, llama.cpp and
// several proxies use instead.
func openAIReason(body []byte) string {
	if !jsonvalid.Valid(body) {
		return ""
	}
	r := gjson.GetManyBytes(body, "error.message", "error", "message", "detail")
	if r[0].Exists() && r[0].String() != "" {
		return r[0].String()
	}
	for _, v := range r[1:] {
		if v.Type == gjson.String && v.String() != "" {
			return v.String()
		}
	}
	return ""
}

// badResponse reports a success status whose body is not what the protocol
// promised. The gateway answers such a call with 502 and tries elsewhere.
func badResponse(deployment string, status int, body []byte, format string, args ...any) *Error {
	if len(body) > maxErrorBody {
		body = body[:maxErrorBody]
	}
	return &Error{
		Deployment:  deployment,
		Status:      status,
		Reason:      truncate(fmt.Sprintf(format, args...), maxReasonLen),
		Body:        body,
		BadResponse: true,
	}
}

// transportError classifies a failure to reach or read the upstream. The
// client's own cancellation is returned as the context's error and not as an
// *Error, because nothing should be retried for a client that has gone; a
// timeout set by this package or a network failure is an *Error with Status 0.
func transportError(deployment string, parent, ctx context.Context, err error, timeout time.Duration) error {
	if perr := parent.Err(); perr != nil {
		return fmt.Errorf("upstream %s: %w", deployment, perr)
	}
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errTimeout):
		return &Error{Deployment: deployment, Reason: fmt.Sprintf("timeout after %s", timeout), Err: fmt.Errorf("%w: %w", cause, err)}
	case errors.Is(cause, errIdleTimeout):
		return &Error{Deployment: deployment, Reason: fmt.Sprintf("stream idle for %s", timeout), Err: fmt.Errorf("%w: %w", cause, err)}
	}
	return &Error{Deployment: deployment, Reason: "connection failed", Err: err}
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary so the reason stays valid UTF-8.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// mediaType returns the lower-cased media type of a Content-Type header
// without its parameters.
func mediaType(h http.Header) string {
	ct := h.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}
