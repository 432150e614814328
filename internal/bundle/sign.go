package bundle

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SignatureFile holds an Ed25519 signature of manifest.json, base64 encoded.
// The manifest records the payload's sha256, so the signature covers the
// whole bundle: a replica that trusts the signer's public key serves only
// bundles the signer published, whoever else can write to the store.
const SignatureFile = "manifest.sig"

// ErrSignature is returned when a bundle's signature is missing or does not
// verify against any trusted key.
var ErrSignature = errors.New("bundle signature")

// GenerateKey returns a new key pair, base64 encoded (the private key as its
// 32-byte seed).
func GenerateKey() (public, private string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	return base64.StdEncoding.EncodeToString(pub), base64.StdEncoding.EncodeToString(priv.Seed()), nil
}

// ParsePublicKey decodes a base64 Ed25519 public key.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key: want %d bytes of base64", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// ParsePrivateKey decodes a base64 Ed25519 seed (32 bytes) or private key
// (64 bytes).
func ParsePrivateKey(s string) (ed25519.PrivateKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	switch {
	case err != nil:
		return nil, errors.New("private key: not base64")
	case len(b) == ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case len(b) == ed25519.PrivateKeySize:
		return ed25519.PrivateKey(b), nil
	}
	return nil, fmt.Errorf("private key: want a %d-byte seed or %d-byte key", ed25519.SeedSize, ed25519.PrivateKeySize)
}

// Sign writes the signature of dir's manifest.json to dir/manifest.sig
// (temporary file, fsync, rename).
func Sign(dir string, key ed25519.PrivateKey) error {
	m, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return fmt.Errorf("sign bundle: %w", err)
	}
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(key, m))
	tmp, err := os.CreateTemp(dir, ".sig-*")
	if err != nil {
		return fmt.Errorf("sign bundle: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(sig + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("sign bundle: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sign bundle: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("sign bundle: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, SignatureFile)); err != nil {
		return fmt.Errorf("sign bundle: %w", err)
	}
	return nil
}

// VerifySignature checks dir's manifest.sig against the trusted keys. With no
// trusted keys it does nothing: signing is opt-in per deployment.
func VerifySignature(dir string, trusted []ed25519.PublicKey) error {
	if len(trusted) == 0 {
		return nil
	}
	m, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSignature, err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, SignatureFile))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: the bundle is not signed and signing keys are configured", ErrSignature)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSignature, err)
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: %s is not a base64 Ed25519 signature", ErrSignature, SignatureFile)
	}
	for _, k := range trusted {
		if ed25519.Verify(k, m, sig) {
			return nil
		}
	}
	return fmt.Errorf("%w: does not verify against any of the %d trusted keys", ErrSignature, len(trusted))
}
