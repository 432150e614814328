package routing

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// params reads a strategy's parameters with clear errors. Unknown keys are an
// error, so a typo in a parameter name does not silently use a default.
type params struct {
	m    map[string]any
	used map[string]bool
	errs []string
}

func newParams(m map[string]any) *params { return &params{m: m, used: map[string]bool{}} }

func (p *params) fail(format string, args ...any) {
	p.errs = append(p.errs, fmt.Sprintf(format, args...))
}

func (p *params) float(key string, def float64) float64 {
	p.used[key] = true
	v, ok := p.m[key]
	if !ok {
		return def
	}
	f, ok := toFloat(v)
	if !ok {
		p.fail("params.%s: %v is not a number", key, v)
		return def
	}
	return f
}

func (p *params) str(key, def string) string {
	p.used[key] = true
	v, ok := p.m[key]
	if !ok {
		return def
	}
	s, ok := v.(string)
	if !ok {
		p.fail("params.%s: %v is not a string", key, v)
		return def
	}
	return s
}

func (p *params) duration(key string, def time.Duration) time.Duration {
	s := p.str(key, "")
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		p.fail("params.%s: %q is not a positive duration like \"50ms\"", key, s)
		return def
	}
	return d
}

func (p *params) object(key string) map[string]any {
	p.used[key] = true
	v, ok := p.m[key]
	if !ok || v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		p.fail("params.%s must be an object", key)
	}
	return m
}

func (p *params) bool(key string, def bool) bool {
	p.used[key] = true
	v, ok := p.m[key]
	if !ok {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		p.fail("params.%s: %v is not true or false", key, v)
		return def
	}
	return b
}

// err reports bad values and unknown keys, listing the known ones.
func (p *params) err() error {
	var unknown []string
	for k := range p.m {
		if !p.used[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		known := make([]string, 0, len(p.used))
		for k := range p.used {
			known = append(known, k)
		}
		sort.Strings(known)
		if len(known) == 0 {
			p.fail("unknown params %v (this kind takes none)", unknown)
		} else {
			p.fail("unknown params %v (known: %s)", unknown, strings.Join(known, ", "))
		}
	}
	if len(p.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(p.errs, "; "))
}
