package pipeline

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/config"
)

// TestExampleConfigs keeps examples/mlops valid: the pipeline config loads
// both ways the docs describe (local trace file and file store; the compose
// environment with Jaeger, S3, MLflow and Redis), and the compose gateway
// config parses with its pipeline section.
func TestExampleConfigs(t *testing.T) {
	root := filepath.Join("..", "..", "examples", "mlops")
	trace := filepath.Join(t.TempDir(), "traces.jsonl")
	if err := os.WriteFile(trace, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("local", func(t *testing.T) {
		t.Setenv("SWITCHYARD_TRACE_FILE", trace)
		c, err := Load(filepath.Join(root, "pipeline.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if c.Export.Jaeger != nil || c.Tracking.URI != "" || !c.Deploy.Enabled || c.Gate.Metric != "quality@balanced" {
			t.Fatalf("local config %+v", c)
		}
	})
	t.Run("compose", func(t *testing.T) {
		t.Setenv("SWITCHYARD_TRACE_FILE", "")
		t.Setenv("JAEGER_QUERY_URL", "http://jaeger:16686")
		t.Setenv("SWITCHYARD_STORE", "s3://switchyard-models/prod?endpoint=http://s3:7070")
		t.Setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
		t.Setenv("SWITCHYARD_REDIS_URL", "redis://redis:6379/0")
		c, err := Load(filepath.Join(root, "pipeline.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if c.Export.Jaeger == nil || c.Export.TraceFile != "" || c.StoreURI() != "s3://switchyard-models/prod?endpoint=http://s3:7070" {
			t.Fatalf("compose config %+v", c)
		}
		g, err := config.Load(filepath.Join(root, "gateway.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if g.Pipeline.Config != "/etc/switchyard/pipeline.yaml" || g.Pipeline.Schedule == "" {
			t.Fatalf("gateway pipeline section %+v", g.Pipeline)
		}
		if _, err := cronParser.Parse(g.Pipeline.Schedule); err != nil {
			t.Fatalf("gateway schedule: %v", err)
		}
	})
}
