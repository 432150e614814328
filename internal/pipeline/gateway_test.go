package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/gateway"
	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
	"github.com/switchyard-ai/switchyard/internal/pipeline"
)

// TestGatewayMountsPipeline: a gateway whose config has a pipeline section
// serves /admin/pipeline/runs behind the admin key, runs the pipeline in the
// background and shuts down cleanly with it.
func TestGatewayMountsPipeline(t *testing.T) {
	dir := t.TempDir()
	d := synthetic.Prompts(200, 12, 1)
	rows := make([]dataset.Row, len(d.Prompts))
	for i := range rows {
		qx, qy := d.Q[i][0], d.Q[i][1]
		cx, cy := synthetic.CostX, synthetic.CostY
		rows[i] = dataset.Row{ID: fmt.Sprint("r", i), Prompt: d.Prompts[i], Outcomes: map[string]dataset.Outcome{
			synthetic.X: {Quality: &qx, Cost: &cx}, synthetic.Y: {Quality: &qy, Cost: &cy},
		}}
	}
	data := filepath.Join(dir, "rows.jsonl")
	if err := dataset.Write(data, rows); err != nil {
		t.Fatal(err)
	}
	pcfg := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(pcfg, []byte(`model: gw-router
store: file://`+filepath.Join(dir, "store")+`
export: {datasets: [`+data+`]}
train: [{kind: knn, featurizer: {kind: tfidf, dim: 4096}}]
deploy: {enabled: false}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	gcfg := `listen: 127.0.0.1:0
auth:
  api_keys: [{id: client, key: sk-client}]
  admin_keys: [{id: ops, key: sk-admin}]
deployments:
  - {name: a, provider: simulated, model: sim-a, simulated: {quality: {default: 0.9}}}
routes:
  - {name: auto, candidates: [a], strategy: {kind: weighted}}
pipeline:
  config: ` + pcfg + `
`
	cfg, err := config.Parse([]byte(gcfg))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	base := "http://" + ln.Addr().String()
	call := func(method, path, key string) (int, map[string]any) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(""))
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, _ := call("POST", "/admin/pipeline/runs", "sk-client"); code != http.StatusUnauthorized && code != http.StatusForbidden {
		t.Fatalf("client key on the admin API: %d", code)
	}
	code, body := call("POST", "/admin/pipeline/runs", "sk-admin")
	if code != http.StatusAccepted {
		t.Fatalf("POST: %d %v", code, body)
	}
	id := body["id"].(string)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		code, body = call("GET", "/admin/pipeline/runs/"+id, "sk-admin")
		if code != http.StatusOK {
			t.Fatalf("GET: %d %v", code, body)
		}
		if body["status"] != pipeline.StatusRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("run did not finish")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if body["status"] != pipeline.StatusSucceeded {
		t.Fatalf("run %v", body)
	}
}
