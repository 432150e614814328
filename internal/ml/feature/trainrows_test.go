package feature

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestTrainingRows(t *testing.T) {
	x := []Vector{{Idx: []uint32{1, 5}, Val: []float32{1, 1}}, {Idx: []uint32{5, 7}, Val: []float32{1, 1}}}
	y := [][]float64{{1, 0}, {0, 1}}
	nCand, cols, err := TrainingRows(x, 8, y, nil, 1)
	if err != nil || nCand != 2 || !slices.Equal(cols, []uint32{1, 5, 7}) {
		t.Fatalf("got %d %v %v, want 2 [1 5 7] nil", nCand, cols, err)
	}
	if _, cols, _ := TrainingRows(x, 8, y, nil, 2); !slices.Equal(cols, []uint32{5}) {
		t.Fatalf("min_df 2: columns %v, want [5]", cols)
	}
	for _, tc := range []struct {
		name string
		x    []Vector
		dim  int
		y    [][]float64
		w    []float64
		minD int
		want string
	}{
		{"one row", x[:1], 8, y[:1], nil, 1, "at least 2"},
		{"quality rows", x, 8, y[:1], nil, 1, "2 rows but 1 quality rows"},
		{"weights", x, 8, y, []float64{1}, 1, "1 weights"},
		{"ragged", x, 8, [][]float64{{1, 0}, {1}}, nil, 1, "row 1 has 1 candidates, want 2"},
		{"counts", []Vector{x[0], {Idx: []uint32{1}}}, 8, y, nil, 1, "row 1: vector index and value counts differ"},
		{"dimension", x, 6, y, nil, 1, "row 1: feature 7 beyond dimension 6"},
		{"negative weight", x, 8, y, []float64{1, -1}, 1, "row 1 weight -1"},
		{"infinite weight", x, 8, y, []float64{math.Inf(1), 1}, 1, "row 0 weight +Inf"},
		{"nan weight", x, 8, y, []float64{1, math.NaN()}, 1, "row 1 weight NaN"},
		{"min_df", x, 8, y, nil, 3, "no input feature reaches min_df"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := TrainingRows(tc.x, tc.dim, tc.y, tc.w, tc.minD)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
