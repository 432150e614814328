package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// FileStore keeps objects as plain files under a directory, so a person can
// look at a bundle with ls and sha256sum.
//
// Layout: the object "a/b/c" is the file DIR/a/b/c; its sidecar
// DIR/a/b/.switchyard.c.json holds {sha256, size, modified} and is the commit
// record: an object exists when its sidecar does. Key segments may not start
// with ".switchyard", so sidecars never collide with objects.
//
// Writes go to a temp file in DIR/.switchyard-tmp (same filesystem), are
// fsynced, and are renamed into place while holding an exclusive flock(2) on
// a per-key lock file in DIR/.switchyard-locks; readers take a shared lock
// while they read the sidecar and open the data file. flock works across
// processes and across goroutines (each lock is its own open file
// description), so the check of a conditional put and the rename that follows
// are one atomic step: two processes cannot both win. A crash between the two
// renames leaves data whose sidecar does not match, which every read reports
// as ErrChecksum rather than serving it.
//
// The ETag is the content's sha256. A key cannot be both an object and a
// "directory" of other objects here ("a" and "a/b"), unlike in S3.
type FileStore struct {
	root string
	log  *slog.Logger
}

type sidecar struct {
	SHA256   string    `json:"sha256"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
}

const (
	reservedPrefix = ".switchyard"
	tmpDirName     = ".switchyard-tmp"
	lockDirName    = ".switchyard-locks"
)

// OpenFileStore opens (creating if needed) a file store rooted at dir.
func OpenFileStore(dir string, log *slog.Logger) (*FileStore, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open file store %q: %w", dir, err)
	}
	for _, d := range []string{abs, filepath.Join(abs, tmpDirName), filepath.Join(abs, lockDirName)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("open file store %q: %w", dir, err)
		}
	}
	return &FileStore{root: abs, log: log}, nil
}

// URI implements Store.
func (s *FileStore) URI(key string) string {
	return "file://" + filepath.ToSlash(filepath.Join(s.root, filepath.FromSlash(key)))
}

func (s *FileStore) dataPath(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

func (s *FileStore) sidecarPath(key string) string {
	dir, base := filepath.Split(s.dataPath(key))
	return filepath.Join(dir, reservedPrefix+"."+base+".json")
}

// lock takes a flock on the key's lock file. Lock files are named by a hash of
// the key so that no key can collide with another key's lock.
func (s *FileStore) lock(key string, how int) (func(), error) {
	sum := sha256.Sum256([]byte(key))
	p := filepath.Join(s.root, lockDirName, hex.EncodeToString(sum[:16])+".lock")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %q: %w", key, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %q: %w", key, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func (s *FileStore) readSidecar(key string) (sidecar, error) {
	b, err := os.ReadFile(s.sidecarPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return sidecar{}, fmt.Errorf("%q: %w", key, ErrNotFound)
	}
	if err != nil {
		return sidecar{}, fmt.Errorf("read sidecar of %q: %w", key, err)
	}
	var sc sidecar
	if err := json.Unmarshal(b, &sc); err != nil || len(sc.SHA256) != 64 {
		return sidecar{}, fmt.Errorf("sidecar of %q is corrupt: %w", key, ErrChecksum)
	}
	return sc, nil
}

func (sc sidecar) info(key string) ObjectInfo {
	return ObjectInfo{Key: key, ETag: sc.SHA256, SHA256: sc.SHA256, Size: sc.Size, Modified: sc.Modified}
}

// writeTemp copies r into a new fsynced temp file and returns its path and
// the sidecar describing it.
func (s *FileStore) writeTemp(ctx context.Context, r io.Reader) (string, sidecar, error) {
	f, err := os.CreateTemp(filepath.Join(s.root, tmpDirName), "put-*")
	if err != nil {
		return "", sidecar{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx, r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", sidecar{}, err
	}
	return f.Name(), sidecar{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n, Modified: time.Now().UTC()}, nil
}

func (s *FileStore) writeTempBytes(b []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Join(s.root, tmpDirName), "meta-*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// Put implements Store.
func (s *FileStore) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (ObjectInfo, error) {
	if err := validKey(key); err != nil {
		return ObjectInfo{}, err
	}
	if err := opts.validate(); err != nil {
		return ObjectInfo{}, err
	}
	dataTmp, sc, err := s.writeTemp(ctx, r)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %q: %w", key, err)
	}
	defer os.Remove(dataTmp) // a no-op once renamed
	scBytes, _ := json.Marshal(sc)
	scTmp, err := s.writeTempBytes(scBytes)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %q: %w", key, err)
	}
	defer os.Remove(scTmp)

	unlock, err := s.lock(key, syscall.LOCK_EX)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %q: %w", key, err)
	}
	defer unlock()
	if opts.IfMatch != "" || opts.IfNoneMatch {
		cur, err := s.readSidecar(key)
		exists := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			return ObjectInfo{}, fmt.Errorf("put %q: %w", key, err)
		}
		switch {
		case opts.IfNoneMatch && exists:
			return ObjectInfo{}, fmt.Errorf("put %q: %w: object exists (If-None-Match)", key, ErrConflict)
		case opts.IfMatch != "" && !exists:
			return ObjectInfo{}, fmt.Errorf("put %q: %w: object does not exist (If-Match %s)", key, ErrConflict, opts.IfMatch)
		case opts.IfMatch != "" && cur.SHA256 != opts.IfMatch:
			return ObjectInfo{}, fmt.Errorf("put %q: %w: ETag is %s, not %s", key, ErrConflict, cur.SHA256, opts.IfMatch)
		}
	}
	dst := s.dataPath(key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %q: %w", key, err)
	}
	if err := os.Rename(dataTmp, dst); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %q: %w", key, err)
	}
	if err := os.Rename(scTmp, s.sidecarPath(key)); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %q: commit sidecar: %w", key, err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %q: %w", key, err)
	}
	s.log.Debug("file store put", "key", key, "size", sc.Size, "sha256", sc.SHA256)
	return sc.info(key), nil
}

// Get implements Store.
func (s *FileStore) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	if err := validKey(key); err != nil {
		return nil, ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, ObjectInfo{}, err
	}
	unlock, err := s.lock(key, syscall.LOCK_SH)
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get %q: %w", key, err)
	}
	defer unlock()
	sc, err := s.readSidecar(key)
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get %w", err)
	}
	// Once open, the file keeps its inode even if a later put renames a new
	// one over it, so the data and the sidecar read here belong together.
	f, err := os.Open(s.dataPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ObjectInfo{}, fmt.Errorf("get %q: %w: sidecar present but data file missing", key, ErrChecksum)
	}
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get %q: %w", key, err)
	}
	return newVerifyingReader(f, key, sc.SHA256), sc.info(key), nil
}

// Stat implements Store.
func (s *FileStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := validKey(key); err != nil {
		return ObjectInfo{}, err
	}
	sc, err := s.readSidecar(key)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %w", err)
	}
	return sc.info(key), nil
}

// List implements Store. It walks only the directory that the prefix names,
// so listing one model does not read the whole tree.
func (s *FileStore) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	start := s.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = filepath.Join(s.root, filepath.FromSlash(prefix[:i]))
	}
	var out []ObjectInfo
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != start && strings.HasPrefix(name, reservedPrefix) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(name, reservedPrefix+".") || !strings.HasSuffix(name, ".json") {
			return nil
		}
		base := strings.TrimSuffix(strings.TrimPrefix(name, reservedPrefix+"."), ".json")
		rel, err := filepath.Rel(s.root, filepath.Join(filepath.Dir(p), base))
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		sc, err := s.readSidecar(key)
		if errors.Is(err, ErrNotFound) {
			return nil // deleted while we walked
		}
		if err != nil {
			return err
		}
		out = append(out, sc.info(key))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete implements Store. The sidecar goes first, so a crash halfway leaves
// an orphan data file that no listing shows, never a listed object without data.
func (s *FileStore) Delete(ctx context.Context, key string) error {
	if err := validKey(key); err != nil {
		return err
	}
	unlock, err := s.lock(key, syscall.LOCK_EX)
	if err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	defer unlock()
	for _, p := range []string{s.sidecarPath(key), s.dataPath(key)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete %q: %w", key, err)
		}
	}
	return syncDir(filepath.Dir(s.dataPath(key)))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// ctxReader stops a long copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

var _ Store = (*FileStore)(nil)
