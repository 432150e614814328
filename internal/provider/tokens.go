package provider

import (
	"github.com/tidwall/gjson"

	"github.com/switchyard-ai/switchyard/internal/openai"
)

// Token estimates used when an upstream reports no usage, and by the simulated
// provider. They follow OpenAI's rule of thumb of about four characters of
// English text per token. They count bytes, not runes: text in scripts that
// take three UTF-8 bytes per character comes out near one token per
// character, which is closer to real tokenizers than counting runes would be.
// They are estimates for cost accounting, not a tokenizer.
const (
	bytesPerToken = 4
	// perMessageTokens is the framing OpenAI's chat format adds per message
	// (role and separators), and replyPrimingTokens the tokens that start the
	// assistant's reply, as in OpenAI's token counting guide.
	perMessageTokens   = 3
	replyPrimingTokens = 3
	// imageTokens is what one image part costs at OpenAI's low detail.
	imageTokens = 85
)

// EstimateTokens estimates the tokens in text: its length in bytes divided by
// four, rounded up.
func EstimateTokens(text string) int {
	return (len(text) + bytesPerToken - 1) / bytesPerToken
}

// EstimatePromptTokens estimates the prompt tokens of a chat request: message
// texts, tool calls and tool results, tool definitions, the per-message
// framing, and a fixed cost per image part.
func EstimatePromptTokens(req *openai.ChatRequest) int {
	if req == nil {
		return 0
	}
	n := replyPrimingTokens
	for _, m := range req.Messages {
		n += perMessageTokens + EstimateTokens(m.Role) + (m.TextLen()+bytesPerToken-1)/bytesPerToken
		n += (len(m.ToolCalls) + bytesPerToken - 1) / bytesPerToken
		if m.Name != "" {
			n += EstimateTokens(m.Name)
		}
		n += imageTokens * countImageParts(m.Content)
	}
	n += (len(req.Tools) + bytesPerToken - 1) / bytesPerToken
	return n
}

// countImageParts counts the image_url parts of an array-valued content.
func countImageParts(content []byte) int {
	if len(content) == 0 || content[0] != '[' {
		return 0
	}
	n := 0
	gjson.GetBytes(content, "#.type").ForEach(func(_, t gjson.Result) bool {
		if t.String() == "image_url" {
			n++
		}
		return true
	})
	return n
}
