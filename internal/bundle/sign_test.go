package bundle

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSignAndVerify(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`{"name":"r","version":"1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	pubS, privS, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKey(pubS)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ParsePrivateKey(privS)
	if err != nil {
		t.Fatal(err)
	}
	otherS, _, _ := GenerateKey()
	other, _ := ParsePublicKey(otherS)

	if err := VerifySignature(dir, nil); err != nil {
		t.Errorf("no trusted keys must mean no check: %v", err)
	}
	if err := VerifySignature(dir, []ed25519.PublicKey{pub}); !errors.Is(err, ErrSignature) {
		t.Errorf("unsigned bundle with keys configured: %v", err)
	}
	if err := Sign(dir, priv); err != nil {
		t.Fatal(err)
	}
	if err := VerifySignature(dir, []ed25519.PublicKey{other, pub}); err != nil {
		t.Errorf("signed by a trusted key: %v", err)
	}
	if err := VerifySignature(dir, []ed25519.PublicKey{other}); !errors.Is(err, ErrSignature) {
		t.Errorf("signed by an untrusted key: %v", err)
	}
	// A manifest changed after signing (say, its payload sha256) fails.
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`{"name":"r","version":"2"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := VerifySignature(dir, []ed25519.PublicKey{pub}); !errors.Is(err, ErrSignature) {
		t.Errorf("tampered manifest: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, SignatureFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := VerifySignature(dir, []ed25519.PublicKey{pub}); !errors.Is(err, ErrSignature) {
		t.Errorf("garbage signature: %v", err)
	}
	for _, bad := range []string{"", "!!", "AAAA"} {
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", bad)
		}
		if _, err := ParsePrivateKey(bad); err == nil {
			t.Errorf("ParsePrivateKey(%q) accepted", bad)
		}
	}
}
