package openai

import (
	"encoding/json"
	"testing"
)

func TestMessageText(t *testing.T) {
	tests := []struct{ content, want string }{
		{`"plain text"`, "plain text"},
		{`"with \"quotes\" and \n newline \u00e9"`, "with \"quotes\" and \n newline é"},
		{`""`, ""},
		{`null`, ""},
		{``, ""},
		{`[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"b"}]`, "a\nb"},
		{`42`, ""},
	}
	for _, tt := range tests {
		m := Message{Role: "user", Content: json.RawMessage(tt.content)}
		if got := m.Text(); got != tt.want {
			t.Errorf("Text(%s) = %q, want %q", tt.content, got, tt.want)
		}
	}
}
