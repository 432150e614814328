package traces

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
)

// API selects Jaeger's query API.
type API string

const (
	// APIv3 is /api/v3/traces, answering OTLP JSON (Jaeger v2's own API).
	APIv3 API = "v3"
	// APILegacy is /api/traces, Jaeger's original UI API.
	APILegacy API = "legacy"
)

// DefaultLimit is the traces asked for per query. Jaeger returns at most
// that many, so a window that comes back full is split and re-asked. Jaeger's
// in-memory store scans every trace it holds for each query, so fewer,
// larger queries are much cheaper than many small ones (bench/notes/traces.md).
const DefaultLimit = 5000

// DefaultParallel is the number of range parts walked at once by default.
const DefaultParallel = 2

// Client queries one Jaeger query service.
type Client struct {
	// BaseURL is the query service, e.g. http://127.0.0.1:16686.
	BaseURL string
	API     API
	// Limit is the traces asked for per query (DefaultLimit when 0).
	Limit int
	HTTP  *http.Client
}

// ErrJaeger marks an answer from Jaeger that is not a result: an HTTP error
// status or a body that does not decode.
var ErrJaeger = errors.New("jaeger query failed")

func (c *Client) limit() int {
	if c.Limit > 0 {
		return c.Limit
	}
	return DefaultLimit
}

// Find returns the spans of every trace of service that has a span starting
// in [from, to] (both ends included, so a window walk sees a trace on a
// boundary twice and must de-duplicate), and the number of traces.
func (c *Client) Find(ctx context.Context, service string, from, to time.Time) ([]Span, int, error) {
	base := strings.TrimRight(c.BaseURL, "/")
	q := url.Values{}
	var u string
	switch c.API {
	case APILegacy:
		q.Set("service", service)
		q.Set("start", strconv.FormatInt(from.UnixMicro(), 10))
		q.Set("end", strconv.FormatInt(to.UnixMicro(), 10))
		q.Set("limit", strconv.Itoa(c.limit()))
		u = base + "/api/traces?" + q.Encode()
	case APIv3, "":
		q.Set("query.service_name", service)
		q.Set("query.start_time_min", from.UTC().Format(time.RFC3339Nano))
		q.Set("query.start_time_max", to.UTC().Format(time.RFC3339Nano))
		q.Set("query.num_traces", strconv.Itoa(c.limit()))
		u = base + "/api/v3/traces?" + q.Encode()
	default:
		return nil, 0, fmt.Errorf("jaeger api %q: want v3 or legacy", c.API)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("jaeger query %s: %w", base, err)
	}
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		// url.Error repeats the whole query string; the cause is enough.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, 0, fmt.Errorf("jaeger at %s unreachable: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound && c.API != APILegacy && isNoTraces(resp) {
		return nil, 0, nil
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		hint := ""
		if strings.Contains(string(body), "search depth") {
			// The in-memory store refuses searches deeper than its max_traces.
			hint = fmt.Sprintf(" (the query limit %d is above Jaeger's max_traces: lower --limit)", c.limit())
		}
		return nil, 0, fmt.Errorf("%w: %s answered %s: %s%s", ErrJaeger, redact(u), resp.Status, strings.TrimSpace(string(body)), hint)
	}
	// goccy/go-json decodes these documents about twice as fast as
	// encoding/json, which was half the export's time (bench/notes/traces.md).
	dec := gojson.NewDecoder(resp.Body)
	if c.API == APILegacy {
		var doc legacyResponse
		if err := dec.Decode(&doc); err != nil {
			return nil, 0, fmt.Errorf("%w: %s: response is not the legacy traces JSON: %v", ErrJaeger, redact(u), err)
		}
		if len(doc.Errors) > 0 {
			return nil, 0, fmt.Errorf("%w: %s: %d: %s", ErrJaeger, redact(u), doc.Errors[0].Code, doc.Errors[0].Msg)
		}
		spans, n := decodeLegacy(&doc)
		return spans, n, nil
	}
	var doc struct {
		Result *otlpTracesData `json:"result"`
	}
	if err := dec.Decode(&doc); err != nil {
		return nil, 0, fmt.Errorf("%w: %s: response is not OTLP JSON: %v", ErrJaeger, redact(u), err)
	}
	if doc.Result == nil {
		return nil, 0, fmt.Errorf("%w: %s: response has no \"result\"", ErrJaeger, redact(u))
	}
	spans, n := decodeOTLP(doc.Result)
	return spans, n, nil
}

// isNoTraces recognises the v3 API's way of saying "nothing in this window":
// 404 with {"error":{"httpCode":404,"message":"No traces found"}}.
// Any other 404 (a wrong URL) stays an error.
func isNoTraces(resp *http.Response) bool {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return false
	}
	msg := strings.ToLower(e.Error.Message)
	return strings.Contains(msg, "no traces found") || strings.Contains(msg, "trace not found")
}

// redact drops the query string from a URL for messages: it is long and
// says nothing the window in the surrounding error does not.
func redact(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}
