// Package bundle is the on-disk form of a trained router: a directory with
// manifest.json (what the model is, how it was trained and evaluated, and the
// payload's SHA-256) and model.bin (the featurizer and learners, encoded with
// Enc). Write is atomic; Read verifies the format version and the checksum
// before anything decodes the payload.
package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// FormatVersion is the bundle layout this code writes and reads. A reader
// refuses any other version rather than guess at its meaning.
const FormatVersion = 1

// File names inside a bundle directory.
const (
	ManifestFile = "manifest.json"
	PayloadFile  = "model.bin"
)

// Errors Read reports, for errors.Is.
var (
	ErrChecksum = errors.New("payload checksum mismatch")
	ErrVersion  = errors.New("unknown bundle format version")
)

// maxManifest bounds manifest.json so a hostile file cannot exhaust memory.
const maxManifest = 16 << 20

// Manifest describes a bundle. It is JSON so operators and the model manager
// can read it without decoding the payload.
type Manifest struct {
	Name          string            `json:"name"`
	Version       string            `json:"version"`
	Kind          string            `json:"kind"` // knn, mlp or svm
	FormatVersion int               `json:"format_version"`
	Created       time.Time         `json:"created"`
	Featurizer    Featurizer        `json:"featurizer"`
	Candidates    []Candidate       `json:"candidates"`
	Data          DataSummary       `json:"data"`
	Metrics       json.RawMessage   `json:"metrics,omitempty"` // the evaluation report
	Operating     []OperatingPoint  `json:"operating_points"`
	CostScale     float64           `json:"cost_scale"`
	Params        map[string]any    `json:"params,omitempty"` // learner hyper-parameters
	PayloadSHA256 string            `json:"payload_sha256"`
	PayloadBytes  int64             `json:"payload_bytes"`
	Canaries      []Canary          `json:"canaries,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
}

// Featurizer names the featurizer kind and its human-readable parameters.
type Featurizer struct {
	Kind string         `json:"kind"`
	Spec map[string]any `json:"spec,omitempty"`
}

// Candidate is one model the router chooses among, with its list prices in
// USD per million tokens (zero when unknown) and how its cost is predicted.
type Candidate struct {
	Name        string  `json:"name" yaml:"name"`
	InputPrice  float64 `json:"input_price_per_mtok,omitempty" yaml:"input_price_per_mtok"`
	OutputPrice float64 `json:"output_price_per_mtok,omitempty" yaml:"output_price_per_mtok"`
	CostTarget  string  `json:"cost_target,omitempty" yaml:"cost_target"` // "tokens" or "cost"
}

// DataSummary records what the router was trained on.
type DataSummary struct {
	Rows       int            `json:"rows"`
	TrainRows  int            `json:"train_rows"`
	ValRows    int            `json:"validation_rows"`
	TestRows   int            `json:"test_rows"`
	Sources    map[string]int `json:"sources,omitempty"`
	Files      []string       `json:"files,omitempty"`
	Split      string         `json:"split,omitempty"`
	SplitSeed  int64          `json:"split_seed"`
	TestFrac   float64        `json:"test_frac,omitempty"`
	TrainSecs  float64        `json:"train_seconds"`
	SHA256Data string         `json:"data_sha256,omitempty"`
}

// OperatingPoint is a named lambda with the validation quality and cost it
// was calibrated at. Lambda multiplies cost divided by the manifest's
// CostScale.
type OperatingPoint struct {
	Name     string  `json:"name"`
	Lambda   float64 `json:"lambda"`
	Quality  float64 `json:"quality"`
	Cost     float64 `json:"cost"`
	Fraction float64 `json:"fraction,omitempty"`
	Met      bool    `json:"met"`
}

// Canary is a prompt with the decision the router made on it at training
// time; a loader that gets a different pick has a skewed featurizer or a
// corrupt model and must not serve it.
type Canary struct {
	Prompt         string `json:"prompt"`
	OperatingPoint string `json:"operating_point"`
	Pick           string `json:"pick"`
}

// Validate checks the fields a reader relies on.
func (m *Manifest) Validate() error {
	switch {
	case m.FormatVersion != FormatVersion:
		return fmt.Errorf("%w %d (this build reads %d)", ErrVersion, m.FormatVersion, FormatVersion)
	case m.Name == "" || m.Version == "":
		return errors.New("manifest: name and version are required")
	case m.Kind == "":
		return errors.New("manifest: kind is required")
	case len(m.Candidates) == 0:
		return errors.New("manifest: no candidates")
	case len(m.PayloadSHA256) != 64:
		return errors.New("manifest: payload_sha256 must be 64 hex digits")
	}
	seen := map[string]bool{}
	for _, c := range m.Candidates {
		if c.Name == "" || seen[c.Name] {
			return fmt.Errorf("manifest: candidate name %q empty or repeated", c.Name)
		}
		seen[c.Name] = true
	}
	return nil
}

// Write stores manifest and payload as a bundle in dir. It fills in the
// format version, payload checksum and size, writes both files into a
// temporary sibling directory, fsyncs them and renames the directory into
// place, so dir is either absent, the old bundle, or the whole new one. An
// existing dir is replaced only after the new one is complete.
func Write(dir string, m Manifest, payload []byte) error {
	sum := sha256.Sum256(payload)
	m.FormatVersion = FormatVersion
	m.PayloadSHA256 = hex.EncodeToString(sum[:])
	m.PayloadBytes = int64(len(payload))
	if m.Created.IsZero() {
		m.Created = time.Now().UTC()
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("write bundle: encode manifest: %w", err)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if err := writeSynced(filepath.Join(tmp, PayloadFile), payload); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	if err := writeSynced(filepath.Join(tmp, ManifestFile), append(mj, '\n')); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	if err := syncDir(tmp); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	// A directory cannot be renamed over a non-empty one, so move the old
	// bundle aside first and delete it once the new one is in place.
	var old string
	if _, err := os.Stat(dir); err == nil {
		old = tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("write bundle: move old bundle aside: %w", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if old != "" {
			_ = os.Rename(old, dir)
		}
		return fmt.Errorf("write bundle: %w", err)
	}
	ok = true
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	if old != "" {
		_ = os.RemoveAll(old)
	}
	return nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Read loads the bundle in dir and returns its manifest and verified payload.
func Read(dir string) (Manifest, []byte, error) {
	mb, err := readLimited(filepath.Join(dir, ManifestFile), maxManifest)
	if err != nil {
		return Manifest{}, nil, fmt.Errorf("read bundle %s: %w", dir, err)
	}
	payload, err := os.ReadFile(filepath.Join(dir, PayloadFile))
	if err != nil {
		return Manifest{}, nil, fmt.Errorf("read bundle %s: %w", dir, err)
	}
	m, err := Decode(mb, payload)
	if err != nil {
		return Manifest{}, nil, fmt.Errorf("read bundle %s: %w", dir, err)
	}
	return m, payload, nil
}

// Decode parses a manifest and checks the payload against it: the format
// version first (a newer layout is reported as such, not as corruption),
// then the size and SHA-256.
func Decode(manifest, payload []byte) (Manifest, error) {
	var probe struct {
		FormatVersion *int `json:"format_version"`
	}
	if err := json.Unmarshal(manifest, &probe); err != nil {
		return Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	if probe.FormatVersion == nil {
		return Manifest{}, errors.New("manifest: no format_version")
	}
	if *probe.FormatVersion != FormatVersion {
		return Manifest{}, fmt.Errorf("%w %d (this build reads %d)", ErrVersion, *probe.FormatVersion, FormatVersion)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(manifest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, err
	}
	if int64(len(payload)) != m.PayloadBytes {
		return Manifest{}, fmt.Errorf("%w: payload is %d bytes, manifest says %d (truncated?)", ErrChecksum, len(payload), m.PayloadBytes)
	}
	sum := sha256.Sum256(payload)
	if got := hex.EncodeToString(sum[:]); got != m.PayloadSHA256 {
		return Manifest{}, fmt.Errorf("%w: payload sha256 %s, manifest says %s", ErrChecksum, got, m.PayloadSHA256)
	}
	return m, nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d allowed", filepath.Base(path), st.Size(), limit)
	}
	return os.ReadFile(path)
}
