package bundle

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sample() Manifest {
	return Manifest{
		Name: "support", Version: "3", Kind: "knn",
		Featurizer: Featurizer{Kind: "tfidf", Spec: map[string]any{"dim": 1024}},
		Candidates: []Candidate{{Name: "a", InputPrice: 1, OutputPrice: 2}, {Name: "b"}},
		Operating:  []OperatingPoint{{Name: "quality"}, {Name: "balanced", Lambda: 0.5, Fraction: 0.98, Met: true}},
		CostScale:  0.01,
		Canaries:   []Canary{{Prompt: "hi", OperatingPoint: "quality", Pick: "a"}},
	}
}

func TestWriteRead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "models", "support", "3")
	payload := []byte("payload bytes")
	if err := Write(dir, sample(), payload); err != nil {
		t.Fatal(err)
	}
	m, p, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(p) != string(payload) || m.Name != "support" || m.FormatVersion != FormatVersion || m.PayloadBytes != int64(len(payload)) {
		t.Fatalf("round trip: %+v %q", m, p)
	}
	// Overwrite replaces the whole bundle and leaves no temporary files.
	if err := Write(dir, sample(), []byte("second")); err != nil {
		t.Fatal(err)
	}
	if _, p, err = Read(dir); err != nil || string(p) != "second" {
		t.Fatalf("after overwrite: %q %v", p, err)
	}
	ents, _ := os.ReadDir(filepath.Dir(dir))
	if len(ents) != 1 {
		t.Fatalf("leftovers beside the bundle: %v", ents)
	}
}

func TestWriteRejectsInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Manifest)
	}{
		{"no name", func(m *Manifest) { m.Name = "" }},
		{"no kind", func(m *Manifest) { m.Kind = "" }},
		{"no candidates", func(m *Manifest) { m.Candidates = nil }},
		{"repeated candidate", func(m *Manifest) { m.Candidates = append(m.Candidates, Candidate{Name: "a"}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := sample()
			tc.mod(&m)
			dir := filepath.Join(t.TempDir(), "b")
			if err := Write(dir, m, []byte("x")); err == nil {
				t.Fatal("want an error")
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a failed write left %s behind: %v", dir, err)
			}
		})
	}
}

func TestReadBad(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good")
	if err := Write(good, sample(), []byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	man, _ := os.ReadFile(filepath.Join(good, ManifestFile))
	var raw map[string]any
	json.Unmarshal(man, &raw)
	raw["format_version"] = 2
	v2, _ := json.Marshal(raw)
	raw["format_version"] = 1
	raw["surprise"] = true
	unknown, _ := json.Marshal(raw)
	for _, tc := range []struct {
		name     string
		manifest []byte
		payload  string
		want     error
		text     string
	}{
		{"truncated payload", man, "01234", ErrChecksum, "truncated"},
		{"wrong checksum", man, "0123456780", ErrChecksum, "sha256"},
		{"unknown version", v2, "0123456789", ErrVersion, "2"},
		{"unknown field", unknown, "0123456789", nil, "surprise"},
		{"no version", []byte(`{"name":"x"}`), "0123456789", nil, "format_version"},
		{"truncated manifest", man[:len(man)/2], "0123456789", nil, "manifest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, ManifestFile), tc.manifest, 0o644)
			os.WriteFile(filepath.Join(dir, PayloadFile), []byte(tc.payload), 0o644)
			_, _, err := Read(dir)
			if err == nil {
				t.Fatal("want an error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("error %q does not mention %q", err, tc.text)
			}
		})
	}
}

// FuzzDecode feeds arbitrary manifests and payloads to the loader: it must
// return an error or a valid manifest, never panic.
func FuzzDecode(f *testing.F) {
	dir := filepath.Join(f.TempDir(), "b")
	if err := Write(dir, sample(), []byte("0123456789")); err != nil {
		f.Fatal(err)
	}
	man, _ := os.ReadFile(filepath.Join(dir, ManifestFile))
	f.Add(man, []byte("0123456789"))
	f.Add([]byte(`{"format_version":1}`), []byte{})
	f.Fuzz(func(t *testing.T, manifest, payload []byte) {
		m, err := Decode(manifest, payload)
		if err == nil {
			if err := m.Validate(); err != nil {
				t.Fatalf("Decode accepted an invalid manifest: %v", err)
			}
		}
	})
}

// FuzzDec checks the payload decoder primitives never panic or over-allocate.
func FuzzDec(f *testing.F) {
	e := &Enc{}
	e.U32(1)
	e.String("hello")
	e.F32s([]float32{1, 2})
	e.U32s([]uint32{1, 5})
	e.F32s([]float32{0.5, 0.5})
	f.Add(e.B)
	f.Fuzz(func(t *testing.T, b []byte) {
		d := &Dec{B: b}
		d.U32()
		_ = d.String()
		_ = d.F32s()
		_ = d.Vector(10)
		_ = d.Int(0, 10, "n")
		_ = d.Done("fuzz")
	})
}
