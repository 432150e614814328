package router

import (
	"testing"

	"github.com/switchyard-ai/switchyard/internal/dataset"
)

func TestRowWeights(t *testing.T) {
	p := func(v float64) *float64 { return &v }
	q := p(1)
	for _, tc := range []struct {
		name string
		row  dataset.Row
		want float64
	}{
		{"full information", dataset.Row{Outcomes: map[string]dataset.Outcome{"a": {Quality: q}, "b": {Quality: q}}}, 1},
		{"trace, chosen with 0.25", dataset.Row{Outcomes: map[string]dataset.Outcome{"a": {Quality: q, Propensity: p(0.25)}}}, 4},
		{"trace, tiny propensity is capped", dataset.Row{Outcomes: map[string]dataset.Outcome{"a": {Quality: q, Propensity: p(1e-6)}}}, MaxIPSWeight},
		{"trace, zero propensity ignored", dataset.Row{Outcomes: map[string]dataset.Outcome{"a": {Quality: q, Propensity: p(0)}}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rowWeights([]dataset.Row{tc.row})[0]; got != tc.want {
				t.Fatalf("weight %v, want %v", got, tc.want)
			}
		})
	}
}
