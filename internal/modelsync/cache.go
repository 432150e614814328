package modelsync

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The cache directory holds one directory per verified version,
// <cache>/<name>/<version>/, and work in progress under <cache>/.partial/,
// one directory per download named <name>+<version>+<token>+<random>. Both
// sit on the same file system, so moving a finished download into place is
// one atomic rename: a reader sees no version or a whole verified one.
const partialDir = ".partial"

// checkName refuses names and versions that could escape the cache directory
// or collide with its bookkeeping: only [A-Za-z0-9._-], not starting with a
// dot, at most 128 bytes. '+' is left out so partial directory names parse.
func checkName(what, s string) error {
	if s == "" {
		return fmt.Errorf("empty model %s", what)
	}
	if len(s) > 128 {
		return fmt.Errorf("model %s %.20q... is %d bytes, longer than 128", what, s, len(s))
	}
	if s[0] == '.' {
		return fmt.Errorf("model %s %q starts with a dot", what, s)
	}
	for _, r := range s {
		ok := r == '.' || r == '_' || r == '-' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !ok {
			return fmt.Errorf("model %s %q has %q; allowed are letters, digits, '.', '_' and '-'", what, s, r)
		}
	}
	return nil
}

func (s *Syncer) finalDir(name, version string) string {
	return filepath.Join(s.cfg.CacheDir, name, version)
}

// exists reports whether the version's directory is in place. It says nothing
// about its contents: only verified downloads are renamed there, but disks
// and people can still damage them, so callers verify before use.
func exists(dir string) (bool, error) {
	st, err := os.Stat(dir)
	switch {
	case err == nil && st.IsDir():
		return true, nil
	case err == nil:
		return false, fmt.Errorf("cache entry %s is a file, not a directory", dir)
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("stat cache entry: %w", err)
	}
}

// newPartial creates this download's work directory, named so that a later
// holder of the lock can tell it from its own and remove it if it is stale.
func (s *Syncer) newPartial(name, version string, token uint64) (string, error) {
	root := filepath.Join(s.cfg.CacheDir, partialDir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("create partial dir: %w", err)
	}
	dir, err := os.MkdirTemp(root, fmt.Sprintf("%s+%s+%d+", name, version, token))
	if err != nil {
		return "", fmt.Errorf("create partial dir: %w", err)
	}
	return dir, nil
}

// cleanStale removes the partial directories of name@version left by holders
// whose lease came before the caller's (lower fencing token): they died or
// lost the lock mid-download. It runs only while holding the lock. Unlocked
// downloads (token 0) count as stale too; see docs/model-sync.md.
func (s *Syncer) cleanStale(name, version string, token uint64) {
	root := filepath.Join(s.cfg.CacheDir, partialDir)
	entries, err := os.ReadDir(root)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("list partial downloads", "err", err)
		}
		return
	}
	for _, e := range entries {
		parts := strings.Split(e.Name(), "+")
		if len(parts) != 4 || parts[0] != name || parts[1] != version {
			continue
		}
		t, err := strconv.ParseUint(parts[2], 10, 64)
		if err != nil || t >= token {
			continue
		}
		if err := os.RemoveAll(filepath.Join(root, e.Name())); err != nil {
			s.log.Warn("remove stale partial download", "dir", e.Name(), "err", err)
			continue
		}
		s.m.staleCleaned.Inc()
		s.log.Info("removed stale partial download", "model", name, "version", version, "dir", e.Name(), "token", t)
	}
}

// syncTree fsyncs every file and directory under dir, so a rename that a
// crash makes durable never exposes files whose data was still in the page
// cache. It returns the total size of the regular files.
func syncTree(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file or directory", path)
		}
		if !d.IsDir() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return fsync(path)
	})
	if err != nil {
		return 0, fmt.Errorf("sync download: %w", err)
	}
	return total, nil
}

func fsync(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return f.Close()
}

// publish moves a verified partial directory into place and makes the rename
// durable. If a directory is already there (a download made without the lock,
// or by a holder that lost it, finished first), publish reports it with
// published=false and leaves both alone; the caller verifies the winner.
func (s *Syncer) publish(partial, name, version string) (published bool, err error) {
	parent := filepath.Join(s.cfg.CacheDir, name)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return false, fmt.Errorf("create model dir: %w", err)
	}
	final := s.finalDir(name, version)
	if err := os.Rename(partial, final); err != nil {
		if ok, _ := exists(final); ok {
			return false, nil
		}
		return false, fmt.Errorf("move download into place: %w", err)
	}
	if err := fsync(parent); err != nil {
		return true, fmt.Errorf("sync model dir: %w", err)
	}
	return true, nil
}

// quarantine moves a damaged version out of the way (rename, then remove) so
// that readers never see it half deleted.
func (s *Syncer) quarantine(name, version string) error {
	root := filepath.Join(s.cfg.CacheDir, partialDir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("create partial dir: %w", err)
	}
	bad, err := os.MkdirTemp(root, "damaged-")
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	target := filepath.Join(bad, "v")
	if err := os.Rename(s.finalDir(name, version), target); err != nil {
		_ = os.Remove(bad)
		return fmt.Errorf("quarantine damaged version: %w", err)
	}
	if err := os.RemoveAll(bad); err != nil {
		s.log.Warn("remove damaged version", "dir", bad, "err", err)
	}
	return nil
}
