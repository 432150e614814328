package mlp

import (
	"fmt"
	"math"
	"slices"

	"github.com/switchyard-ai/switchyard/internal/bundle"
)

// Payload versions: 1 holds one network; 2 holds an ensemble with its packed
// input layer. Version 1 payloads still load (as a one-member ensemble).
const (
	codecV1      = 1
	codecVersion = 2
)

// MarshalBinary encodes the configuration, the input columns, the packed
// input layer and every member's upper layers.
func (m *Model) MarshalBinary() ([]byte, error) {
	e := &bundle.Enc{}
	e.U32(codecVersion)
	e.Int(len(m.cfg.Hidden))
	for _, h := range m.cfg.Hidden {
		e.Int(h)
	}
	e.Int(m.cfg.MaxEpochs)
	e.Int(m.cfg.Patience)
	e.Int(m.cfg.BatchSize)
	e.F64(m.cfg.LearningRate)
	e.F64(m.cfg.L2)
	e.F64(m.cfg.ValFrac)
	e.Int(m.cfg.MinDF)
	e.U64(uint64(m.cfg.Seed))
	e.F64(m.cfg.LabelSmoothing)
	e.Int(len(m.heads))
	for _, n := range m.Epochs {
		e.Int(n)
	}
	e.Int(m.dim)
	e.Int(m.nCand)
	e.U32s(m.cols)
	e.F32s(m.in)
	e.F32s(m.inB)
	for _, hd := range m.heads {
		for _, ly := range hd.layers {
			e.F32s(ly.w)
			e.F32s(ly.b)
		}
	}
	return e.B, nil
}

// Unmarshal restores a model written by MarshalBinary (either payload
// version), validating every size against the configuration so corrupt
// bytes give an error, never a panic.
func Unmarshal(data []byte) (*Model, error) {
	d := &bundle.Dec{B: data}
	v := d.U32()
	if d.Err == nil && v != codecV1 && v != codecVersion {
		return nil, fmt.Errorf("mlp: unknown payload version %d (want %d or %d)", v, codecV1, codecVersion)
	}
	var cfg Config
	nh := d.Int(1, 8, "hidden layers")
	for i := 0; i < nh && d.Err == nil; i++ {
		cfg.Hidden = append(cfg.Hidden, d.Int(1, 1<<14, "hidden width"))
	}
	cfg.MaxEpochs = d.Int(1, 1<<30, "max_epochs")
	cfg.Patience = d.Int(1, 1<<30, "patience")
	cfg.BatchSize = d.Int(1, 1<<30, "batch_size")
	cfg.LearningRate = d.F64()
	cfg.L2 = d.F64()
	cfg.ValFrac = d.F64()
	cfg.MinDF = d.Int(1, 1<<30, "min_df")
	cfg.Seed = int64(d.U64())
	cfg.Ensemble = 1
	if v == codecVersion {
		cfg.LabelSmoothing = d.F64()
		cfg.Ensemble = d.Int(1, 32, "ensemble")
	}
	m := &Model{}
	for e := 0; e < cfg.Ensemble && d.Err == nil; e++ {
		m.Epochs = append(m.Epochs, d.Int(0, 1<<30, "epochs"))
	}
	m.dim = d.Int(1, 1<<30, "dim")
	m.nCand = d.Int(1, 1<<16, "candidates")
	m.cols = d.U32s()
	if d.Err == nil && len(cfg.Hidden) > 0 {
		m.h0 = cfg.Hidden[0]
		m.width = cfg.Ensemble * m.h0
		m.in, m.inB = d.F32s(), d.F32s()
		if d.Err == nil && (len(m.in) != len(m.cols)*m.width || len(m.inB) != m.width) {
			return nil, fmt.Errorf("mlp: %w: input layer is not %dx%d", bundle.ErrCorrupt, len(m.cols), m.width)
		}
	}
	sizes := append(slices.Clone(cfg.Hidden), m.nCand)
	for e := 0; e < cfg.Ensemble && d.Err == nil; e++ {
		var hd head
		for l := 0; l+1 < len(sizes) && d.Err == nil; l++ {
			ly := layer{in: sizes[l], out: sizes[l+1], w: d.F32s(), b: d.F32s()}
			if d.Err == nil && (len(ly.w) != ly.in*ly.out || len(ly.b) != ly.out) {
				return nil, fmt.Errorf("mlp: %w: member %d layer %d is not %dx%d", bundle.ErrCorrupt, e, l+1, ly.in, ly.out)
			}
			hd.layers = append(hd.layers, ly)
		}
		m.heads = append(m.heads, hd)
	}
	if err := d.Done("mlp model"); err != nil {
		return nil, err
	}
	checked, err := cfg.withDefaults()
	if err != nil || !slices.Equal(checked.Hidden, cfg.Hidden) || checked.L2 != cfg.L2 || checked.LearningRate != cfg.LearningRate || checked.ValFrac != cfg.ValFrac || checked.LabelSmoothing != cfg.LabelSmoothing {
		return nil, fmt.Errorf("mlp: %w: invalid configuration", bundle.ErrCorrupt)
	}
	if len(m.cols) == 0 {
		return nil, fmt.Errorf("mlp: %w: no input columns", bundle.ErrCorrupt)
	}
	for i, c := range m.cols {
		if int64(c) >= int64(m.dim) || (i > 0 && c <= m.cols[i-1]) {
			return nil, fmt.Errorf("mlp: %w: input columns not ascending below %d", bundle.ErrCorrupt, m.dim)
		}
	}
	finite := func(ws []float32) bool {
		for _, v := range ws {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return false
			}
		}
		return true
	}
	ok := finite(m.in) && finite(m.inB)
	for _, hd := range m.heads {
		for _, ly := range hd.layers {
			ok = ok && finite(ly.w) && finite(ly.b)
		}
	}
	if !ok {
		return nil, fmt.Errorf("mlp: %w: non-finite weight", bundle.ErrCorrupt)
	}
	m.cfg = cfg
	m.init()
	return m, nil
}
