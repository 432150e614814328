package jsonvalid

import (
	"encoding/json"
	"testing"

	"github.com/tidwall/gjson"
)

var seeds = []string{
	`{"a":1}`, `[1,2,{"b":null}]`, `{"a":"\u00e9\n"}`, `{"a":1,}`, `{"a":01}`, "\"\xff\"", `1e5`, `-0.0`,
	`{"a":[}`, " {\"x\": true } \n", `tru`, `{"a":"\ud800"}`, `[1 2]`, "{\"a\":\"\x01\"}", ``, ` `, `{}{}`,
	`{"a":1}x`, `[`, `]`, `"`, `"\q"`, `1.`, `.5`, `-`, `1e`, `{"a" 1}`, `{1:2}`, `nul`, `[1,]`,
	`{"id":"chatcmpl-1","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":1}}`,
}

// FuzzValid holds Valid to encoding/json.Valid's verdict.
func FuzzValid(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}

var answer = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"mock","choices":[{"index":0,"message":{"role":"assistant","content":"Pooling reuses established connections, avoiding handshake latency. It also bounds resource use under load."},"finish_reason":"stop"}],"usage":{"prompt_tokens":28,"completion_tokens":21,"total_tokens":49}}`)

// BenchmarkValid compares Valid with the validators it could be: on a
// 400-byte chat completion.
//
//	go test ./internal/jsonvalid -run '^$' -bench Valid -count 3
func BenchmarkValid(b *testing.B) {
	for _, c := range []struct {
		name string
		f    func([]byte) bool
	}{{"jsonvalid", Valid}, {"gjson", gjson.ValidBytes}, {"encoding-json", json.Valid}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !c.f(answer) {
					b.Fatal("not valid")
				}
			}
		})
	}
}
