package modelmgr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/switchyard-ai/switchyard/internal/artifact"
	"github.com/switchyard-ai/switchyard/internal/bundle"
	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/tracking"
)

// FromConfig opens the store (and Redis, when configured) named by the
// models section and builds a registry. The caller runs it (Run) and closes
// it (Close). A config without a store gives (nil, nil): no model manager.
func FromConfig(ctx context.Context, mc config.Models, log *slog.Logger, reg prometheus.Registerer) (*Registry, error) {
	if mc.Store == "" {
		if mc.CacheDir != "" || mc.RedisURL != "" || mc.NotifyChannel != "" {
			return nil, errors.New("models: store is required when cache_dir, redis_url or notify_channel is set")
		}
		return nil, nil
	}
	if mc.PollInterval < 0 || mc.MaxDecisionLatency < 0 {
		return nil, errors.New("models: poll_interval and max_decision_latency must not be negative")
	}
	store, err := artifact.OpenStore(ctx, mc.Store, artifact.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	cache := mc.CacheDir
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("models: no cache_dir set and no user cache dir: %w", err)
		}
		cache = filepath.Join(base, "switchyard", "models")
	}
	cfg := Config{
		Repo: artifact.NewRepo(store, artifact.RepoOptions{Logger: log}), CacheDir: cache,
		PollInterval: mc.PollInterval.D(), NotifyChannel: mc.NotifyChannel, MaxDecisionLatency: mc.MaxDecisionLatency.D(),
		Logger: log, Registerer: reg,
	}
	tc := tracking.ConfigFromEnv()
	tc.TrackingURI = mc.TrackingURI
	if cfg.Tracker, err = tracking.New(tc, cfg.Repo); err != nil {
		return nil, fmt.Errorf("models.tracking_uri: %w", err)
	}
	for i, k := range mc.SigningPublicKeys {
		pub, err := bundle.ParsePublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("models.signing_public_keys[%d]: %w", i, err)
		}
		cfg.TrustedKeys = append(cfg.TrustedKeys, pub)
	}
	var client *redis.Client
	if mc.RedisURL != "" {
		opts, err := redis.ParseURL(mc.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("models: redis_url: %w", err)
		}
		client = redis.NewClient(opts)
		cfg.Redis = client
	}
	r, err := New(cfg)
	if err != nil {
		if client != nil {
			_ = client.Close()
		}
		return nil, err
	}
	if client != nil {
		r.closer = client.Close
	}
	return r, nil
}
