package audit

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/artifact"
)

func newTrail(t *testing.T) *Trail {
	t.Helper()
	st, err := artifact.OpenFileStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return New(artifact.NewRepo(st, artifact.RepoOptions{}), nil)
}

func TestRecordFillsActorAndResult(t *testing.T) {
	tr := newTrail(t)
	ctx := context.Background()
	tests := []struct {
		name       string
		ctx        context.Context
		ev         Event
		wantActor  string
		wantResult string
	}{
		{"actor from context", WithActor(ctx, "ops"), Event{Action: ActionDeploy, Target: "m", To: "2"}, "ops", ResultOK},
		{"explicit actor wins", WithActor(ctx, "ops"), Event{Action: ActionRollback, Actor: "cli:ana", Target: "m", Result: ResultFailed}, "cli:ana", ResultFailed},
		{"no actor at all", ctx, Event{Action: ActionReject, Target: "m", Result: ResultRejected}, ActorUnknown, ResultRejected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tr.Record(tc.ctx, tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			if got.Actor != tc.wantActor || got.Result != tc.wantResult || got.ID == "" || got.Time.IsZero() {
				t.Fatalf("stored %+v, want actor %q result %q with id and time", got, tc.wantActor, tc.wantResult)
			}
		})
	}
	if _, err := tr.Record(ctx, Event{Target: "m"}); err == nil {
		t.Fatal("an event without an action was accepted")
	}
	all, err := tr.List(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("listed %d events, want 3", len(all))
	}
	byActor, err := tr.List(ctx, Filter{Actor: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if len(byActor) != 1 || byActor[0].Action != ActionDeploy {
		t.Fatalf("actor filter gave %+v", byActor)
	}
}

func TestParseQuery(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		query   string
		want    Filter
		wantErr string
	}{
		{"", Filter{Limit: DefaultLimit}, ""},
		{"model=m&action=deploy&actor=ops&limit=5", Filter{Target: "m", Action: ActionDeploy, Actor: "ops", Limit: 5}, ""},
		{"action=strategy.create", Filter{Action: ActionStrategyCreate, Limit: DefaultLimit}, ""},
		{"since=1h", Filter{Since: now.Add(-time.Hour), Limit: DefaultLimit}, ""},
		{"since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z", Filter{Since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Limit: DefaultLimit}, ""},
		{"since=yesterday", Filter{}, "neither an RFC 3339 time"},
		{"since=-1h", Filter{}, "neither an RFC 3339 time"},
		{"limit=0", Filter{}, "limit"},
		{"limit=abc", Filter{}, "limit"},
		{"modle=m", Filter{}, `unknown query parameter "modle"`},
		{"model=a&model=b", Filter{}, "given 2 times"},
		{"since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", Filter{}, "is not before"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseQuery(q, now)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Since.Equal(tc.want.Since) || !got.Until.Equal(tc.want.Until) || got.Target != tc.want.Target ||
				got.Action != tc.want.Action || got.Actor != tc.want.Actor || got.Limit != tc.want.Limit {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
