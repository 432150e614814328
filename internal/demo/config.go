// Package demo runs Switchyard's whole loop on one machine with embedded
// defaults and simulated providers: serve traffic with exploration and
// feedback, export the traces, train KNN, MLP and SVM routers, evaluate them,
// deploy the best through hot reload while traffic continues, compare cost
// and quality before and after, roll back, and report.
package demo

import (
	_ "embed"
	"fmt"
	"path/filepath"
)

// deployments is the four simulated models, shared with
// examples/mlops/smoke.sh.
//
//go:embed deployments.yaml
var deployments string

// Names used across the demo.
const (
	route     = "auto"
	modelName = "router"
	service   = "switchyard-demo"
	clientKey = "sk-demo-client"
	adminKey  = "sk-demo-admin"
)

// gatewayConfig is the demo gateway: four simulated models, each best at
// something, priced so the best single model is the dearest. The route starts
// on the dearest model (what a cautious team runs before it has a router),
// with exploration so its traces show every model's outcomes.
func gatewayConfig(dir string, exploration float64) string {
	return fmt.Sprintf(`listen: 127.0.0.1:0
auth:
  api_keys: [{id: demo, key: %[2]s}]
  admin_keys: [{id: demo-admin, key: %[3]s}]
telemetry:
  service_name: %[4]s
  trace_file: %[5]s
  prompt_capture: text
  log_level: error
feedback:
  metrics: [{name: quality, min: 0, max: 1}]
models:
  store: file://%[6]s
  cache_dir: %[7]s
  poll_interval: 200ms
%[9]sstrategies:
  - name: baseline
    kind: fallback
    params: {order: [frontier, scholar, coder, small]}
routes:
  - name: %[1]s
    candidates: [frontier, coder, scholar, small]
    use: baseline
    exploration_rate: %[8]g
    operating_point: balanced
`, route, clientKey, adminKey, service, filepath.Join(dir, "traces.jsonl"), filepath.Join(dir, "store"), filepath.Join(dir, "cache"), exploration, deployments)
}
