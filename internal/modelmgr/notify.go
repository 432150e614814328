package modelmgr

import (
	"context"
	"encoding/json"
	"fmt"
)

// Notice is the deploy notice published on the Redis channel. It only says
// which model to look at: each replica reads CURRENT itself, so a stale,
// duplicated or forged notice costs one read and changes nothing.
type Notice struct {
	Model   string `json:"model"`
	Version string `json:"version"`
}

func (r *Registry) publish(ctx context.Context, n Notice) error {
	if r.cfg.Redis == nil {
		return nil
	}
	b, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("publish deploy notice: %w", err)
	}
	if err := r.cfg.Redis.Publish(ctx, r.cfg.NotifyChannel, b).Err(); err != nil {
		return fmt.Errorf("publish deploy notice on %s: %w", r.cfg.NotifyChannel, err)
	}
	return nil
}

// listen triggers the named model's manager for every notice until ctx
// ends. go-redis resubscribes after a lost connection; a notice missed
// meanwhile is caught by the next poll.
func (r *Registry) listen(ctx context.Context) {
	sub := r.cfg.Redis.Subscribe(ctx, r.cfg.NotifyChannel)
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			var n Notice
			if err := json.Unmarshal([]byte(msg.Payload), &n); err != nil {
				r.log.Warn("ignoring malformed deploy notice", "channel", msg.Channel, "err", err)
				continue
			}
			if m, ok := r.Lookup(n.Model); ok {
				m.Trigger()
			}
		}
	}
}
