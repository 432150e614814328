package knn

import (
	"context"
	"fmt"
	"math"

	"github.com/switchyard-ai/switchyard/internal/bundle"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// Payload versions. Version 2 adds the sparse-ivf index (CentroidTerms
// after Seed, index section 2); a model of another index is still written as
// version 1, byte for byte as before, so older readers keep loading it,
// while they reject a sparse-ivf model by its version.
const (
	codecV1      = 1
	codecVersion = 2
)

// Index section tags.
const (
	sectionNone   = 0
	sectionIVF    = 1
	sectionSparse = 2
)

// MarshalBinary encodes the configuration, the training rows with their
// outcomes and weights, and the ivf or sparse-ivf clustering; the inverted
// indexes and the projections are rebuilt on load.
func (m *Model) MarshalBinary() ([]byte, error) {
	e := &bundle.Enc{}
	version := uint32(codecV1)
	if m.cfg.Index == IndexSparseIVF {
		version = codecVersion
	}
	e.U32(version)
	e.Int(m.cfg.K)
	e.String(m.cfg.Index)
	e.F64(m.cfg.Prior)
	e.F64(m.cfg.Power)
	e.Int(m.cfg.Lists)
	e.Int(m.cfg.Probe)
	e.Int(m.cfg.ProjDim)
	e.Int(m.cfg.Rerank)
	e.U64(uint64(m.cfg.Seed))
	if version >= 2 {
		e.Int(m.cfg.CentroidTerms)
	}
	e.Int(m.dim)
	e.Int(m.nCand)
	e.Int(len(m.rows))
	for _, r := range m.rows {
		e.Vector(r)
	}
	e.F32s(m.y)
	e.F32s(m.w)
	switch {
	case m.ivf != nil:
		e.U8(sectionIVF)
		e.F32s(m.ivf.centroids)
		e.U32s(m.ivf.listOff)
		e.U32s(m.ivf.listRow)
	case m.sparse != nil:
		sv := m.sparse
		e.U8(sectionSparse)
		for _, cs := range []*centroids{&sv.coarse, &sv.fine} {
			e.U32s(cs.off)
			e.U32s(cs.idx)
			e.F32s(cs.val)
		}
		e.U32s(sv.groupOff)
		e.U32s(sv.listOff)
		e.U32s(sv.listRow)
	default:
		e.U8(sectionNone)
	}
	return e.B, nil
}

// Unmarshal restores a model written by MarshalBinary, validating every
// length and index so corrupt bytes give an error, never a panic.
func Unmarshal(data []byte) (*Model, error) {
	d := &bundle.Dec{B: data}
	version := d.U32()
	if d.Err == nil && (version < codecV1 || version > codecVersion) {
		return nil, fmt.Errorf("knn: unknown payload version %d (want %d to %d)", version, codecV1, codecVersion)
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
	if version >= 2 {
		cfg.CentroidTerms = d.Int(0, 1<<16, "centroid_terms")
	}
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
	section := d.U8()
	var (
		iv *ivf
		sv *sparseIVF
	)
	switch section {
	case sectionIVF:
		iv = &ivf{pdim: cfg.ProjDim, seed: uint64(cfg.Seed)*0x9e3779b97f4a7c15 + 1}
		iv.centroids = d.F32s()
		iv.listOff = d.U32s()
		iv.listRow = d.U32s()
	case sectionSparse:
		sv = &sparseIVF{}
		for _, cs := range []*centroids{&sv.coarse, &sv.fine} {
			cs.off = d.U32s()
			cs.idx = d.U32s()
			cs.val = d.F32s()
		}
		sv.groupOff = d.U32s()
		sv.listOff = d.U32s()
		sv.listRow = d.U32s()
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
	want := map[string]uint8{IndexExact: sectionNone, IndexIVF: sectionIVF, IndexSparseIVF: sectionSparse}[cfg.Index]
	if section != want || (section == sectionSparse) != (version >= 2) {
		return nil, fmt.Errorf("knn: %w: index section %d does not match index %q in a version %d payload", bundle.ErrCorrupt, section, cfg.Index, version)
	}
	if iv != nil {
		if err := iv.check(cfg, n); err != nil {
			return nil, fmt.Errorf("knn: %w: %v", bundle.ErrCorrupt, err)
		}
		iv.fillVectors(m.rows)
		m.ivf = iv
	}
	if sv != nil {
		if err := sv.check(cfg, n, m.dim); err != nil {
			return nil, fmt.Errorf("knn: %w: %v", bundle.ErrCorrupt, err)
		}
		sv.derive(m.rows, m.dim)
		m.sparse = sv
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

// check validates a decoded sparse-ivf clustering: centroids with
// ascending features below dim, at most CentroidTerms of them and finite
// values; groups covering the lists and lists covering every row exactly
// once, in ascending order within a list.
func (sv *sparseIVF) check(cfg Config, rows, dim int) error {
	if err := sv.coarse.check(cfg.CentroidTerms, dim); err != nil {
		return err
	}
	if err := sv.fine.check(fineTerms(cfg.CentroidTerms), dim); err != nil {
		return err
	}
	lists, groups := sv.fine.n(), sv.coarse.n()
	if lists > rows || groups != min(groupCount(cfg.Lists), rows) ||
		len(sv.groupOff) != groups+1 || len(sv.listOff) != lists+1 || len(sv.listRow) != rows {
		return fmt.Errorf("sparse-ivf sizes do not match %d lists of %d rows", cfg.Lists, rows)
	}
	if err := ascendingSpan(sv.groupOff, lists); err != nil {
		return fmt.Errorf("sparse-ivf groups: %w", err)
	}
	if err := ascendingSpan(sv.listOff, rows); err != nil {
		return fmt.Errorf("sparse-ivf lists: %w", err)
	}
	seen := make([]bool, rows)
	for l := range lists {
		for p := sv.listOff[l]; p < sv.listOff[l+1]; p++ {
			r := sv.listRow[p]
			if int(r) >= rows || seen[r] || (p > sv.listOff[l] && r <= sv.listRow[p-1]) {
				return fmt.Errorf("sparse-ivf row %d out of range, repeated or out of order", r)
			}
			seen[r] = true
		}
	}
	return nil
}

// ascendingSpan checks offsets that must run from 0 to end without going
// back.
func ascendingSpan(off []uint32, end int) error {
	if len(off) == 0 || off[0] != 0 || int(off[len(off)-1]) != end {
		return fmt.Errorf("offsets do not span 0 to %d", end)
	}
	for i := 1; i < len(off); i++ {
		if off[i] < off[i-1] {
			return fmt.Errorf("offsets not ascending")
		}
	}
	return nil
}

func (cs *centroids) check(terms, dim int) error {
	if len(cs.off) < 2 || len(cs.idx) != len(cs.val) {
		return fmt.Errorf("sparse-ivf centroid sizes invalid")
	}
	if err := ascendingSpan(cs.off, len(cs.idx)); err != nil {
		return fmt.Errorf("sparse-ivf centroids: %w", err)
	}
	for c := range cs.n() {
		lo, hi := cs.off[c], cs.off[c+1]
		if int(hi-lo) > terms {
			return fmt.Errorf("sparse-ivf centroid %d has %d terms, more than %d", c, hi-lo, terms)
		}
		for p := lo; p < hi; p++ {
			if int(cs.idx[p]) >= dim || (p > lo && cs.idx[p] <= cs.idx[p-1]) {
				return fmt.Errorf("sparse-ivf centroid %d features not ascending below %d", c, dim)
			}
			if v := float64(cs.val[p]); math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("sparse-ivf centroid %d has a non-finite weight", c)
			}
		}
	}
	return nil
}
