package traffic

import (
	"math/rand/v2"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/provider"
)

// Every generated prompt must classify as the topic it was made for, or the
// feedback posted from the ground truth would score the wrong topic.
func TestPromptClassifiesAsItsTopic(t *testing.T) {
	for _, topic := range provider.SimTopics {
		t.Run(topic, func(t *testing.T) {
			seen := map[string]bool{}
			for seed := uint64(0); seed < 2000; seed++ {
				p := Prompt(rand.New(rand.NewPCG(seed, 1)), topic)
				if got := provider.SimTopic(p); got != topic {
					t.Fatalf("prompt %q classifies as %q, want %q", p, got, topic)
				}
				seen[p] = true
			}
			if len(seen) < 20 {
				t.Errorf("only %d distinct prompts for %s in 2000 draws", len(seen), topic)
			}
		})
	}
}

func TestPromptRepeatsWithSeed(t *testing.T) {
	for _, topic := range provider.SimTopics {
		a := Prompt(rand.New(rand.NewPCG(42, 7)), topic)
		b := Prompt(rand.New(rand.NewPCG(42, 7)), topic)
		if a != b {
			t.Errorf("%s: same seed gave %q and %q", topic, a, b)
		}
	}
}
