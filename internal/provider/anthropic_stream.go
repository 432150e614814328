package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/switchyard-ai/switchyard/internal/openai"
)

// anthropicEvent is any Messages stream event; its type decides which fields
// are set.
type anthropicEvent struct {
	Type         string             `json:"type"`
	Message      *anthropicResponse `json:"message"`
	Index        int                `json:"index"`
	ContentBlock *struct {
		Type string `json:"type"`
		Text string `json:"text"`
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"content_block"`
	Delta *struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage *anthropicUsage `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// anthropicStream translates Messages stream events into OpenAI chunks:
//
//	message_start              -> first chunk, delta {role: assistant, content: ""}
//	content_block_start (tool) -> delta tool_calls[{index, id, type, function.name}]
//	content_block_delta text   -> delta content
//	content_block_delta json   -> delta tool_calls[{index, function.arguments}]
//	message_delta              -> empty delta with finish_reason; usage noted
//	message_stop               -> usage-only chunk if the client asked, then EOF
//	ping, content_block_stop, thinking deltas -> nothing
//	error                      -> *Error with the status Anthropic uses for its type
type anthropicStream struct {
	name         string
	call         *call
	resp         *http.Response
	sse          *sseReader
	status       int
	includeUsage bool
	created      int64

	id, model string
	usage     anthropicUsage
	started   bool
	tools     map[int]int // content block index -> OpenAI tool call index
	done      bool
	err       error
	closeOnce sync.Once
}

func (s *anthropicStream) Next() ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	for {
		if s.done {
			s.err = io.EOF
			return nil, io.EOF
		}
		s.call.arm()
		data, err := s.sse.next()
		s.call.disarm()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = badResponse(s.name, s.status, nil, "stream ended before message_stop")
			} else {
				err = s.call.fail(s.name, fmt.Errorf("read stream: %w", err))
			}
			s.err = err
			return nil, err
		}
		var ev anthropicEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			s.err = badResponse(s.name, s.status, data, "stream event is not valid JSON: %v", err)
			return nil, s.err
		}
		if !s.started && ev.Type != "message_start" && ev.Type != "ping" && ev.Type != "error" {
			s.err = badResponse(s.name, s.status, data, "stream began with %q, expected message_start", ev.Type)
			return nil, s.err
		}
		chunk, err := s.translate(&ev, data)
		if err != nil {
			s.err = err
			return nil, err
		}
		if chunk != nil {
			return chunk, nil
		}
	}
}

// translate turns one event into a chunk, or nil for events with no OpenAI
// counterpart.
func (s *anthropicStream) translate(ev *anthropicEvent, data []byte) ([]byte, error) {
	switch ev.Type {
	case "message_start":
		if ev.Message == nil {
			return nil, badResponse(s.name, s.status, data, "message_start without message")
		}
		s.started = true
		s.id, s.model = ev.Message.ID, ev.Message.Model
		s.usage = ev.Message.Usage
		empty := ""
		return s.chunk(openai.Delta{Role: "assistant", Content: &empty}, nil)
	case "content_block_start":
		if ev.ContentBlock == nil {
			return nil, badResponse(s.name, s.status, data, "content_block_start without content_block")
		}
		switch ev.ContentBlock.Type {
		case "tool_use":
			idx := len(s.tools)
			s.tools[ev.Index] = idx
			var c openAIToolCall
			c.Index, c.ID, c.Type, c.Function.Name = &idx, ev.ContentBlock.ID, "function", ev.ContentBlock.Name
			return s.toolChunk(c)
		case "text":
			if ev.ContentBlock.Text != "" {
				return s.chunk(openai.Delta{Content: &ev.ContentBlock.Text}, nil)
			}
		}
	case "content_block_delta":
		if ev.Delta == nil {
			return nil, badResponse(s.name, s.status, data, "content_block_delta without delta")
		}
		switch ev.Delta.Type {
		case "text_delta":
			if ev.Delta.Text == "" {
				return nil, nil
			}
			return s.chunk(openai.Delta{Content: &ev.Delta.Text}, nil)
		case "input_json_delta":
			idx, ok := s.tools[ev.Index]
			if !ok {
				return nil, badResponse(s.name, s.status, data, "input_json_delta for block %d, which is not a tool_use block", ev.Index)
			}
			if ev.Delta.PartialJSON == "" { // Anthropic opens each tool input with one
				return nil, nil
			}
			var c openAIToolCall
			c.Index, c.Function.Arguments = &idx, ev.Delta.PartialJSON
			return s.toolChunk(c)
		}
	case "message_delta":
		if ev.Usage != nil {
			s.mergeUsage(*ev.Usage)
		}
		if ev.Delta != nil && ev.Delta.StopReason != "" {
			fr := finishReason(ev.Delta.StopReason)
			return s.chunk(openai.Delta{}, &fr)
		}
	case "message_stop":
		s.done = true
		if s.includeUsage {
			return json.Marshal(openai.ChatChunk{
				ID: s.id, Object: "chat.completion.chunk", Created: s.created, Model: s.model,
				Choices: []openai.ChunkChoice{}, Usage: s.usage.openAI(),
			})
		}
	case "error":
		typ, msg := "api_error", "stream error"
		if ev.Error != nil {
			typ, msg = ev.Error.Type, ev.Error.Message
		}
		return nil, &Error{Deployment: s.name, Status: anthropicErrorStatus(typ), Reason: truncate(typ+": "+msg, maxReasonLen), Body: data}
	}
	// ping, content_block_stop, thinking and signature deltas, and event
	// types added to the API later carry nothing for an OpenAI client.
	return nil, nil
}

// mergeUsage applies message_delta's usage, which is cumulative and may
// repeat or revise the input counts given in message_start.
func (s *anthropicStream) mergeUsage(u anthropicUsage) {
	s.usage.OutputTokens = u.OutputTokens
	if u.InputTokens > 0 {
		s.usage.InputTokens = u.InputTokens
	}
	if u.CacheCreationInputTokens > 0 {
		s.usage.CacheCreationInputTokens = u.CacheCreationInputTokens
	}
	if u.CacheReadInputTokens > 0 {
		s.usage.CacheReadInputTokens = u.CacheReadInputTokens
	}
}

func (s *anthropicStream) chunk(d openai.Delta, finish *string) ([]byte, error) {
	return json.Marshal(openai.ChatChunk{
		ID: s.id, Object: "chat.completion.chunk", Created: s.created, Model: s.model,
		Choices: []openai.ChunkChoice{{Index: 0, Delta: d, FinishReason: finish}},
	})
}

func (s *anthropicStream) toolChunk(c openAIToolCall) ([]byte, error) {
	raw, err := json.Marshal([]openAIToolCall{c})
	if err != nil {
		return nil, err
	}
	return s.chunk(openai.Delta{ToolCalls: raw}, nil)
}

// Usage reports the tokens counted so far, whether or not the client asked
// for the usage chunk.
// BeforeWait implements WaitNotifier.
func (s *anthropicStream) BeforeWait(f func()) { s.sse.beforeWait = f }

func (s *anthropicStream) Usage() *openai.Usage {
	if !s.started {
		return nil
	}
	return s.usage.openAI()
}

func (s *anthropicStream) Close() error {
	s.closeOnce.Do(func() {
		closeStream(s.call, s.resp, s.done)
		s.sse.release()
	})
	return nil
}

var _ Stream = (*anthropicStream)(nil)
