package modelmgr_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/switchyard-ai/switchyard/internal/artifact"
	"github.com/switchyard-ai/switchyard/internal/bundle"
	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/ml/knn"
	"github.com/switchyard-ai/switchyard/internal/ml/mlp"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
	"github.com/switchyard-ai/switchyard/internal/ml/svm"
	"github.com/switchyard-ai/switchyard/internal/modelmgr"
	"github.com/switchyard-ai/switchyard/internal/tracking"
)

// synthRows: x-large answers both topics, y-small only topic B and costs a
// tenth, so a trained router sends maths prompts to x-large and everyday
// ones to y-small at the balanced operating point.
func synthRows(n int, seed uint64) []dataset.Row {
	d := synthetic.Prompts(n, 12, seed)
	rows := make([]dataset.Row, n)
	for i := range rows {
		qx, qy := d.Q[i][0], d.Q[i][1]
		cx, cy := synthetic.CostX, synthetic.CostY
		rows[i] = dataset.Row{ID: d.Prompts[i], Prompt: d.Prompts[i], Outcomes: map[string]dataset.Outcome{
			synthetic.X: {Quality: &qx, Cost: &cx},
			synthetic.Y: {Quality: &qy, Cost: &cy},
		}}
	}
	return rows
}

var (
	trainedMu sync.Mutex
	trained   = map[string]*router.Router{}
)

// trainedRouter trains (once per kind and seed per test binary) a small
// router on generated data.
func trainedRouter(t testing.TB, kind string, seed int64) *router.Router {
	t.Helper()
	trainedMu.Lock()
	defer trainedMu.Unlock()
	key := fmt.Sprintf("%s/%d", kind, seed)
	if r, ok := trained[key]; ok {
		return r
	}
	cfg := router.TrainConfig{Name: "t", Version: "0", Kind: kind, Seed: seed,
		Featurizer: feature.Config{Kind: feature.KindTFIDF, Dim: 1 << 12},
		KNN:        knn.Config{K: 10}, MLP: mlp.Config{Hidden: []int{8}}, SVM: svm.Config{}}
	r, _, err := router.Train(context.Background(), cfg, synthRows(300, uint64(seed)))
	if err != nil {
		t.Fatalf("train %s: %v", kind, err)
	}
	trained[key] = r
	return r
}

// writeBundle writes r as the bundle name@version in a fresh directory;
// mutate may change the manifest or payload first (bundle.Write then
// recomputes the payload checksum, so a mutated bundle is well-formed).
func writeBundle(t testing.TB, r *router.Router, name, version string, mutate func(*bundle.Manifest)) string {
	t.Helper()
	payload, err := r.MarshalPayload()
	if err != nil {
		t.Fatal(err)
	}
	m := r.Manifest()
	m.Name, m.Version = name, version
	m.Canaries = append([]bundle.Canary(nil), m.Canaries...)
	if mutate != nil {
		mutate(&m)
	}
	dir := filepath.Join(t.TempDir(), version)
	if err := bundle.Write(dir, m, payload); err != nil {
		t.Fatal(err)
	}
	return dir
}

// env is a store with a repo, shared by the registries of one test.
type env struct {
	dir   string
	store *artifact.FileStore
	repo  *artifact.Repo
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := artifact.OpenFileStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &env{dir: dir, store: st, repo: artifact.NewRepo(st, artifact.RepoOptions{})}
}

func (e *env) publish(t testing.TB, r *router.Router, name, version string, mutate func(*bundle.Manifest)) {
	t.Helper()
	if _, err := e.repo.Publish(context.Background(), name, version, writeBundle(t, r, name, version, mutate)); err != nil {
		t.Fatal(err)
	}
}

type regOpts struct {
	poll    time.Duration
	redis   *redis.Client
	replica string
	tracker tracking.Tracker
}

// registry builds a registry over e with its own cache and metrics.
func (e *env) registry(t testing.TB, o regOpts) *modelmgr.Registry {
	t.Helper()
	if o.poll == 0 {
		o.poll = 20 * time.Millisecond
	}
	r, err := modelmgr.New(modelmgr.Config{
		Repo: e.repo, CacheDir: filepath.Join(t.TempDir(), "cache"), PollInterval: o.poll, Redis: o.redis,
		Replica: o.replica, Logger: testLogger(), Registerer: prometheus.NewRegistry(), Tracker: o.tracker,
		// Generous: -race and a shared 2-core machine slow decisions down;
		// the bound's own test sets a tight one.
		MaxDecisionLatency: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// run runs r until the test ends.
func run(t testing.TB, r *modelmgr.Registry) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func waitActive(t testing.TB, m *modelmgr.Manager, version string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.WaitVersion(ctx, version); err != nil {
		t.Fatalf("wait for %s: %v (status %+v)", version, err, m.Status())
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("SWITCHYARD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
