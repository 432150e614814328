package provider

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/tidwall/gjson"

	"github.com/switchyard-ai/switchyard/internal/jsonvalid"
	"github.com/switchyard-ai/switchyard/internal/openai"
)

// drainTimeout bounds how long Close waits for the end of a finished stream's
// body, which lets the connection be reused.
const drainTimeout = time.Second

var doneSentinel = []byte("[DONE]")

// openAIStream passes an OpenAI-compatible SSE stream through: each event's
// data is returned as the upstream sent it.
type openAIStream struct {
	name      string
	call      *call
	resp      *http.Response
	sse       *sseReader
	hideUsage bool // the gateway added include_usage; keep the usage chunk
	status    int
	usage     *openai.Usage
	events    int
	done      bool
	err       error // sticky: once failed, a stream stays failed
	closeOnce sync.Once
}

// Next returns the next chunk. Each wait on the upstream is bounded by the
// deployment's timeout (an idle timeout, see call).
func (s *openAIStream) Next() ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	for {
		s.call.arm()
		data, err := s.sse.next()
		s.call.disarm()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if s.events == 0 {
					err = badResponse(s.name, s.status, nil, "event stream ended without any event")
				} else {
					// An upstream that ends its body cleanly without [DONE]
					// (some OpenAI-compatible servers) has still finished.
					s.done = true
				}
			} else {
				err = s.call.fail(s.name, fmt.Errorf("read stream: %w", err))
			}
			s.err = err
			return nil, err
		}
		s.events++
		if bytes.Equal(data, doneSentinel) {
			s.done = true
			s.err = io.EOF
			return nil, io.EOF
		}
		if !jsonvalid.Valid(data) {
			s.err = badResponse(s.name, s.status, data, "stream event %d is not valid JSON", s.events)
			return nil, s.err
		}
		if bytes.Contains(data, usageKey) {
			if u := gjson.GetBytes(data, "usage"); u.IsObject() {
				s.usage = parseUsage(u)
				if s.hideUsage && gjson.GetBytes(data, "choices.#").Int() == 0 {
					continue
				}
			}
		}
		return data, nil
	}
}

var usageKey = []byte(`"usage"`)

// Usage is the last usage the upstream reported in the stream.
func (s *openAIStream) Usage() *openai.Usage { return s.usage }

// BeforeWait implements WaitNotifier.
func (s *openAIStream) BeforeWait(f func()) { s.sse.beforeWait = f }

// Close ends the upstream call. After a complete stream it first reads the
// body's end, briefly, so the connection returns to the pool.
func (s *openAIStream) Close() error {
	s.closeOnce.Do(func() {
		closeStream(s.call, s.resp, s.done)
		s.sse.release()
	})
	return nil
}

func closeStream(c *call, resp *http.Response, done bool) {
	if done {
		t := time.AfterFunc(drainTimeout, func() { c.cancel(errIdleTimeout) })
		drainAndClose(resp.Body)
		t.Stop()
	} else {
		_ = resp.Body.Close()
	}
	c.end()
}

// readHead reads the start of a body that is not what was expected, to show
// in the error.
func readHead(resp *http.Response) ([]byte, error) {
	return io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
}

// parseUsage reads an OpenAI usage object; nil when r is not one.
func parseUsage(r gjson.Result) *openai.Usage {
	if !r.IsObject() {
		return nil
	}
	u := &openai.Usage{}
	r.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "prompt_tokens":
			u.PromptTokens = int(v.Int())
		case "completion_tokens":
			u.CompletionTokens = int(v.Int())
		case "total_tokens":
			u.TotalTokens = int(v.Int())
		}
		return true
	})
	if u.TotalTokens == 0 {
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	return u
}

var (
	_ Stream       = (*openAIStream)(nil)
	_ WaitNotifier = (*openAIStream)(nil)
)
