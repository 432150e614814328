package traces

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// The subset of OTLP JSON (opentelemetry-proto's JSON mapping) that the v3
// query API returns and the join reads. OTLP JSON spells ids in hex, times as
// decimal strings of nanoseconds and int64 values as strings; decoding it into
// these structs with encoding/json is both simpler and faster than pulling in
// the collector's pdata for a read-only pass.
type otlpTracesData struct {
	ResourceSpans []otlpResourceSpans `json:"resourceSpans"`
}

type otlpResourceSpans struct {
	Resource struct {
		Attributes []otlpKeyValue `json:"attributes"`
	} `json:"resource"`
	ScopeSpans []struct {
		Spans []otlpSpan `json:"spans"`
	} `json:"scopeSpans"`
}

type otlpSpan struct {
	TraceID      string         `json:"traceId"`
	SpanID       string         `json:"spanId"`
	ParentSpanID string         `json:"parentSpanId"`
	Name         string         `json:"name"`
	Start        otlpNanos      `json:"startTimeUnixNano"`
	End          otlpNanos      `json:"endTimeUnixNano"`
	Attributes   []otlpKeyValue `json:"attributes"`
	Events       []struct {
		Time       otlpNanos      `json:"timeUnixNano"`
		Name       string         `json:"name"`
		Attributes []otlpKeyValue `json:"attributes"`
	} `json:"events"`
}

type otlpKeyValue struct {
	Key   string       `json:"key"`
	Value otlpAnyValue `json:"value"`
}

type otlpAnyValue struct {
	StringValue *string          `json:"stringValue"`
	IntValue    *json.RawMessage `json:"intValue"`
	DoubleValue *json.RawMessage `json:"doubleValue"`
	BoolValue   *bool            `json:"boolValue"`
}

// otlpNanos accepts a time in nanoseconds as a JSON string or number.
type otlpNanos int64

func (n *otlpNanos) UnmarshalJSON(b []byte) error {
	if len(b) > 1 && b[0] == '"' {
		b = b[1 : len(b)-1]
	}
	if len(b) == 0 || string(b) == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("time %q is not nanoseconds: %w", b, err)
	}
	*n = otlpNanos(v)
	return nil
}

func (v otlpAnyValue) value() any {
	switch {
	case v.StringValue != nil:
		return *v.StringValue
	case v.IntValue != nil:
		s := string(*v.IntValue)
		if len(s) > 1 && s[0] == '"' {
			s = s[1 : len(s)-1]
		}
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
	case v.DoubleValue != nil:
		s := string(*v.DoubleValue)
		if len(s) > 1 && s[0] == '"' {
			s = s[1 : len(s)-1] // "NaN", "Infinity"
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
	case v.BoolValue != nil:
		return *v.BoolValue
	}
	return nil
}

func otlpAttrs(kvs []otlpKeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		if v := kv.Value.value(); v != nil {
			m[kv.Key] = v
		}
	}
	return m
}

// decodeOTLP decodes an OTLP JSON TracesData document into spans and
// returns how many distinct traces it held.
func decodeOTLP(td *otlpTracesData) ([]Span, int) {
	var spans []Span
	traces := map[string]struct{}{}
	for _, rs := range td.ResourceSpans {
		service := attrString(otlpAttrs(rs.Resource.Attributes), attrServiceName)
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				sp := Span{
					TraceID: normID(s.TraceID, 32),
					SpanID:  normID(s.SpanID, 16),
					Service: service,
					Name:    s.Name,
					Start:   time.Unix(0, int64(s.Start)).UTC(),
					End:     time.Unix(0, int64(s.End)).UTC(),
					Attrs:   otlpAttrs(s.Attributes),
				}
				if s.ParentSpanID != "" {
					sp.ParentID = normID(s.ParentSpanID, 16)
				}
				for _, e := range s.Events {
					sp.Events = append(sp.Events, Event{Name: e.Name, Time: time.Unix(0, int64(e.Time)).UTC(), Attrs: otlpAttrs(e.Attributes)})
				}
				traces[sp.TraceID] = struct{}{}
				spans = append(spans, sp)
			}
		}
	}
	return spans, len(traces)
}
