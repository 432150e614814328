// Package artifact stores Switchyard's router model bundles, their CURRENT
// pointers, run records and the audit log in an object store: a local
// directory (file://DIR, the embedded default) or an S3 bucket
// (s3://bucket/prefix, for MinIO, VersityGW, SeaweedFS or AWS).
//
// Both backends give the same guarantees, because the model manager and the
// pipeline rely on them: every object carries its sha256 and every read verifies
// it, and a conditional put (If-Match on an ETag, If-None-Match for create-only)
// lets exactly one of several concurrent writers win. The layout on top of the
// Store (models, CURRENT, audit/) lives in Repo.
package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

var (
	// ErrNotFound: the key (or version) does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrConflict: a conditional put lost: the object changed since its ETag
	// was read (If-Match), or it already exists (If-None-Match).
	ErrConflict = errors.New("conditional write conflict")
	// ErrChecksum: the bytes read do not match the sha256 stored with the
	// object, or no sha256 was stored with it.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrExists: something that must be created once already exists (a
	// published model version, a fetch destination).
	ErrExists = errors.New("already exists")
	// ErrUnavailable: the backend could not be reached at all.
	ErrUnavailable = errors.New("store unavailable")
	// ErrInvalidKey: a key, model name or version that the layout rejects.
	ErrInvalidKey = errors.New("invalid key")
)

// ObjectInfo describes one stored object (or one version of it).
type ObjectInfo struct {
	Key string
	// ETag is opaque: pass it back in PutOptions.IfMatch. The file store uses
	// the content's sha256; S3 uses whatever the server returns.
	ETag string
	// SHA256 is the hex sha256 stored with the object. List on S3 leaves it
	// empty (it lives in user metadata, which listing does not return).
	SHA256   string
	Size     int64
	Modified time.Time
	// VersionID is the S3 VersionId when the bucket keeps versions; empty
	// otherwise.
	VersionID string
	// IsLatest is set by ListVersions.
	IsLatest bool
}

// PutOptions makes a put conditional. At most one of IfMatch and IfNoneMatch
// may be set.
type PutOptions struct {
	// IfMatch: write only if the object's current ETag equals this one.
	IfMatch string
	// IfNoneMatch: write only if the object does not exist (create-only).
	IfNoneMatch bool
	// ContentType is recorded where the backend keeps one (S3).
	ContentType string
}

func (o PutOptions) validate() error {
	if o.IfMatch != "" && o.IfNoneMatch {
		return errors.New("put options: IfMatch and IfNoneMatch are exclusive")
	}
	return nil
}

// Store is a flat key space of checksummed objects. Keys are slash-separated
// relative paths ("models/x/CURRENT").
type Store interface {
	// Put stores r under key and returns what was stored. A conditional put
	// that loses returns an error matching ErrConflict and changes nothing.
	Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (ObjectInfo, error)
	// Get opens the object. The reader verifies the sha256 while it is read:
	// the final Read returns an error matching ErrChecksum instead of io.EOF
	// when the bytes do not match, so read to the end (ReadAll does).
	Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)
	// Stat returns the object's info without reading it.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List returns the objects whose key starts with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Delete removes the object; it exists to clean up after a failed upload.
	// Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// URI names the key in this store (file:///dir/key, s3://bucket/prefix/key).
	URI(key string) string
}

// Versioned is implemented by stores that keep every version of an object
// (an S3 bucket with versioning on).
type Versioned interface {
	// ListVersions returns the versions of exactly this key, newest first
	// (delete markers are left out).
	ListVersions(ctx context.Context, key string) ([]ObjectInfo, error)
	// GetVersion opens one version, with the same checksum verification as Get.
	GetVersion(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectInfo, error)
	// DeleteVersion removes one version for good (cleanup of a failed upload
	// without leaving a delete marker behind).
	DeleteVersion(ctx context.Context, key, versionID string) error
}

// Options configures OpenStore. The zero value works for file:// URIs and for
// S3 with the standard AWS configuration chain (env, shared files, IMDS).
type Options struct {
	// Endpoint overrides the S3 endpoint (http://127.0.0.1:7070 for a local
	// VersityGW or MinIO). The "endpoint" query parameter of the URI does the
	// same; AWS_ENDPOINT_URL_S3 is honoured by the SDK itself.
	Endpoint string
	// Region for signing; defaults to the chain's region, then us-east-1.
	Region string
	// PathStyle forces path-style addressing (bucket in the path), which
	// self-hosted servers need. It defaults to true when an endpoint is set.
	PathStyle *bool
	// Credentials replaces the standard chain (tests use static keys).
	Credentials aws.CredentialsProvider
	// HTTPClient is used for S3 requests when set.
	HTTPClient *http.Client
	// MaxAttempts bounds the SDK's retries (default: the SDK's 3).
	MaxAttempts int
	// Logger receives debug lines; nil discards them.
	Logger *slog.Logger
}

// OpenStore opens the store named by uri: file://DIR or s3://bucket/prefix.
// S3 URIs may carry ?endpoint=...&region=...&path_style=true.
func OpenStore(ctx context.Context, uri string, opts Options) (Store, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", uri, err)
	}
	switch u.Scheme {
	case "file":
		dir := u.Path
		if u.Host != "" && u.Host != "localhost" {
			// file://relative/dir: treat host+path as a relative path.
			dir = u.Host + u.Path
		}
		if dir == "" {
			return nil, fmt.Errorf("open store %q: file URI has no directory", uri)
		}
		return OpenFileStore(dir, opts.Logger)
	case "s3":
		return openS3(ctx, u, opts)
	case "":
		return nil, fmt.Errorf("open store %q: no scheme (want file:// or s3://)", uri)
	default:
		return nil, fmt.Errorf("open store %q: unsupported scheme %q (want file or s3)", uri, u.Scheme)
	}
}

// validKey rejects keys that could escape a directory or collide with the
// file store's own bookkeeping.
func validKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") {
		return fmt.Errorf("%w: key %q must be relative and not end in /", ErrInvalidKey, key)
	}
	if strings.ContainsAny(key, "\\\x00") {
		return fmt.Errorf("%w: key %q contains a backslash or NUL", ErrInvalidKey, key)
	}
	for _, seg := range strings.Split(key, "/") {
		switch {
		case seg == "" || seg == "." || seg == "..":
			return fmt.Errorf("%w: key %q has an empty, . or .. segment", ErrInvalidKey, key)
		case strings.HasPrefix(seg, ".switchyard"):
			return fmt.Errorf("%w: key %q uses the reserved name .switchyard", ErrInvalidKey, key)
		}
	}
	return nil
}

// ReadAll reads a whole object, verifying its checksum.
func ReadAll(ctx context.Context, s Store, key string) ([]byte, ObjectInfo, error) {
	rc, info, err := s.Get(ctx, key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("read %q: %w", key, err)
	}
	return b, info, nil
}

// verifyingReader hashes what passes through it and turns the final io.EOF
// into an ErrChecksum error when the digest differs from the stored one.
type verifyingReader struct {
	r    io.ReadCloser
	h    hash.Hash
	want string
	key  string
	done bool
}

func newVerifyingReader(r io.ReadCloser, key, want string) *verifyingReader {
	return &verifyingReader{r: r, h: sha256.New(), want: want, key: key}
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	if errors.Is(err, io.EOF) && !v.done {
		v.done = true
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			return n, fmt.Errorf("read %q: %w: stored sha256 %s, content sha256 %s", v.key, ErrChecksum, v.want, got)
		}
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.r.Close() }

// sha256Hex is the lowercase hex sha256 of b.
func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
