package knn

import (
	"context"
	"fmt"
	"math"

	"github.com/switchyard-ai/switchyard/internal/bundle"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// codecVersion is bumped whenever the layout below changes.
const codecVersion = 1

// MarshalBinary encodes the configuration, the training rows with their
// outcomes and weights, and the ivf clustering; the inverted index and the
// projections are rebuilt on load.
func (m *Model) MarshalBinary() ([]byte, error) {
	e := &bundle.Enc{}
	e.U32(codecVersion)
	e.Int(m.cfg.K)
	e.String(m.cfg.Index)
	e.F64(m.cfg.Prior)
	e.F64(m.cfg.Power)
	e.Int(m.cfg.Lists)
	e.Int(m.cfg.Probe)
	e.Int(m.cfg.ProjDim)
	e.Int(m.cfg.Rerank)
	e.U64(uint64(m.cfg.Seed))
	e.Int(m.dim)
	e.Int(m.nCand)
	e.Int(len(m.rows))
	for _, r := range m.rows {
		e.Vector(r)
	}
	e.F32s(m.y)
	e.F32s(m.w)
	if m.ivf != nil {
		e.U8(1)
		e.F32s(m.ivf.centroids)
		e.U32s(m.ivf.listOff)
		e.U32s(m.ivf.listRow)
	} else {
		e.U8(0)
	}
	return e.B, nil
}

// Unmarshal restores a model written by MarshalBinary, validating every
// length and index so corrupt bytes give an error, never a panic.
func Unmarshal(data []byte) (*Model, error) {
	d := &bundle.Dec{B: data}
	if v := d.U32(); d.Err == nil && v != codecVersion {
		return nil, fmt.Errorf("knn: unknown payload version %d (want %d)", v, codecVersion)
	}
	var cfg Config
	cfg.K = d.Int(1, 1<<20, "k")
	cfg.Index = d.String()
	cfg.Prior = d.F64()
	cfg.Power = d.F64()
	cfg.Lists = d.Int(1, 1<<26, "lists")
	cfg.Probe = d.Int(1, 1<<26, "probe")
	cfg.ProjDim = d.Int(64, 1024, "proj_dim")
	cfg.Rerank = d.Int(1, 1<<26, "rerank")
	cfg.Seed = int64(d.U64())
	m := &Model{dim: d.Int(1, 1<<30, "dim"), nCand: d.Int(1, 1<<16, "candidates")}
	n := d.Int(1, len(d.B), "rows")
	if d.Err == nil {
		m.rows = make([]feature.Vector, n)
		for i := range m.rows {
			m.rows[i] = d.Vector(m.dim)
		}
	}
	m.y = d.F32s()
	m.w = d.F32s()
	hasIVF := d.U8()
	var iv *ivf
	if hasIVF == 1 {
		iv = &ivf{pdim: cfg.ProjDim, seed: uint64(cfg.Seed)*0x9e3779b97f4a7c15 + 1}
		iv.centroids = d.F32s()
		iv.listOff = d.U32s()
		iv.listRow = d.U32s()
	}
	if err := d.Done("knn model"); err != nil {
		return nil, err
	}
	checked, err := cfg.withDefaults(n)
	if err != nil || checked != cfg {
		return nil, fmt.Errorf("knn: %w: invalid configuration", bundle.ErrCorrupt)
	}
	if len(m.y) != n*m.nCand || len(m.w) != n {
		return nil, fmt.Errorf("knn: %w: outcome matrix does not match %d rows", bundle.ErrCorrupt, n)
	}
	for i, q := range m.y {
		if !math.IsNaN(float64(q)) && (q < 0 || q > 1) {
			return nil, fmt.Errorf("knn: %w: quality %v at %d outside [0,1]", bundle.ErrCorrupt, q, i)
		}
	}
	for _, w := range m.w {
		if !(w >= 0) || math.IsInf(float64(w), 0) {
			return nil, fmt.Errorf("knn: %w: bad row weight %v", bundle.ErrCorrupt, w)
		}
	}
	if (hasIVF == 1) != (cfg.Index == IndexIVF) || hasIVF > 1 {
		return nil, fmt.Errorf("knn: %w: index section does not match index %q", bundle.ErrCorrupt, cfg.Index)
	}
	if iv != nil {
		if err := iv.check(cfg, n); err != nil {
			return nil, fmt.Errorf("knn: %w: %v", bundle.ErrCorrupt, err)
		}
		iv.fillVectors(m.rows)
		m.ivf = iv
	}
	m.cfg = cfg
	if err := m.build(context.Background()); err != nil {
		return nil, err
	}
	return m, nil
}

// check validates a decoded clustering: offsets ascending and covering every
// row exactly once.
func (iv *ivf) check(cfg Config, rows int) error {
	if len(iv.centroids) != cfg.Lists*cfg.ProjDim || len(iv.listOff) != cfg.Lists+1 || len(iv.listRow) != rows {
		return fmt.Errorf("ivf sizes do not match %d lists of %d rows", cfg.Lists, rows)
	}
	if iv.listOff[0] != 0 || int(iv.listOff[cfg.Lists]) != rows {
		return fmt.Errorf("ivf offsets do not span the rows")
	}
	for c := 0; c < cfg.Lists; c++ {
		if iv.listOff[c+1] < iv.listOff[c] {
			return fmt.Errorf("ivf offsets not ascending")
		}
	}
	seen := make([]bool, rows)
	for _, r := range iv.listRow {
		if int(r) >= rows || seen[r] {
			return fmt.Errorf("ivf row %d out of range or repeated", r)
		}
		seen[r] = true
	}
	return nil
}
