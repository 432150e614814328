package router

import (
	"context"
	"sync"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
)

// TestDecideConcurrent runs decisions from many goroutines (under -race this
// checks the pooled buffers) and compares them with serial ones.
func TestDecideConcurrent(t *testing.T) {
	ctx := context.Background()
	prompts := synthetic.Prompts(40, 12, 4).Prompts
	for kind, cfg := range trainConfigs() {
		t.Run(kind, func(t *testing.T) {
			r, _, err := Train(ctx, cfg, synthRows(150, 5))
			if err != nil {
				t.Fatal(err)
			}
			want := make([]Decision, len(prompts))
			for i, p := range prompts {
				if want[i], err = r.Decide(ctx, p, nil, 0.5); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			errs := make(chan string, 8*len(prompts))
			for g := 0; g < 8; g++ {
				wg.Go(func() {
					var d Decision
					for i, p := range prompts {
						if err := r.DecideInto(ctx, p, nil, 0.5, &d); err != nil {
							errs <- err.Error()
							return
						}
						for j := range d.Candidates {
							if d.Candidates[j] != want[i].Candidates[j] {
								errs <- "concurrent decision differs on " + p
								return
							}
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Fatal(e)
			}
		})
	}
}
