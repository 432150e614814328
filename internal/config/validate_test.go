package config

import (
	"strings"
	"testing"
)

const minimal = `
auth: {allow_anonymous: true}
deployments:
  - {name: a, provider: openai, base_url: "http://127.0.0.1:1/v1", model: m}
routes:
  - {name: auto, candidates: [a]}
`

// TestLimits: unset limits get their defaults; a negative one is refused,
// naming the key.
func TestLimits(t *testing.T) {
	cfg, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.MaxUpstreamConnsPerHost != DefaultMaxUpstreamConnsPerHost || cfg.Limits.MaxBodyBytes != DefaultMaxBodyBytes {
		t.Errorf("defaults: %+v", cfg.Limits)
	}
	cfg, err = Parse([]byte(minimal + "limits: {max_upstream_conns_per_host: 64}\n"))
	if err != nil || cfg.Limits.MaxUpstreamConnsPerHost != 64 {
		t.Errorf("max_upstream_conns_per_host 64: %+v, %v", cfg, err)
	}
	for _, c := range []struct{ yaml, want string }{
		{"limits: {max_upstream_conns_per_host: -1}\n", "limits.max_upstream_conns_per_host: -1 is negative"},
		{"limits: {max_body_bytes: -5}\n", "limits.max_body_bytes: -5 is negative"},
		{"limits: {shutdown_timeout: -3s}\n", "limits.shutdown_timeout: -3s is negative"},
	} {
		if _, err := Parse([]byte(minimal + c.yaml)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want it to contain %q", c.yaml, err, c.want)
		}
	}
}
