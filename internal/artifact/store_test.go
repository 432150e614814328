package artifact

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/testsvc"
)

func put(t *testing.T, s Store, key, body string, opts PutOptions) ObjectInfo {
	t.Helper()
	info, err := s.Put(context.Background(), key, strings.NewReader(body), opts)
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return info
}

func TestStoreBasics(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, _ := b.open(t)
			info := put(t, s, "a/b/one.txt", "one", PutOptions{})
			if info.SHA256 != sha256Hex([]byte("one")) || info.Size != 3 || info.ETag == "" {
				t.Fatalf("put info = %+v", info)
			}
			if b.versioned && info.VersionID == "" {
				t.Fatalf("versioned put returned no VersionID")
			}
			// A reader that cannot seek is spooled and hashed the same way.
			put(t, s, "a/b/two.txt", "two", PutOptions{})
			if _, err := s.Put(ctx, "a/c/three.txt", io.MultiReader(strings.NewReader("th"), strings.NewReader("ree")), PutOptions{}); err != nil {
				t.Fatal(err)
			}
			got, ginfo, err := ReadAll(ctx, s, "a/b/one.txt")
			if err != nil || string(got) != "one" || ginfo.SHA256 != info.SHA256 || ginfo.ETag != info.ETag {
				t.Fatalf("get = %q %+v %v", got, ginfo, err)
			}
			st, err := s.Stat(ctx, "a/b/one.txt")
			if err != nil || st.SHA256 != info.SHA256 || st.Size != 3 {
				t.Fatalf("stat = %+v %v", st, err)
			}
			list, err := s.List(ctx, "a/b/")
			if err != nil {
				t.Fatal(err)
			}
			if keys := keysOf(list); keys != "a/b/one.txt,a/b/two.txt" {
				t.Fatalf("list a/b/ = %s", keys)
			}
			list, _ = s.List(ctx, "a/")
			if keys := keysOf(list); keys != "a/b/one.txt,a/b/two.txt,a/c/three.txt" {
				t.Fatalf("list a/ = %s", keys)
			}
			list, _ = s.List(ctx, "a/b/t")
			if keys := keysOf(list); keys != "a/b/two.txt" {
				t.Fatalf("list a/b/t = %s", keys)
			}
			if err := s.Delete(ctx, "a/b/two.txt"); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, "a/b/never"); err != nil {
				t.Fatalf("delete of a missing key: %v", err)
			}
			if _, _, err := s.Get(ctx, "a/b/two.txt"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("get deleted = %v, want ErrNotFound", err)
			}
			if _, err := s.Stat(ctx, "nope"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("stat missing = %v, want ErrNotFound", err)
			}
			if !strings.Contains(s.URI("x/y"), "x/y") {
				t.Fatalf("URI = %s", s.URI("x/y"))
			}
		})
	}
}

func TestStoreRejectsBadKeys(t *testing.T) {
	s, err := OpenFileStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "/abs", "a/../b", "a//b", "a/./b", "dir/", `a\b`, ".switchyard-tmp/x", "a/.switchyard.b.json"} {
		t.Run(key, func(t *testing.T) {
			_, err := s.Put(context.Background(), key, strings.NewReader("x"), PutOptions{})
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("put %q = %v, want ErrInvalidKey", key, err)
			}
		})
	}
	if _, err := s.Put(context.Background(), "k", strings.NewReader("x"), PutOptions{IfMatch: "e", IfNoneMatch: true}); err == nil {
		t.Fatal("IfMatch with IfNoneMatch accepted")
	}
}

func TestStoreConditionalPut(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, _ := b.open(t)
			first := put(t, s, "cur", "v1", PutOptions{IfNoneMatch: true})
			cases := []struct {
				name string
				key  string
				opts PutOptions
			}{
				{"create-only on existing", "cur", PutOptions{IfNoneMatch: true}},
				{"if-match stale etag", "cur", PutOptions{IfMatch: `"0123456789abcdef0123456789abcdef"`}},
				{"if-match on missing key", "missing", PutOptions{IfMatch: first.ETag}},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					_, err := s.Put(ctx, c.key, strings.NewReader("loser"), c.opts)
					if !errors.Is(err, ErrConflict) {
						t.Fatalf("put = %v, want ErrConflict", err)
					}
				})
			}
			second := put(t, s, "cur", "v2", PutOptions{IfMatch: first.ETag})
			if second.ETag == first.ETag {
				t.Fatalf("ETag did not change: %s", second.ETag)
			}
			if _, err := s.Put(ctx, "cur", strings.NewReader("v3"), PutOptions{IfMatch: first.ETag}); !errors.Is(err, ErrConflict) {
				t.Fatalf("put with the replaced ETag = %v, want ErrConflict", err)
			}
			got, _, err := ReadAll(ctx, s, "cur")
			if err != nil || string(got) != "v2" {
				t.Fatalf("after conflicts: %q %v", got, err)
			}
		})
	}
}

func TestStoreDetectsTampering(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, tamper := b.open(t)
			put(t, s, "m/model.bin", "the real weights", PutOptions{})
			tamper(t, "m/model.bin", []byte("evil weights!!!!"))
			_, _, err := ReadAll(ctx, s, "m/model.bin")
			if !errors.Is(err, ErrChecksum) {
				t.Fatalf("read of a tampered object = %v, want ErrChecksum", err)
			}
		})
	}
}

func TestStoreVersions(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, _ := b.open(t)
			vs, ok := s.(Versioned)
			if !b.versioned {
				if ok {
					t.Fatalf("%s store claims to keep versions", b.name)
				}
				t.Skip("backend keeps no versions")
			}
			v1 := put(t, s, "models/x/CURRENT", "first", PutOptions{})
			time.Sleep(10 * time.Millisecond) // distinct LastModified order
			v2 := put(t, s, "models/x/CURRENT", "second", PutOptions{IfMatch: v1.ETag})
			put(t, s, "models/x/CURRENT-other", "not a version of CURRENT", PutOptions{})
			list, err := vs.ListVersions(ctx, "models/x/CURRENT")
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 2 || list[0].VersionID != v2.VersionID || list[1].VersionID != v1.VersionID || !list[0].IsLatest || list[1].IsLatest {
				t.Fatalf("versions = %+v, want [%s (latest), %s]", list, v2.VersionID, v1.VersionID)
			}
			rc, info, err := vs.GetVersion(ctx, "models/x/CURRENT", v1.VersionID)
			if err != nil {
				t.Fatal(err)
			}
			old, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || string(old) != "first" || info.VersionID != v1.VersionID || info.SHA256 != sha256Hex([]byte("first")) {
				t.Fatalf("old version = %q %+v %v", old, info, err)
			}
			if err := vs.DeleteVersion(ctx, "models/x/CURRENT", v2.VersionID); err != nil {
				t.Fatal(err)
			}
			got, _, err := ReadAll(ctx, s, "models/x/CURRENT")
			if err != nil || string(got) != "first" {
				t.Fatalf("after deleting the newest version: %q %v", got, err)
			}
		})
	}
}

func TestS3Unreachable(t *testing.T) {
	ctx := context.Background()
	// A port that was free a moment ago and that nothing listens on.
	endpoint := "http://" + testsvc.Addr(testsvc.FreePort(t))
	s, err := OpenStore(ctx, "s3://bucket/p?endpoint="+endpoint+"&region=us-east-1", Options{
		Credentials: staticCreds{}, MaxAttempts: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	repo := NewRepo(s, RepoOptions{})
	bundle := writeBundle(t, map[string]string{"manifest.json": `{"v":1}`, "model.bin": "w"})
	dest := t.TempDir() + "/fetched"
	ops := []struct {
		name string
		run  func() error
	}{
		{"put", func() error { _, err := s.Put(ctx, "k", strings.NewReader("x"), PutOptions{}); return err }},
		{"get", func() error { _, _, err := s.Get(ctx, "k"); return err }},
		{"list", func() error { _, err := s.List(ctx, ""); return err }},
		{"publish", func() error { _, err := repo.Publish(ctx, "m", "1", bundle); return err }},
		{"set-current", func() error { _, err := repo.SetCurrent(ctx, "m", Current{Version: "1"}, ""); return err }},
		{"fetch", func() error { _, err := repo.FetchVersion(ctx, "m", "1", dest); return err }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			err := op.run()
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("%s = %v, want ErrUnavailable", op.name, err)
			}
			if !strings.Contains(err.Error(), "connection refused") {
				t.Fatalf("error does not say why: %v", err)
			}
		})
	}
	assertNoDir(t, dest)
}

func keysOf(list []ObjectInfo) string {
	var keys []string
	for _, o := range list {
		keys = append(keys, o.Key)
	}
	return strings.Join(keys, ",")
}
