package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// metaSHA256 is the user-metadata key (x-amz-meta-sha256) holding the hex
// sha256 of every object this package writes.
const metaSHA256 = "sha256"

// S3Store keeps objects in an S3 bucket under a prefix.
//
// Conditional puts are sent as If-Match / If-None-Match: * on PutObject and
// the server decides. This was checked against VersityGW v1.8.0 (posix
// backend): it evaluates both headers under a per-key publish lock after the
// body is staged, so of many concurrent writers exactly one wins and the rest
// get 412 PreconditionFailed; If-Match on a missing key gives 404 NoSuchKey
// (reported here as ErrConflict, as on AWS); If-None-Match with anything but
// "*" gives 501 NotImplemented. Servers that silently ignore these headers
// (older MinIO or SeaweedFS releases) would make CURRENT updates last-writer-
// wins: use one that honours them.
type S3Store struct {
	client *s3.Client
	bucket string
	prefix string // "" or "a/b/" (with trailing slash)
	log    *slog.Logger
}

func openS3(ctx context.Context, u *url.URL, opts Options) (Store, error) {
	bucket := u.Host
	if bucket == "" {
		return nil, fmt.Errorf("open store %q: s3 URI has no bucket", u.Redacted())
	}
	q := u.Query()
	if v := q.Get("endpoint"); v != "" && opts.Endpoint == "" {
		opts.Endpoint = v
	}
	if v := q.Get("region"); v != "" && opts.Region == "" {
		opts.Region = v
	}
	if v := q.Get("path_style"); v != "" && opts.PathStyle == nil {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("open store %q: path_style=%q is not a boolean", u.Redacted(), v)
		}
		opts.PathStyle = &b
	}
	var loadOpts []func(*config.LoadOptions) error
	if opts.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(opts.Region))
	}
	if opts.Credentials != nil {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(opts.Credentials))
	}
	if opts.HTTPClient != nil {
		loadOpts = append(loadOpts, config.WithHTTPClient(opts.HTTPClient))
	}
	if opts.MaxAttempts > 0 {
		loadOpts = append(loadOpts, config.WithRetryMaxAttempts(opts.MaxAttempts))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("open store %q: aws config: %w", u.Redacted(), err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	pathStyle := opts.Endpoint != ""
	if opts.PathStyle != nil {
		pathStyle = *opts.PathStyle
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		o.UsePathStyle = pathStyle
		// Reads are verified against the sha256 in the object's metadata;
		// the SDK's own CRC check would report the same corruption with an
		// unexported error type that callers cannot match.
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return NewS3Store(client, bucket, strings.Trim(u.Path, "/"), log), nil
}

// NewS3Store wraps a configured client. prefix may be empty. A client made
// elsewhere should set ResponseChecksumValidation to WhenRequired (as
// OpenStore does), or the SDK reports corruption before this store can map
// it to ErrChecksum.
func NewS3Store(client *s3.Client, bucket, prefix string, log *slog.Logger) *S3Store {
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		prefix += "/"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &S3Store{client: client, bucket: bucket, prefix: prefix, log: log}
}

// URI implements Store.
func (s *S3Store) URI(key string) string { return "s3://" + s.bucket + "/" + s.prefix + key }

func (s *S3Store) full(key string) *string { return aws.String(s.prefix + key) }

// Put implements Store. The body is hashed before the upload (its sha256 goes
// in a header), so a reader that cannot seek is spooled to a temp file first.
func (s *S3Store) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (ObjectInfo, error) {
	if err := validKey(key); err != nil {
		return ObjectInfo{}, err
	}
	if err := opts.validate(); err != nil {
		return ObjectInfo{}, err
	}
	body, sum, size, cleanup, err := seekableHashed(r)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("s3 put %q: %w", key, err)
	}
	defer cleanup()
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           s.full(key),
		Body:          body,
		ContentLength: aws.Int64(size),
		Metadata:      map[string]string{metaSHA256: sum},
	}
	if opts.ContentType != "" {
		in.ContentType = aws.String(opts.ContentType)
	}
	if opts.IfMatch != "" {
		in.IfMatch = aws.String(opts.IfMatch)
	}
	if opts.IfNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		err = mapS3Err(err)
		if opts.IfMatch != "" && errors.Is(err, ErrNotFound) {
			// Report the lost race only: the key was deleted after its
			// ETag was read, which the caller handles like any conflict.
			err = fmt.Errorf("%w: object does not exist (If-Match %s): %v", ErrConflict, opts.IfMatch, err)
		}
		return ObjectInfo{}, fmt.Errorf("s3 put %q: %w", key, err)
	}
	s.log.Debug("s3 put", "key", key, "size", size, "version_id", aws.ToString(out.VersionId))
	return ObjectInfo{Key: key, ETag: aws.ToString(out.ETag), SHA256: sum, Size: size, VersionID: aws.ToString(out.VersionId)}, nil
}

// seekableHashed returns a seekable body positioned at its start, its sha256
// and size, and a cleanup for the temp file it may have made.
func seekableHashed(r io.Reader) (io.ReadSeeker, string, int64, func(), error) {
	h := sha256.New()
	if rs, ok := r.(io.ReadSeeker); ok {
		start, err := rs.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, "", 0, nil, err
		}
		n, err := io.Copy(h, rs)
		if err != nil {
			return nil, "", 0, nil, err
		}
		if _, err := rs.Seek(start, io.SeekStart); err != nil {
			return nil, "", 0, nil, err
		}
		return rs, hex.EncodeToString(h.Sum(nil)), n, func() {}, nil
	}
	f, err := os.CreateTemp("", "switchyard-s3-put-*")
	if err != nil {
		return nil, "", 0, nil, err
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		cleanup()
		return nil, "", 0, nil, err
	}
	return f, hex.EncodeToString(h.Sum(nil)), n, cleanup, nil
}

// Get implements Store.
func (s *S3Store) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	return s.get(ctx, key, "")
}

// GetVersion implements Versioned.
func (s *S3Store) GetVersion(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectInfo, error) {
	if versionID == "" {
		return nil, ObjectInfo{}, fmt.Errorf("s3 get %q: empty version id", key)
	}
	return s.get(ctx, key, versionID)
}

func (s *S3Store) get(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectInfo, error) {
	if err := validKey(key); err != nil {
		return nil, ObjectInfo{}, err
	}
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: s.full(key)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("s3 get %q: %w", key, mapS3Err(err))
	}
	sum := out.Metadata[metaSHA256]
	if len(sum) != 64 {
		out.Body.Close()
		return nil, ObjectInfo{}, fmt.Errorf("s3 get %q: %w: no sha256 in the object's metadata", key, ErrChecksum)
	}
	info := ObjectInfo{
		Key: key, ETag: aws.ToString(out.ETag), SHA256: sum, Size: aws.ToInt64(out.ContentLength),
		Modified: aws.ToTime(out.LastModified), VersionID: aws.ToString(out.VersionId),
	}
	return newVerifyingReader(out.Body, key, sum), info, nil
}

// Stat implements Store.
func (s *S3Store) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := validKey(key); err != nil {
		return ObjectInfo{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: s.full(key)})
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("s3 stat %q: %w", key, mapS3Err(err))
	}
	return ObjectInfo{
		Key: key, ETag: aws.ToString(out.ETag), SHA256: out.Metadata[metaSHA256], Size: aws.ToInt64(out.ContentLength),
		Modified: aws.ToTime(out.LastModified), VersionID: aws.ToString(out.VersionId),
	}, nil
}

// List implements Store.
func (s *S3Store) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix + prefix),
	})
	var out []ObjectInfo
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3 list %q: %w", prefix, mapS3Err(err))
		}
		for _, o := range page.Contents {
			k := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
			if strings.HasSuffix(k, "/") {
				continue // a directory marker, not an object of ours
			}
			out = append(out, ObjectInfo{Key: k, ETag: aws.ToString(o.ETag), Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// ListVersions implements Versioned.
func (s *S3Store) ListVersions(ctx context.Context, key string) ([]ObjectInfo, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	full := s.prefix + key
	p := s3.NewListObjectVersionsPaginator(s.client, &s3.ListObjectVersionsInput{
		Bucket: aws.String(s.bucket), Prefix: aws.String(full),
	})
	var out []ObjectInfo
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3 list versions %q: %w", key, mapS3Err(err))
		}
		for _, v := range page.Versions {
			if aws.ToString(v.Key) != full {
				continue
			}
			out = append(out, ObjectInfo{
				Key: key, ETag: aws.ToString(v.ETag), Size: aws.ToInt64(v.Size), Modified: aws.ToTime(v.LastModified),
				VersionID: aws.ToString(v.VersionId), IsLatest: aws.ToBool(v.IsLatest),
			})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Modified.After(out[j].Modified) })
	return out, nil
}

// Delete implements Store. On a versioned bucket it leaves a delete marker;
// DeleteVersion removes a version for good.
func (s *S3Store) Delete(ctx context.Context, key string) error {
	if err := validKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: s.full(key)})
	if err != nil && !errors.Is(mapS3Err(err), ErrNotFound) {
		return fmt.Errorf("s3 delete %q: %w", key, mapS3Err(err))
	}
	return nil
}

// DeleteVersion implements Versioned.
func (s *S3Store) DeleteVersion(ctx context.Context, key, versionID string) error {
	if err := validKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.bucket), Key: s.full(key), VersionId: aws.String(versionID),
	})
	if err != nil && !errors.Is(mapS3Err(err), ErrNotFound) {
		return fmt.Errorf("s3 delete %q version %s: %w", key, versionID, mapS3Err(err))
	}
	return nil
}

// mapS3Err adds this package's sentinel to an SDK error, keeping the original.
func mapS3Err(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchVersion":
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		case "PreconditionFailed", "ConditionalRequestConflict":
			return fmt.Errorf("%w: %w", ErrConflict, err)
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case 404:
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		case 409, 412:
			return fmt.Errorf("%w: %w", ErrConflict, err)
		}
	}
	var ne *net.OpError
	var de *net.DNSError
	if errors.As(err, &ne) || errors.As(err, &de) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

var (
	_ Store     = (*S3Store)(nil)
	_ Versioned = (*S3Store)(nil)
)
