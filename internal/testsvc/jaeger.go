package testsvc

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Jaeger is a Jaeger v2 all-in-one started for one test, with in-memory trace
// storage and every port on a free loopback port.
type Jaeger struct {
	// QueryURL is the query service's HTTP base, http://127.0.0.1:PORT; the
	// v3 API (/api/v3/traces) and the legacy one (/api/traces) hang off it.
	QueryURL string
	// OTLPHTTP is http://127.0.0.1:PORT for OTLP/HTTP (POST /v1/traces).
	OTLPHTTP string
	// OTLPGRPC is grpc://127.0.0.1:PORT for OTLP/gRPC.
	OTLPGRPC string
	// HealthURL answers 200 once every pipeline is up.
	HealthURL string
}

// JaegerOptions tune the instance. The zero value is fine for most tests.
type JaegerOptions struct {
	// MaxTraces bounds the in-memory store (default 100,000). The store
	// evicts the oldest traces beyond it, so a benchmark loading N traces
	// must set at least N.
	MaxTraces int
}

// StartJaeger starts Jaeger v2 (the binary from SWITCHYARD_JAEGER, PATH or
// .tools/bin, built by `make services` from tools/jaeger) and waits until its
// health check and query API answer. It is stopped when the test ends.
func StartJaeger(t testing.TB, opts JaegerOptions) *Jaeger {
	t.Helper()
	bin := Binary(t, "jaeger", "SWITCHYARD_JAEGER")
	if opts.MaxTraces <= 0 {
		opts.MaxTraces = 100_000
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "jaeger.log")
	var lastErr string
	// A port picked by FreePort can be taken before Jaeger binds it; retry
	// with fresh ports a few times rather than fail the test.
	for attempt := 0; attempt < 3; attempt++ {
		ports := make([]int, 5)
		for i := range ports {
			ports[i] = FreePort(t)
		}
		health, qhttp, qgrpc, ogrpc, ohttp := ports[0], ports[1], ports[2], ports[3], ports[4]
		cfgPath := filepath.Join(dir, "jaeger.yaml")
		if err := os.WriteFile(cfgPath, []byte(jaegerConfig(health, qhttp, qgrpc, ogrpc, ohttp, opts.MaxTraces)), 0o644); err != nil {
			t.Fatalf("jaeger config: %v", err)
		}
		logFile, err := os.Create(logPath)
		if err != nil {
			t.Fatalf("jaeger log: %v", err)
		}
		cmd := exec.Command(bin, "--config", cfgPath)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			logFile.Close()
			t.Fatalf("start jaeger: %v", err)
		}
		logFile.Close()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		j := &Jaeger{
			QueryURL:  fmt.Sprintf("http://%s", Addr(qhttp)),
			OTLPHTTP:  fmt.Sprintf("http://%s", Addr(ohttp)),
			OTLPGRPC:  fmt.Sprintf("grpc://%s", Addr(ogrpc)),
			HealthURL: fmt.Sprintf("http://%s/status", Addr(health)),
		}
		err = j.waitReady(exited, 30*time.Second)
		if err == nil {
			t.Cleanup(func() { stopProcess(cmd, exited) })
			return j
		}
		lastErr = err.Error()
		stopProcess(cmd, exited)
	}
	log, _ := os.ReadFile(logPath)
	t.Fatalf("jaeger did not start: %s; log:\n%s", lastErr, tail(log, 4000))
	return nil
}

// waitReady polls the health endpoint, then the query API (which starts
// after the pipelines), until both answer 200.
func (j *Jaeger) waitReady(exited <-chan error, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	ok := func(url string) bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("jaeger exited at start: %v", err)
		default:
		}
		if ok(j.HealthURL) && ok(j.QueryURL+"/api/v3/services") {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("jaeger not healthy at %s within %s", j.HealthURL, timeout)
}

func jaegerConfig(health, qhttp, qgrpc, ogrpc, ohttp, maxTraces int) string {
	return fmt.Sprintf(`service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: %s
  jaeger_query:
    # Jaeger traces itself to 127.0.0.1:4317 by default: off, so it does not
    # dial whatever listens there and wait for it at shutdown.
    enable_tracing: false
    storage:
      traces: mem
    http:
      endpoint: %s
    grpc:
      endpoint: %s
  jaeger_storage:
    backends:
      mem:
        memory:
          max_traces: %d
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
        max_recv_msg_size_mib: 64
      http:
        endpoint: %s
processors:
  batch: {}
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
`, Addr(health), Addr(qhttp), Addr(qgrpc), maxTraces, Addr(ogrpc), Addr(ohttp))
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
