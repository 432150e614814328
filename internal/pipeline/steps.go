package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/internal/artifact"
	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/eval"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
	"github.com/switchyard-ai/switchyard/internal/tracking"
)

// errRejected marks the gate stopping a candidate.
var errRejected = errors.New("rejected at the gate")

// state is what the steps of one run hand each other.
type state struct {
	c       *Config
	rec     *Record
	repo    *artifact.Repo
	log     *slog.Logger
	workDir string
	now     func() time.Time

	rowsPath            string
	trainRows, testRows []dataset.Row
	cands               []*candidate
	chosen              *candidate
	published           *artifact.VersionInfo

	tracker  tracking.Tracker
	runID    string
	runEnded bool
	mv       tracking.ModelVersion
}

// candidate is one trained kind.
type candidate struct {
	kind    string
	r       *router.Router
	sum     router.Summary
	report  eval.Report
	metrics map[string]float64
	dir     string
}

func (st *state) export(ctx context.Context, ex Exporter) (string, error) {
	until := st.now()
	since := until.Add(-st.c.Export.Window.D())
	st.rowsPath = filepath.Join(st.workDir, "rows.jsonl")
	rep, err := ex.Export(ctx, since, until, st.rowsPath)
	st.rec.Export = &rep
	if err != nil {
		return "", err
	}
	if rep.Rows < st.c.Export.MinRows {
		return "", fmt.Errorf("%d rows exported, fewer than export.min_rows %d", rep.Rows, st.c.Export.MinRows)
	}
	return fmt.Sprintf("%d rows from %d sources", rep.Rows, len(rep.Sources)), nil
}

func (st *state) train(ctx context.Context) (string, error) {
	rows, err := dataset.Load(st.rowsPath)
	if err != nil {
		return "", err
	}
	if h := st.c.Split.Holdout; h != "" {
		st.trainRows = rows
		if st.testRows, err = dataset.Load(st.c.Path(h)); err != nil {
			return "", fmt.Errorf("holdout: %w", err)
		}
	} else {
		st.trainRows, st.testRows = dataset.Split(rows, st.c.Split.TestFrac, st.c.Split.Seed)
	}
	if len(st.testRows) == 0 {
		return "", fmt.Errorf("no held-out rows (%d rows, split.test_frac %v)", len(rows), st.c.Split.TestFrac)
	}
	var parts []string
	for _, e := range st.c.Train {
		fc := e.FileConfig
		fc.Name, fc.Version = st.c.Model, st.rec.ID
		r, sum, err := router.Train(ctx, fc.TrainConfig(), st.trainRows)
		if err != nil {
			return strings.Join(parts, "; "), fmt.Errorf("%s: %w", fc.Kind, err)
		}
		st.cands = append(st.cands, &candidate{kind: fc.Kind, r: r, sum: sum})
		parts = append(parts, fmt.Sprintf("%s %.1fs", fc.Kind, sum.Seconds))
		st.log.Info("trained", "kind", fc.Kind, "rows", len(st.trainRows), "seconds", sum.Seconds)
	}
	return fmt.Sprintf("%d training rows, %d held out; %s", len(st.trainRows), len(st.testRows), strings.Join(parts, ", ")), nil
}

// evaluate scores every kind on the held-out rows, picks the best on the
// gate metric and writes its bundle with the held-out report as metrics.
func (st *state) evaluate(ctx context.Context) (string, error) {
	m, _ := parseMetric(st.c.Gate.Metric)
	for _, cd := range st.cands {
		rep, err := evaluate(ctx, cd.r, st.testRows)
		if err != nil {
			return "", fmt.Errorf("%s: %w", cd.kind, err)
		}
		cd.report, cd.metrics = rep, reportMetrics(rep)
		if _, err := metricValue(rep, m); err != nil {
			return "", fmt.Errorf("%s: %w", cd.kind, err)
		}
	}
	best := st.cands[0]
	for _, cd := range st.cands[1:] {
		a, _ := metricValue(cd.report, m)
		b, _ := metricValue(best.report, m)
		if (m.higher && a > b) || (!m.higher && a < b) {
			best = cd
		}
	}
	st.chosen = best
	for _, cd := range st.cands {
		st.rec.Candidates = append(st.rec.Candidates, CandidateScore{
			Kind: cd.kind, Metrics: cd.metrics, Chosen: cd == best, TrainSecs: cd.sum.Seconds, HeldOutRows: len(st.testRows),
		})
	}
	man := best.r.Manifest()
	man.Data.Rows = len(st.trainRows) + len(st.testRows)
	man.Data.TrainRows, man.Data.ValRows, man.Data.TestRows = best.sum.TrainRows, best.sum.ValRows, len(st.testRows)
	man.Data.Sources = dataset.Stats(append(append([]dataset.Row{}, st.trainRows...), st.testRows...)).Sources
	man.Data.TrainSecs = best.sum.Seconds
	man.Data.SplitSeed, man.Data.TestFrac = st.c.Split.Seed, st.c.Split.TestFrac
	man.Data.Split = fmt.Sprintf("pipeline run %s: random %g held out, seed %d", st.rec.ID, st.c.Split.TestFrac, st.c.Split.Seed)
	if st.c.Split.Holdout != "" {
		man.Data.Split = "pipeline run " + st.rec.ID + ": fixed holdout " + st.c.Split.Holdout
	}
	if man.Labels == nil {
		man.Labels = map[string]string{}
	}
	man.Labels["pipeline_run"] = st.rec.ID
	metrics, err := json.Marshal(struct {
		On string `json:"evaluated_on"`
		eval.Report
	}{"held-out", best.report})
	if err != nil {
		return "", fmt.Errorf("encode metrics: %w", err)
	}
	man.Metrics = metrics
	r, err := best.r.WithManifest(man)
	if err != nil {
		return "", err
	}
	best.r = r
	best.dir = filepath.Join(st.workDir, "bundle")
	if err := r.Save(best.dir); err != nil {
		return "", err
	}
	v, _ := metricValue(best.report, m)
	return fmt.Sprintf("chose %s: %s %.4f on %d held-out rows", best.kind, m.name, v, len(st.testRows)), nil
}

// gate compares the chosen candidate with the version CURRENT names, both
// evaluated on the same held-out rows.
func (st *state) gate(ctx context.Context) (string, error) {
	m, _ := parseMetric(st.c.Gate.Metric)
	cv, _ := metricValue(st.chosen.report, m)
	g := &GateResult{Metric: m.name, Candidate: cv, Margin: st.c.Gate.Margin, Relative: st.c.Gate.Relative}
	st.rec.Gate = g
	cur, _, err := st.repo.ReadCurrent(ctx, st.c.Model)
	if errors.Is(err, artifact.ErrNotFound) {
		g.Passed, g.Reason = true, "no production model: nothing to compare with"
		return g.Reason, nil
	}
	if err != nil {
		return "", fmt.Errorf("read production model: %w", err)
	}
	g.ProductionVersion = cur.Version
	dir := filepath.Join(st.workDir, "production")
	if _, err := st.repo.FetchVersion(ctx, st.c.Model, cur.Version, dir); err != nil {
		return "", fmt.Errorf("fetch production model: %w", err)
	}
	prod, err := router.Load(ctx, dir)
	if err != nil {
		return "", fmt.Errorf("load production model %s: %w", cur.Version, err)
	}
	if pk := prod.Manifest().Kind; pk != st.chosen.kind && !st.c.Gate.AllowKindChange {
		g.Reason = fmt.Sprintf("candidate is %s but production %s is %s: gateways serve this model through a %s strategy (set gate.allow_kind_change after changing the routes)", st.chosen.kind, cur.Version, pk, pk)
		return g.Reason, errRejected
	}
	rep, err := evaluate(ctx, prod, st.testRows)
	if err != nil {
		return "", fmt.Errorf("evaluate production model %s: %w", cur.Version, err)
	}
	pv, err := metricValue(rep, m)
	if err != nil {
		return "", fmt.Errorf("production model %s: %w", cur.Version, err)
	}
	g.Production = &pv
	allowed := g.Margin
	if g.Relative {
		allowed = g.Margin * math.Abs(pv)
	}
	var worse float64 // how much worse the candidate is (negative: better)
	if m.higher {
		worse = pv - cv
	} else {
		worse = cv - pv
	}
	g.Passed = worse <= allowed+1e-12
	dir2 := "higher is better"
	if !m.higher {
		dir2 = "lower is better"
	}
	if g.Passed {
		g.Reason = fmt.Sprintf("candidate %s %.4f vs production %s %.4f (%s, margin %.4g): passed", m.name, cv, cur.Version, pv, dir2, allowed)
		return g.Reason, nil
	}
	g.Reason = fmt.Sprintf("candidate %s %.4f is worse than production %s's %.4f by %.4g, more than the margin %.4g (%s)", m.name, cv, cur.Version, pv, worse, allowed, dir2)
	return g.Reason, errRejected
}

// upload publishes the chosen bundle as version <run id>. Publish removes
// what it wrote when it fails, so a failed upload leaves nothing behind.
func (st *state) upload(ctx context.Context) (string, error) {
	info, err := st.repo.Publish(ctx, st.c.Model, st.rec.ID, st.chosen.dir)
	if err != nil {
		st.rec.Cleanup = append(st.rec.Cleanup, "the failed publish removed the objects it had written")
		return "", err
	}
	st.published = &info
	st.rec.Version, st.rec.Bundle = info.Version, info.URI
	return fmt.Sprintf("published %s/%s (%d files) at %s", info.Name, info.Version, len(info.Files), info.URI), nil
}

// register records the run (params, metrics, tags, the bundle's URI),
// registers the bundle as a model version and points "challenger" at it.
// Any failure undoes the upload and marks the tracking run FAILED, so no
// alias or CURRENT can ever name a bundle that is not in the store.
func (st *state) register(ctx context.Context) (detail string, err error) {
	backend := "store"
	if st.c.Tracking.URI != "" {
		backend = "mlflow"
	}
	info := &TrackingInfo{Backend: backend}
	st.rec.Tracking = info
	defer func() {
		if err != nil {
			st.endTracking(tracking.StatusFailed, err)
			if info.ModelVersion != "" {
				st.rec.Cleanup = append(st.rec.Cleanup, fmt.Sprintf("model version %s of %s was registered but left without an alias; its bundle was removed", info.ModelVersion, st.c.Model))
			}
			st.undoUpload(ctx)
		}
	}()
	cd := st.chosen
	run, err := st.tracker.StartRun(ctx, tracking.RunSpec{
		Experiment: st.c.Tracking.Experiment, Name: st.rec.ID,
		Tags: map[string]string{
			"switchyard.pipeline_run": st.rec.ID, "switchyard.model": st.c.Model,
			"switchyard.kind": cd.kind, "switchyard.trigger": st.rec.Trigger,
		},
	})
	if err != nil {
		return "", err
	}
	st.runID, info.RunID = run.ID, run.ID
	if err := st.tracker.LogParams(ctx, run.ID, st.params()); err != nil {
		return "", err
	}
	if err := st.tracker.LogMetrics(ctx, run.ID, st.metrics()); err != nil {
		return "", err
	}
	if err := tracking.RecordBundleURI(ctx, st.tracker, run.ID, st.published.URI); err != nil {
		return "", err
	}
	mv, err := st.tracker.RegisterModelVersion(ctx, st.c.Model, st.published.URI, run.ID)
	if err != nil {
		return "", err
	}
	st.mv, info.ModelVersion = mv, mv.Version
	if err := st.tracker.SetAlias(ctx, st.c.Model, "challenger", mv.Version); err != nil {
		return "", fmt.Errorf("set alias challenger: %w", err)
	}
	info.Aliases = []string{"challenger"}
	if err := st.tracker.EndRun(ctx, run.ID, tracking.StatusFinished); err != nil {
		return "", err
	}
	st.runEnded = true
	return fmt.Sprintf("%s run %s, model version %s (challenger)", backend, run.ID, mv.Version), nil
}

// deploy moves CURRENT to the new version and makes it the champion.
func (st *state) deploy(ctx context.Context, d Deployer) (string, error) {
	reason := "pipeline run " + st.rec.ID + ": " + st.rec.Gate.Reason
	if err := d.Deploy(ctx, st.c.Model, st.rec.ID, reason); err != nil {
		return "", err
	}
	st.rec.Deployed = true
	if err := st.tracker.SetAlias(ctx, st.c.Model, "champion", st.mv.Version); err != nil {
		return "", fmt.Errorf("CURRENT moved to %s, but alias champion was not set: %w", st.rec.ID, err)
	}
	st.rec.Tracking.Aliases = append(st.rec.Tracking.Aliases, "champion")
	if err := st.tracker.SetTags(ctx, st.runID, map[string]string{"switchyard.deployed": "true"}); err != nil {
		st.log.Warn("deployed tag not set", "err", err)
	}
	return fmt.Sprintf("CURRENT of %s is %s; model version %s is champion", st.c.Model, st.rec.ID, st.mv.Version), nil
}

// endTracking ends the tracking run, on a fresh context: the run's own may
// be what failed.
func (st *state) endTracking(status tracking.RunStatus, cause error) {
	if st.tracker == nil || st.runID == "" || st.runEnded {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if cause != nil {
		_ = st.tracker.SetTags(ctx, st.runID, map[string]string{"switchyard.error": truncate(cause.Error(), 500)})
	}
	if err := st.tracker.EndRun(ctx, st.runID, status); err != nil {
		st.log.Error("tracking run not ended", "run_id", st.runID, "status", status, "err", err)
		st.rec.Cleanup = append(st.rec.Cleanup, fmt.Sprintf("tracking run %s could not be marked %s: %v", st.runID, status, err))
		return
	}
	st.runEnded = true
	st.rec.Cleanup = append(st.rec.Cleanup, fmt.Sprintf("tracking run %s marked %s", st.runID, status))
}

// undoUpload deletes the published version, on a fresh context.
func (st *state) undoUpload(ctx context.Context) {
	if st.published == nil {
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	n, err := discardVersion(dctx, st.repo.Store(), st.c.Model, st.published.Version)
	if err != nil {
		st.log.Error("uploaded version not removed", "version", st.published.Version, "err", err)
		st.rec.Cleanup = append(st.rec.Cleanup, fmt.Sprintf("uploaded version %s could NOT be removed: %v", st.published.Version, err))
		return
	}
	st.rec.Cleanup = append(st.rec.Cleanup, fmt.Sprintf("uploaded version %s removed (%d objects)", st.published.Version, n))
	st.rec.Bundle = ""
	st.published = nil
}

// params are the run's parameters: the pipeline's choices and the chosen
// learner's hyper-parameters.
func (st *state) params() map[string]string {
	cd := st.chosen
	man := cd.r.Manifest()
	p := map[string]string{
		"kind": cd.kind, "model": st.c.Model, "version": st.rec.ID,
		"featurizer":    man.Featurizer.Kind,
		"train_rows":    fmt.Sprint(len(st.trainRows)),
		"held_out_rows": fmt.Sprint(len(st.testRows)),
		"split_seed":    fmt.Sprint(st.c.Split.Seed),
		"test_frac":     fmt.Sprint(st.c.Split.TestFrac),
		"gate_metric":   st.c.Gate.Metric,
		"gate_margin":   fmt.Sprint(st.c.Gate.Margin),
		"kinds_trained": kinds(st.cands),
		"candidates":    strings.Join(cd.r.Candidates(), ","),
		"export_window": st.c.Export.Window.D().String(),
		"trigger":       st.rec.Trigger,
	}
	for k, v := range man.Params {
		b, _ := json.Marshal(v)
		p["hp."+k] = truncate(string(b), 500)
	}
	return p
}

// metrics are every kind's held-out figures ("<kind>.aiq"), the chosen
// kind's without prefix, and production's when the gate measured it.
func (st *state) metrics() []tracking.Metric {
	var out []tracking.Metric
	add := func(prefix string, ms map[string]float64) {
		keys := make([]string, 0, len(ms))
		for k := range ms {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, tracking.Metric{Key: prefix + mlflowKey(k), Value: ms[k]})
		}
	}
	add("", st.chosen.metrics)
	for _, cd := range st.cands {
		add(cd.kind+".", cd.metrics)
	}
	if g := st.rec.Gate; g != nil && g.Production != nil {
		out = append(out, tracking.Metric{Key: "production." + mlflowKey(g.Metric), Value: *g.Production})
	}
	return out
}

// discardVersion deletes every object of a published version, manifest
// first so the version stops being listed at once. On a versioned bucket it
// deletes each object version, so no delete marker or orphan remains.
func discardVersion(ctx context.Context, s artifact.Store, model, version string) (int, error) {
	prefix := "models/" + model + "/versions/" + version + "/"
	objs, err := s.List(ctx, prefix)
	if err != nil {
		return 0, err
	}
	sort.SliceStable(objs, func(i, j int) bool {
		return strings.HasSuffix(objs[i].Key, "/"+artifact.ManifestFile) && !strings.HasSuffix(objs[j].Key, "/"+artifact.ManifestFile)
	})
	vs, versioned := s.(artifact.Versioned)
	n := 0
	for _, o := range objs {
		if versioned {
			vers, err := vs.ListVersions(ctx, o.Key)
			if err != nil {
				return n, err
			}
			for _, v := range vers {
				if err := vs.DeleteVersion(ctx, o.Key, v.VersionID); err != nil {
					return n, err
				}
			}
			if len(vers) > 0 {
				n++
				continue
			}
		}
		if err := s.Delete(ctx, o.Key); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// evaluate scores r on rows at its own operating points.
func evaluate(ctx context.Context, r *router.Router, rows []dataset.Row) (eval.Report, error) {
	pred, err := r.PredictRows(ctx, rows)
	if err != nil {
		return eval.Report{}, err
	}
	m := r.Manifest()
	var ops []eval.OperatingPoint
	for _, op := range m.Operating {
		ops = append(ops, eval.OperatingPoint{Name: op.Name, Lambda: op.Lambda, Fraction: op.Fraction, CostScale: m.CostScale})
	}
	return eval.Evaluate(eval.FromRows(rows, r.Candidates()), pred, ops), nil
}

// reportMetrics flattens a report into named figures: aiq, and quality@P
// and cost@P for every operating point P.
func reportMetrics(r eval.Report) map[string]float64 {
	m := map[string]float64{
		"aiq": r.AIQ, "best_single_quality": r.BestSingleQuality, "oracle_quality": r.OracleQuality,
	}
	for _, op := range r.OperatingPoints {
		m["quality@"+op.Name] = op.Quality
		m["cost@"+op.Name] = op.Cost
	}
	for k, v := range m {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			delete(m, k)
		}
	}
	return m
}

func metricValue(r eval.Report, m metric) (float64, error) {
	if m.kind == "aiq" {
		return r.AIQ, nil
	}
	var names []string
	for _, op := range r.OperatingPoints {
		if op.Name == m.point {
			if m.kind == "quality" {
				return op.Quality, nil
			}
			return op.Cost, nil
		}
		names = append(names, op.Name)
	}
	return 0, fmt.Errorf("no operating point %q for gate.metric %s (it has %v)", m.point, m.name, names)
}

// mlflowKey makes a metric name MLflow accepts (no "@").
func mlflowKey(k string) string { return strings.ReplaceAll(k, "@", ".") }

func kinds(cs []*candidate) string {
	var ks []string
	for _, c := range cs {
		ks = append(ks, c.kind)
	}
	return strings.Join(ks, ",")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
