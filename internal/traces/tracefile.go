package traces

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// The local trace file is what the OpenTelemetry SDK's stdouttrace exporter
// writes: one JSON object per span per line, the SDK's SpanStub, with
// attributes as {"Key", "Value": {"Type", "Value"}}.
type stubSpan struct {
	Name        string
	SpanContext stubContext
	Parent      stubContext
	StartTime   time.Time
	EndTime     time.Time
	Attributes  []stubKeyValue
	Events      []struct {
		Name       string
		Attributes []stubKeyValue
		Time       time.Time
	}
	Resource []stubKeyValue
}

type stubContext struct {
	TraceID string
	SpanID  string
}

type stubKeyValue struct {
	Key   string
	Value struct {
		Type  string
		Value json.RawMessage
	}
}

func stubAttrs(kvs []stubKeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		var v any
		switch kv.Value.Type {
		case "STRING":
			var s string
			if json.Unmarshal(kv.Value.Value, &s) == nil {
				v = s
			}
		case "INT64":
			var i int64
			if json.Unmarshal(kv.Value.Value, &i) == nil {
				v = i
			}
		case "FLOAT64":
			var f float64
			if json.Unmarshal(kv.Value.Value, &f) == nil {
				v = f
			}
		case "BOOL":
			var b bool
			if json.Unmarshal(kv.Value.Value, &b) == nil {
				v = b
			}
		}
		if v != nil {
			m[kv.Key] = v
		}
	}
	return m
}

func (s *stubSpan) span() Span {
	sp := Span{
		TraceID: normID(s.SpanContext.TraceID, 32),
		SpanID:  normID(s.SpanContext.SpanID, 16),
		Service: attrString(stubAttrs(s.Resource), attrServiceName),
		Name:    s.Name,
		Start:   s.StartTime.UTC(),
		End:     s.EndTime.UTC(),
		Attrs:   stubAttrs(s.Attributes),
	}
	if p := normID(s.Parent.SpanID, 16); p != "0000000000000000" {
		sp.ParentID = p
	}
	for _, e := range s.Events {
		sp.Events = append(sp.Events, Event{Name: e.Name, Time: e.Time.UTC(), Attrs: stubAttrs(e.Attributes)})
	}
	return sp
}

// maxSpanLine bounds one line of the trace file; a decision payload with a
// long prompt is far below it.
const maxSpanLine = 64 << 20

// ReadTraceFile streams the spans of a local trace file to fn. A line that is
// not a span is an error naming the file and line, except a last line
// without its newline, which is what a gateway killed mid-write leaves: that
// one is skipped and reported through truncated.
func ReadTraceFile(path string, fn func(Span)) (lines int, truncated bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false, fmt.Errorf("open trace file: %w", err)
	}
	defer f.Close()
	return readTraceLines(f, path, fn)
}

func readTraceLines(r io.Reader, name string, fn func(Span)) (lines int, truncated bool, err error) {
	br := bufio.NewReaderSize(r, 1<<20)
	for lineNo := 1; ; lineNo++ {
		line, rerr := readLine(br)
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return lines, false, fmt.Errorf("read %s:%d: %w", name, lineNo, rerr)
		}
		complete := rerr == nil
		b := bytes.TrimSpace(line)
		if len(b) > 0 {
			var s stubSpan
			if err := json.Unmarshal(b, &s); err != nil || s.SpanContext.TraceID == "" {
				if !complete {
					return lines, true, nil
				}
				if err == nil {
					err = errors.New("no SpanContext.TraceID")
				}
				return lines, false, fmt.Errorf("%s:%d: not a span written by the stdouttrace exporter: %w", name, lineNo, err)
			}
			lines++
			fn(s.span())
		}
		if !complete {
			return lines, false, nil
		}
	}
}

// readLine reads one line (without the newline), up to maxSpanLine bytes; it
// returns io.EOF with the last, unterminated, line.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxSpanLine {
			return nil, fmt.Errorf("line longer than %d bytes", maxSpanLine)
		}
		switch {
		case err == nil:
			return buf[:len(buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return buf, err
		}
	}
}
