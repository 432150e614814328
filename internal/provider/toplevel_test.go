package provider

import (
	"testing"

	"github.com/tidwall/gjson"
)

// TestTopLevelMatchesGetMany: one pass finds what a gjson.Get per key finds.
func TestTopLevelMatchesGetMany(t *testing.T) {
	keys := []string{"choices", "usage", "model", "error"}
	for _, body := range []string{
		`{"id":"x","model":"m","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":1}}`,
		`{"error":{"message":"bad"}}`,
		`{"model":"first","model":"second","choices":[]}`,
		`{"nested":{"model":"inner"},"choices":null}`,
		`{"mod\u0065l":"escaped key","choices":1}`,
		`[]`, `"text"`, ``, `{}`,
	} {
		got := make([]gjson.Result, len(keys))
		topLevel(got, []byte(body), keys...)
		want := gjson.GetMany(body, keys...)
		for i, k := range keys {
			if got[i].Exists() != want[i].Exists() || got[i].Raw != want[i].Raw {
				t.Errorf("%s: key %q: got %q (exists %v), want %q (exists %v)", body, k, got[i].Raw, got[i].Exists(), want[i].Raw, want[i].Exists())
			}
		}
	}
}
