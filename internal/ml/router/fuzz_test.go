package router

import (
	"context"
	"testing"
)

// FuzzFromBundle feeds corrupt payloads to the decoders of every learner,
// the featurizer and the cost model: an error is fine, a panic is not. The
// manifest is kept valid so the fuzzer reaches the payload decoders.
func FuzzFromBundle(f *testing.F) {
	ctx := context.Background()
	rows := synthRows(60, 9)
	seeds := map[string]*Router{}
	for kind, cfg := range trainConfigs() {
		r, _, err := Train(ctx, cfg, rows)
		if err != nil {
			f.Fatal(err)
		}
		seeds[kind] = r
		p, err := r.MarshalPayload()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(kind, p)
	}
	f.Fuzz(func(t *testing.T, kind string, payload []byte) {
		r, ok := seeds[kind]
		if !ok {
			return
		}
		got, err := FromBundle(r.Manifest(), payload)
		if err != nil {
			return
		}
		// A payload that decodes must serve without panicking.
		if _, err := got.Decide(ctx, "what is the derivative of a matrix", nil, 0); err != nil && got == nil {
			t.Fatal(err)
		}
	})
}
