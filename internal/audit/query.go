package audit

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultLimit and MaxLimit bound a listing so one query cannot read the
// whole trail into a response by accident.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
)

// ParseQuery turns GET /admin/audit's query (model, action, actor, since,
// until, limit) into a Filter. since and until are RFC 3339 times or a Go
// duration meaning "that long before now" (since=1h). An action without a
// dot is a model action (deploy means model.deploy). Unknown parameters are
// errors, so a typo does not silently widen the result.
func ParseQuery(q url.Values, now time.Time) (Filter, error) {
	f := Filter{Limit: DefaultLimit}
	for k, vs := range q {
		if len(vs) != 1 {
			return Filter{}, fmt.Errorf("query parameter %q given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "model":
			f.Target = v
		case "action":
			if v != "" && !strings.Contains(v, ".") {
				v = "model." + v
			}
			f.Action = v
		case "actor":
			f.Actor = v
		case "since", "until":
			t, err := parseTime(v, now)
			if err != nil {
				return Filter{}, fmt.Errorf("query parameter %s: %w", k, err)
			}
			if k == "since" {
				f.Since = t
			} else {
				f.Until = t
			}
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxLimit {
				return Filter{}, fmt.Errorf("query parameter limit: %q is not a number in [1, %d]", v, MaxLimit)
			}
			f.Limit = n
		default:
			return Filter{}, fmt.Errorf("unknown query parameter %q (known: model, action, actor, since, until, limit)", k)
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return Filter{}, fmt.Errorf("since %s is not before until %s", f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339))
	}
	return f, nil
}

func parseTime(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a positive duration like 1h", v)
	}
	return now.Add(-d), nil
}
