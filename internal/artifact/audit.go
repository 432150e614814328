package artifact

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
)

// Event is one audit record: who did what to which target, from which state
// to which, and how it ended. Every deploy, rollback, activation, rejected
// activation and strategy or experiment change writes one.
type Event struct {
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`  // admin key id, or "pipeline", "scheduler"
	Action string    `json:"action"` // deploy, rollback, activate, reject, strategy.create, ...
	Target string    `json:"target"` // the model (or strategy, experiment) name
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Result string    `json:"result"` // ok, failed, rejected
	Reason string    `json:"reason,omitempty"`
}

// AuditFilter selects events; zero fields match everything. Since is
// inclusive and Until exclusive.
type AuditFilter struct {
	Since, Until time.Time
	Target       string // model name
	Action       string
	Actor        string
	// Limit keeps the newest Limit events when > 0.
	Limit int
}

const (
	auditPrefix = "audit/"
	// auditTimeLayout sorts lexically in time order (fixed width, UTC).
	auditTimeLayout = "20060102T150405.000000000Z"
)

// auditKey is "audit/<time>-<uuidv7>.json": sortable by time, unique, and
// parseable without reading the object, so a time-range listing reads only
// the events inside the range.
func auditKey(t time.Time, id string) string {
	return auditPrefix + t.UTC().Format(auditTimeLayout) + "-" + id + ".json"
}

func parseAuditKey(key string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(key, auditPrefix)
	if !ok || len(rest) < len(auditTimeLayout) {
		return time.Time{}, false
	}
	t, err := time.Parse(auditTimeLayout, rest[:len(auditTimeLayout)])
	return t, err == nil
}

// AppendAudit writes one event as a new object. It never overwrites: the put
// is create-only, and the key holds a fresh UUIDv7. ID and Time are filled
// when empty; the stored event is returned.
func (r *Repo) AppendAudit(ctx context.Context, ev Event) (Event, error) {
	if ev.Action == "" || ev.Actor == "" {
		return Event{}, fmt.Errorf("append audit: action and actor are required (got action %q, actor %q)", ev.Action, ev.Actor)
	}
	if ev.Time.IsZero() {
		ev.Time = r.now()
	}
	ev.Time = ev.Time.UTC()
	if ev.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return Event{}, fmt.Errorf("append audit: %w", err)
		}
		ev.ID = id.String()
	}
	if err := validName("audit event id", ev.ID); err != nil {
		return Event{}, err
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return Event{}, fmt.Errorf("append audit: %w", err)
	}
	_, err = r.store.Put(ctx, auditKey(ev.Time, ev.ID), bytes.NewReader(b), PutOptions{IfNoneMatch: true, ContentType: "application/json"})
	if err != nil {
		return Event{}, fmt.Errorf("append audit %s: %w", ev.ID, err)
	}
	return ev, nil
}

// auditReadBatch is how many events a listing reads at once: an S3 GET is a
// round trip, so a trail of thousands of events is read in parallel batches.
const auditReadBatch = 16

// ListAudit returns the matching events, oldest first. Every event read is
// checksum-verified; one that fails makes the whole listing fail rather
// than silently dropping a record from the trail. Only events inside
// [Since, Until) are read (the time is in the key), and with a Limit the
// newest events are read first and the reading stops once Limit match.
func (r *Repo) ListAudit(ctx context.Context, f AuditFilter) ([]Event, error) {
	var out []Event
	err := r.WalkAuditBackward(ctx, f, func(ev Event) bool {
		out = append(out, ev)
		return f.Limit > 0 && len(out) >= f.Limit
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}

// WalkAuditBackward calls fn with the matching events, newest first, until
// fn returns true (stop) or the trail is exhausted. f.Limit is ignored.
// Events are read in parallel batches, and fn sees them in order.
func (r *Repo) WalkAuditBackward(ctx context.Context, f AuditFilter, fn func(Event) (stop bool)) error {
	objs, err := r.store.List(ctx, auditPrefix)
	if err != nil {
		return fmt.Errorf("list audit: %w", err)
	}
	keys := make([]string, 0, len(objs))
	for _, o := range objs {
		t, ok := parseAuditKey(o.Key)
		if !ok {
			continue // not an event object
		}
		if (!f.Since.IsZero() && t.Before(f.Since)) || (!f.Until.IsZero() && !t.Before(f.Until)) {
			continue
		}
		keys = append(keys, o.Key)
	}
	// Keys sort by time (fixed-width UTC, then a UUIDv7); stores list in
	// key order, but do not rely on it.
	slices.Sort(keys)
	slices.Reverse(keys)
	for len(keys) > 0 {
		batch := keys[:min(auditReadBatch, len(keys))]
		keys = keys[len(batch):]
		evs := make([]*Event, len(batch))
		g, gctx := errgroup.WithContext(ctx)
		for i, key := range batch {
			g.Go(func() error {
				b, _, err := ReadAll(gctx, r.store, key)
				if errors.Is(err, ErrNotFound) {
					return nil // deleted by retention between list and read
				}
				if err != nil {
					return fmt.Errorf("list audit: %w", err)
				}
				var ev Event
				if err := json.Unmarshal(b, &ev); err != nil {
					return fmt.Errorf("list audit: event %s: %w", key, err)
				}
				evs[i] = &ev
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		for _, ev := range evs {
			if ev == nil || (f.Target != "" && ev.Target != f.Target) || (f.Action != "" && ev.Action != f.Action) || (f.Actor != "" && ev.Actor != f.Actor) {
				continue
			}
			if fn(*ev) {
				return nil
			}
		}
	}
	return nil
}
