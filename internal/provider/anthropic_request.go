package provider

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/switchyard-ai/switchyard/internal/openai"
)

// DefaultAnthropicMaxTokens is sent when a client gives no max_tokens, as the
// Messages API requires one.
const DefaultAnthropicMaxTokens = 4096

// anthropicRequest is a Messages API request body. Field order is the wire
// order, which keeps the golden files readable.
type anthropicRequest struct {
	Model         string               `json:"model"`
	MaxTokens     int                  `json:"max_tokens"`
	System        string               `json:"system,omitempty"`
	Messages      []anthropicMessage   `json:"messages"`
	StopSequences []string             `json:"stop_sequences,omitempty"`
	Temperature   *float64             `json:"temperature,omitempty"`
	TopP          *float64             `json:"top_p,omitempty"`
	Tools         []anthropicTool      `json:"tools,omitempty"`
	ToolChoice    *anthropicToolChoice `json:"tool_choice,omitempty"`
	Metadata      *anthropicMetadata   `json:"metadata,omitempty"`
	Stream        bool                 `json:"stream,omitempty"`
}

type anthropicMessage struct {
	Role    string           `json:"role"`
	Content []anthropicBlock `json:"content"`
}

// anthropicBlock is one content block of any type; the type decides which
// fields are set.
type anthropicBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text,omitempty"`
	Source    *imageSource    `json:"source,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   *string         `json:"content,omitempty"`
}

type imageSource struct {
	Type      string `json:"type"` // base64 or url
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type anthropicTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type anthropicToolChoice struct {
	Type                   string `json:"type"` // auto, any, tool, none
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type anthropicMetadata struct {
	UserID string `json:"user_id"`
}

// openAIToolCall is a tool call in OpenAI's assistant messages and answers.
type openAIToolCall struct {
	Index    *int   `json:"index,omitempty"` // streams only
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// toAnthropic translates an OpenAI chat request into a Messages request.
//
// System and developer messages, wherever they appear, become the system
// prompt, joined by blank lines, since Messages has no system turns. Tool
// results become tool_result blocks in a user turn, and consecutive turns of
// one role are merged, as Messages wants user and assistant to alternate.
// Temperature is clamped to Anthropic's range [0, 1] (OpenAI allows up to 2).
// Fields with no Messages counterpart (n, logprobs, response_format, seed,
// penalties) are dropped rather than refused, as other gateways do.
func toAnthropic(cr *openai.ChatRequest, raw []byte, model string, stream bool) ([]byte, error) {
	out := anthropicRequest{Model: model, MaxTokens: DefaultAnthropicMaxTokens, Stream: stream, TopP: cr.TopP}
	switch {
	case cr.MaxCompletionTokens != nil:
		out.MaxTokens = *cr.MaxCompletionTokens
	case cr.MaxTokens != nil:
		out.MaxTokens = *cr.MaxTokens
	}
	if cr.Temperature != nil {
		t := min(max(*cr.Temperature, 0), 1)
		out.Temperature = &t
	}
	if cr.User != "" {
		out.Metadata = &anthropicMetadata{UserID: cr.User}
	}
	var system []string
	for i, m := range cr.Messages {
		var msg anthropicMessage
		switch m.Role {
		case "system", "developer":
			if t := m.Text(); t != "" {
				system = append(system, t)
			}
			continue
		case "user":
			blocks, err := userBlocks(m.Content)
			if err != nil {
				return nil, fmt.Errorf("messages[%d]: %w", i, err)
			}
			msg = anthropicMessage{Role: "user", Content: blocks}
		case "assistant":
			blocks, err := assistantBlocks(m)
			if err != nil {
				return nil, fmt.Errorf("messages[%d]: %w", i, err)
			}
			msg = anthropicMessage{Role: "assistant", Content: blocks}
		case "tool", "function":
			if m.ToolCallID == "" {
				return nil, fmt.Errorf("messages[%d]: a tool message needs tool_call_id", i)
			}
			text := m.Text()
			msg = anthropicMessage{Role: "user", Content: []anthropicBlock{{Type: "tool_result", ToolUseID: m.ToolCallID, Content: &text}}}
		default:
			return nil, fmt.Errorf("messages[%d]: unknown role %q", i, m.Role)
		}
		if len(msg.Content) == 0 {
			continue
		}
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == msg.Role {
			out.Messages[n-1].Content = append(out.Messages[n-1].Content, msg.Content...)
		} else {
			out.Messages = append(out.Messages, msg)
		}
	}
	if len(out.Messages) == 0 {
		return nil, fmt.Errorf("no user or assistant message to send")
	}
	out.System = strings.Join(system, "\n\n")

	stops, err := stopSequences(cr.Stop)
	if err != nil {
		return nil, err
	}
	out.StopSequences = stops
	if out.Tools, err = anthropicTools(cr.Tools); err != nil {
		return nil, err
	}
	if out.ToolChoice, err = anthropicChoice(cr.ToolChoice); err != nil {
		return nil, err
	}
	if p := gjson.GetBytes(raw, "parallel_tool_calls"); p.Exists() && !p.Bool() && len(out.Tools) > 0 {
		if out.ToolChoice == nil {
			out.ToolChoice = &anthropicToolChoice{Type: "auto"}
		}
		out.ToolChoice.DisableParallelToolUse = true
	}
	if out.ToolChoice != nil && out.ToolChoice.Type == "none" && len(out.Tools) == 0 {
		out.ToolChoice = nil
	}
	return json.Marshal(out)
}

// userBlocks translates a user message's content: a string, or text and
// image_url parts.
func userBlocks(content json.RawMessage) ([]anthropicBlock, error) {
	content = bytes.TrimSpace(content)
	if len(content) == 0 || string(content) == "null" {
		return nil, nil
	}
	if content[0] == '"' {
		var s string
		if err := json.Unmarshal(content, &s); err != nil {
			return nil, fmt.Errorf("content: %w", err)
		}
		return textBlocks(s), nil
	}
	var parts []openai.ContentPart
	if err := json.Unmarshal(content, &parts); err != nil {
		return nil, fmt.Errorf("content must be a string or an array of parts: %w", err)
	}
	var out []anthropicBlock
	for j, p := range parts {
		switch p.Type {
		case "text":
			out = append(out, textBlocks(p.Text)...)
		case "image_url":
			src, err := imageFromURL(p.ImageURL)
			if err != nil {
				return nil, fmt.Errorf("content[%d]: %w", j, err)
			}
			out = append(out, anthropicBlock{Type: "image", Source: src})
		default:
			return nil, fmt.Errorf("content[%d]: part type %q has no Anthropic equivalent", j, p.Type)
		}
	}
	return out, nil
}

// textBlocks is a text block, or none for empty text, which Messages refuses.
func textBlocks(s string) []anthropicBlock {
	if s == "" {
		return nil
	}
	return []anthropicBlock{{Type: "text", Text: &s}}
}

// imageFromURL turns an image_url ({"url": ...} or a bare string) into an
// image source: base64 for data: URLs, url otherwise.
func imageFromURL(raw json.RawMessage) (*imageSource, error) {
	u := gjson.GetBytes(raw, "url").String()
	if u == "" && len(raw) > 0 && raw[0] == '"' {
		u = gjson.ParseBytes(raw).String()
	}
	if u == "" {
		return nil, fmt.Errorf("image_url has no url")
	}
	if !strings.HasPrefix(u, "data:") {
		return &imageSource{Type: "url", URL: u}, nil
	}
	meta, data, ok := strings.Cut(strings.TrimPrefix(u, "data:"), ",")
	mt, enc, _ := strings.Cut(meta, ";")
	if !ok || enc != "base64" || mt == "" {
		return nil, fmt.Errorf("image data URL must be data:<media type>;base64,<data>")
	}
	return &imageSource{Type: "base64", MediaType: mt, Data: data}, nil
}

// assistantBlocks translates an assistant turn: its text, then its tool
// calls as tool_use blocks with the JSON arguments as input.
func assistantBlocks(m openai.Message) ([]anthropicBlock, error) {
	out := textBlocks(m.Text())
	if len(m.ToolCalls) == 0 || string(m.ToolCalls) == "null" {
		return out, nil
	}
	var calls []openAIToolCall
	if err := json.Unmarshal(m.ToolCalls, &calls); err != nil {
		return nil, fmt.Errorf("tool_calls: %w", err)
	}
	for j, c := range calls {
		input := json.RawMessage(`{}`)
		if a := strings.TrimSpace(c.Function.Arguments); a != "" {
			if !json.Valid([]byte(a)) {
				return nil, fmt.Errorf("tool_calls[%d]: arguments are not valid JSON", j)
			}
			input = json.RawMessage(a)
		}
		out = append(out, anthropicBlock{Type: "tool_use", ID: c.ID, Name: c.Function.Name, Input: input})
	}
	return out, nil
}

func stopSequences(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("stop: %w", err)
		}
		return []string{s}, nil
	}
	var ss []string
	if err := json.Unmarshal(raw, &ss); err != nil {
		return nil, fmt.Errorf("stop must be a string or an array of strings: %w", err)
	}
	return ss, nil
}

func anthropicTools(raw json.RawMessage) ([]anthropicTool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var tools []struct {
		Type     string `json:"type"`
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &tools); err != nil {
		return nil, fmt.Errorf("tools: %w", err)
	}
	out := make([]anthropicTool, 0, len(tools))
	for i, t := range tools {
		if t.Type != "function" {
			return nil, fmt.Errorf("tools[%d]: type %q has no Anthropic equivalent", i, t.Type)
		}
		if t.Function.Name == "" {
			return nil, fmt.Errorf("tools[%d]: function.name is required", i)
		}
		schema := t.Function.Parameters
		if len(schema) == 0 || string(schema) == "null" {
			schema = emptySchema
		}
		out = append(out, anthropicTool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	return out, nil
}

// anthropicChoice maps tool_choice: auto to auto, required to any, none to
// none, and a named function to tool.
func anthropicChoice(raw json.RawMessage) (*anthropicToolChoice, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	r := gjson.ParseBytes(raw)
	if r.Type == gjson.String {
		switch r.String() {
		case "auto":
			return &anthropicToolChoice{Type: "auto"}, nil
		case "required":
			return &anthropicToolChoice{Type: "any"}, nil
		case "none":
			return &anthropicToolChoice{Type: "none"}, nil
		}
		return nil, fmt.Errorf("tool_choice %q is not auto, required or none", r.String())
	}
	if name := r.Get("function.name").String(); name != "" {
		return &anthropicToolChoice{Type: "tool", Name: name}, nil
	}
	return nil, fmt.Errorf("tool_choice object needs function.name")
}
