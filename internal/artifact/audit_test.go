package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestAuditAppendAndFilter(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	events := []Event{
		{Time: t0, Actor: "key-a", Action: "deploy", Target: "support", From: "1", To: "2", Result: "ok"},
		{Time: t0.Add(time.Minute), Actor: "key-b", Action: "rollback", Target: "support", From: "2", To: "1", Result: "ok", Reason: "p99 regression"},
		{Time: t0.Add(2 * time.Minute), Actor: "key-a", Action: "deploy", Target: "billing", To: "7", Result: "ok"},
		{Time: t0.Add(3 * time.Minute), Actor: "modelmgr", Action: "reject", Target: "support", To: "3", Result: "rejected", Reason: "canary failed"},
		// Same instant as the first: keys must still differ.
		{Time: t0, Actor: "key-c", Action: "strategy.create", Target: "router-x", Result: "ok"},
	}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, _ := b.open(t)
			repo := NewRepo(s, RepoOptions{})
			var stored []Event
			for _, ev := range events {
				got, err := repo.AppendAudit(ctx, ev)
				if err != nil {
					t.Fatal(err)
				}
				if got.ID == "" || !got.Time.Equal(ev.Time) {
					t.Fatalf("stored event = %+v", got)
				}
				stored = append(stored, got)
			}
			t.Run("create-only", func(t *testing.T) {
				again := stored[1]
				again.Reason = "rewritten history"
				if _, err := repo.AppendAudit(ctx, again); !errors.Is(err, ErrConflict) {
					t.Fatalf("re-append of an existing id = %v, want ErrConflict", err)
				}
				got, _ := repo.ListAudit(ctx, AuditFilter{Action: "rollback"})
				if len(got) != 1 || got[0].Reason != "p99 regression" {
					t.Fatalf("event was overwritten: %+v", got)
				}
			})
			cases := []struct {
				name string
				f    AuditFilter
				want string // actors in order
			}{
				{"all, oldest first", AuditFilter{}, "key-a,key-c,key-b,key-a,modelmgr"},
				{"model", AuditFilter{Target: "support"}, "key-a,key-b,modelmgr"},
				{"action", AuditFilter{Action: "deploy"}, "key-a,key-a"},
				{"actor", AuditFilter{Actor: "key-a"}, "key-a,key-a"},
				{"time range, until exclusive", AuditFilter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, "key-b,key-a"},
				{"since inclusive", AuditFilter{Since: t0.Add(3 * time.Minute)}, "modelmgr"},
				{"combined", AuditFilter{Target: "support", Action: "deploy", Actor: "key-a"}, "key-a"},
				{"limit keeps newest", AuditFilter{Limit: 2}, "key-a,modelmgr"},
				{"limit keeps newest matching", AuditFilter{Target: "support", Limit: 2}, "key-b,modelmgr"},
				{"limit over the matches", AuditFilter{Action: "deploy", Limit: 5}, "key-a,key-a"},
				{"no match", AuditFilter{Actor: "nobody"}, ""},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					got, err := repo.ListAudit(ctx, c.f)
					if err != nil {
						t.Fatal(err)
					}
					var actors []string
					for _, ev := range got {
						actors = append(actors, ev.Actor)
					}
					if strings.Join(actors, ",") != c.want {
						t.Fatalf("actors = %v, want %s", actors, c.want)
					}
				})
			}
		})
	}
}

func TestAuditRejectsIncompleteEvents(t *testing.T) {
	s, _ := OpenFileStore(t.TempDir(), nil)
	repo := NewRepo(s, RepoOptions{})
	for _, ev := range []Event{{Action: "deploy"}, {Actor: "key-a"}, {Actor: "a", Action: "deploy", ID: "../x"}} {
		if _, err := repo.AppendAudit(context.Background(), ev); err == nil {
			t.Fatalf("append %+v accepted", ev)
		}
	}
}

// countingStore counts object reads.
type countingStore struct {
	Store
	gets atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, key)
}

// A listing with a limit reads the trail from its newest end and stops once
// it has enough; a walk stops where its caller says; without a limit every
// event in range is read, in parallel batches, and returned oldest first.
func TestAuditReadsOnlyWhatItNeeds(t *testing.T) {
	ctx := context.Background()
	fs, err := OpenFileStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: fs}
	repo := NewRepo(cs, RepoOptions{})
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const n = 100
	for i := range n {
		target := "a"
		if i%10 == 9 {
			target = "b"
		}
		if _, err := repo.AppendAudit(ctx, Event{Time: t0.Add(time.Duration(i) * time.Second), Actor: fmt.Sprint(i), Action: "deploy", Target: target, Result: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := repo.ListAudit(ctx, AuditFilter{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Actor != "97" || got[2].Actor != "99" {
		t.Fatalf("limit 3 = %+v", got)
	}
	if g := cs.gets.Load(); g > auditReadBatch {
		t.Fatalf("limit 3 read %d events; want at most one batch of %d", g, auditReadBatch)
	}
	cs.gets.Store(0)
	got, err = repo.ListAudit(ctx, AuditFilter{Target: "b", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Actor != "89" || got[1].Actor != "99" {
		t.Fatalf("target b limit 2 = %+v", got)
	}
	if g := cs.gets.Load(); g > 2*auditReadBatch {
		t.Fatalf("target b limit 2 read %d events; want at most two batches", g)
	}
	cs.gets.Store(0)
	seen := 0
	if err := repo.WalkAuditBackward(ctx, AuditFilter{Target: "a"}, func(ev Event) bool {
		seen++
		return ev.Actor == "80"
	}); err != nil {
		t.Fatal(err)
	}
	if seen != 18 { // 98..80 without 89
		t.Fatalf("walk saw %d events before stopping, want 18", seen)
	}
	if g := cs.gets.Load(); g > 2*auditReadBatch {
		t.Fatalf("walk read %d events; want at most two batches", g)
	}
	cs.gets.Store(0)
	all, err := repo.ListAudit(ctx, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n || cs.gets.Load() != n {
		t.Fatalf("full listing: %d events, %d reads; want %d of each", len(all), cs.gets.Load(), n)
	}
	for i, ev := range all {
		if ev.Actor != fmt.Sprint(i) {
			t.Fatalf("event %d is %s: not oldest first", i, ev.Actor)
		}
	}
}
