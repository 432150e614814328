package modelmgr_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-ai/switchyard/internal/audit"
	"github.com/switchyard-ai/switchyard/internal/bundle"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
	"github.com/switchyard-ai/switchyard/internal/modelmgr"
)

// TestSignedBundles: with trusted keys configured, an unsigned version and one
// signed by another key are rejected; one signed by a trusted key goes live.
func TestSignedBundles(t *testing.T) {
	ctx := audit.WithActor(context.Background(), "ops")
	e := newEnv(t)
	r := trainedRouter(t, router.KindKNN, 1)
	pubS, privS, _ := bundle.GenerateKey()
	pub, _ := bundle.ParsePublicKey(pubS)
	priv, _ := bundle.ParsePrivateKey(privS)
	_, otherS, _ := bundle.GenerateKey()
	other, _ := bundle.ParsePrivateKey(otherS)
	publish := func(version string, key ed25519.PrivateKey) {
		dir := writeBundle(t, r, "m", version, nil)
		if key != nil {
			if err := bundle.Sign(dir, key); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.repo.Publish(context.Background(), "m", version, dir); err != nil {
			t.Fatal(err)
		}
	}
	publish("unsigned", nil)
	publish("stranger", other)
	publish("good", priv)
	reg, err := modelmgr.New(modelmgr.Config{Repo: e.repo, CacheDir: filepath.Join(t.TempDir(), "cache"), PollInterval: 20 * time.Millisecond,
		Logger: testLogger(), Registerer: prometheus.NewRegistry(), MaxDecisionLatency: time.Second, TrustedKeys: []ed25519.PublicKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	run(t, reg)
	m, err := reg.Manager("m", router.KindKNN)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"unsigned", "stranger"} {
		if _, err := reg.Deploy(ctx, "m", v, "test"); !errors.Is(err, modelmgr.ErrInvalid) {
			t.Errorf("deploy %s: err = %v, want ErrInvalid", v, err)
		}
	}
	if _, err := reg.Deploy(ctx, "m", "good", "test"); err != nil {
		t.Fatalf("deploy signed: %v", err)
	}
	waitActive(t, m, "good")
}
