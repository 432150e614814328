package artifact

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/testsvc"
)

// testBackend opens a fresh, empty store of one kind, and can change an
// object's bytes behind the store's back (as disk rot or a hand edit would).
type testBackend struct {
	name      string
	versioned bool
	open      func(t *testing.T) (Store, func(t *testing.T, key string, data []byte))
}

// backends returns the file store and, when VersityGW can be found, an S3
// store on a real VersityGW with versioning on (one gateway per subtest: it
// starts in about 0.1 s). Without the binary the S3 rows are skipped, or fail
// under SWITCHYARD_REQUIRE_SERVICES=1.
func backends(t *testing.T) []testBackend {
	t.Helper()
	file := testBackend{name: "file", open: func(t *testing.T) (Store, func(*testing.T, string, []byte)) {
		dir := t.TempDir()
		s, err := OpenStore(context.Background(), "file://"+dir, Options{})
		if err != nil {
			t.Fatalf("open file store: %v", err)
		}
		return s, func(t *testing.T, key string, data []byte) {
			if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(key)), data, 0o644); err != nil {
				t.Fatalf("tamper: %v", err)
			}
		}
	}}
	s3b := testBackend{name: "s3-versitygw", versioned: true, open: func(t *testing.T) (Store, func(*testing.T, string, []byte)) {
		gw := testsvc.StartVersityGW(t)
		bucket := gw.NewBucket(t)
		s, err := OpenStore(context.Background(), "s3://"+bucket+"/switchyard-test", Options{
			Endpoint: gw.Endpoint, Region: gw.Region, Credentials: gw.Credentials(),
		})
		if err != nil {
			t.Fatalf("open s3 store: %v", err)
		}
		return s, func(t *testing.T, key string, data []byte) {
			// The posix backend keeps the object as a plain file and its
			// metadata in xattrs; rewriting in place keeps the xattrs.
			p := filepath.Join(gw.DataDir, bucket, "switchyard-test", filepath.FromSlash(key))
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatalf("tamper: %v", err)
			}
			defer f.Close()
			if _, err := f.Write(data); err != nil {
				t.Fatalf("tamper: %v", err)
			}
		}
	}}
	return []testBackend{file, s3b}
}
