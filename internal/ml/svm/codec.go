package svm

import (
	"fmt"
	"math"

	"github.com/switchyard-ai/switchyard/internal/bundle"
)

const codecVersion = 1

// MarshalBinary encodes the configuration, the input columns, the weights
// and the Platt parameters. The Fourier projection is regenerated from the
// seed on load.
func (m *Model) MarshalBinary() ([]byte, error) {
	e := &bundle.Enc{}
	e.U32(codecVersion)
	e.F64(m.cfg.C)
	e.String(m.cfg.Kernel)
	e.Int(m.cfg.RFFDim)
	e.F64(m.cfg.Gamma)
	e.Int(m.cfg.MaxIter)
	e.F64(m.cfg.Tol)
	e.F64(m.cfg.CalibFrac)
	e.Int(m.cfg.MinDF)
	e.U64(uint64(m.cfg.Seed))
	e.Int(m.dim)
	e.Int(m.nCand)
	e.U32s(m.cols)
	e.F32s(m.w)
	e.F64s(m.a)
	e.F64s(m.b)
	return e.B, nil
}

// Unmarshal restores a model written by MarshalBinary, validating sizes so
// corrupt bytes give an error, never a panic.
func Unmarshal(data []byte) (*Model, error) {
	d := &bundle.Dec{B: data}
	if v := d.U32(); d.Err == nil && v != codecVersion {
		return nil, fmt.Errorf("svm: unknown payload version %d (want %d)", v, codecVersion)
	}
	var cfg Config
	cfg.C = d.F64()
	cfg.Kernel = d.String()
	cfg.RFFDim = d.Int(1, 1<<14, "rff_dim")
	cfg.Gamma = d.F64()
	cfg.MaxIter = d.Int(1, 1<<30, "max_iter")
	cfg.Tol = d.F64()
	cfg.CalibFrac = d.F64()
	cfg.MinDF = d.Int(1, 1<<30, "min_df")
	cfg.Seed = int64(d.U64())
	m := &Model{dim: d.Int(1, 1<<30, "dim"), nCand: d.Int(1, 1<<16, "candidates")}
	m.cols = d.U32s()
	m.w = d.F32s()
	m.a = d.F64s()
	m.b = d.F64s()
	if err := d.Done("svm model"); err != nil {
		return nil, err
	}
	checked, err := cfg.withDefaults()
	if err != nil || checked != cfg {
		return nil, fmt.Errorf("svm: %w: invalid configuration", bundle.ErrCorrupt)
	}
	for i, c := range m.cols {
		if int64(c) >= int64(m.dim) || (i > 0 && c <= m.cols[i-1]) {
			return nil, fmt.Errorf("svm: %w: input columns not ascending below %d", bundle.ErrCorrupt, m.dim)
		}
	}
	if len(m.cols) == 0 || (cfg.Kernel == KernelRFF && len(m.cols)*cfg.RFFDim > 1<<28) {
		return nil, fmt.Errorf("svm: %w: %d input columns", bundle.ErrCorrupt, len(m.cols))
	}
	nIn := len(m.cols)
	if cfg.Kernel == KernelRFF {
		nIn = cfg.RFFDim
	}
	if len(m.w) != (nIn+1)*m.nCand || len(m.a) != m.nCand || len(m.b) != m.nCand {
		return nil, fmt.Errorf("svm: %w: weights do not match %d inputs x %d candidates", bundle.ErrCorrupt, nIn, m.nCand)
	}
	for _, v := range m.w {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("svm: %w: non-finite weight", bundle.ErrCorrupt)
		}
	}
	m.cfg = cfg
	m.init()
	return m, nil
}
