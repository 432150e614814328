package evalplot

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/ml/eval"
)

// TestPlot draws a report of a perfect router over two models and reads the
// PNG back; a path in a missing directory is an error, and no file is left.
func TestPlot(t *testing.T) {
	truth := eval.Matrix{Candidates: []string{"A", "B"}, Quality: [][]float64{{1, 0.5}, {1, 0}, {0.5, 1}, {1, 1}}, Cost: [][]float64{{1, 0.1}, {1, 0.1}, {1, 0.1}, {1, 0.1}}}
	r := eval.Evaluate(truth, truth, nil)
	path := filepath.Join(t.TempDir(), "curve.png")
	if err := Plot(r, path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("plot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 200 {
		t.Fatalf("plot too small: %v", b)
	}
	dir := filepath.Join(t.TempDir(), "no", "such")
	if err := Plot(r, filepath.Join(dir, "dir.png")); err == nil {
		t.Fatal("plot into a missing directory: no error")
	}
}
