package telemetry

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// AppendPayload appends the record's decision payload (contract version 1)
// to dst. It writes the bytes encoding/json writes for the decisionPayload
// struct (a test holds it to that, byte for byte), without reflection: the
// payload is built once per request on the serving path, where a
// reflection-based encoder cost about 5 us and 9 allocations.
//
// Two departures from encoding/json, both where it would fail: a non-finite
// number is written as null, and a Features value that cannot be encoded is
// written as null; encoding/json would refuse the whole payload and the
// request's decision would be lost from its trace.
func (r *DecisionRecord) AppendPayload(dst []byte) []byte {
	b := append(dst, `{"contract_version":`...)
	b = strconv.AppendInt(b, DecisionContractVersion, 10)
	b = append(b, `,"route":`...)
	b = appendString(b, r.Route)
	b = append(b, `,"strategy":{"name":`...)
	b = appendString(b, r.Strategy.Name)
	b = append(b, `,"kind":`...)
	b = appendString(b, r.Strategy.Kind)
	b = append(b, `,"version":`...)
	b = appendString(b, r.Strategy.Version)
	b = append(b, '}')
	if v := r.Decision.ModelVersion; v != "" {
		b = append(b, `,"model_version":`...)
		b = appendString(b, v)
	}
	if r.Experiment != "" {
		b = append(b, `,"experiment":`...)
		b = appendString(b, r.Experiment)
	}
	if r.Arm != "" {
		b = append(b, `,"arm":`...)
		b = appendString(b, r.Arm)
	}
	if r.Experiment != "" {
		b = append(b, `,"bucket":`...)
		b = strconv.AppendInt(b, int64(r.Bucket), 10)
	}
	b = append(b, `,"candidates":[`...)
	for i, c := range r.Candidates {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, c.Name)
		b = append(b, `,"healthy":`...)
		b = strconv.AppendBool(b, c.Healthy)
		q, cost, score := math.NaN(), math.NaN(), math.NaN()
		if i < len(r.Decision.Scores) {
			sc := r.Decision.Scores[i]
			q, cost, score = sc.Quality, sc.Cost, sc.Score
		}
		b = append(b, `,"predicted_quality":`...)
		b = appendFloat(b, q, 64)
		b = append(b, `,"predicted_cost":`...)
		b = appendFloat(b, cost, 64)
		b = append(b, `,"score":`...)
		b = appendFloat(b, score, 64)
		b = append(b, '}')
	}
	b = append(b, ']')
	pick := ""
	if len(r.Decision.Order) > 0 && r.Decision.Order[0] >= 0 && r.Decision.Order[0] < len(r.Candidates) {
		pick = r.Candidates[r.Decision.Order[0]].Name
	}
	b = append(b, `,"pick":`...)
	b = appendString(b, pick)
	b = append(b, `,"propensity":`...)
	b = appendFloat(b, r.Decision.Propensity, 64)
	b = append(b, `,"reason":`...)
	b = appendString(b, r.Decision.Reason)
	if r.Prompt != "" {
		b = append(b, `,"prompt":`...)
		b = appendString(b, r.Prompt)
	}
	if r.Features != nil {
		b = append(b, `,"features":`...)
		b = appendFeatures(b, r.Features)
	}
	b = append(b, `,"timings":{"decide_us":`...)
	b = strconv.AppendInt(b, r.DecideDuration.Microseconds(), 10)
	b = append(b, `,"total_ms":`...)
	b = strconv.AppendInt(b, r.Outcome.Latency.Milliseconds(), 10)
	if ms := r.Outcome.TimeToFirstChunk.Milliseconds(); ms != 0 {
		b = append(b, `,"first_chunk_ms":`...)
		b = strconv.AppendInt(b, ms, 10)
	}
	o := &r.Outcome
	b = append(b, `},"outcome":{`...)
	if o.Deployment != "" {
		b = append(b, `"deployment":`...)
		b = appendString(b, o.Deployment)
		b = append(b, ',')
	}
	b = append(b, `"status":`...)
	b = strconv.AppendInt(b, int64(o.Status), 10)
	b = append(b, `,"input_tokens":`...)
	b = strconv.AppendInt(b, int64(o.InputTokens), 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, int64(o.OutputTokens), 10)
	b = append(b, `,"cost_usd":`...)
	b = appendFloat(b, o.CostUSD, 64)
	if o.UsageEstimated {
		b = append(b, `,"usage_estimated":true`...)
	}
	b = append(b, `,"fallbacks":`...)
	b = strconv.AppendInt(b, int64(o.Fallbacks), 10)
	b = append(b, `,"retries":`...)
	b = strconv.AppendInt(b, int64(o.Retries), 10)
	if len(o.Tried) > 0 {
		b = append(b, `,"tried":[`...)
		for i, t := range o.Tried {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, t)
		}
		b = append(b, ']')
	}
	if o.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, o.Error)
	}
	return append(b, "}}"...)
}

// appendFeatures writes a captured feature vector; other types go through
// encoding/json.
func appendFeatures(b []byte, f any) []byte {
	var v feature.Vector
	switch x := f.(type) {
	case feature.Vector:
		v = x
	case *feature.Vector:
		if x == nil {
			return append(b, "null"...)
		}
		v = *x
	default:
		raw, err := json.Marshal(f)
		if err != nil {
			return append(b, "null"...)
		}
		return append(b, raw...)
	}
	b = append(b, `{"Idx":`...)
	if v.Idx == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, x := range v.Idx {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, uint64(x), 10)
		}
		b = append(b, ']')
	}
	b = append(b, `,"Val":`...)
	if v.Val == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		// A captured prompt's values repeat: a value is (1+log tf)/norm, so
		// a prompt has only as many distinct values as distinct term
		// counts, and most terms are seen once. Copying the digits of a
		// recent equal value skips most of the float formatting, which
		// was the largest part of building the payload.
		var seen [4]struct {
			bits     uint32
			at, end  int
			occupied bool
		}
		next := 0
	values:
		for i, x := range v.Val {
			if i > 0 {
				b = append(b, ',')
			}
			bits := math.Float32bits(x)
			for _, e := range seen {
				if e.occupied && e.bits == bits {
					b = append(b, b[e.at:e.end]...)
					continue values
				}
			}
			at := len(b)
			b = appendFloat(b, float64(x), 32)
			seen[next].bits, seen[next].at, seen[next].end, seen[next].occupied = bits, at, len(b), true
			next = (next + 1) % len(seen)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendFloat formats f as encoding/json does (shortest representation,
// exponent form outside [1e-6, 1e21)); a non-finite f becomes null.
func appendFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// e-09 -> e-9, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string with encoding/json's escaping:
// control characters, quote and backslash; <, > and & as \u00XX (HTML-safe);
// U+2028 and U+2029; invalid UTF-8 as U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
