// Package evalplot draws an evaluation report's cost-quality curve. It is
// apart from package eval so that the packages that serve decisions (the
// router, the gateway) do not depend on gonum/plot: a program built from
// them alone does not parse plot's fonts at start and keep them on the heap
// that every collection marks. (The switchyard binary, which has `eval
// --plot`, still links it.)
package evalplot

import (
	"cmp"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/switchyard-ai/switchyard/internal/ml/eval"
)

// Plot draws the report's cost-quality picture to a PNG at path: the router's
// sweep and its non-decreasing hull, the single models (labelled), the
// oracle, random, and the operating points. The file is written to a temp
// file and renamed, so a failed plot never leaves half an image.
func Plot(r eval.Report, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Cost vs quality (AIQ %.3f, single models %.3f)", r.AIQ, r.AIQSingles)
	p.X.Label.Text = "mean cost per prompt (USD)"
	p.Y.Label.Text = "mean quality"
	p.Add(plotter.NewGrid())

	curve := slices.Clone(r.Curve)
	slices.SortFunc(curve, func(a, b eval.Point) int { return cmp.Compare(a.Cost, b.Cost) })
	if err := addLine(p, "router sweep", curve, color.RGBA{B: 200, A: 255}, nil); err != nil {
		return err
	}
	if err := addLine(p, "router hull", eval.Hull(r.Curve), color.RGBA{B: 120, G: 120, A: 255}, []vg.Length{vg.Points(4), vg.Points(3)}); err != nil {
		return err
	}
	var singles []eval.Point
	for _, s := range r.Singles {
		singles = append(singles, eval.Point{Cost: s.Cost, Quality: s.Quality})
	}
	if err := addLine(p, "single-model hull", eval.Hull(singles), color.RGBA{R: 160, G: 160, B: 160, A: 255}, []vg.Length{vg.Points(2), vg.Points(2)}); err != nil {
		return err
	}
	if len(r.Singles) > 0 {
		xys := make(plotter.XYs, len(r.Singles))
		labels := make([]string, len(r.Singles))
		for i, s := range r.Singles {
			xys[i].X, xys[i].Y, labels[i] = s.Cost, s.Quality, s.Name
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		sc.GlyphStyle.Color = color.RGBA{R: 200, A: 255}
		sc.GlyphStyle.Shape = draw.CircleGlyph{}
		lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		for i := range lb.TextStyle {
			lb.TextStyle[i].Font.Size = vg.Points(7)
		}
		p.Add(sc, lb)
		p.Legend.Add("single models", sc)
	}
	marks := []struct {
		name string
		pt   eval.Point
		c    color.Color
		s    draw.GlyphDrawer
	}{
		{"oracle", eval.Point{Cost: r.OracleCost, Quality: r.OracleQuality}, color.RGBA{G: 150, A: 255}, draw.PyramidGlyph{}},
		{"random", eval.Point{Cost: r.RandomCost, Quality: r.RandomQuality}, color.Black, draw.CrossGlyph{}},
	}
	for _, op := range r.OperatingPoints {
		marks = append(marks, struct {
			name string
			pt   eval.Point
			c    color.Color
			s    draw.GlyphDrawer
		}{"op " + op.Name, eval.Point{Cost: op.Cost, Quality: op.Quality}, color.RGBA{R: 230, G: 140, A: 255}, draw.SquareGlyph{}})
	}
	for _, m := range marks {
		sc, err := plotter.NewScatter(plotter.XYs{{X: m.pt.Cost, Y: m.pt.Quality}})
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		sc.GlyphStyle.Color, sc.GlyphStyle.Shape, sc.GlyphStyle.Radius = m.c, m.s, vg.Points(4)
		p.Add(sc)
		p.Legend.Add(m.name, sc)
	}
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.YOffs = vg.Points(20)

	w, err := p.WriterTo(8*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := w.WriteTo(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("plot: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("plot: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

func addLine(p *plot.Plot, name string, pts []eval.Point, c color.Color, dashes []vg.Length) error {
	if len(pts) == 0 {
		return nil
	}
	xys := make(plotter.XYs, len(pts))
	for i, q := range pts {
		xys[i].X, xys[i].Y = q.Cost, q.Quality
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return fmt.Errorf("plot %s: %w", name, err)
	}
	l.Color, l.Dashes = c, dashes
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}
