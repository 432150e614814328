package router

import (
	"context"
	"errors"
	"fmt"

	"github.com/switchyard-ai/switchyard/internal/bundle"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/ml/knn"
	"github.com/switchyard-ai/switchyard/internal/ml/mlp"
	"github.com/switchyard-ai/switchyard/internal/ml/svm"
)

// payloadVersion is the layout of model.bin inside a bundle; a change bumps
// it (and bundle.FormatVersion when the manifest changes).
const payloadVersion = 1

// payloadMagic opens every payload so a stray file is not mistaken for one.
const payloadMagic = "SWYDRTR1"

// ErrCanary is returned by Load when a canary prompt no longer gets the
// decision recorded at training time.
var ErrCanary = errors.New("canary decision mismatch")

// MarshalPayload encodes the featurizer, the quality learner and the cost
// model: the bundle's model.bin.
func (r *Router) MarshalPayload() ([]byte, error) {
	fb, err := r.feat.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode featurizer: %w", err)
	}
	qb, err := r.quality.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode %s model: %w", r.manifest.Kind, err)
	}
	e := &bundle.Enc{}
	e.B = append(e.B, payloadMagic...)
	e.U32(payloadVersion)
	e.String(r.feat.Kind())
	e.Bytes(fb)
	e.String(r.manifest.Kind)
	e.Bytes(qb)
	r.cost.marshal(e)
	return e.B, nil
}

// Save writes the router as a bundle in dir (atomically).
func (r *Router) Save(dir string) error {
	p, err := r.MarshalPayload()
	if err != nil {
		return fmt.Errorf("save router: %w", err)
	}
	if err := bundle.Write(dir, r.manifest, p); err != nil {
		return fmt.Errorf("save router: %w", err)
	}
	return nil
}

// Load reads, verifies and decodes the bundle in dir, then replays its
// canaries: a router whose decisions differ from the recorded ones is
// refused.
func Load(ctx context.Context, dir string) (*Router, error) {
	m, payload, err := bundle.Read(dir)
	if err != nil {
		return nil, fmt.Errorf("load router: %w", err)
	}
	r, err := FromBundle(m, payload)
	if err != nil {
		return nil, fmt.Errorf("load router %s: %w", dir, err)
	}
	if err := r.CheckCanaries(ctx); err != nil {
		return nil, fmt.Errorf("load router %s: %w", dir, err)
	}
	return r, nil
}

// FromBundle decodes a verified manifest and payload into a Router. It never
// panics on corrupt input: every section is length- and range-checked.
func FromBundle(m bundle.Manifest, payload []byte) (*Router, error) {
	if len(payload) < len(payloadMagic) || string(payload[:len(payloadMagic)]) != payloadMagic {
		return nil, fmt.Errorf("%w: not a router payload", bundle.ErrCorrupt)
	}
	d := &bundle.Dec{B: payload[len(payloadMagic):]}
	if v := d.U32(); d.Err == nil && v != payloadVersion {
		return nil, fmt.Errorf("%w: payload version %d (this build reads %d)", bundle.ErrVersion, v, payloadVersion)
	}
	fkind := d.String()
	fb := d.Bytes()
	qkind := d.String()
	qb := d.Bytes()
	if d.Err != nil {
		return nil, fmt.Errorf("decode payload: %w", d.Err)
	}
	cost, err := unmarshalCost(d)
	if err != nil {
		return nil, err
	}
	if err := d.Done("payload"); err != nil {
		return nil, err
	}
	if fkind != m.Featurizer.Kind || qkind != m.Kind {
		return nil, fmt.Errorf("%w: payload holds %s/%s, manifest says %s/%s", bundle.ErrCorrupt, fkind, qkind, m.Featurizer.Kind, m.Kind)
	}
	feat, err := feature.Unmarshal(fkind, fb)
	if err != nil {
		return nil, err
	}
	var q QualityModel
	switch qkind {
	case KindKNN:
		q, err = knn.Unmarshal(qb)
	case KindMLP:
		q, err = mlp.Unmarshal(qb)
	case KindSVM:
		q, err = svm.Unmarshal(qb)
	default:
		return nil, fmt.Errorf("unknown router kind %q (want one of %v)", qkind, Kinds)
	}
	if err != nil {
		return nil, err
	}
	return newRouter(m, feat, q, cost)
}

// CheckCanaries replays the manifest's canary prompts and compares picks.
func (r *Router) CheckCanaries(ctx context.Context) error {
	for i, c := range r.manifest.Canaries {
		d, err := r.DecideAt(ctx, c.Prompt, nil, c.OperatingPoint)
		if err != nil {
			return fmt.Errorf("canary %d: %w", i, err)
		}
		if d.Model != c.Pick {
			return fmt.Errorf("%w: canary %d at %q picked %q, bundle recorded %q", ErrCanary, i, c.OperatingPoint, d.Model, c.Pick)
		}
	}
	return nil
}
