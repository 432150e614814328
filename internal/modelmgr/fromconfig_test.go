package modelmgr_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/modelmgr"
)

func TestFromConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		yaml    string
		wantNil bool
		wantErr string
	}{
		{"no models section", "", true, ""},
		{"store and cache", "models:\n  store: file://" + dir + "/store\n  cache_dir: " + dir + "/cache\n  poll_interval: 2s\n  max_decision_latency: 20ms\n", false, ""},
		{"redis without store", "models:\n  redis_url: redis://127.0.0.1:1/0\n", false, "store is required"},
		{"bad store scheme", "models:\n  store: ftp://x\n  cache_dir: " + dir + "/c2\n", false, "unsupported scheme"},
		{"bad redis url", "models:\n  store: file://" + dir + "/store\n  cache_dir: " + dir + "/c3\n  redis_url: http://x\n", false, "redis_url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := "auth:\n  allow_anonymous: true\n" + tc.yaml
			cfg, err := config.Parse([]byte(raw))
			if err != nil {
				t.Fatalf("config: %v", err)
			}
			reg, err := modelmgr.FromConfig(context.Background(), cfg.Models, testLogger(), prometheus.NewRegistry())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (reg == nil) != tc.wantNil {
				t.Fatalf("registry %v, want nil: %v", reg, tc.wantNil)
			}
			if reg != nil {
				defer reg.Close()
				if cfg.Models.PollInterval.D() != 2*time.Second {
					t.Fatalf("poll interval %v", cfg.Models.PollInterval.D())
				}
			}
		})
	}
	if _, err := config.Parse([]byte("auth:\n  allow_anonymous: true\nmodels:\n  stroe: x\n")); err == nil {
		t.Fatal("a misspelt models key was accepted")
	}
}
