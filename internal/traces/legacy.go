package traces

import (
	"encoding/json"
	"time"
)

// The legacy query API's document (GET /api/traces): Jaeger's own span model,
// with times in microseconds, attributes as "tags" and events as "logs" whose
// name is the "event" field.
type legacyResponse struct {
	Data   []legacyTrace `json:"data"`
	Errors []struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	} `json:"errors"`
}

type legacyTrace struct {
	TraceID   string `json:"traceID"`
	Spans     []legacySpan
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

type legacySpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	StartTime int64       `json:"startTime"`
	Duration  int64       `json:"duration"`
	Tags      []legacyTag `json:"tags"`
	Logs      []struct {
		Timestamp int64       `json:"timestamp"`
		Fields    []legacyTag `json:"fields"`
	} `json:"logs"`
	ProcessID string `json:"processID"`
}

type legacyTag struct {
	Key   string          `json:"key"`
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

func legacyAttrs(tags []legacyTag) map[string]any {
	m := make(map[string]any, len(tags))
	for _, t := range tags {
		var v any
		switch t.Type {
		case "int64":
			var i int64
			if json.Unmarshal(t.Value, &i) == nil {
				v = i
			}
		case "float64":
			var f float64
			if json.Unmarshal(t.Value, &f) == nil {
				v = f
			}
		case "bool":
			var b bool
			if json.Unmarshal(t.Value, &b) == nil {
				v = b
			}
		default:
			var s string
			if json.Unmarshal(t.Value, &s) == nil {
				v = s
			}
		}
		if v != nil {
			m[t.Key] = v
		}
	}
	return m
}

func usec(us int64) time.Time { return time.UnixMicro(us).UTC() }

// decodeLegacy turns the legacy document into spans; it returns the number
// of traces it held.
func decodeLegacy(doc *legacyResponse) ([]Span, int) {
	var spans []Span
	for _, tr := range doc.Data {
		for _, s := range tr.Spans {
			sp := Span{
				TraceID: normID(s.TraceID, 32),
				SpanID:  normID(s.SpanID, 16),
				Service: tr.Processes[s.ProcessID].ServiceName,
				Name:    s.OperationName,
				Start:   usec(s.StartTime),
				End:     usec(s.StartTime + s.Duration),
				Attrs:   legacyAttrs(s.Tags),
			}
			for _, r := range s.References {
				if r.RefType == "CHILD_OF" && normID(r.TraceID, 32) == sp.TraceID {
					sp.ParentID = normID(r.SpanID, 16)
					break
				}
			}
			for _, l := range s.Logs {
				attrs := legacyAttrs(l.Fields)
				name := attrString(attrs, "event")
				delete(attrs, "event")
				sp.Events = append(sp.Events, Event{Name: name, Time: usec(l.Timestamp), Attrs: attrs})
			}
			spans = append(spans, sp)
		}
	}
	return spans, len(doc.Data)
}
