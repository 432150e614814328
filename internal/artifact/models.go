package artifact

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// The model layout (DESIGN.md, "Artifact layout"):
//
//	models/<name>/versions/<version>/manifest.json   the bundle's manifest (commit record)
//	models/<name>/versions/<version>/SHA256SUMS      every bundle file's sha256 (sha256sum -c format)
//	models/<name>/versions/<version>/<other files>   the payload (model.bin, ...)
//	models/<name>/CURRENT                            JSON Current, written with a conditional put
//	audit/<time>-<id>.json                           one Event per object, create-only
//
// A version exists when its manifest.json exists: Publish writes the payload
// first, SHA256SUMS next and manifest.json last (create-only), and removes
// what it wrote when any step fails.
const (
	ManifestFile = "manifest.json"
	SumsFile     = "SHA256SUMS"
	currentFile  = "CURRENT"
)

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func validName(what, s string) error {
	if !namePattern.MatchString(s) || strings.HasPrefix(s, reservedPrefix) {
		return fmt.Errorf("%w: %s %q must be 1-128 of [A-Za-z0-9._-], starting with a letter or digit", ErrInvalidKey, what, s)
	}
	return nil
}

// Repo is the model layout, audit log and run records on top of a Store.
// It holds no state of its own, so any number of Repos (in any number of
// processes) may share one store.
type Repo struct {
	store Store
	log   *slog.Logger
	now   func() time.Time
}

// RepoOptions configures NewRepo.
type RepoOptions struct {
	Logger *slog.Logger
	// Now replaces time.Now (tests).
	Now func() time.Time
}

// NewRepo wraps a store.
func NewRepo(store Store, opts RepoOptions) *Repo {
	r := &Repo{store: store, log: opts.Logger, now: opts.Now}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// Store returns the underlying store.
func (r *Repo) Store() Store { return r.store }

// VersionURI names a version's prefix in the store: what Publish reports as
// VersionInfo.URI, and what a tracker records as the model version's source.
func (r *Repo) VersionURI(name, version string) string {
	return r.store.URI(versionPrefix(name, version))
}

func versionPrefix(name, version string) string {
	return "models/" + name + "/versions/" + version + "/"
}

// FileSum is one bundle file as stored.
type FileSum struct {
	Path   string // slash-separated, relative to the bundle directory
	SHA256 string
	Size   int64
	// VersionID is the S3 VersionId of the object, when the bucket keeps versions.
	VersionID string
}

// VersionInfo describes a published version.
type VersionInfo struct {
	Name    string
	Version string
	// URI names the version's prefix in the store (what MLflow records as source).
	URI   string
	Files []FileSum
	// Published is when the manifest was written.
	Published time.Time
}

// Publish uploads the bundle in srcDir (which must contain manifest.json) as
// name/version. Publishing a version that exists fails with ErrExists. Each
// file is written create-only, so a concurrent publish of the same version
// makes one of the two fail (ErrConflict) before it can overwrite the other's
// files; the failing one deletes only what it wrote.
func (r *Repo) Publish(ctx context.Context, name, version, srcDir string) (VersionInfo, error) {
	if err := validName("model name", name); err != nil {
		return VersionInfo{}, err
	}
	if err := validName("version", version); err != nil {
		return VersionInfo{}, err
	}
	files, err := bundleFiles(srcDir)
	if err != nil {
		return VersionInfo{}, fmt.Errorf("publish %s/%s: %w", name, version, err)
	}
	prefix := versionPrefix(name, version)
	if _, err := r.store.Stat(ctx, prefix+ManifestFile); err == nil {
		return VersionInfo{}, fmt.Errorf("publish %s/%s: %w: version is already published", name, version, ErrExists)
	} else if !errors.Is(err, ErrNotFound) {
		return VersionInfo{}, fmt.Errorf("publish %s/%s: %w", name, version, err)
	}

	var written []ObjectInfo
	fail := func(err error) (VersionInfo, error) {
		r.cleanup(written)
		return VersionInfo{}, fmt.Errorf("publish %s/%s: %w", name, version, err)
	}
	put := func(key string, rd io.Reader) (ObjectInfo, error) {
		info, err := r.store.Put(ctx, key, rd, PutOptions{IfNoneMatch: true})
		if err != nil {
			if errors.Is(err, ErrConflict) {
				err = fmt.Errorf("%w (a concurrent publish of this version, or debris of a crashed one: see DiscardPartial)", err)
			}
			return ObjectInfo{}, err
		}
		written = append(written, info)
		return info, nil
	}

	var sums bytes.Buffer
	out := VersionInfo{Name: name, Version: version, URI: r.store.URI(prefix)}
	var manifestSum FileSum
	for _, rel := range files {
		f, err := os.Open(filepath.Join(srcDir, filepath.FromSlash(rel)))
		if err != nil {
			return fail(err)
		}
		var info ObjectInfo
		if rel == ManifestFile {
			// Hash it now for SHA256SUMS; upload it last.
			info.SHA256, info.Size, err = hashReader(f)
		} else {
			info, err = put(prefix+rel, f)
		}
		f.Close()
		if err != nil {
			return fail(err)
		}
		fsum := FileSum{Path: rel, SHA256: info.SHA256, Size: info.Size, VersionID: info.VersionID}
		fmt.Fprintf(&sums, "%s  %s\n", info.SHA256, rel)
		if rel == ManifestFile {
			manifestSum = fsum
			continue
		}
		out.Files = append(out.Files, fsum)
	}
	if _, err := put(prefix+SumsFile, bytes.NewReader(sums.Bytes())); err != nil {
		return fail(err)
	}
	mf, err := os.Open(filepath.Join(srcDir, ManifestFile))
	if err != nil {
		return fail(err)
	}
	info, err := put(prefix+ManifestFile, mf)
	mf.Close()
	if err != nil {
		return fail(err)
	}
	if info.SHA256 != manifestSum.SHA256 {
		return fail(fmt.Errorf("%s changed while it was being published", ManifestFile))
	}
	manifestSum.VersionID = info.VersionID
	out.Files = append(out.Files, manifestSum)
	out.Published = r.now().UTC()
	r.log.Info("published model version", "model", name, "version", version, "files", len(out.Files), "uri", out.URI)
	return out, nil
}

// cleanup deletes what a failed publish wrote. On a versioned store it
// removes the exact versions, so no delete marker or orphan version remains.
// It uses a fresh context: the publish's own may be what was cancelled.
func (r *Repo) cleanup(written []ObjectInfo) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	vs, versioned := r.store.(Versioned)
	for i := len(written) - 1; i >= 0; i-- {
		o := written[i]
		var err error
		if versioned && o.VersionID != "" {
			err = vs.DeleteVersion(ctx, o.Key, o.VersionID)
		} else {
			err = r.store.Delete(ctx, o.Key)
		}
		if err != nil {
			r.log.Error("cleanup after failed publish", "key", o.Key, "err", err)
		}
	}
}

// DiscardPartial deletes the objects of a version whose publish crashed
// before its manifest was written. It refuses to touch a published version.
func (r *Repo) DiscardPartial(ctx context.Context, name, version string) (int, error) {
	if err := validName("model name", name); err != nil {
		return 0, err
	}
	if err := validName("version", version); err != nil {
		return 0, err
	}
	prefix := versionPrefix(name, version)
	if _, err := r.store.Stat(ctx, prefix+ManifestFile); err == nil {
		return 0, fmt.Errorf("discard %s/%s: %w: version is published", name, version, ErrExists)
	}
	objs, err := r.store.List(ctx, prefix)
	if err != nil {
		return 0, fmt.Errorf("discard %s/%s: %w", name, version, err)
	}
	for _, o := range objs {
		if err := r.store.Delete(ctx, o.Key); err != nil {
			return 0, fmt.Errorf("discard %s/%s: %w", name, version, err)
		}
	}
	return len(objs), nil
}

// bundleFiles lists the regular files under dir (slash-separated, sorted).
// Symlinks and other special files are refused: a bundle is plain files.
func bundleFiles(dir string) ([]string, error) {
	var files []string
	hasManifest := false
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("bundle file %s is not a regular file", p)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == SumsFile {
			return fmt.Errorf("bundle may not contain %s: the store writes it", SumsFile)
		}
		if err := validKey(rel); err != nil {
			return fmt.Errorf("bundle file %s: %w", rel, err)
		}
		hasManifest = hasManifest || rel == ManifestFile
		files = append(files, rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read bundle %s: %w", dir, err)
	}
	if !hasManifest {
		return nil, fmt.Errorf("read bundle %s: no %s", dir, ManifestFile)
	}
	sort.Strings(files)
	return files, nil
}

func hashReader(rd io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, rd)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// parseSums reads a SHA256SUMS object ("<hex>  <path>" per line).
func parseSums(b []byte) ([]FileSum, error) {
	var out []FileSum
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		sum, path, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 || validKey(path) != nil {
			return nil, fmt.Errorf("%s line %d is malformed: %q", SumsFile, line, sc.Text())
		}
		out = append(out, FileSum{Path: path, SHA256: sum})
	}
	return out, sc.Err()
}

// ListModels returns the names of models that have a published version or
// a CURRENT pointer, sorted.
func (r *Repo) ListModels(ctx context.Context) ([]string, error) {
	objs, err := r.store.List(ctx, "models/")
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	seen := map[string]bool{}
	for _, o := range objs {
		parts := strings.Split(strings.TrimPrefix(o.Key, "models/"), "/")
		if (len(parts) == 2 && parts[1] == currentFile) ||
			(len(parts) == 4 && parts[1] == "versions" && parts[3] == ManifestFile) {
			seen[parts[0]] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// VersionRef is one published version in a listing.
type VersionRef struct {
	Version   string
	Published time.Time
}

// ListVersions returns the published versions of a model, oldest first.
func (r *Repo) ListVersions(ctx context.Context, name string) ([]VersionRef, error) {
	if err := validName("model name", name); err != nil {
		return nil, err
	}
	prefix := "models/" + name + "/versions/"
	objs, err := r.store.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list versions of %s: %w", name, err)
	}
	var out []VersionRef
	for _, o := range objs {
		v, file, ok := strings.Cut(strings.TrimPrefix(o.Key, prefix), "/")
		if ok && file == ManifestFile {
			out = append(out, VersionRef{Version: v, Published: o.Modified})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Published.Equal(out[j].Published) {
			return out[i].Published.Before(out[j].Published)
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}

// FetchVersion downloads a published version into destDir, which must not
// exist. Files go to a temp directory beside destDir, each is checked against
// SHA256SUMS and the sha256 stored with its object, and the directory is
// renamed into place only when all match: destDir is complete or absent.
func (r *Repo) FetchVersion(ctx context.Context, name, version, destDir string) (VersionInfo, error) {
	if err := validName("model name", name); err != nil {
		return VersionInfo{}, err
	}
	if err := validName("version", version); err != nil {
		return VersionInfo{}, err
	}
	fail := func(err error) (VersionInfo, error) {
		return VersionInfo{}, fmt.Errorf("fetch %s/%s: %w", name, version, err)
	}
	if _, err := os.Lstat(destDir); err == nil {
		return fail(fmt.Errorf("%w: destination %s", ErrExists, destDir))
	}
	prefix := versionPrefix(name, version)
	minfo, err := r.store.Stat(ctx, prefix+ManifestFile)
	if err != nil {
		return fail(err) // ErrNotFound: the version does not exist
	}
	sumsBytes, _, err := ReadAll(ctx, r.store, prefix+SumsFile)
	if err != nil {
		return fail(err)
	}
	sums, err := parseSums(sumsBytes)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrChecksum, err))
	}
	if err := os.MkdirAll(filepath.Dir(destDir), 0o755); err != nil {
		return fail(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(destDir), "."+filepath.Base(destDir)+".fetch-*")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(tmp) // a no-op after the rename
	out := VersionInfo{Name: name, Version: version, URI: r.store.URI(prefix), Published: minfo.Modified}
	for _, fsum := range sums {
		info, err := r.fetchFile(ctx, prefix+fsum.Path, filepath.Join(tmp, filepath.FromSlash(fsum.Path)), fsum.SHA256)
		if err != nil {
			return fail(err)
		}
		out.Files = append(out.Files, FileSum{Path: fsum.Path, SHA256: info.SHA256, Size: info.Size, VersionID: info.VersionID})
	}
	if err := syncDir(tmp); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, destDir); err != nil {
		return fail(err)
	}
	if err := syncDir(filepath.Dir(destDir)); err != nil {
		return fail(err)
	}
	return out, nil
}

func (r *Repo) fetchFile(ctx context.Context, key, dst, wantSum string) (ObjectInfo, error) {
	rc, info, err := r.store.Get(ctx, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	defer rc.Close()
	if info.SHA256 != wantSum {
		return ObjectInfo{}, fmt.Errorf("%q: %w: %s lists %s, object carries %s", key, ErrChecksum, SumsFile, wantSum, info.SHA256)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return ObjectInfo{}, err
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return ObjectInfo{}, err
	}
	_, err = io.Copy(f, rc) // the reader checks the sha256 at EOF
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return info, err
}
