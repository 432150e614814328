package modelmgr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/switchyard-ai/switchyard/internal/artifact"
	"github.com/switchyard-ai/switchyard/internal/bundle"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
)

// Errors that classify why a version cannot be activated, for errors.Is and
// for the admin API's status codes.
var (
	// ErrMissing: the version (or one of its files) is not in the store.
	ErrMissing = errors.New("model version not found")
	// ErrInvalid: the version is there but must not be served: a checksum
	// mismatch, an undecodable bundle, a failing canary, the wrong kind, or
	// decisions slower than the configured bound.
	ErrInvalid = errors.New("model version failed validation")
)

// Snapshot is one loaded, validated model version. It is immutable; a request
// loads the manager's snapshot once and uses it until it ends.
type Snapshot struct {
	Name    string
	Version string
	// SHA256 is the payload's sha256 (from the verified manifest);
	// ManifestSHA256 is manifest.json's, which is what CURRENT records.
	SHA256         string
	ManifestSHA256 string
	Kind           string
	LoadedAt       time.Time
	Router         *router.Router
	// index maps a bundle candidate name to its position in the router.
	index map[string]int
}

// repoSource adapts the artifact repo to modelsync.Source. The syncer hands
// over an empty directory it owns; FetchVersion wants to create its
// destination itself (so it can rename a verified download into place), so
// the files are fetched into a child and moved up.
type repoSource struct{ repo *artifact.Repo }

func (s repoSource) Download(ctx context.Context, name, version, destDir string) error {
	tmp := filepath.Join(destDir, ".fetch")
	if _, err := s.repo.FetchVersion(ctx, name, version, tmp); err != nil {
		return err
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("read fetched version: %w", err)
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(tmp, e.Name()), filepath.Join(destDir, e.Name())); err != nil {
			return fmt.Errorf("move fetched file: %w", err)
		}
	}
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("remove fetch dir: %w", err)
	}
	return nil
}

// verifyBundle checks a cached or downloaded version: the manifest is a
// bundle manifest of this name and version and the payload matches its
// sha256. It only reads. Every failure is ErrInvalid: whatever is wrong with
// the files, fetching them again will not fix it.
func verifyBundle(_ context.Context, name, version, dir string) error {
	m, _, err := bundle.Read(dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if m.Name != name || m.Version != version {
		return fmt.Errorf("%w: bundle in %s is %s@%s, not %s@%s", ErrInvalid, dir, m.Name, m.Version, name, version)
	}
	return nil
}

// prepare brings name@version into the cache (through the model sync, so
// one replica downloads while the others wait), verifies it, decodes it and
// validates it. wantManifestSHA, if not empty, is what CURRENT says the
// manifest's sha256 is. The result is ready to serve; nothing is activated.
func (r *Registry) prepare(ctx context.Context, name, version, kind, wantManifestSHA string) (*Snapshot, error) {
	if err := validModelName(version); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMissing, err)
	}
	dir, err := r.sync.Ensure(ctx, name, version)
	if err != nil {
		return nil, classify(err)
	}
	mb, err := os.ReadFile(filepath.Join(dir, bundle.ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	msum := sha256.Sum256(mb)
	manifestSHA := hex.EncodeToString(msum[:])
	if wantManifestSHA != "" && wantManifestSHA != manifestSHA {
		return nil, fmt.Errorf("%w: manifest sha256 %s, CURRENT says %s", ErrInvalid, manifestSHA, wantManifestSHA)
	}
	if err := bundle.VerifySignature(dir, r.cfg.TrustedKeys); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	m, payload, err := bundle.Read(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if kind != "" && m.Kind != kind {
		return nil, fmt.Errorf("%w: %s@%s is a %s bundle, served by a %s strategy", ErrInvalid, name, version, m.Kind, kind)
	}
	rt, err := router.FromBundle(m, payload)
	if err != nil {
		return nil, fmt.Errorf("%w: decode: %w", ErrInvalid, err)
	}
	if err := r.validate(ctx, rt); err != nil {
		return nil, err
	}
	snap := &Snapshot{
		Name: name, Version: version, SHA256: m.PayloadSHA256, ManifestSHA256: manifestSHA,
		Kind: m.Kind, Router: rt, index: map[string]int{},
	}
	for j, c := range rt.Candidates() {
		snap.index[c] = j
	}
	return snap, nil
}

// minLatencySamples is how many canary decisions the latency check times at
// least, so a bundle with one canary is not judged on a single run.
const minLatencySamples = 21

// validate replays the manifest's canaries (each must decide, and pick what
// the bundle recorded) and times canary decisions: the median must be within
// MaxDecisionLatency. The median, not the maximum, because a GC pause or a
// busy neighbour during the check says nothing about the model.
func (r *Registry) validate(ctx context.Context, rt *router.Router) error {
	man := rt.Manifest()
	if len(man.Canaries) == 0 {
		return fmt.Errorf("%w: the bundle has no canaries, so it cannot be checked before serving", ErrInvalid)
	}
	if err := rt.CheckCanaries(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	times := make([]time.Duration, 0, minLatencySamples)
	for i := 0; len(times) < minLatencySamples; i++ {
		c := man.Canaries[i%len(man.Canaries)]
		start := time.Now()
		if _, err := rt.DecideAt(ctx, c.Prompt, nil, c.OperatingPoint); err != nil {
			return fmt.Errorf("%w: canary %d: %w", ErrInvalid, i%len(man.Canaries), err)
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	if med := times[len(times)/2]; med > r.cfg.MaxDecisionLatency {
		return fmt.Errorf("%w: median decision latency %s exceeds the bound %s", ErrInvalid, med, r.cfg.MaxDecisionLatency)
	}
	return nil
}

// classify maps a sync error to ErrMissing or ErrInvalid when it is one of
// those, and leaves transient errors (store unreachable, lock wait) as they are.
func classify(err error) error {
	switch {
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrMissing):
		return err
	case errors.Is(err, artifact.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrMissing, err)
	case errors.Is(err, artifact.ErrChecksum), errors.Is(err, bundle.ErrChecksum),
		errors.Is(err, bundle.ErrCorrupt), errors.Is(err, bundle.ErrVersion), errors.Is(err, artifact.ErrInvalidKey):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return err
}

// permanent reports whether retrying the same version can only fail again.
func permanent(err error) bool {
	return errors.Is(err, ErrMissing) || errors.Is(err, ErrInvalid)
}
