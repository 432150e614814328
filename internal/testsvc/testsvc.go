// Package testsvc starts real services (Redis, an S3 server, Jaeger) for tests,
// on free loopback ports, and stops them when the test ends.
//
// A test that needs a service whose binary is missing is skipped, unless
// SWITCHYARD_REQUIRE_SERVICES=1 (set by `make test` and CI, which install the
// binaries first): then it fails, so CI can never pass by skipping.
package testsvc

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr returns "127.0.0.1:PORT".
func Addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// Binary finds a service binary: the env var override, then PATH, then
// $(go env GOPATH)/bin and the project's .tools/bin. When it is missing the test
// is skipped, or fails when services are required.
func Binary(t testing.TB, name, envOverride string) string {
	t.Helper()
	if v := os.Getenv(envOverride); v != "" {
		return v
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	if root := projectRoot(); root != "" {
		dirs = append(dirs, filepath.Join(root, ".tools", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	if os.Getenv("SWITCHYARD_REQUIRE_SERVICES") == "1" {
		t.Fatalf("%s not found (set %s, or run `make services`)", name, envOverride)
	}
	t.Skipf("%s not found; run `make services` or set %s", name, envOverride)
	return ""
}

func projectRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
