package modelmgr_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/audit"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
	"github.com/switchyard-ai/switchyard/internal/modelmgr"
	"github.com/switchyard-ai/switchyard/internal/tracking"
	"github.com/switchyard-ai/switchyard/internal/tracking/mlflowtest"
)

// Deploys and rollbacks keep the model registry's champion alias on the
// version CURRENT names, in MLflow and in the store's own records, and a
// registry that fails does not undo the move.
func TestChampionFollowsCurrent(t *testing.T) {
	for _, backend := range []string{"store", "mlflow"} {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t)
			var tr tracking.Tracker = tracking.NewStoreTracker(e.store)
			var srv *mlflowtest.Server
			if backend == "mlflow" {
				srv = mlflowtest.New(t)
				c, err := tracking.NewClient(tracking.Config{TrackingURI: srv.URL, MaxAttempts: 1, InitialBackoff: time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				tr = &tracking.MLflowTracker{Client: c}
			}
			reg := e.registry(t, regOpts{tracker: tr})
			ctx := audit.WithActor(context.Background(), "ops")
			r := trainedRouter(t, router.KindKNN, 1)
			// v1 and v2 registered as the pipeline does (source = the
			// bundle's store URI); v3 published by hand, never registered.
			for _, v := range []string{"v1", "v2", "v3"} {
				e.publish(t, r, "m", v, nil)
			}
			mv := map[string]string{}
			for _, v := range []string{"v1", "v2"} {
				got, err := tr.RegisterModelVersion(ctx, "m", e.repo.VersionURI("m", v), "")
				if err != nil {
					t.Fatal(err)
				}
				mv[v] = got.Version
			}
			champion := func() string {
				t.Helper()
				got, err := tr.VersionByAlias(ctx, "m", modelmgr.ChampionAlias)
				if errors.Is(err, tracking.ErrNotFound) {
					return ""
				}
				if err != nil {
					t.Fatal(err)
				}
				return got.Version
			}
			steps := []struct {
				do           func() (modelmgr.Move, error)
				wantChampion string // the tracker's version, "" for unset
			}{
				{func() (modelmgr.Move, error) { return reg.Deploy(ctx, "m", "v1", "") }, mv["v1"]},
				{func() (modelmgr.Move, error) { return reg.Deploy(ctx, "m", "v2", "") }, mv["v2"]},
				{func() (modelmgr.Move, error) { return reg.Rollback(ctx, "m", modelmgr.Previous, "bad canary") }, mv["v1"]},
				// Not registered: the alias stays where it was.
				{func() (modelmgr.Move, error) { return reg.Deploy(ctx, "m", "v3", "") }, mv["v1"]},
				{func() (modelmgr.Move, error) { return reg.Rollback(ctx, "m", "v2", "") }, mv["v2"]},
			}
			for i, st := range steps {
				m, err := st.do()
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if m.AliasError != "" {
					t.Fatalf("step %d: alias error %s", i, m.AliasError)
				}
				if got := champion(); got != st.wantChampion {
					t.Fatalf("step %d (%s -> %s): champion is version %q, want %q", i, m.From, m.To, got, st.wantChampion)
				}
			}
			if srv == nil {
				return
			}
			// The registry answers 500s: the rollback still moves CURRENT,
			// says why the alias did not follow, and audits it.
			srv.FailNext(500)
			m, err := reg.Rollback(ctx, "m", "v1", "registry down")
			if err != nil || !m.Changed {
				t.Fatalf("rollback with the registry down: %+v %v", m, err)
			}
			if !strings.Contains(m.AliasError, "champion alias was not") {
				t.Fatalf("alias error %q", m.AliasError)
			}
			cur, _, err := e.repo.ReadCurrent(ctx, "m")
			if err != nil || cur.Version != "v1" {
				t.Fatalf("CURRENT = %+v %v, want v1", cur, err)
			}
			if got := champion(); got != mv["v2"] {
				t.Fatalf("champion %q changed although the registry failed", got)
			}
			evs, err := reg.Audit().List(ctx, audit.Filter{Target: "m", Action: audit.ActionRollback})
			if err != nil {
				t.Fatal(err)
			}
			if last := evs[len(evs)-1]; !strings.Contains(last.Reason, "champion alias was not") || last.Result != audit.ResultOK {
				t.Fatalf("last audit event %+v", last)
			}
		})
	}
}
