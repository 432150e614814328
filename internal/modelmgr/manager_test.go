package modelmgr_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/artifact"
	"github.com/switchyard-ai/switchyard/internal/audit"
	"github.com/switchyard-ai/switchyard/internal/bundle"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
	"github.com/switchyard-ai/switchyard/internal/modelmgr"
)

// TestBadVersionsAreRejected points CURRENT (behind the deploy API's back,
// as a hand edit or a buggy pipeline would) at a corrupt artifact, a missing
// one and one whose canary fails. Each is rejected with its reason recorded
// and audited, and the old version keeps serving; Deploy refuses each too.
func TestBadVersionsAreRejected(t *testing.T) {
	ctx := audit.WithActor(context.Background(), "ops")
	r := trainedRouter(t, router.KindKNN, 1)
	tests := []struct {
		name      string
		prepare   func(t *testing.T, e *env, version string)
		wantErr   error  // from Deploy
		wantInErr string // in the manager's last error
	}{
		{
			name: "corrupt artifact",
			prepare: func(t *testing.T, e *env, v string) {
				e.publish(t, r, "m", v, nil)
				// Flip bytes in the stored payload: the store's checksum no longer matches.
				p := filepath.Join(e.dir, "models", "m", "versions", v, bundle.PayloadFile)
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				b[len(b)/2] ^= 0xff
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: modelmgr.ErrInvalid, wantInErr: "checksum",
		},
		{
			name: "missing artifact",
			prepare: func(t *testing.T, e *env, v string) {
				e.publish(t, r, "m", v, nil)
				if err := e.store.Delete(context.Background(), "models/m/versions/"+v+"/"+bundle.PayloadFile); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: modelmgr.ErrMissing, wantInErr: "not found",
		},
		{
			name: "failing canary",
			prepare: func(t *testing.T, e *env, v string) {
				e.publish(t, r, "m", v, func(m *bundle.Manifest) {
					c := &m.Canaries[0]
					c.Pick = other(m.Candidates, c.Pick)
				})
			},
			wantErr: modelmgr.ErrInvalid, wantInErr: "canary",
		},
		{
			name: "wrong kind",
			prepare: func(t *testing.T, e *env, v string) {
				e.publish(t, trainedRouter(t, router.KindSVM, 1), "m", v, nil)
			},
			wantErr: modelmgr.ErrInvalid, wantInErr: "svm bundle",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			reg := e.registry(t, regOpts{})
			m, err := reg.Manager("m", router.KindKNN)
			if err != nil {
				t.Fatal(err)
			}
			run(t, reg)
			e.publish(t, r, "m", "v1", nil)
			if _, err := reg.Deploy(ctx, "m", "v1", "first"); err != nil {
				t.Fatal(err)
			}
			waitActive(t, m, "v1")
			tc.prepare(t, e, "v2")

			if _, err := reg.Deploy(ctx, "m", "v2", "bad"); !errors.Is(err, tc.wantErr) {
				t.Fatalf("deploy of a bad version: %v, want %v", err, tc.wantErr)
			}
			if cur, _, _ := e.repo.ReadCurrent(ctx, "m"); cur.Version != "v1" {
				t.Fatalf("a refused deploy moved CURRENT to %s", cur.Version)
			}

			// Now past the deploy API's checks, straight into CURRENT.
			_, etag, _ := e.repo.ReadCurrent(ctx, "m")
			if _, err := e.repo.SetCurrent(ctx, "m", artifact.Current{Version: "v2", Who: "hand-edit"}, etag); err != nil {
				t.Fatal(err)
			}
			m.Trigger()
			deadline := time.Now().Add(20 * time.Second)
			for m.Status().LastError == "" {
				if time.Now().After(deadline) {
					t.Fatalf("no rejection recorded: %+v", m.Status())
				}
				time.Sleep(5 * time.Millisecond)
			}
			st := m.Status()
			if st.ActiveVersion != "v1" || st.CurrentVersion != "v2" || !strings.Contains(st.LastError, tc.wantInErr) {
				t.Fatalf("status %+v: want v1 active, CURRENT v2, last error mentioning %q", st, tc.wantInErr)
			}
			if s := m.Snapshot(); s == nil || s.Version != "v1" {
				t.Fatalf("serving %+v, want v1", s)
			}
			evs, err := reg.Audit().List(ctx, audit.Filter{Target: "m", Action: audit.ActionReject})
			if err != nil {
				t.Fatal(err)
			}
			// Two polls later the rejection is still audited once.
			time.Sleep(60 * time.Millisecond)
			again, _ := reg.Audit().List(ctx, audit.Filter{Target: "m", Action: audit.ActionReject})
			if len(evs) != 1 || len(again) != 1 || evs[0].To != "v2" || evs[0].From != "v1" || evs[0].Result != audit.ResultRejected {
				t.Fatalf("reject events %+v then %d, want exactly one v1 -> v2 rejected", evs, len(again))
			}
			// A good version after the bad one is picked up as usual.
			e.publish(t, r, "m", "v3", nil)
			if _, err := reg.Deploy(ctx, "m", "v3", ""); err != nil {
				t.Fatal(err)
			}
			waitActive(t, m, "v3")
			if st := m.Status(); st.LastError != "" || st.PreviousVersion != "v1" {
				t.Fatalf("after a good deploy: %+v", st)
			}
		})
	}
}

func other(cands []bundle.Candidate, name string) string {
	for _, c := range cands {
		if c.Name != name {
			return c.Name
		}
	}
	return name
}

func TestRollback(t *testing.T) {
	ctx := audit.WithActor(context.Background(), "ops")
	r := trainedRouter(t, router.KindKNN, 1)
	e := newEnv(t)
	reg := e.registry(t, regOpts{})
	m, err := reg.Manager("m", router.KindKNN)
	if err != nil {
		t.Fatal(err)
	}
	run(t, reg)
	for _, v := range []string{"v1", "v2", "v3"} {
		e.publish(t, r, "m", v, nil)
	}

	if _, err := reg.Rollback(ctx, "m", modelmgr.Previous, "never deployed"); !errors.Is(err, modelmgr.ErrNoPrevious) {
		t.Fatalf("rollback before any deploy: %v, want ErrNoPrevious", err)
	}
	if _, err := reg.Deploy(ctx, "m", "v1", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Rollback(ctx, "m", modelmgr.Previous, "only one deployed"); !errors.Is(err, modelmgr.ErrNoPrevious) {
		t.Fatalf("rollback after one deploy: %v, want ErrNoPrevious", err)
	}
	steps := []struct {
		action, target, want string
	}{
		{"deploy", "v2", "v2"},
		{"deploy", "v3", "v3"},
		{"rollback", modelmgr.Previous, "v2"},
		{"rollback", modelmgr.Previous, "v3"}, // previous of v2 is where it came from
		{"rollback", "v1", "v1"},
		{"deploy", "v1", "v1"}, // already current: no change
	}
	for _, s := range steps {
		do := reg.Deploy
		if s.action == "rollback" {
			do = reg.Rollback
		}
		mv, err := do(ctx, "m", s.target, "test")
		if err != nil {
			t.Fatalf("%s %s: %v", s.action, s.target, err)
		}
		if mv.To != s.want {
			t.Fatalf("%s %s went to %s, want %s", s.action, s.target, mv.To, s.want)
		}
		waitActive(t, m, s.want)
	}
	if _, err := reg.Rollback(ctx, "m", "v9", ""); !errors.Is(err, modelmgr.ErrMissing) {
		t.Fatalf("rollback to an unpublished version: %v, want ErrMissing", err)
	}
	if s := m.Snapshot(); s.Version != "v1" {
		t.Fatalf("serving %s after a refused rollback, want v1", s.Version)
	}
	evs, err := reg.Audit().List(ctx, audit.Filter{Target: "m", Actor: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Action+":"+ev.From+">"+ev.To+":"+ev.Result)
	}
	want := []string{
		"model.rollback:>previous:rejected",
		"model.deploy:>v1:ok",
		"model.rollback:v1>previous:rejected",
		"model.deploy:v1>v2:ok",
		"model.deploy:v2>v3:ok",
		"model.rollback:v3>v2:ok",
		"model.rollback:v2>v3:ok",
		"model.rollback:v3>v1:ok",
		"model.deploy:v1>v1:ok",
		"model.rollback:v1>v9:rejected",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("audit trail:\n got %v\nwant %v", got, want)
	}
}

// TestLatencyBound rejects a version whose decisions are slower than the
// configured bound: with a bound of 1ns every real model is too slow.
func TestLatencyBound(t *testing.T) {
	e := newEnv(t)
	e.publish(t, trainedRouter(t, router.KindKNN, 1), "m", "v1", nil)
	reg, err := modelmgr.New(modelmgr.Config{Repo: e.repo, CacheDir: t.TempDir(), MaxDecisionLatency: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = reg.Deploy(context.Background(), "m", "v1", "")
	if !errors.Is(err, modelmgr.ErrInvalid) || !strings.Contains(err.Error(), "median decision latency") {
		t.Fatalf("deploy with a 1ns bound: %v, want a latency rejection", err)
	}
}
