package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

type staticCreds struct{}

func (staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "k", SecretAccessKey: "s", Source: "test"}, nil
}

func writeBundle(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func assertNoDir(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s exists after a failed fetch (err %v)", p, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".fetch-") {
			t.Fatalf("temp dir %s left behind", e.Name())
		}
	}
}

var bundleFilesV1 = map[string]string{
	"manifest.json":    `{"name":"support","version":"1"}`,
	"model.bin":        "weights v1",
	"extra/vocab.json": `["a","b"]`,
}

func TestPublishFetchList(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, _ := b.open(t)
			repo := NewRepo(s, RepoOptions{})
			info, err := repo.Publish(ctx, "support", "1", writeBundle(t, bundleFilesV1))
			if err != nil {
				t.Fatal(err)
			}
			if len(info.Files) != 3 || info.Files[len(info.Files)-1].Path != ManifestFile {
				t.Fatalf("published files = %+v", info.Files)
			}
			for _, f := range info.Files {
				if f.SHA256 != sha256Hex([]byte(bundleFilesV1[f.Path])) {
					t.Fatalf("%s sha256 = %s", f.Path, f.SHA256)
				}
				if b.versioned && f.VersionID == "" {
					t.Fatalf("%s has no S3 VersionId recorded", f.Path)
				}
			}
			if _, err := repo.Publish(ctx, "support", "2", writeBundle(t, map[string]string{"manifest.json": "{}", "model.bin": "v2"})); err != nil {
				t.Fatal(err)
			}
			if _, err := repo.Publish(ctx, "other", "1", writeBundle(t, map[string]string{"manifest.json": "{}"})); err != nil {
				t.Fatal(err)
			}

			t.Run("existing version refused", func(t *testing.T) {
				_, err := repo.Publish(ctx, "support", "1", writeBundle(t, map[string]string{"manifest.json": "{}", "model.bin": "different"}))
				if !errors.Is(err, ErrExists) {
					t.Fatalf("republish = %v, want ErrExists", err)
				}
				got, _, err := ReadAll(ctx, s, "models/support/versions/1/model.bin")
				if err != nil || string(got) != "weights v1" {
					t.Fatalf("published payload changed: %q %v", got, err)
				}
			})
			t.Run("list", func(t *testing.T) {
				models, err := repo.ListModels(ctx)
				if err != nil || strings.Join(models, ",") != "other,support" {
					t.Fatalf("models = %v %v", models, err)
				}
				vs, err := repo.ListVersions(ctx, "support")
				if err != nil || len(vs) != 2 {
					t.Fatalf("versions = %v %v", vs, err)
				}
				got := map[string]bool{vs[0].Version: true, vs[1].Version: true}
				if !got["1"] || !got["2"] {
					t.Fatalf("versions = %v", vs)
				}
			})
			t.Run("fetch", func(t *testing.T) {
				dest := filepath.Join(t.TempDir(), "cache", "support", "1")
				fi, err := repo.FetchVersion(ctx, "support", "1", dest)
				if err != nil {
					t.Fatal(err)
				}
				for name, body := range bundleFilesV1 {
					got, err := os.ReadFile(filepath.Join(dest, filepath.FromSlash(name)))
					if err != nil || string(got) != body {
						t.Fatalf("fetched %s = %q %v", name, got, err)
					}
				}
				if len(fi.Files) != 3 {
					t.Fatalf("fetch info = %+v", fi)
				}
				if _, err := repo.FetchVersion(ctx, "support", "1", dest); !errors.Is(err, ErrExists) {
					t.Fatalf("fetch into an existing dir = %v, want ErrExists", err)
				}
				missing := filepath.Join(t.TempDir(), "nope")
				if _, err := repo.FetchVersion(ctx, "support", "9", missing); !errors.Is(err, ErrNotFound) {
					t.Fatalf("fetch of a missing version = %v, want ErrNotFound", err)
				}
				assertNoDir(t, missing)
			})
		})
	}
}

func TestFetchRejectsTamperedVersion(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, tamper := b.open(t)
			repo := NewRepo(s, RepoOptions{})
			if _, err := repo.Publish(ctx, "support", "1", writeBundle(t, bundleFilesV1)); err != nil {
				t.Fatal(err)
			}
			tamper(t, "models/support/versions/1/model.bin", []byte("weights v2"))
			dest := filepath.Join(t.TempDir(), "v1")
			if _, err := repo.FetchVersion(ctx, "support", "1", dest); !errors.Is(err, ErrChecksum) {
				t.Fatalf("fetch = %v, want ErrChecksum", err)
			}
			assertNoDir(t, dest)
		})
	}
}

// failingStore fails the put of keys with a given suffix, after the real
// store may or may not have written (both happen to real uploads).
type failingStore struct {
	Store
	failSuffix string
	puts       atomic.Int32
}

func (f *failingStore) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (ObjectInfo, error) {
	f.puts.Add(1)
	if strings.HasSuffix(key, f.failSuffix) {
		return ObjectInfo{}, fmt.Errorf("injected failure writing %s", key)
	}
	return f.Store.Put(ctx, key, r, opts)
}

// failingVersionedStore keeps DeleteVersion visible through the wrapper.
type failingVersionedStore struct {
	*failingStore
	Versioned
}

func TestFailedPublishCleansUp(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		for _, suffix := range []string{ManifestFile, SumsFile, "vocab.json"} {
			t.Run(b.name+"/fail-at-"+suffix, func(t *testing.T) {
				s, _ := b.open(t)
				fs := &failingStore{Store: s, failSuffix: suffix}
				var wrapped Store = fs
				if v, ok := s.(Versioned); ok {
					wrapped = failingVersionedStore{fs, v}
				}
				repo := NewRepo(wrapped, RepoOptions{})
				_, err := repo.Publish(ctx, "support", "1", writeBundle(t, bundleFilesV1))
				if err == nil || !strings.Contains(err.Error(), "injected failure") {
					t.Fatalf("publish = %v, want the injected failure", err)
				}
				if fs.puts.Load() < 2 && suffix != "vocab.json" {
					t.Fatalf("failure came before any upload (%d puts): test proves nothing", fs.puts.Load())
				}
				left, err := s.List(ctx, "models/")
				if err != nil || len(left) != 0 {
					t.Fatalf("left behind: %s (%v)", keysOf(left), err)
				}
				if v, ok := s.(Versioned); ok {
					vs, err := v.ListVersions(ctx, "models/support/versions/1/model.bin")
					if err != nil || len(vs) != 0 {
						t.Fatalf("versions left behind: %+v (%v)", vs, err)
					}
				}
				// With the failure gone the same version publishes cleanly.
				if _, err := NewRepo(s, RepoOptions{}).Publish(ctx, "support", "1", writeBundle(t, bundleFilesV1)); err != nil {
					t.Fatalf("publish after cleanup: %v", err)
				}
			})
		}
	}
}

func TestPublishBlockedByDebris(t *testing.T) {
	ctx := context.Background()
	s, err := OpenFileStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	repo := NewRepo(s, RepoOptions{})
	// What a publish that crashed (no cleanup ran) leaves behind.
	put(t, s, "models/support/versions/1/model.bin", "half", PutOptions{})
	_, err = repo.Publish(ctx, "support", "1", writeBundle(t, bundleFilesV1))
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "DiscardPartial") {
		t.Fatalf("publish over debris = %v, want ErrConflict naming DiscardPartial", err)
	}
	if got, _, _ := ReadAll(ctx, s, "models/support/versions/1/model.bin"); string(got) != "half" {
		t.Fatalf("the failed publish touched an object it did not write: %q", got)
	}
	if vs, _ := repo.ListVersions(ctx, "support"); len(vs) != 0 {
		t.Fatalf("debris listed as a version: %v", vs)
	}
	n, err := repo.DiscardPartial(ctx, "support", "1")
	if err != nil || n != 1 {
		t.Fatalf("discard = %d %v", n, err)
	}
	if _, err := repo.Publish(ctx, "support", "1", writeBundle(t, bundleFilesV1)); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.DiscardPartial(ctx, "support", "1"); !errors.Is(err, ErrExists) {
		t.Fatalf("discard of a published version = %v, want ErrExists", err)
	}
}

func TestBundleValidation(t *testing.T) {
	ctx := context.Background()
	s, _ := OpenFileStore(t.TempDir(), nil)
	repo := NewRepo(s, RepoOptions{})
	cases := []struct {
		name, model, version string
		files                map[string]string
		want                 string
	}{
		{"no manifest", "m", "1", map[string]string{"model.bin": "x"}, "no manifest.json"},
		{"reserved sums file", "m", "1", map[string]string{"manifest.json": "{}", "SHA256SUMS": "x"}, "SHA256SUMS"},
		{"bad model name", "../m", "1", map[string]string{"manifest.json": "{}"}, "model name"},
		{"bad version", "m", "v/1", map[string]string{"manifest.json": "{}"}, "version"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := repo.Publish(ctx, c.model, c.version, writeBundle(t, c.files))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("publish = %v, want an error about %q", err, c.want)
			}
			if left, _ := s.List(ctx, ""); len(left) != 0 {
				t.Fatalf("left behind: %s", keysOf(left))
			}
		})
	}
}

func TestCurrentConcurrentDeploys(t *testing.T) {
	const writers, rounds = 8, 6
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, _ := b.open(t)
			repo := NewRepo(s, RepoOptions{})
			for v := 1; v <= writers; v++ {
				if _, err := repo.Publish(ctx, "support", fmt.Sprint(v), writeBundle(t, map[string]string{"manifest.json": fmt.Sprintf(`{"v":%d}`, v)})); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := repo.ReadCurrent(ctx, "support"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("CURRENT before the first deploy: %v, want ErrNotFound", err)
			}
			etag := "" // the first round creates CURRENT (If-None-Match)
			for round := 0; round < rounds; round++ {
				var wg sync.WaitGroup
				var mu sync.Mutex
				var winners []string
				var winnerETag string
				for w := 1; w <= writers; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						who := fmt.Sprintf("admin-%d", w)
						newETag, err := repo.SetCurrent(ctx, "support", Current{Version: fmt.Sprint(w), Who: who, Reason: fmt.Sprintf("round %d", round)}, etag)
						switch {
						case err == nil:
							mu.Lock()
							winners = append(winners, who)
							winnerETag = newETag
							mu.Unlock()
						case !errors.Is(err, ErrConflict):
							t.Errorf("round %d %s: %v, want success or ErrConflict", round, who, err)
						}
					}()
				}
				wg.Wait()
				if len(winners) != 1 {
					t.Fatalf("round %d: %d winners %v, want exactly 1", round, len(winners), winners)
				}
				cur, curETag, err := repo.ReadCurrent(ctx, "support")
				if err != nil {
					t.Fatal(err)
				}
				if b.versioned && cur.ManifestVersionID == "" {
					t.Fatalf("round %d: CURRENT records no manifest VersionId: %+v", round, cur)
				}
				if cur.Who != winners[0] || curETag != winnerETag || cur.SHA256 == "" || cur.When.IsZero() {
					t.Fatalf("round %d: CURRENT = %+v (etag %s), winner %s (etag %s)", round, cur, curETag, winners[0], winnerETag)
				}
				etag = curETag
			}
		})
	}
}

func TestSetCurrentValidates(t *testing.T) {
	ctx := context.Background()
	s, _ := OpenFileStore(t.TempDir(), nil)
	repo := NewRepo(s, RepoOptions{})
	if _, err := repo.Publish(ctx, "m", "1", writeBundle(t, map[string]string{"manifest.json": "{}"})); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cur  Current
		want error
	}{
		{"unpublished version", Current{Version: "2"}, ErrNotFound},
		{"wrong sha256", Current{Version: "1", SHA256: strings.Repeat("0", 64)}, ErrChecksum},
		{"bad version", Current{Version: "../1"}, ErrInvalidKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := repo.SetCurrent(ctx, "m", c.cur, ""); !errors.Is(err, c.want) {
				t.Fatalf("SetCurrent = %v, want %v", err, c.want)
			}
		})
	}
	if _, _, err := repo.ReadCurrent(ctx, "m"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a rejected SetCurrent wrote CURRENT: %v", err)
	}
}
