package tracking

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/artifact"
	"github.com/switchyard-ai/switchyard/internal/tracking/mlflowtest"
)

// runView is what a test can see of a run in either backend.
type runView struct {
	params, tags map[string]string
	metrics      int
	status       string
	ended        bool
}

type trackerCase struct {
	name    string
	tracker Tracker
	view    func(t *testing.T, runID string) runView
}

func trackers(t *testing.T) []trackerCase {
	srv := mlflowtest.New(t)
	c, err := NewClient(Config{TrackingURI: srv.URL, InitialBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	store, err := artifact.OpenFileStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	st := NewStoreTracker(store)
	return []trackerCase{
		{"mlflow", &MLflowTracker{Client: c}, func(t *testing.T, id string) runView {
			r, ok := srv.RunByID(id)
			if !ok {
				t.Fatalf("run %s not on the server", id)
			}
			return runView{r.Params, r.Tags, len(r.Metrics), r.Status, r.EndTime > 0}
		}},
		{"store", st, func(t *testing.T, id string) runView {
			r, err := st.ReadRun(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			return runView{r.Params, r.Tags, len(r.Metrics), string(r.Run.Status), !r.Run.End.IsZero()}
		}},
	}
}

// TestTrackerContract runs what the pipeline does against both trackers.
func TestTrackerContract(t *testing.T) {
	ctx := context.Background()
	for _, tc := range trackers(t) {
		t.Run(tc.name, func(t *testing.T) {
			tr := tc.tracker
			run, err := tr.StartRun(ctx, RunSpec{Experiment: "router-support", Name: "nightly", Tags: map[string]string{"trigger": "cron"}})
			if err != nil {
				t.Fatal(err)
			}
			if run.ID == "" || run.Status != StatusRunning || run.Start.IsZero() {
				t.Fatalf("run = %+v", run)
			}
			again, err := tr.StartRun(ctx, RunSpec{Experiment: "router-support"})
			if err != nil || again.ExperimentID != run.ExperimentID || again.ID == run.ID {
				t.Fatalf("second run = %+v %v (first %+v)", again, err, run)
			}
			if err := tr.LogParams(ctx, run.ID, map[string]string{"kind": "knn", "k": "15"}); err != nil {
				t.Fatal(err)
			}
			if err := tr.LogParams(ctx, run.ID, map[string]string{"k": "15"}); err != nil {
				t.Fatalf("re-logging a param with the same value: %v", err)
			}
			if err := tr.LogParams(ctx, run.ID, map[string]string{"k": "16"}); !errors.Is(err, ErrInvalidParameter) {
				t.Fatalf("changing a param = %v, want ErrInvalidParameter", err)
			}
			ms := []Metric{{Key: "accuracy", Value: 0.81, Step: 0}, {Key: "accuracy", Value: 0.84, Step: 1}, {Key: "cost_usd", Value: 0.0012}}
			if err := tr.LogMetrics(ctx, run.ID, ms); err != nil {
				t.Fatal(err)
			}
			if err := tr.SetTags(ctx, run.ID, map[string]string{"gate": "passed"}); err != nil {
				t.Fatal(err)
			}
			uri := "s3://models/switchyard/models/support/versions/7/"
			if err := RecordBundleURI(ctx, tr, run.ID, uri); err != nil {
				t.Fatal(err)
			}
			if err := tr.EndRun(ctx, run.ID, StatusFinished); err != nil {
				t.Fatal(err)
			}
			v := tc.view(t, run.ID)
			if v.params["kind"] != "knn" || v.params["k"] != "15" || v.params[TagBundleURI] != uri ||
				v.tags["trigger"] != "cron" || v.tags["gate"] != "passed" || v.tags[TagBundleURI] != uri ||
				v.metrics != 3 || v.status != "FINISHED" || !v.ended {
				t.Fatalf("recorded run = %+v", v)
			}
			if err := tr.LogParams(ctx, "0000000000000000000000000000dead", map[string]string{"a": "b"}); !errors.Is(err, ErrNotFound) {
				t.Fatalf("log to a missing run = %v, want ErrNotFound", err)
			}

			mv1, err := tr.RegisterModelVersion(ctx, "support", uri, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			mv2, err := tr.RegisterModelVersion(ctx, "support", uri+"v8", again.ID)
			if err != nil {
				t.Fatalf("second version (registered model exists): %v", err)
			}
			if mv1.Version != "1" || mv2.Version != "2" || mv1.Source != uri || mv1.RunID != run.ID {
				t.Fatalf("versions = %+v %+v", mv1, mv2)
			}
			if _, err := tr.VersionByAlias(ctx, "support", "champion"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("unset alias = %v, want ErrNotFound", err)
			}
			if err := tr.SetAlias(ctx, "support", "champion", "1"); err != nil {
				t.Fatal(err)
			}
			if err := tr.SetAlias(ctx, "support", "challenger", "2"); err != nil {
				t.Fatal(err)
			}
			if err := tr.SetAlias(ctx, "support", "champion", "2"); err != nil {
				t.Fatal(err)
			}
			got, err := tr.VersionByAlias(ctx, "support", "champion")
			if err != nil || got.Version != "2" || got.Source != uri+"v8" || len(got.Aliases) != 2 {
				t.Fatalf("champion = %+v %v", got, err)
			}
			// Finding a version by the bundle it was registered from: the
			// newest of several registrations, ErrNotFound for an unknown
			// source or model.
			mv3, err := tr.RegisterModelVersion(ctx, "support", uri, again.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := tr.FindVersion(ctx, "support", uri); err != nil || got.Version != mv3.Version || got.Source != uri {
				t.Fatalf("FindVersion(uri) = %+v %v, want version %s", got, err, mv3.Version)
			}
			if got, err := tr.FindVersion(ctx, "support", uri+"v8"); err != nil || got.Version != "2" {
				t.Fatalf("FindVersion(uri v8) = %+v %v, want version 2", got, err)
			}
			if _, err := tr.FindVersion(ctx, "support", uri+"v9"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("FindVersion(unregistered source) = %v, want ErrNotFound", err)
			}
			if _, err := tr.FindVersion(ctx, "nobody", uri); !errors.Is(err, ErrNotFound) {
				t.Fatalf("FindVersion(unknown model) = %v, want ErrNotFound", err)
			}
			for _, bad := range []struct{ alias, version string }{{"latest", "1"}, {"v3", "1"}, {"champion", "9"}} {
				if err := tr.SetAlias(ctx, "support", bad.alias, bad.version); err == nil {
					t.Fatalf("SetAlias(%q, %q) accepted", bad.alias, bad.version)
				}
			}
			if err := tr.LogMetrics(ctx, run.ID, []Metric{{Key: "loss", Value: nan()}}); !errors.Is(err, ErrInvalidParameter) {
				t.Fatalf("NaN metric = %v, want ErrInvalidParameter", err)
			}
		})
	}
}

// The client follows next_page_token through every page.
func TestSearchModelVersionsPages(t *testing.T) {
	srv := mlflowtest.New(t)
	c, err := NewClient(Config{TrackingURI: srv.URL, InitialBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tr := &MLflowTracker{Client: c}
	for i := 0; i < 2503; i++ {
		if _, err := tr.RegisterModelVersion(ctx, "big", fmt.Sprintf("file:///m/%d/", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tr.RegisterModelVersion(ctx, "other", "file:///m/0/", ""); err != nil {
		t.Fatal(err)
	}
	mvs, err := c.SearchModelVersions(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if len(mvs) != 2503 || mvs[2502].Version != "2503" {
		t.Fatalf("got %d versions (last %+v), want 2503 over three pages", len(mvs), mvs[len(mvs)-1])
	}
	pages := 0
	for _, r := range srv.Requests() {
		if r == "GET model-versions/search" {
			pages++
		}
	}
	if pages != 3 {
		t.Fatalf("%d search requests, want 3 pages of 1000", pages)
	}
	if _, err := c.SearchModelVersions(ctx, "it's"); !errors.Is(err, ErrInvalidParameter) {
		t.Fatalf("quote in name = %v, want ErrInvalidParameter", err)
	}
}

func nan() float64 { zero := 0.0; return zero / zero }

func TestNewPicksBackend(t *testing.T) {
	store, _ := artifact.OpenFileStore(t.TempDir(), nil)
	repo := artifact.NewRepo(store, artifact.RepoOptions{})
	tr, err := New(Config{}, repo)
	if _, ok := tr.(*StoreTracker); err != nil || !ok {
		t.Fatalf("no tracking URI: %T %v, want *StoreTracker", tr, err)
	}
	tr, err = New(Config{TrackingURI: "http://127.0.0.1:5000"}, repo)
	if _, ok := tr.(*MLflowTracker); err != nil || !ok {
		t.Fatalf("tracking URI set: %T %v, want *MLflowTracker", tr, err)
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Fatal("no URI and no store accepted")
	}
}

// TestStoreTrackerConcurrentWriters logs from several goroutines to one run:
// the If-Match read-modify-write must keep every write.
func TestStoreTrackerConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	store, _ := artifact.OpenFileStore(t.TempDir(), nil)
	st := NewStoreTracker(store)
	run, err := st.StartRun(ctx, RunSpec{Experiment: "e"})
	if err != nil {
		t.Fatal(err)
	}
	const writers = 6
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			errs <- st.LogMetrics(ctx, run.ID, []Metric{{Key: "m", Value: float64(w), Step: int64(w)}})
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	rec, err := st.ReadRun(ctx, run.ID)
	if err != nil || len(rec.Metrics) != writers {
		t.Fatalf("%d metrics kept of %d (%v)", len(rec.Metrics), writers, err)
	}
}
