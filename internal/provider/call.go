package provider

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// maxResponseBody bounds a non-streaming upstream answer held in memory.
const maxResponseBody = 64 << 20

// call is one upstream HTTP exchange: its context, and the timer that turns
// Deployment.Timeout into a cancellation.
//
// A non-streaming call is bounded as a whole by the timeout. A stream is not:
// a long, healthy generation can last minutes, so killing it at a fixed
// deadline would cut off good answers. Instead the timeout bounds the time to
// the response headers, and then each wait for the next piece of the stream
// (an idle timeout). A stalled upstream is still noticed within one timeout,
// and a client's disconnect still cancels the call at once through the parent
// context.
type call struct {
	parent  context.Context
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timer   *time.Timer // nil when there is no timeout
	timeout time.Duration
	start   time.Time
	// streaming is set once the headers arrived; the timer then watches for
	// an idle stream instead of a slow first byte.
	streaming atomic.Bool
	// waitSince is when the current wait on the upstream began, in
	// nanoseconds since start plus one; 0 when no read is waiting.
	waitSince atomic.Int64
}

func startCall(parent context.Context, timeout time.Duration) *call {
	ctx, cancel := context.WithCancelCause(parent)
	c := &call{parent: parent, ctx: ctx, cancel: cancel, timeout: timeout, start: time.Now()}
	if timeout > 0 {
		c.timer = time.AfterFunc(timeout, c.fire)
	}
	return c
}

// fire is the timer's callback. Before the headers it ends the call. On a
// stream it is a watchdog: arm and disarm only note when a read starts and
// ends (two atomic stores per chunk, where resetting and stopping a timer
// per chunk cost more than the rest of the chunk's bookkeeping), and the
// timer, firing at least once per timeout, ends the call when the current
// read has waited the whole timeout, or sleeps until it would have.
func (c *call) fire() {
	if !c.streaming.Load() {
		c.cancel(errTimeout)
		return
	}
	if c.ctx.Err() != nil {
		return // ended: do not re-arm
	}
	ws := c.waitSince.Load()
	if ws == 0 {
		c.timer.Reset(c.timeout)
		return
	}
	waited := time.Duration(int64(time.Since(c.start)) - (ws - 1))
	if waited >= c.timeout {
		c.cancel(errIdleTimeout)
		return
	}
	c.timer.Reset(c.timeout - waited)
}

// idle marks the headers as received: from then on the timer bounds each
// wait between arm and disarm, not the call.
func (c *call) idle() {
	c.streaming.Store(true)
	if c.timer != nil {
		c.timer.Reset(c.timeout)
	}
}

// arm notes that a read of the upstream starts waiting.
func (c *call) arm() { c.waitSince.Store(int64(time.Since(c.start)) + 1) }

// disarm notes that the read returned.
func (c *call) disarm() { c.waitSince.Store(0) }

// end releases the call's context and timer.
func (c *call) end() {
	c.cancel(context.Canceled)
	if c.timer != nil {
		c.timer.Stop()
	}
}

// fail converts an error seen while talking to the upstream.
func (c *call) fail(deployment string, err error) error {
	return transportError(deployment, c.parent, c.ctx, err, c.timeout)
}

// post sends body to u with the given headers, straight to the client's
// transport as a reverse proxy does: an upstream API call follows no
// redirect (a 3xx is the upstream's answer, and the API key never goes to
// another host) and keeps no cookies. A RoundTripper must not modify the
// request, so the provider's shared header map is used as is; going
// through http.Client.Do copied it, and the client's redirect bookkeeping,
// on every call.
func (c *call) post(client *http.Client, u string, hdr http.Header, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(c.ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	req.Header = hdr
	rt := client.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", u, err)
	}
	return resp, nil
}

// readBody reads a whole response body, sized by Content-Length when known.
func readBody(resp *http.Response) ([]byte, error) {
	if resp.ContentLength > maxResponseBody {
		return nil, fmt.Errorf("response of %d bytes is over the %d byte limit", resp.ContentLength, maxResponseBody)
	}
	if n := resp.ContentLength; n >= 0 {
		// One spare byte lets the read after the body see io.EOF: net/http
		// reuses a connection only when the body was read to its end.
		buf := make([]byte, n+1)
		if _, err := io.ReadFull(resp.Body, buf[:n]); err != nil {
			return nil, err
		}
		_, _ = resp.Body.Read(buf[n:])
		return buf[:n], nil
	}
	var b bytes.Buffer
	n, err := b.ReadFrom(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return nil, err
	}
	if n > maxResponseBody {
		return nil, fmt.Errorf("response is over the %d byte limit", maxResponseBody)
	}
	return b.Bytes(), nil
}

// drainAndClose reads what little may remain of a finished body so the
// connection goes back to the pool, bounded in size; the caller's context
// bounds it in time.
func drainAndClose(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, 4<<10)
	_ = body.Close()
}

// baseURL checks a deployment's base URL, using def when it is empty, and
// returns it without a trailing slash.
func baseURL(raw, def string) (string, error) {
	if raw == "" {
		raw = def
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("base_url %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("base_url %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("base_url %q: no host", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

// openStream posts a streaming request and returns the call and response once
// the upstream has answered 2xx with text/event-stream. Any other answer is
// drained, its call ended, and returned as an *Error whose reason reason()
// reads from the upstream's error body.
func openStream(ctx context.Context, client *http.Client, timeout time.Duration, name, url string, hdr http.Header, body []byte, reason func([]byte) string) (*call, *http.Response, error) {
	c := startCall(ctx, timeout)
	resp, err := c.post(client, url, hdr, body)
	if err != nil {
		err = c.fail(name, err)
		c.end()
		return nil, nil, err
	}
	c.idle()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer c.end()
		defer drainAndClose(resp.Body)
		c.arm() // bound the read of the error body too
		return nil, nil, statusError(name, resp, reason)
	}
	if mt := mediaType(resp.Header); mt != "text/event-stream" {
		defer c.end()
		defer drainAndClose(resp.Body)
		c.arm()
		head, _ := readHead(resp)
		return nil, nil, badResponse(name, resp.StatusCode, head, "content-type %q, expected text/event-stream", mt)
	}
	return c, resp, nil
}
