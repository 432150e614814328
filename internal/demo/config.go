// Package demo runs Switchyard's whole loop on one machine with embedded
// defaults and simulated providers: serve traffic with exploration and
// feedback, export the traces, train KNN, MLP and SVM routers, evaluate them,
// deploy the best through hot reload while traffic continues, compare cost
// and quality before and after, roll back, and report.
package demo

import (
	"fmt"
	"path/filepath"
)

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
deployments:
  - name: frontier
    provider: simulated
    model: sim-frontier
    price: {input_per_mtok: 10, output_per_mtok: 30}
    simulated: {quality: {code: 0.93, math: 0.92, science: 0.9, writing: 0.9, chat: 0.88, default: 0.9}, latency_ms: 4, output_tokens: 150, output_jitter: 0.2, seed: 1}
  - name: coder
    provider: simulated
    model: sim-coder
    price: {input_per_mtok: 0.6, output_per_mtok: 1.8}
    simulated: {quality: {code: 0.92, math: 0.7, science: 0.5, writing: 0.35, chat: 0.5, default: 0.5}, latency_ms: 3, output_tokens: 130, output_jitter: 0.2, seed: 2}
  - name: scholar
    provider: simulated
    model: sim-scholar
    price: {input_per_mtok: 1.5, output_per_mtok: 4.5}
    simulated: {quality: {code: 0.55, math: 0.91, science: 0.9, writing: 0.6, chat: 0.6, default: 0.6}, latency_ms: 3, output_tokens: 140, output_jitter: 0.2, seed: 3}
  - name: small
    provider: simulated
    model: sim-small
    price: {input_per_mtok: 0.1, output_per_mtok: 0.3}
    simulated: {quality: {code: 0.3, math: 0.35, science: 0.55, writing: 0.89, chat: 0.88, default: 0.8}, latency_ms: 2, output_tokens: 110, output_jitter: 0.2, error_rate: 0.005, seed: 4}
strategies:
  - name: baseline
    kind: fallback
    params: {order: [frontier, scholar, coder, small]}
routes:
  - name: %[1]s
    candidates: [frontier, coder, scholar, small]
    use: baseline
    exploration_rate: %[8]g
    operating_point: balanced
`, route, clientKey, adminKey, service, filepath.Join(dir, "traces.jsonl"), filepath.Join(dir, "store"), filepath.Join(dir, "cache"), exploration)
}
