package gateway

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/openai"
)

var chatSeeds = []string{
	`{"model":"auto","messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"bench","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Summarise the benefits of connection pooling in two sentences."}],"max_tokens":64}`,
	`{"model":"a","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"u"}}]}]}`,
	`{"model":"a","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"1","content":"42","name":"f"}],"tools":[{"type":"function"}],"tool_choice":"auto","response_format":{"type":"json_object"},"stop":["\n"],"temperature":0.2,"top_p":1,"user":"u1","max_completion_tokens":5}`,
	`{"model":"a","messages":[],"max_tokens":null,"temperature":null,"stream":null,"stream_options":null}`,
	`{"MODEL":"a","messages":[]}`,
	`{"model":"a","Messages":[{"ROLE":"user"}]}`,
	`{"model":"\u0061","messages":[{"role":"us\u00e9r","content":"\ud800"}]}`,
	`{"model":5,"messages":"x"}`,
	`{"model":"a","messages":[1,2]}`,
	`{"model":"a","max_tokens":64.0,"messages":[]}`,
	`{"model":"a","max_tokens":1e3,"messages":[]}`,
	`{"model":"a","max_tokens":-7,"messages":[]}`,
	`{"model":"a","temperature":1e400,"messages":[]}`,
	`{"model":"a","model":"b","messages":[{"role":"user"}],"messages":[{"role":"system"}]}`,
	`{"model":"a","stream_options":{"include_usage":false},"stream_options":{"x":1}}`,
	`{"m\u006fdel":"a"}`,
	`{"model":"a\"b\\c\n","messages":[{"role":"user","content":"tab\tquote\""}]}`,
	"{\"model\":\"\xff\"}",
	`[]`, `"s"`, `null`, `{}`, `{"model":`, ``, `{"extra":{"nested":[1,{"a":null}]},"model":"x"}`,
}

// FuzzFastChatMatchesEncodingJSON: wherever the fast decoder answers, it
// answers what encoding/json decodes from the same body, field for field.
func FuzzFastChatMatchesEncodingJSON(f *testing.F) {
	for _, s := range chatSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := fastChat(body)
		if !ok {
			return
		}
		var want openai.ChatRequest
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json rejects it: %v", body, err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("body %q:\n fast %+v\n json %+v", body, *got, want)
		}
	})
}

// TestFastChatCoversTheCommonShapes: the plain requests clients send take
// the fast path (the fuzz test shows it agrees when it does).
func TestFastChatCoversTheCommonShapes(t *testing.T) {
	for _, s := range chatSeeds[:5] {
		if _, ok := fastChat([]byte(s)); !ok {
			t.Errorf("fast path declined %s", s)
		}
	}
	for _, s := range []string{`{"MODEL":"a","messages":[]}`, `{"model":5}`, `{"model":"a","max_tokens":64.0}`, `{"model":"\u0061"}`, `[]`, `{"model":`} {
		if _, ok := fastChat([]byte(s)); ok {
			t.Errorf("fast path answered %s; it should leave it to encoding/json", s)
		}
	}
}
