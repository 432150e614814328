package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/artifact"
	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
	"github.com/switchyard-ai/switchyard/internal/tracking"
)

// writeRows writes n generated rows: x-large answers both topics, y-small
// only topic B at a tenth of the cost, so a good router sends maths prompts
// to x-large and everyday ones to y-small. With lying set, the rows claim
// y-small answers everything: a router trained on them sends every prompt
// to y-small and loses all of topic A on honest held-out rows.
func writeRows(t testing.TB, path, prefix string, n int, seed uint64, lying bool) string {
	t.Helper()
	d := synthetic.Prompts(n, 12, seed)
	rows := make([]dataset.Row, n)
	for i := range rows {
		qx, qy := d.Q[i][0], d.Q[i][1]
		if lying {
			qy = 1
		}
		cx, cy := synthetic.CostX, synthetic.CostY
		rows[i] = dataset.Row{ID: fmt.Sprintf("%s-%d", prefix, i), Prompt: d.Prompts[i], Source: "synthetic", Outcomes: map[string]dataset.Outcome{
			synthetic.X: {Quality: &qx, Cost: &cx},
			synthetic.Y: {Quality: &qy, Cost: &cy},
		}}
	}
	if err := dataset.Write(path, rows); err != nil {
		t.Fatal(err)
	}
	return path
}

// testEnv is a directory with honest training rows, lying ones, an honest
// holdout and a file store.
type testEnv struct {
	dir, store           string
	good, lying, holdout string
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	dir := t.TempDir()
	e := &testEnv{dir: dir, store: "file://" + filepath.Join(dir, "store")}
	e.good = writeRows(t, filepath.Join(dir, "good.jsonl"), "good", 240, 1, false)
	e.lying = writeRows(t, filepath.Join(dir, "lying.jsonl"), "lying", 240, 2, true)
	e.holdout = writeRows(t, filepath.Join(dir, "holdout.jsonl"), "holdout", 80, 3, false)
	return e
}

// configYAML is a small pipeline config; {{...}} are replaced by conf.
const configYAML = `model: synth-router
store: {{store}}
tracking:
  uri: "{{tracking}}"
  experiment: pipeline-test
export:
  datasets: [{{data}}]
  min_rows: 100
split:
  holdout: {{holdout}}
train:
  - kind: knn
    seed: 3
    featurizer: {kind: tfidf, dim: 4096}
    knn: {k: 15}
    operating_points: {balanced: 0.98}
gate:
  metric: quality@balanced
  margin: 0.02
deploy:
  enabled: {{deploy}}
`

// conf writes a config file and returns its path.
func (e *testEnv) conf(t testing.TB, name, data, trackingURI string, deploy bool, extra string) string {
	t.Helper()
	r := strings.NewReplacer("{{store}}", e.store, "{{tracking}}", trackingURI, "{{data}}", data,
		"{{holdout}}", e.holdout, "{{deploy}}", fmt.Sprint(deploy))
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(r.Replace(configYAML)+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func openRepo(t testing.TB, uri string) *artifact.Repo {
	t.Helper()
	s, err := artifact.OpenStore(context.Background(), uri, artifact.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return artifact.NewRepo(s, artifact.RepoOptions{})
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func mustLoad(t testing.TB, path string) *Config {
	t.Helper()
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// versionObjects lists what the store holds under a model version.
func versionObjects(t testing.TB, s artifact.Store, model, version string) []string {
	t.Helper()
	objs, err := s.List(context.Background(), "models/"+model+"/versions/"+version+"/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	return keys
}

var errInjected = errors.New("injected failure")

// faultyStore is a real store whose Put fails for keys that fail() picks,
// for failure injection at upload. It keeps the Versioned capability of the
// store it wraps, so cleanup takes the same path as against the real one.
type faultyStore struct {
	artifact.Store
	fail func(key string) bool
	puts atomic.Int64
}

func (f *faultyStore) Put(ctx context.Context, key string, r io.Reader, o artifact.PutOptions) (artifact.ObjectInfo, error) {
	f.puts.Add(1)
	if f.fail(key) {
		return artifact.ObjectInfo{}, fmt.Errorf("put %s: %w", key, errInjected)
	}
	return f.Store.Put(ctx, key, r, o)
}

type faultyVersioned struct {
	*faultyStore
	artifact.Versioned
}

func wrapFaulty(s artifact.Store, fail func(string) bool) artifact.Store {
	f := &faultyStore{Store: s, fail: fail}
	if v, ok := s.(artifact.Versioned); ok {
		return faultyVersioned{f, v}
	}
	return f
}

// faultyTracker is a real tracker whose named method fails, for failure
// injection at register.
type faultyTracker struct {
	tracking.Tracker
	failOn string
}

func (f faultyTracker) RegisterModelVersion(ctx context.Context, model, source, runID string) (tracking.ModelVersion, error) {
	if f.failOn == "RegisterModelVersion" {
		return tracking.ModelVersion{}, errInjected
	}
	return f.Tracker.RegisterModelVersion(ctx, model, source, runID)
}

func (f faultyTracker) SetAlias(ctx context.Context, model, alias, version string) error {
	if f.failOn == "SetAlias:"+alias {
		return errInjected
	}
	return f.Tracker.SetAlias(ctx, model, alias, version)
}

func (f faultyTracker) LogMetrics(ctx context.Context, runID string, ms []tracking.Metric) error {
	if f.failOn == "LogMetrics" {
		return errInjected
	}
	return f.Tracker.LogMetrics(ctx, runID, ms)
}
