package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigValidation(t *testing.T) {
	e := newTestEnv(t)
	good := e.conf(t, "good.yaml", e.good, "", false, "")
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	base := string(raw)
	if _, err := Load(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"unknown key", "model: synth-router", "model: synth-router\nepochs: 3", "epochs"},
		{"missing data set", e.good, filepath.Join(e.dir, "absent.jsonl"), "export.datasets[0]"},
		{"missing holdout", e.holdout, filepath.Join(e.dir, "absent.jsonl"), "split.holdout"},
		{"unknown kind", "kind: knn", "kind: forest", `train[0]: unknown kind "forest"`},
		{"wrong section", "kind: knn", "kind: mlp", `train[0]: section "knn" given but kind is "mlp"`},
		{"data in train entry", "    seed: 3", "    seed: 3\n    data: {file: x.jsonl}", "train[0]: data set by the pipeline"},
		{"negative margin", "margin: 0.02", "margin: -0.1", "gate.margin"},
		{"relative margin too big", "margin: 0.02", "margin: 1.5\n  relative: true", "gate.margin"},
		{"margin not a number", "margin: 0.02", "margin: lots", "margin"},
		{"bad metric", "metric: quality@balanced", "metric: f1", "gate.metric"},
		{"uncalibrated point", "metric: quality@balanced", "metric: cost@economy", "train[0].operating_points"},
		{"no model", "model: synth-router", "model: ''", "model"},
		{"bad store", "store: " + e.store, "store: ftp://x", "store"},
		{"bad tracking uri", `uri: ""`, `uri: "mlflow:5000"`, "tracking.uri"},
		{"no sources", "  datasets: [" + e.good + "]", "  datasets: []", "export: give at least one"},
		{"jaeger without service", "  min_rows: 100", "  min_rows: 100\n  jaeger: {url: http://127.0.0.1:1}", "export.jaeger.service"},
		{"split both ways", "  holdout: " + e.holdout, "  holdout: " + e.holdout + "\n  test_frac: 0.3", "split"},
		{"bad test_frac", "  holdout: " + e.holdout, "  test_frac: 1.5", "split.test_frac"},
		{"unset env", "model: synth-router", "model: ${SWITCHYARD_NO_SUCH_VAR}", "SWITCHYARD_NO_SUCH_VAR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(base, tc.old) {
				t.Fatalf("test bug: %q not in the base config", tc.old)
			}
			p := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(p, []byte(strings.Replace(base, tc.old, tc.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestWithOverride(t *testing.T) {
	e := newTestEnv(t)
	p := e.conf(t, "p.yaml", e.good, "", false, "")
	raw, _ := os.ReadFile(p)
	for _, tc := range []struct {
		name, override, want string
		check                func(*Config) bool
	}{
		{name: "none", check: func(c *Config) bool { return !c.Deploy.Enabled }},
		{name: "deploy on (JSON)", override: `{"deploy": {"enabled": true}}`, check: func(c *Config) bool { return c.Deploy.Enabled && c.Model == "synth-router" }},
		{name: "gate (YAML)", override: "gate: {metric: aiq, margin: 0.5}", check: func(c *Config) bool { return c.Gate.Metric == "aiq" && c.Gate.Margin == 0.5 }},
		{name: "store refused", override: `{"store": "file:///elsewhere"}`, want: "store cannot be overridden"},
		{name: "unknown key", override: `{"deploy": {"enabld": true}}`, want: "enabld"},
		{name: "bad margin", override: `{"gate": {"margin": -1}}`, want: "gate.margin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := WithOverride(raw, p, []byte(tc.override))
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want an error naming %q", err, tc.want)
				}
				return
			}
			if err != nil || !tc.check(c) {
				t.Fatalf("config %+v (%v)", c, err)
			}
		})
	}
}

func timeAt(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRunIDs(t *testing.T) {
	a := NewRunID(timeAt(t, "2026-01-02T03:04:05.006Z"))
	b := NewRunID(timeAt(t, "2026-01-02T03:04:05.007Z"))
	if !(a < b) || !ValidRunID(a) || !ValidRunID(b) {
		t.Fatalf("ids %s, %s: want valid and time-ordered", a, b)
	}
	for _, bad := range []string{"", "../x", "20260102T030405.006Z", "x" + a} {
		if ValidRunID(bad) {
			t.Errorf("%q accepted as a run id", bad)
		}
	}
}
