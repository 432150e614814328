package router

import (
	"context"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/ml/svm"
)

// FuzzFromBundle feeds corrupt payloads to the decoders of every learner,
// the featurizer and the cost model: an error is fine, a panic is not. The
// manifest is kept valid so the fuzzer reaches the payload decoders.
func FuzzFromBundle(f *testing.F) {
	ctx := context.Background()
	rows := synthRows(60, 9)
	seeds := map[string]*Router{}
	cfgs := trainConfigs()
	// The nystrom svm writes payload version 2 (landmarks): its own seed.
	nys := cfgs[KindSVM]
	nys.SVM = svm.Config{Kernel: svm.KernelNystrom, Landmarks: 16, AddLinear: true}
	cfgs["svm-nystrom"] = nys
	for kind, cfg := range cfgs {
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
