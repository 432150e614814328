package artifact

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Current is the content of models/<name>/CURRENT.
type Current struct {
	Version string `json:"version"`
	// SHA256 is the sha256 of the version's manifest.json, which in turn
	// names the payload's sha256.
	SHA256 string    `json:"sha256"`
	Who    string    `json:"who"`
	When   time.Time `json:"when"`
	Reason string    `json:"reason,omitempty"`
	// ManifestVersionID is the S3 VersionId of the manifest that was
	// deployed, when the bucket keeps versions: it pins the exact object
	// even if the key were ever overwritten behind the store's back.
	ManifestVersionID string `json:"manifest_version_id,omitempty"`
}

// ReadCurrent returns a model's CURRENT pointer and its ETag, for a later
// SetCurrent. A model that was never deployed gives ErrNotFound.
func (r *Repo) ReadCurrent(ctx context.Context, name string) (Current, string, error) {
	if err := validName("model name", name); err != nil {
		return Current{}, "", err
	}
	b, info, err := ReadAll(ctx, r.store, "models/"+name+"/"+currentFile)
	if err != nil {
		return Current{}, "", fmt.Errorf("read CURRENT of %s: %w", name, err)
	}
	var cur Current
	if err := json.Unmarshal(b, &cur); err != nil {
		return Current{}, "", fmt.Errorf("read CURRENT of %s: %w", name, err)
	}
	return cur, info.ETag, nil
}

// SetCurrent points the model at cur.Version, which must be published. With
// ifMatchETag == "" it creates CURRENT and fails if one exists; otherwise it
// replaces CURRENT only if its ETag is still ifMatchETag. The loser of a race
// gets an error matching ErrConflict and should re-read and decide again.
// cur.SHA256 is filled from the manifest when empty and checked when set;
// cur.When defaults to now. It returns the new ETag.
func (r *Repo) SetCurrent(ctx context.Context, name string, cur Current, ifMatchETag string) (string, error) {
	if err := validName("model name", name); err != nil {
		return "", err
	}
	if err := validName("version", cur.Version); err != nil {
		return "", err
	}
	minfo, err := r.store.Stat(ctx, versionPrefix(name, cur.Version)+ManifestFile)
	if err != nil {
		return "", fmt.Errorf("set CURRENT of %s to %s: version not published: %w", name, cur.Version, err)
	}
	if minfo.SHA256 == "" {
		return "", fmt.Errorf("set CURRENT of %s to %s: %w: manifest has no stored sha256", name, cur.Version, ErrChecksum)
	}
	if cur.SHA256 == "" {
		cur.SHA256 = minfo.SHA256
	} else if cur.SHA256 != minfo.SHA256 {
		return "", fmt.Errorf("set CURRENT of %s to %s: %w: given sha256 %s, manifest has %s", name, cur.Version, ErrChecksum, cur.SHA256, minfo.SHA256)
	}
	if cur.When.IsZero() {
		cur.When = r.now().UTC()
	}
	cur.ManifestVersionID = minfo.VersionID
	b, err := json.Marshal(cur)
	if err != nil {
		return "", fmt.Errorf("set CURRENT of %s: %w", name, err)
	}
	opts := PutOptions{IfMatch: ifMatchETag, IfNoneMatch: ifMatchETag == "", ContentType: "application/json"}
	info, err := r.store.Put(ctx, "models/"+name+"/"+currentFile, bytes.NewReader(b), opts)
	if err != nil {
		return "", fmt.Errorf("set CURRENT of %s to %s: %w", name, cur.Version, err)
	}
	r.log.Info("CURRENT moved", "model", name, "version", cur.Version, "who", cur.Who, "reason", cur.Reason)
	return info.ETag, nil
}
