// Package audit is Switchyard's trail of administrative actions: every model
// deploy, rollback, activation and rejected activation, and every strategy or
// experiment change. It is a thin layer over the artifact store's
// append-only event objects (artifact.Repo.AppendAudit), so the trail is
// central (one store for every replica), checksummed and never overwritten.
//
// The package adds what every caller would otherwise repeat: the action and
// result vocabulary, the actor carried in the request context, and the query
// parsing and HTTP handler for GET /admin/audit.
package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/switchyard-ai/switchyard/internal/artifact"
)

// Event is one audit record (who, what, target, from, to, when, result,
// reason); it is the artifact store's type so nothing is translated.
type Event = artifact.Event

// Filter selects events; it is the artifact store's filter.
type Filter = artifact.AuditFilter

// Actions. Model actions are written by the model manager; the strategy and
// experiment ones are for the gateway's admin API.
const (
	ActionDeploy   = "model.deploy"
	ActionRollback = "model.rollback"
	// ActionActivate: a replica started serving a version.
	ActionActivate = "model.activate"
	// ActionReject: a replica refused to activate a version (bad checksum,
	// failing canary, missing artifact, too slow) and kept the old one.
	ActionReject = "model.reject"

	ActionStrategyCreate   = "strategy.create"
	ActionStrategyUpdate   = "strategy.update"
	ActionStrategyDelete   = "strategy.delete"
	ActionExperimentCreate = "experiment.create"
	ActionExperimentUpdate = "experiment.update"
	ActionExperimentDelete = "experiment.delete"
)

// Results.
const (
	ResultOK       = "ok"
	ResultFailed   = "failed"
	ResultRejected = "rejected"
)

// Actors used when no admin key is behind an action.
const (
	// ActorSystem is a replica acting on its own (an activation that follows
	// CURRENT).
	ActorSystem = "system"
	// ActorUnknown is recorded when a caller forgot to name the actor, so the
	// event is still written rather than lost.
	ActorUnknown = "unknown"
)

// Trail writes and reads audit events.
type Trail struct {
	repo *artifact.Repo
	log  *slog.Logger
}

// New returns a trail stored in repo.
func New(repo *artifact.Repo, log *slog.Logger) *Trail {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Trail{repo: repo, log: log}
}

// Record appends ev. An empty actor is taken from ctx (WithActor), then set
// to ActorUnknown; an empty result is ResultOK. The stored event is returned.
// A failure is also logged, because callers often cannot do more than report
// it and the trail must not lose an event silently.
func (t *Trail) Record(ctx context.Context, ev Event) (Event, error) {
	if ev.Action == "" {
		return Event{}, errors.New("audit: action is required")
	}
	if ev.Actor == "" {
		ev.Actor = Actor(ctx)
	}
	if ev.Result == "" {
		ev.Result = ResultOK
	}
	out, err := t.repo.AppendAudit(ctx, ev)
	if err != nil {
		t.log.Error("audit event not written", "action", ev.Action, "target", ev.Target, "actor", ev.Actor,
			"from", ev.From, "to", ev.To, "result", ev.Result, "reason", ev.Reason, "err", err)
		return Event{}, fmt.Errorf("audit %s %s: %w", ev.Action, ev.Target, err)
	}
	return out, nil
}

// List returns the matching events, oldest first.
func (t *Trail) List(ctx context.Context, f Filter) ([]Event, error) {
	evs, err := t.repo.ListAudit(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return evs, nil
}

// WalkBackward calls fn with the matching events, newest first, until fn
// returns true; it reads no further back than it must.
func (t *Trail) WalkBackward(ctx context.Context, f Filter, fn func(Event) (stop bool)) error {
	if err := t.repo.WalkAuditBackward(ctx, f, fn); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

type actorKey struct{}

// WithActor returns ctx carrying the id of who acts (an admin key id, "cli:USER").
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// Actor returns the actor carried by ctx, or ActorUnknown.
func Actor(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return ActorUnknown
}
