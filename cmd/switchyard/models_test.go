package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/bundle"
	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/ml/knn"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
)

func runModels(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newModelsCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// modelBundles trains one small router and writes it as versions of model m.
func modelBundles(t *testing.T, versions ...string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	rows, err := dataset.Load(writeSynthData(t, dir, "train.jsonl", 200, 1))
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := router.Train(context.Background(), router.TrainConfig{Name: "m", Version: "x", Kind: router.KindKNN, Seed: 1,
		Featurizer: feature.Config{Kind: feature.KindTFIDF, Dim: 1 << 12}, KNN: knn.Config{K: 5}}, rows)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := r.MarshalPayload()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, v := range versions {
		m := r.Manifest()
		m.Version = v
		out[v] = filepath.Join(dir, v)
		if err := bundle.Write(out[v], m, payload); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestModelsCommands(t *testing.T) {
	store := "file://" + t.TempDir()
	dirs := modelBundles(t, "v1", "v2")
	common := []string{"--store", store, "--name", "m", "--actor", "cli:test"}
	steps := []struct {
		args    []string
		wantOut string
		wantErr string
	}{
		{[]string{"publish", "--version", "v1", "--dir", dirs["v1"]}, "published m@v1", ""},
		{[]string{"publish", "--version", "v2", "--dir", dirs["v2"]}, "published m@v2", ""},
		{[]string{"publish", "--version", "v2", "--dir", dirs["v2"]}, "", "already published"},
		{[]string{"deploy", "--version", "v3"}, "", "not found"},
		{[]string{"deploy", "--version", "v1", "--reason", "first"}, "CURRENT moved - -> v1", ""},
		{[]string{"rollback", "--version", "previous"}, "", "no previous version"},
		{[]string{"deploy", "--version", "v2"}, "CURRENT moved v1 -> v2", ""},
		{[]string{"deploy", "--version", "v2"}, "already current", ""},
		{[]string{"rollback", "--version", "previous", "--reason", "bad answers"}, "CURRENT moved v2 -> v1", ""},
		{[]string{"list"}, "v1", ""},
		{[]string{"history"}, "model.rollback", ""},
		{[]string{"deploy"}, "", "--name and --version are required"},
	}
	for _, s := range steps {
		t.Run(strings.Join(s.args, " "), func(t *testing.T) {
			out, err := runModels(t, append(s.args, common...)...)
			if s.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), s.wantErr) {
					t.Fatalf("error %v, want %q (output %s)", err, s.wantErr, out)
				}
				return
			}
			if err != nil || !strings.Contains(out, s.wantOut) {
				t.Fatalf("output %q, error %v; want %q", out, err, s.wantOut)
			}
		})
	}
	out, err := runModels(t, "list", "--json", "--store", store)
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Model   string
		Current struct{ Version, Who string }
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Current.Version != "v1" || rows[0].Current.Who != "cli:test" {
		t.Fatalf("list: %s", out)
	}
	if _, err := runModels(t, "list"); err == nil || !strings.Contains(err.Error(), "--store is required") {
		t.Fatalf("list without --store: %v", err)
	}
}
