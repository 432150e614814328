package modelmgr

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchyard-ai/switchyard/internal/artifact"
	"github.com/switchyard-ai/switchyard/internal/audit"
	"github.com/switchyard-ai/switchyard/internal/tracking"
)

// Errors of Deploy and Rollback besides ErrMissing and ErrInvalid.
var (
	// ErrConflict: CURRENT changed between reading it and writing it (another
	// deploy won the race). Nothing was changed; read again and decide.
	ErrConflict = errors.New("CURRENT changed concurrently")
	// ErrNoPrevious: a rollback to "previous" when the trail shows no
	// version before the current one.
	ErrNoPrevious = errors.New("no previous version")
)

// Previous is the rollback target meaning "the version CURRENT named before
// its last move".
const Previous = "previous"

// Move is the outcome of a deploy or rollback.
type Move struct {
	Model   string `json:"model"`
	Action  string `json:"action"`
	From    string `json:"from"`
	To      string `json:"to"`
	SHA256  string `json:"sha256"`
	ETag    string `json:"etag,omitempty"`
	Changed bool   `json:"changed"`
	// NoticeError is set when CURRENT moved but the Redis notice failed:
	// replicas then pick the version up at their next poll.
	NoticeError string `json:"notice_error,omitempty"`
	// Champion is the tracker's model version the "champion" alias now names
	// (Config.Tracker), and AliasError why it could not be moved: CURRENT
	// moved either way, and it is what replicas serve.
	Champion   string `json:"champion,omitempty"`
	AliasError string `json:"alias_error,omitempty"`
}

// ChampionAlias is the model-registry alias that follows CURRENT.
const ChampionAlias = "champion"

// moveChampion points the champion alias at the model version registered
// from name@version's bundle. A bundle never registered is not an error.
func (r *Registry) moveChampion(ctx context.Context, mv *Move, name, version string) {
	if r.cfg.Tracker == nil {
		return
	}
	// The move is done; a cancelled caller must not leave the alias behind.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	src := r.repo.VersionURI(name, version)
	tv, err := r.cfg.Tracker.FindVersion(ctx, name, src)
	if errors.Is(err, tracking.ErrNotFound) {
		r.log.Info("version not in the model registry; champion alias left alone", "model", name, "version", version, "source", src)
		return
	}
	if err == nil {
		err = r.cfg.Tracker.SetAlias(ctx, name, ChampionAlias, tv.Version)
	}
	if err != nil {
		mv.AliasError = fmt.Sprintf("CURRENT moved, but the %s alias was not: %v", ChampionAlias, err)
		r.log.Warn("champion alias not moved", "model", name, "version", version, "err", err)
		return
	}
	mv.Champion = tv.Version
}

// Deploy validates name@version (present, checksums, loads, canaries,
// latency) and then points CURRENT at it with a conditional write, notifies
// the replicas and audits. The actor is audit.Actor(ctx).
func (r *Registry) Deploy(ctx context.Context, name, version, reason string) (Move, error) {
	return r.move(ctx, audit.ActionDeploy, name, version, reason)
}

// Rollback is Deploy to an earlier version, or to Previous. The target is
// checked exactly as a deploy's is, so a rollback cannot activate a version
// that would be rejected.
func (r *Registry) Rollback(ctx context.Context, name, version, reason string) (Move, error) {
	return r.move(ctx, audit.ActionRollback, name, version, reason)
}

func (r *Registry) move(ctx context.Context, action, name, version, reason string) (mv Move, err error) {
	mv = Move{Model: name, Action: action, To: version}
	ev := audit.Event{Action: action, Target: name, To: version, Reason: reason}
	defer func() {
		result := audit.ResultOK
		switch {
		case errors.Is(err, ErrInvalid), errors.Is(err, ErrMissing), errors.Is(err, ErrNoPrevious):
			result = audit.ResultRejected
		case err != nil:
			result = audit.ResultFailed
		}
		label := result
		if errors.Is(err, ErrConflict) {
			label = "conflict"
		}
		r.m.moves.WithLabelValues(action, label).Inc()
		ev.From, ev.To, ev.Result = mv.From, mv.To, result
		if err != nil {
			ev.Reason = joinReason(reason, err.Error())
		} else if mv.AliasError != "" {
			ev.Reason = joinReason(reason, mv.AliasError)
		} else if !mv.Changed {
			ev.Reason = joinReason(reason, "already current; nothing changed")
		}
		if _, aerr := r.audit.Record(context.WithoutCancel(ctx), ev); aerr != nil && err == nil {
			err = fmt.Errorf("%s %s@%s done, but %w", action, name, mv.To, aerr)
		}
	}()
	if err := validModelName(name); err != nil {
		return mv, fmt.Errorf("%w: %w", ErrMissing, err)
	}
	if version == "" {
		return mv, fmt.Errorf("%w: no version given", ErrMissing)
	}
	cur, etag, err := r.repo.ReadCurrent(ctx, name)
	switch {
	case errors.Is(err, artifact.ErrNotFound):
		etag = "" // first deploy: create CURRENT
	case err != nil:
		return mv, fmt.Errorf("%s %s: %w", action, name, err)
	}
	mv.From = cur.Version
	if version == Previous {
		if action != audit.ActionRollback {
			return mv, fmt.Errorf("%w: %q is a rollback target, not a version", ErrMissing, Previous)
		}
		prev, err := r.previous(ctx, name, cur.Version)
		if err != nil {
			return mv, err
		}
		version, mv.To = prev, prev
	}
	kind := ""
	if m, ok := r.Lookup(name); ok {
		m.mu.Lock()
		kind = m.kind
		m.mu.Unlock()
	}
	snap, err := r.prepare(ctx, name, version, kind, "")
	if err != nil {
		return mv, fmt.Errorf("%s %s@%s: %w", action, name, version, err)
	}
	mv.SHA256 = snap.SHA256
	if version == cur.Version && snap.ManifestSHA256 == cur.SHA256 {
		return mv, nil
	}
	newETag, err := r.repo.SetCurrent(ctx, name, artifact.Current{
		Version: version, SHA256: snap.ManifestSHA256, Who: audit.Actor(ctx), Reason: joinReason(action, reason),
	}, etag)
	if errors.Is(err, artifact.ErrConflict) {
		return mv, fmt.Errorf("%s %s@%s: %w (it no longer names %q): %w", action, name, version, ErrConflict, cur.Version, err)
	}
	if err != nil {
		return mv, fmt.Errorf("%s %s@%s: %w", action, name, version, err)
	}
	mv.Changed, mv.ETag = true, newETag
	if m, ok := r.Lookup(name); ok {
		m.offer(snap)
	}
	r.moveChampion(ctx, &mv, name, version)
	if err := r.publish(ctx, Notice{Model: name, Version: version}); err != nil {
		mv.NoticeError = err.Error()
		r.log.Warn("deploy notice not sent; replicas will follow at their next poll", "model", name, "version", version, "err", err)
	}
	r.log.Info("CURRENT moved", "action", action, "model", name, "from", mv.From, "to", version, "actor", audit.Actor(ctx))
	return mv, nil
}

// previous finds the version CURRENT named before it moved to current: the
// From of the newest successful deploy or rollback to current in the trail.
// The trail, not a replica's memory, so every replica and the CLI agree.
func (r *Registry) previous(ctx context.Context, name, current string) (string, error) {
	if current == "" {
		return "", fmt.Errorf("%w: model %s was never deployed", ErrNoPrevious, name)
	}
	// Newest first: the move that made current CURRENT is usually among
	// the last few events, so a long trail is not read to its start.
	prev := ""
	err := r.audit.WalkBackward(ctx, audit.Filter{Target: name}, func(ev audit.Event) bool {
		if (ev.Action == audit.ActionDeploy || ev.Action == audit.ActionRollback) && ev.Result == audit.ResultOK && ev.To == current && ev.From != "" && ev.From != current {
			prev = ev.From
			return true
		}
		return false
	})
	if err != nil {
		return "", fmt.Errorf("rollback %s: find previous version: %w", name, err)
	}
	if prev != "" {
		return prev, nil
	}
	return "", fmt.Errorf("%w: the audit trail shows no version of %s before %s", ErrNoPrevious, name, current)
}

func joinReason(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ": " + b
}
