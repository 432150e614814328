package svm

import (
	"fmt"
	"math"

	"github.com/switchyard-ai/switchyard/internal/bundle"
)

// Payload versions. Version 2 appends the nystrom settings and landmarks;
// linear and rff machines are still written as version 1, byte for byte
// what earlier builds wrote, so their bundles stay readable by those builds
// while a nystrom bundle is refused by them as an unknown version.
const (
	codecV1      = 1
	codecVersion = 2
)

// MarshalBinary encodes the configuration, the input columns, the weights
// and the Platt parameters, and a nystrom machine's landmarks. The Fourier
// projection is regenerated from the seed on load.
func (m *Model) MarshalBinary() ([]byte, error) {
	e := &bundle.Enc{}
	v := uint32(codecV1)
	if m.cfg.Kernel == KernelNystrom {
		v = codecVersion
	}
	e.U32(v)
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
	if v == codecVersion {
		e.Int(m.cfg.Landmarks)
		e.U8(b2u8(m.cfg.AddLinear))
		e.U32s(m.lmPtr)
		e.U32s(m.lmCol)
		e.F32s(m.lmVal)
	}
	return e.B, nil
}

func b2u8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// Unmarshal restores a model written by MarshalBinary, validating sizes so
// corrupt bytes give an error, never a panic.
func Unmarshal(data []byte) (*Model, error) {
	d := &bundle.Dec{B: data}
	version := d.U32()
	if d.Err == nil && version != codecV1 && version != codecVersion {
		return nil, fmt.Errorf("svm: unknown payload version %d (want %d or %d)", version, codecV1, codecVersion)
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
	if version == codecVersion {
		cfg.Landmarks = d.Int(1, maxLandmarks, "landmarks")
		switch d.U8() {
		case 0:
		case 1:
			cfg.AddLinear = true
		default:
			return nil, fmt.Errorf("svm: %w: add_linear flag not 0 or 1", bundle.ErrCorrupt)
		}
		m.lmPtr = d.U32s()
		m.lmCol = d.U32s()
		m.lmVal = d.F32s()
	}
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
	if (version == codecVersion) != (cfg.Kernel == KernelNystrom) {
		return nil, fmt.Errorf("svm: %w: kernel %q in a version %d payload", bundle.ErrCorrupt, cfg.Kernel, version)
	}
	nIn := len(m.cols)
	switch cfg.Kernel {
	case KernelRFF:
		nIn = cfg.RFFDim
	case KernelNystrom:
		if err := m.checkLandmarks(cfg.Landmarks); err != nil {
			return nil, err
		}
		nIn = len(m.lmPtr) - 1
		if cfg.AddLinear {
			nIn += len(m.cols)
		}
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

// checkLandmarks validates decoded landmarks: 1 to max of them, offsets
// ascending from 0 to the entry count, columns ascending within a landmark
// and inside the input, values finite.
func (m *Model) checkLandmarks(max int) error {
	n := len(m.lmPtr) - 1
	if n < 1 || n > max || m.lmPtr[0] != 0 || int(m.lmPtr[n]) != len(m.lmCol) || len(m.lmCol) != len(m.lmVal) {
		return fmt.Errorf("svm: %w: %d landmark offsets for %d entries", bundle.ErrCorrupt, len(m.lmPtr), len(m.lmCol))
	}
	for l := range n {
		lo, hi := m.lmPtr[l], m.lmPtr[l+1]
		if hi < lo {
			return fmt.Errorf("svm: %w: landmark offsets descend", bundle.ErrCorrupt)
		}
		for p := lo; p < hi; p++ {
			if int(m.lmCol[p]) >= len(m.cols) || (p > lo && m.lmCol[p] <= m.lmCol[p-1]) {
				return fmt.Errorf("svm: %w: landmark %d columns not ascending below %d", bundle.ErrCorrupt, l, len(m.cols))
			}
		}
	}
	for _, v := range m.lmVal {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("svm: %w: non-finite landmark value", bundle.ErrCorrupt)
		}
	}
	return nil
}
