package provider

import (
	"unsafe"

	"github.com/tidwall/gjson"
)

// topLevel returns the top-level members of a JSON object named by keys, in
// one pass over body; a missing key gives a zero Result, and the first of
// duplicate keys wins, as gjson.Get would. gjson.GetManyBytes walks the
// document once per key (and to its end for a key that is absent, such as
// "error" in every good answer).
//
// The results alias body, which must not change while they are in use; a
// string kept beyond that must be cloned.
//
// out receives the results, one per key (len(out) >= len(keys)); the
// caller's array keeps a good answer's lookups free of allocation.
func topLevel(out []gjson.Result, body []byte, keys ...string) {
	if len(body) == 0 {
		return
	}
	doc := gjson.Parse(unsafe.String(unsafe.SliceData(body), len(body)))
	doc.ForEach(func(k, v gjson.Result) bool {
		for i, want := range keys {
			if k.Str == want && !out[i].Exists() {
				out[i] = v
			}
		}
		return true
	})
}
