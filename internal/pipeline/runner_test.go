package pipeline

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/artifact"
	"github.com/switchyard-ai/switchyard/internal/tracking"
	"github.com/switchyard-ai/switchyard/internal/tracking/mlflowtest"
)

func stepStatuses(r *Record) map[string]string {
	m := map[string]string{}
	for _, s := range r.Steps {
		m[s.Name] = s.Status
	}
	return m
}

// TestHappyPathMLflow: a run on generated data uploads the bundle, records
// the run in MLflow (params, metrics, bundle URI, model version, aliases)
// and, with deploy on, moves CURRENT; the stored record matches.
func TestHappyPathMLflow(t *testing.T) {
	e := newTestEnv(t)
	srv := mlflowtest.New(t)
	c := mustLoad(t, e.conf(t, "p.yaml", e.good, srv.URL, true, ""))
	rn := NewRunner(Options{Logger: testLogger(t)})
	rec, err := rn.Run(context.Background(), c, Trigger{Kind: TriggerCLI})
	if err != nil {
		t.Fatalf("run: %v\n%+v", err, rec)
	}
	if rec.Status != StatusSucceeded {
		t.Fatalf("status %s: %s", rec.Status, rec.Error)
	}
	for _, name := range Steps {
		s := rec.Step(name)
		if s.Status != StepOK || s.Start == nil {
			t.Errorf("step %s: status %s, start %v", name, s.Status, s.Start)
		}
	}
	repo := openRepo(t, e.store)
	ctx := context.Background()

	// The bundle is in the store, CURRENT names it, the audit trail says who.
	vs, err := repo.ListVersions(ctx, "synth-router")
	if err != nil || len(vs) != 1 || vs[0].Version != rec.ID {
		t.Fatalf("versions %v (%v), want [%s]", vs, err, rec.ID)
	}
	cur, _, err := repo.ReadCurrent(ctx, "synth-router")
	if err != nil || cur.Version != rec.ID {
		t.Fatalf("CURRENT %+v (%v), want %s", cur, err, rec.ID)
	}
	evs, err := repo.ListAudit(ctx, artifact.AuditFilter{Target: "synth-router"})
	if err != nil || len(evs) == 0 || evs[len(evs)-1].To != rec.ID || !strings.HasPrefix(evs[len(evs)-1].Actor, "pipeline:") {
		t.Fatalf("audit %+v (%v): want a deploy to %s by the pipeline", evs, err, rec.ID)
	}

	// MLflow has the run, finished, with params, metrics and the bundle URI.
	run, ok := srv.RunByID(rec.Tracking.RunID)
	if !ok {
		t.Fatalf("MLflow has no run %q", rec.Tracking.RunID)
	}
	if run.Status != "FINISHED" || run.Params["kind"] != "knn" || run.Params[tracking.TagBundleURI] != rec.Bundle || run.Tags["switchyard.pipeline_run"] != rec.ID {
		t.Fatalf("MLflow run %+v", run)
	}
	var keys []string
	for _, m := range run.Metrics {
		keys = append(keys, m.Key)
	}
	for _, k := range []string{"aiq", "quality.balanced", "knn.aiq"} {
		if !slices.Contains(keys, k) {
			t.Errorf("metric %s not logged (have %v)", k, keys)
		}
	}
	versions, aliases, ok := srv.Model("synth-router")
	if !ok || len(versions) != 1 || versions[0].Source != rec.Bundle || versions[0].RunID != run.ID {
		t.Fatalf("registered versions %+v", versions)
	}
	if aliases["challenger"] != "1" || aliases["champion"] != "1" {
		t.Fatalf("aliases %v, want challenger and champion at 1", aliases)
	}

	// The stored record is the returned one.
	got, err := NewRecords(repo.Store()).Get(ctx, rec.ID)
	if err != nil || got.Status != StatusSucceeded || !got.Deployed || got.Gate == nil || !got.Gate.Passed {
		t.Fatalf("stored record %+v (%v)", got, err)
	}
}

// TestGateStopsWorseCandidate: production is a router trained on honest
// rows; a candidate trained on rows that lie about the cheap model loses
// quality on the same honest held-out rows and is stopped at the gate, with
// nothing uploaded or registered.
func TestGateStopsWorseCandidate(t *testing.T) {
	e := newTestEnv(t)
	srv := mlflowtest.New(t)
	ctx := context.Background()
	rn := NewRunner(Options{Logger: testLogger(t)})
	first, err := rn.Run(ctx, mustLoad(t, e.conf(t, "good.yaml", e.good, srv.URL, true, "")), Trigger{Kind: TriggerCLI})
	if err != nil || first.Status != StatusSucceeded {
		t.Fatalf("production run: %v %+v", err, first)
	}
	before := len(srv.Requests())

	rec, err := rn.Run(ctx, mustLoad(t, e.conf(t, "lying.yaml", e.lying, srv.URL, true, "")), Trigger{Kind: TriggerAPI})
	if err != nil {
		t.Fatalf("a gate rejection is not a run error: %v", err)
	}
	if rec.Status != StatusRejected || rec.Gate == nil || rec.Gate.Passed {
		t.Fatalf("status %s, gate %+v", rec.Status, rec.Gate)
	}
	if !strings.Contains(rec.Error, "worse than production "+first.ID) || rec.Gate.ProductionVersion != first.ID {
		t.Fatalf("record does not say why: %q", rec.Error)
	}
	if *rec.Gate.Production-rec.Gate.Candidate <= rec.Gate.Margin {
		t.Fatalf("gate figures %+v do not show the regression", rec.Gate)
	}
	want := map[string]string{StepExport: StepOK, StepTrain: StepOK, StepEvaluate: StepOK, StepGate: StepRejected,
		StepUpload: StepSkipped, StepRegister: StepSkipped, StepDeploy: StepSkipped}
	if got := stepStatuses(rec); !mapsEqual(got, want) {
		t.Fatalf("steps %v, want %v", got, want)
	}
	repo := openRepo(t, e.store)
	if vs, _ := repo.ListVersions(ctx, "synth-router"); len(vs) != 1 {
		t.Fatalf("versions %v: the rejected candidate was uploaded", vs)
	}
	if objs := versionObjects(t, repo.Store(), "synth-router", rec.ID); len(objs) != 0 {
		t.Fatalf("objects of the rejected version: %v", objs)
	}
	if cur, _, _ := repo.ReadCurrent(ctx, "synth-router"); cur.Version != first.ID {
		t.Fatalf("CURRENT moved to %s", cur.Version)
	}
	if reqs := srv.Requests()[before:]; len(reqs) != 0 {
		t.Fatalf("MLflow was called for a rejected candidate: %v", reqs)
	}
	if versions, _, _ := srv.Model("synth-router"); len(versions) != 1 {
		t.Fatalf("model versions %d, want 1", len(versions))
	}
	stored, err := NewRecords(repo.Store()).Get(ctx, rec.ID)
	if err != nil || stored.Status != StatusRejected || stored.Error != rec.Error {
		t.Fatalf("stored record %+v (%v)", stored, err)
	}
}

// TestStoreTrackerWithoutDeploy: no tracking URI records the run in the
// artifact store; with deploy off CURRENT stays unset and the version is
// only challenger.
func TestStoreTrackerWithoutDeploy(t *testing.T) {
	e := newTestEnv(t)
	rec, err := NewRunner(Options{Logger: testLogger(t)}).Run(context.Background(), mustLoad(t, e.conf(t, "p.yaml", e.good, "", false, "")), Trigger{Kind: TriggerCLI})
	if err != nil || rec.Status != StatusSucceeded {
		t.Fatalf("run: %v %+v", err, rec)
	}
	if s := rec.Step(StepDeploy); s.Status != StepSkipped || rec.Deployed {
		t.Fatalf("deploy step %+v, deployed %v", s, rec.Deployed)
	}
	repo := openRepo(t, e.store)
	ctx := context.Background()
	if _, _, err := repo.ReadCurrent(ctx, "synth-router"); !errors.Is(err, artifact.ErrNotFound) {
		t.Fatalf("CURRENT exists with deploy off: %v", err)
	}
	st := tracking.NewStoreTracker(repo.Store())
	run, err := st.ReadRun(ctx, rec.Tracking.RunID)
	if err != nil || run.Run.Status != tracking.StatusFinished || run.Params["kind"] != "knn" || run.Tags[tracking.TagBundleURI] != rec.Bundle {
		t.Fatalf("store run %+v (%v)", run, err)
	}
	mv, err := st.VersionByAlias(ctx, "synth-router", "challenger")
	if err != nil || mv.Source != rec.Bundle {
		t.Fatalf("challenger %+v (%v)", mv, err)
	}
	if _, err := st.VersionByAlias(ctx, "synth-router", "champion"); !errors.Is(err, tracking.ErrNotFound) {
		t.Fatalf("champion set without a deploy: %v", err)
	}
}

// TestFailureLeavesNothingHalfRegistered injects failures at upload and at
// register: the run fails at that step, says why, the store holds none of
// the version's objects, MLflow has no alias for it, and a tracking run
// that was started is FAILED.
func TestFailureLeavesNothingHalfRegistered(t *testing.T) {
	for _, tc := range []struct {
		name       string
		failPut    string // key suffix whose put fails
		failOn     string // tracker method that fails
		step       string
		runStarted bool
		versions   int // registered model versions left behind (without alias)
	}{
		{name: "upload payload", failPut: "/model.bin", step: StepUpload},
		{name: "upload manifest", failPut: "/manifest.json", step: StepUpload},
		{name: "register metrics", failOn: "LogMetrics", step: StepRegister, runStarted: true},
		{name: "register model version", failOn: "RegisterModelVersion", step: StepRegister, runStarted: true},
		{name: "register alias", failOn: "SetAlias:challenger", step: StepRegister, runStarted: true, versions: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			srv := mlflowtest.New(t)
			c := mustLoad(t, e.conf(t, "p.yaml", e.good, srv.URL, true, ""))
			o := Options{Logger: testLogger(t)}
			o.OpenStore = func(ctx context.Context, uri string) (artifact.Store, error) {
				s, err := artifact.OpenStore(ctx, uri, artifact.Options{})
				if err != nil || tc.failPut == "" {
					return s, err
				}
				return wrapFaulty(s, func(k string) bool { return strings.HasPrefix(k, "models/") && strings.HasSuffix(k, tc.failPut) }), nil
			}
			o.NewTracker = func(c *Config, repo *artifact.Repo) (tracking.Tracker, error) {
				tr, err := tracking.New(tracking.Config{TrackingURI: c.Tracking.URI}, repo)
				return faultyTracker{Tracker: tr, failOn: tc.failOn}, err
			}
			rec, err := NewRunner(o).Run(context.Background(), c, Trigger{Kind: TriggerCLI})
			if err == nil || !errors.Is(err, errInjected) {
				t.Fatalf("run error %v, want the injected failure", err)
			}
			if rec.Status != StatusFailed || rec.Step(tc.step).Status != StepFailed || !strings.Contains(rec.Error, tc.step+":") {
				t.Fatalf("record %s, step %s %+v, error %q", rec.Status, tc.step, rec.Step(tc.step), rec.Error)
			}
			if rec.Step(StepDeploy).Status != StepSkipped || rec.Deployed {
				t.Fatalf("deploy ran after a failed %s", tc.step)
			}
			repo := openRepo(t, e.store)
			if objs := versionObjects(t, repo.Store(), "synth-router", rec.ID); len(objs) != 0 {
				t.Fatalf("objects left in the store: %v", objs)
			}
			if vs, _ := repo.ListVersions(context.Background(), "synth-router"); len(vs) != 0 {
				t.Fatalf("versions listed: %v", vs)
			}
			if _, _, err := repo.ReadCurrent(context.Background(), "synth-router"); !errors.Is(err, artifact.ErrNotFound) {
				t.Fatalf("CURRENT written: %v", err)
			}
			versions, aliases, _ := srv.Model("synth-router")
			if len(versions) != tc.versions || len(aliases) != 0 {
				t.Fatalf("MLflow model versions %+v aliases %v", versions, aliases)
			}
			if !tc.runStarted {
				if rec.Tracking != nil {
					t.Fatalf("tracking touched after a failed upload: %+v", rec.Tracking)
				}
				return
			}
			run, ok := srv.RunByID(rec.Tracking.RunID)
			if !ok || run.Status != "FAILED" || !strings.Contains(run.Tags["switchyard.error"], "injected") {
				t.Fatalf("MLflow run %+v, want FAILED with the error tag", run)
			}
			if len(rec.Cleanup) == 0 {
				t.Fatal("record does not list what was undone")
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestGateRefusesKindChange: gateways serve a model through a strategy of
// one kind, so a candidate of another kind is stopped unless allowed.
func TestGateRefusesKindChange(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	rn := NewRunner(Options{Logger: testLogger(t)})
	if rec, err := rn.Run(ctx, mustLoad(t, e.conf(t, "knn.yaml", e.good, "", true, "")), Trigger{Kind: TriggerCLI}); err != nil || rec.Status != StatusSucceeded {
		t.Fatalf("production run: %v %+v", err, rec)
	}
	mlp := strings.NewReplacer("kind: knn", "kind: mlp", "knn: {k: 15}", "mlp: {max_epochs: 30}").Replace
	for _, allow := range []bool{false, true} {
		p := e.conf(t, "mlp.yaml", e.good, "", false, "")
		raw, _ := os.ReadFile(p)
		body := mlp(string(raw))
		if allow {
			body = strings.Replace(body, "margin: 0.02", "margin: 0.02\n  allow_kind_change: true", 1)
		}
		os.WriteFile(p, []byte(body), 0o644)
		rec, err := rn.Run(ctx, mustLoad(t, p), Trigger{Kind: TriggerCLI})
		if err != nil {
			t.Fatal(err)
		}
		if !allow && (rec.Status != StatusRejected || !strings.Contains(rec.Error, "candidate is mlp but production")) {
			t.Fatalf("kind change not refused: %s %q", rec.Status, rec.Error)
		}
		if allow && rec.Status != StatusSucceeded {
			t.Fatalf("allowed kind change: %s %q", rec.Status, rec.Error)
		}
	}
}
