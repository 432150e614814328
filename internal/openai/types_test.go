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

func TestTextLenIsLenOfText(t *testing.T) {
	for _, c := range []string{``, `null`, `"plain"`, `""`, `"esc\"aped\n"`, `"\u00e9t\u00e9"`, `[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"bc"}]`, `[]`, `"unterminated`, `5`} {
		m := Message{Role: "user", Content: []byte(c)}
		if got, want := m.TextLen(), len(m.Text()); got != want {
			t.Errorf("content %s: TextLen %d, len(Text()) %d", c, got, want)
		}
	}
}
