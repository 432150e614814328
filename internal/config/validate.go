package config

import (
	"errors"
	"fmt"
	"time"
)

const (
	// DefaultMaxBodyBytes bounds a client body when limits.max_body_bytes is unset.
	DefaultMaxBodyBytes = 8 << 20
	// DefaultTimeout is a deployment's upstream timeout when unset.
	DefaultTimeout = 120 * time.Second
	// DefaultMaxRetries is how often one deployment is retried before fallback.
	DefaultMaxRetries = 2
	// DefaultMaxUpstreamConnsPerHost is limits.max_upstream_conns_per_host
	// when unset, Envoy's default connection limit per upstream cluster.
	DefaultMaxUpstreamConnsPerHost = 1024
)

// SetDefaults fills unset fields with their defaults; it is idempotent.
func (c *Config) SetDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Limits.MaxBodyBytes == 0 {
		c.Limits.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Limits.MaxUpstreamConnsPerHost == 0 {
		c.Limits.MaxUpstreamConnsPerHost = DefaultMaxUpstreamConnsPerHost
	}
	if c.Limits.ShutdownTimeout == 0 {
		c.Limits.ShutdownTimeout = Duration(30 * time.Second)
	}
	if c.Telemetry.ServiceName == "" {
		c.Telemetry.ServiceName = "switchyard"
	}
	if c.Telemetry.PromptCapture == "" {
		c.Telemetry.PromptCapture = "features"
	}
	for i := range c.Deployments {
		d := &c.Deployments[i]
		if d.Timeout == 0 {
			d.Timeout = Duration(DefaultTimeout)
		}
		if d.MaxRetries == nil {
			n := DefaultMaxRetries
			d.MaxRetries = &n
		}
		if d.Cooldown.AllowedFails == 0 {
			d.Cooldown.AllowedFails = 3
		}
		if d.Cooldown.CooldownTime == 0 {
			d.Cooldown.CooldownTime = Duration(30 * time.Second)
		}
	}
	if len(c.Feedback.Metrics) == 0 {
		c.Feedback.Metrics = []FeedbackMetric{{Name: "quality", Min: 0, Max: 1}}
	}
	for i := range c.Auth.APIKeys {
		if c.Auth.APIKeys[i].ID == "" {
			c.Auth.APIKeys[i].ID = fmt.Sprintf("key-%d", i)
		}
	}
	for i := range c.Auth.AdminKeys {
		if c.Auth.AdminKeys[i].ID == "" {
			c.Auth.AdminKeys[i].ID = fmt.Sprintf("admin-%d", i)
		}
	}
}

// Validate checks the references between sections. Provider kinds and strategy
// kinds are checked by their registries when the gateway is built, so the
// error can list the kinds that exist.
func (c *Config) Validate() error {
	var errs []error
	if c.Limits.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("limits.max_body_bytes: %d is negative (leave it out for the default, %d)", c.Limits.MaxBodyBytes, DefaultMaxBodyBytes))
	}
	if c.Limits.ShutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("limits.shutdown_timeout: %v is negative", c.Limits.ShutdownTimeout.D()))
	}
	if c.Limits.MaxUpstreamConnsPerHost < 0 {
		errs = append(errs, fmt.Errorf("limits.max_upstream_conns_per_host: %d is negative (leave it out for the default, %d)", c.Limits.MaxUpstreamConnsPerHost, DefaultMaxUpstreamConnsPerHost))
	}
	deps := map[string]bool{}
	for i, d := range c.Deployments {
		switch {
		case d.Name == "":
			errs = append(errs, fmt.Errorf("deployments[%d]: name is required", i))
		case deps[d.Name]:
			errs = append(errs, fmt.Errorf("deployments[%d]: duplicate name %q", i, d.Name))
		}
		deps[d.Name] = true
		if d.Provider == "" {
			errs = append(errs, fmt.Errorf("deployment %q: provider is required", d.Name))
		}
		if d.Price.InputPerMTok < 0 || d.Price.OutputPerMTok < 0 {
			errs = append(errs, fmt.Errorf("deployment %q: prices must not be negative", d.Name))
		}
		if *d.MaxRetries < 0 {
			errs = append(errs, fmt.Errorf("deployment %q: max_retries must not be negative", d.Name))
		}
	}
	routes := map[string]bool{}
	for i, r := range c.Routes {
		switch {
		case r.Name == "":
			errs = append(errs, fmt.Errorf("routes[%d]: name is required", i))
		case routes[r.Name]:
			errs = append(errs, fmt.Errorf("routes[%d]: duplicate name %q", i, r.Name))
		}
		routes[r.Name] = true
		if len(r.Candidates) == 0 {
			errs = append(errs, fmt.Errorf("route %q: at least one candidate is required", r.Name))
		}
		for _, cand := range r.Candidates {
			if !deps[cand] {
				errs = append(errs, fmt.Errorf("route %q: candidate %q is not a declared deployment", r.Name, cand))
			}
		}
		set := 0
		for _, s := range []bool{r.Strategy != nil, r.Use != "", r.Experiment != ""} {
			if s {
				set++
			}
		}
		if set > 1 {
			errs = append(errs, fmt.Errorf("route %q: strategy, use and experiment are exclusive", r.Name))
		}
		if r.ExplorationRate < 0 || r.ExplorationRate > 1 {
			errs = append(errs, fmt.Errorf("route %q: exploration_rate must be in [0,1]", r.Name))
		}
	}
	for _, k := range append(append([]Key{}, c.Auth.APIKeys...), c.Auth.AdminKeys...) {
		if k.Secret() == "" {
			errs = append(errs, fmt.Errorf("auth key %q: empty key (key or key_env must give a value)", k.ID))
		}
	}
	if len(c.Auth.APIKeys) == 0 && !c.Auth.AllowAnonymous {
		errs = append(errs, errors.New("auth: no api_keys; set allow_anonymous: true to serve without client keys"))
	}
	seenMetric := map[string]bool{}
	for i, m := range c.Feedback.Metrics {
		if m.Name == "" || seenMetric[m.Name] {
			errs = append(errs, fmt.Errorf("feedback.metrics[%d]: name is empty or repeated", i))
		}
		seenMetric[m.Name] = true
		if m.Max < m.Min {
			errs = append(errs, fmt.Errorf("feedback metric %q: max %g is below min %g", m.Name, m.Max, m.Min))
		}
	}
	switch c.Telemetry.PromptCapture {
	case "off", "features", "text":
	default:
		errs = append(errs, fmt.Errorf("telemetry.prompt_capture: %q is not off, features or text", c.Telemetry.PromptCapture))
	}
	return errors.Join(errs...)
}
