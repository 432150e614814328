package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/switchyard-ai/switchyard/internal/artifact"
	"github.com/switchyard-ai/switchyard/internal/testsvc"
	"github.com/switchyard-ai/switchyard/internal/tracking"
	"github.com/switchyard-ai/switchyard/internal/tracking/mlflowtest"
)

// TestAgainstS3 runs the pipeline with its store in a versioned bucket on a
// real S3 server (VersityGW): a happy run uploads, registers and deploys;
// a run whose register fails leaves no object version and no delete marker
// of its bundle behind.
func TestAgainstS3(t *testing.T) {
	gw := testsvc.StartVersityGW(t)
	for _, tc := range []struct {
		name   string
		failOn string
	}{
		{name: "happy"},
		{name: "register fails", failOn: "RegisterModelVersion"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			bucket := gw.NewBucket(t)
			e.store = "s3://" + bucket + "/switchyard?endpoint=" + gw.Endpoint
			srv := mlflowtest.New(t)
			c := mustLoad(t, e.conf(t, "p.yaml", e.good, srv.URL, true, ""))
			open := func(ctx context.Context, uri string) (artifact.Store, error) {
				return artifact.OpenStore(ctx, uri, artifact.Options{Credentials: gw.Credentials(), Region: gw.Region})
			}
			o := Options{Logger: testLogger(t), OpenStore: open}
			o.NewTracker = func(c *Config, repo *artifact.Repo) (tracking.Tracker, error) {
				tr, err := tracking.New(tracking.Config{TrackingURI: c.Tracking.URI}, repo)
				return faultyTracker{Tracker: tr, failOn: tc.failOn}, err
			}
			rec, err := NewRunner(o).Run(context.Background(), c, Trigger{Kind: TriggerCLI})
			ctx := context.Background()
			store, oerr := open(ctx, c.StoreURI())
			if oerr != nil {
				t.Fatal(oerr)
			}
			repo := artifact.NewRepo(store, artifact.RepoOptions{})
			vers, verr := gw.Client().ListObjectVersions(ctx, &s3.ListObjectVersionsInput{
				Bucket: aws.String(bucket), Prefix: aws.String("switchyard/models/synth-router/versions/"),
			})
			if verr != nil {
				t.Fatal(verr)
			}
			if tc.failOn == "" {
				if err != nil || rec.Status != StatusSucceeded {
					t.Fatalf("run: %v %+v", err, rec)
				}
				if !strings.HasPrefix(rec.Bundle, "s3://"+bucket+"/switchyard/models/synth-router/versions/"+rec.ID) {
					t.Fatalf("bundle URI %s", rec.Bundle)
				}
				cur, _, err := repo.ReadCurrent(ctx, "synth-router")
				if err != nil || cur.Version != rec.ID || cur.ManifestVersionID == "" {
					t.Fatalf("CURRENT %+v (%v): want %s with the manifest's S3 VersionId", cur, err, rec.ID)
				}
				if len(vers.Versions) < 3 {
					t.Fatalf("object versions %d, want the bundle's files", len(vers.Versions))
				}
				if _, err := NewRecords(store).Get(ctx, rec.ID); err != nil {
					t.Fatalf("run record not in the bucket: %v", err)
				}
				return
			}
			if !errors.Is(err, errInjected) || rec.Status != StatusFailed || rec.Step(StepRegister).Status != StepFailed {
				t.Fatalf("run %v, record %+v", err, rec)
			}
			if len(vers.Versions) != 0 || len(vers.DeleteMarkers) != 0 {
				t.Fatalf("left in the bucket: %d versions, %d delete markers", len(vers.Versions), len(vers.DeleteMarkers))
			}
			if _, _, err := repo.ReadCurrent(ctx, "synth-router"); !errors.Is(err, artifact.ErrNotFound) {
				t.Fatalf("CURRENT: %v", err)
			}
		})
	}
}
