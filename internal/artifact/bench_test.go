package artifact

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/testsvc"
)

func benchStores(b *testing.B) map[string]func(b *testing.B) Store {
	return map[string]func(b *testing.B) Store{
		"file": func(b *testing.B) Store {
			s, err := OpenFileStore(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
		"s3-versitygw": func(b *testing.B) Store {
			gw := testsvc.StartVersityGW(b)
			s, err := OpenStore(context.Background(), "s3://"+gw.NewBucket(b)+"/bench", Options{
				Endpoint: gw.Endpoint, Region: gw.Region, Credentials: gw.Credentials(),
			})
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
}

// BenchmarkSetCurrent measures one deploy's CURRENT write (Stat of the
// manifest + conditional put), the step a rollback waits on.
func BenchmarkSetCurrent(b *testing.B) {
	ctx := context.Background()
	for _, name := range []string{"file", "s3-versitygw"} {
		b.Run(name, func(b *testing.B) {
			repo := NewRepo(benchStores(b)[name](b), RepoOptions{})
			dir := b.TempDir()
			os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`{}`), 0o644)
			if _, err := repo.Publish(ctx, "m", "1", dir); err != nil {
				b.Fatal(err)
			}
			etag := ""
			b.ResetTimer()
			for b.Loop() {
				var err error
				etag, err = repo.SetCurrent(ctx, "m", Current{Version: "1", Who: "bench"}, etag)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPublishFetch publishes and fetches a bundle with a 1 MiB payload.
func BenchmarkPublishFetch(b *testing.B) {
	ctx := context.Background()
	payload := bytes.Repeat([]byte("switchyard"), 1<<20/10)
	for _, name := range []string{"file", "s3-versitygw"} {
		b.Run(name, func(b *testing.B) {
			repo := NewRepo(benchStores(b)[name](b), RepoOptions{})
			src := b.TempDir()
			os.WriteFile(filepath.Join(src, ManifestFile), []byte(`{}`), 0o644)
			os.WriteFile(filepath.Join(src, "model.bin"), payload, 0o644)
			dst := b.TempDir()
			b.SetBytes(int64(len(payload)))
			i := 0
			for b.Loop() {
				i++
				v := fmt.Sprint(i)
				if _, err := repo.Publish(ctx, "m", v, src); err != nil {
					b.Fatal(err)
				}
				if _, err := repo.FetchVersion(ctx, "m", v, filepath.Join(dst, v)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
