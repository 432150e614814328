package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/switchyard-ai/switchyard/internal/pipeline"
)

// runPipelineCmd runs a fresh `pipeline` command (flags do not carry over).
func runPipelineCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := map[string]func() *cobra.Command{"run": pipelineRunCmd, "status": pipelineStatusCmd}[args[0]]()
	cmd.SetOut(&out)
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetArgs(args[1:])
	err := cmd.Execute()
	return out.String(), err
}

// TestPipelineCommands: pipeline run trains, uploads and registers into a
// file store; pipeline status finds the run by id and lists it; a bad config
// fails before any work with the key named.
func TestPipelineCommands(t *testing.T) {
	dir := t.TempDir()
	data := writeSynthData(t, dir, "rows.jsonl", 200, 1)
	cfg := filepath.Join(dir, "pipeline.yaml")
	body := `model: cli-router
store: file://store
export:
  datasets: [` + data + `]
split: {test_frac: 0.25, seed: 1}
train:
  - kind: knn
    featurizer: {kind: tfidf, dim: 4096}
gate: {metric: aiq, margin: 0.01}
deploy: {enabled: false}
`
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runPipelineCmd(t, "run", "--config", cfg, "--deploy=true", "--json", "--log-level", "error")
	if err != nil {
		t.Fatalf("pipeline run: %v\n%s", err, out)
	}
	var rec pipeline.Record
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if rec.Status != pipeline.StatusSucceeded || !rec.Deployed || !strings.HasPrefix(rec.Bundle, "file://"+filepath.Join(dir, "store")) {
		t.Fatalf("record %+v", rec)
	}
	out, err = runPipelineCmd(t, "status", rec.ID, "--config", cfg)
	if err != nil || !strings.Contains(out, "run "+rec.ID) || !strings.Contains(out, "succeeded") || !strings.Contains(out, "deploy") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	out, err = runPipelineCmd(t, "status", "--store", "file://"+filepath.Join(dir, "store"))
	if err != nil || !strings.Contains(out, rec.ID) {
		t.Fatalf("status list: %v\n%s", err, out)
	}
	if _, err := runPipelineCmd(t, "status", "20990101T000000.000Z-abcdef", "--config", cfg); err == nil {
		t.Fatal("status of an unknown run: want an error")
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(body, "margin: 0.01", "margin: -2", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runPipelineCmd(t, "run", "--config", bad); err == nil || !strings.Contains(err.Error(), "gate.margin") {
		t.Fatalf("bad margin: %v", err)
	}
}
