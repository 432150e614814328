package smoke

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/testsvc"
)

// pointers are the variables that make smoke.sh use a running service
// instead of starting one; the test clears them so it always starts its own
// on loopback ports and never sends anything to a service it did not start.
var pointers = []string{
	"REDIS_URL", "S3_ENDPOINT", "S3_BUCKET", "S3_PREFIX", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
	"AWS_SESSION_TOKEN", "AWS_PROFILE", "JAEGER_QUERY_URL", "OTLP_ENDPOINT", "MLFLOW_TRACKING_URI",
	"SWITCHYARD_BIN", "SMOKE_DIR", "SMOKE_KEEP", "SMOKE_REQUESTS", "SMOKE_TIMEOUT",
}

// TestSmokeScript runs examples/mlops/smoke.sh end to end and requires it to
// pass every check: two gateway replicas, traffic with feedback, the Jaeger
// export, two pipeline runs, hot reload on both replicas and a rollback. It
// takes about a minute (most of it building switchyard), so -short skips it.
func TestSmokeScript(t *testing.T) {
	if testing.Short() {
		t.Skip("smoke.sh takes about a minute; run without -short")
	}
	if runtime.GOOS == "windows" {
		t.Skip("smoke.sh is a bash script")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not found")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not found (smoke.sh signs its S3 calls with curl --aws-sigv4)")
	}
	// Found the way every service test finds them: missing binaries skip,
	// or fail under SWITCHYARD_REQUIRE_SERVICES=1.
	bins := map[string]string{
		"SWITCHYARD_REDIS_SERVER": testsvc.Binary(t, "redis-server", "SWITCHYARD_REDIS_SERVER"),
		"SWITCHYARD_VERSITYGW":    testsvc.Binary(t, "versitygw", "SWITCHYARD_VERSITYGW"),
		"SWITCHYARD_JAEGER":       testsvc.Binary(t, "jaeger", "SWITCHYARD_JAEGER"),
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "examples", "mlops", "smoke.sh"))
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, script)
	// On timeout SIGTERM lets the script's trap stop what it started.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	// The script's own watchdog (SMOKE_TIMEOUT) fires before the context,
	// so a hang ends with its logs rather than a kill.
	cmd.Env = environ(map[string]string{"SMOKE_DIR": t.TempDir(), "SMOKE_TIMEOUT": "480"}, bins)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	text := out.String()
	if runErr != nil {
		t.Fatalf("smoke.sh: %v\n%s", runErr, text)
	}
	for _, want := range []string{"## Switchyard smoke test: PASSED", "\nSMOKE PASSED\n"} {
		if !strings.Contains(text, want) {
			t.Fatalf("smoke.sh exited 0 but its output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "FAIL") {
		t.Fatalf("smoke.sh exited 0 but reported a failure:\n%s", text)
	}
	t.Logf("smoke.sh summary:\n%s", text[strings.Index(text, "## Switchyard smoke test"):])
}

// environ is the process environment without the service pointers, plus
// the given variables.
func environ(sets ...map[string]string) []string {
	drop := map[string]bool{}
	for _, k := range pointers {
		drop[k] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	for _, set := range sets {
		for k, v := range set {
			env = append(env, k+"="+v)
		}
	}
	return env
}
