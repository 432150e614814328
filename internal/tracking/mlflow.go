package tracking

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Config configures the MLflow client.
type Config struct {
	// TrackingURI is the server's base URL (http://mlflow:5000). Empty means
	// "no tracking server": New returns the store-backed tracker.
	TrackingURI string
	// Token is sent as "Authorization: Bearer <token>" (MLFLOW_TRACKING_TOKEN).
	Token string
	// Username and Password are sent as basic auth when Token is empty
	// (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD).
	Username, Password string
	// HTTPClient defaults to one with a 30 s timeout.
	HTTPClient *http.Client
	// MaxAttempts per call, counting the first (default 4). Retried: transport
	// errors, 429 and 5xx. Never retried: other 4xx, which do not get better.
	MaxAttempts int
	// InitialBackoff (default 250 ms) doubles per retry up to MaxBackoff (5 s).
	InitialBackoff, MaxBackoff time.Duration
	Logger                     *slog.Logger
}

// ConfigFromEnv reads the variables MLflow's own clients use:
// MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_USERNAME and
// MLFLOW_TRACKING_PASSWORD.
func ConfigFromEnv() Config {
	return Config{
		TrackingURI: os.Getenv("MLFLOW_TRACKING_URI"),
		Token:       os.Getenv("MLFLOW_TRACKING_TOKEN"),
		Username:    os.Getenv("MLFLOW_TRACKING_USERNAME"),
		Password:    os.Getenv("MLFLOW_TRACKING_PASSWORD"),
	}
}

// Client speaks MLflow's REST API (/api/2.0/mlflow/...), which MLflow 2.x
// and 3.x both serve. docs/tracking.md lists the endpoints used.
type Client struct {
	base *url.URL
	cfg  Config
	http *http.Client
	log  *slog.Logger
}

// NewClient checks the configuration and returns a client; it does not
// contact the server.
func NewClient(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.TrackingURI, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("mlflow client: tracking URI %q must be an http(s) URL", cfg.TrackingURI)
	}
	if cfg.Token != "" && cfg.Username != "" {
		return nil, errors.New("mlflow client: set a token or a username/password, not both")
	}
	if (cfg.Username == "") != (cfg.Password == "") {
		return nil, errors.New("mlflow client: username and password go together")
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 4
	}
	if cfg.InitialBackoff <= 0 {
		cfg.InitialBackoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	c := &Client{base: u, cfg: cfg, http: cfg.HTTPClient, log: cfg.Logger}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// call sends one API request, retrying what can succeed on a second try,
// and decodes the JSON answer into out (when out is not nil).
func (c *Client) call(ctx context.Context, method, endpoint string, query url.Values, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("mlflow %s: encode request: %w", endpoint, err)
		}
	}
	target := c.base.JoinPath("/api/2.0/mlflow/" + endpoint)
	target.RawQuery = query.Encode()
	attempt := 0
	op := func() ([]byte, error) {
		attempt++
		req, err := http.NewRequestWithContext(ctx, method, target.String(), bytes.NewReader(body))
		if err != nil {
			return nil, backoff.Permanent(err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "application/json")
		switch {
		case c.cfg.Token != "":
			req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
		case c.cfg.Username != "":
			req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, backoff.Permanent(err)
			}
			return nil, err // connection refused, reset, timeout: retry
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		if err != nil {
			return nil, err
		}
		if resp.StatusCode/100 == 2 {
			return b, nil
		}
		apiErr := parseAPIError(resp.StatusCode, endpoint, b)
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			return nil, apiErr
		}
		return nil, backoff.Permanent(apiErr)
	}
	b, err := backoff.Retry(ctx, op,
		backoff.WithBackOff(&backoff.ExponentialBackOff{
			InitialInterval: c.cfg.InitialBackoff, RandomizationFactor: 0.2, Multiplier: 2, MaxInterval: c.cfg.MaxBackoff,
		}),
		backoff.WithMaxTries(uint(c.cfg.MaxAttempts)),
		backoff.WithNotify(func(err error, d time.Duration) {
			c.log.Warn("mlflow request failed, retrying", "endpoint", endpoint, "attempt", attempt, "in", d, "err", err)
		}),
	)
	if err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			return err
		}
		return fmt.Errorf("mlflow %s (after %d attempts): %w", endpoint, attempt, err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("mlflow %s: decode response: %w", endpoint, err)
		}
	}
	return nil
}

// Experiment is MLflow's experiment entity (the fields used here).
type Experiment struct {
	ID             string `json:"experiment_id"`
	Name           string `json:"name"`
	ArtifactURI    string `json:"artifact_location,omitempty"`
	LifecycleStage string `json:"lifecycle_stage,omitempty"`
}

// GetExperimentByName returns the experiment; ErrNotFound when there is none.
func (c *Client) GetExperimentByName(ctx context.Context, name string) (Experiment, error) {
	var out struct {
		Experiment Experiment `json:"experiment"`
	}
	err := c.call(ctx, http.MethodGet, "experiments/get-by-name", url.Values{"experiment_name": {name}}, nil, &out)
	return out.Experiment, err
}

// CreateExperiment creates an experiment and returns its id; ErrAlreadyExists
// when the name is taken.
func (c *Client) CreateExperiment(ctx context.Context, name string) (string, error) {
	var out struct {
		ID string `json:"experiment_id"`
	}
	err := c.call(ctx, http.MethodPost, "experiments/create", nil, map[string]any{"name": name}, &out)
	return out.ID, err
}

// GetOrCreateExperiment returns the id of the named experiment, creating it
// when missing. A concurrent creator is tolerated: on RESOURCE_ALREADY_EXISTS
// it looks the name up again.
func (c *Client) GetOrCreateExperiment(ctx context.Context, name string) (string, error) {
	exp, err := c.GetExperimentByName(ctx, name)
	if err == nil {
		return exp.ID, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return "", err
	}
	id, err := c.CreateExperiment(ctx, name)
	if errors.Is(err, ErrAlreadyExists) {
		exp, err = c.GetExperimentByName(ctx, name)
		return exp.ID, err
	}
	return id, err
}

type runInfoJSON struct {
	RunID          string    `json:"run_id"`
	ExperimentID   string    `json:"experiment_id"`
	RunName        string    `json:"run_name"`
	Status         string    `json:"status"`
	StartTime      flexInt64 `json:"start_time"`
	EndTime        flexInt64 `json:"end_time"`
	ArtifactURI    string    `json:"artifact_uri"`
	LifecycleStage string    `json:"lifecycle_stage"`
}

func (ri runInfoJSON) run() Run {
	r := Run{ID: ri.RunID, ExperimentID: ri.ExperimentID, Name: ri.RunName, Status: RunStatus(ri.Status), ArtifactURI: ri.ArtifactURI}
	if ri.StartTime > 0 {
		r.Start = time.UnixMilli(int64(ri.StartTime)).UTC()
	}
	if ri.EndTime > 0 {
		r.End = time.UnixMilli(int64(ri.EndTime)).UTC()
	}
	return r
}

// CreateRun starts a run in an experiment.
func (c *Client) CreateRun(ctx context.Context, experimentID, runName string, start time.Time, tags map[string]string) (Run, error) {
	in := map[string]any{
		"experiment_id": experimentID,
		"start_time":    start.UnixMilli(),
		"tags":          keyValues(tags),
	}
	if runName != "" {
		in["run_name"] = runName
	}
	var out struct {
		Run struct {
			Info runInfoJSON `json:"info"`
		} `json:"run"`
	}
	if err := c.call(ctx, http.MethodPost, "runs/create", nil, in, &out); err != nil {
		return Run{}, err
	}
	return out.Run.Info.run(), nil
}

// UpdateRun sets a run's status and end time (end time zero: left unset).
func (c *Client) UpdateRun(ctx context.Context, runID string, status RunStatus, end time.Time) error {
	in := map[string]any{"run_id": runID, "status": string(status)}
	if !end.IsZero() {
		in["end_time"] = end.UnixMilli()
	}
	return c.call(ctx, http.MethodPost, "runs/update", nil, in, nil)
}

// MLflow's log-batch limits (documented for the REST API): at most 1000
// metrics, 100 params and 100 tags per request, 1000 items in all.
const (
	batchMaxMetrics = 1000
	batchMaxParams  = 100
	batchMaxTags    = 100
	batchMaxTotal   = 1000
)

// LogBatch logs metrics, params and tags, split into as many requests as
// MLflow's per-request limits need.
func (c *Client) LogBatch(ctx context.Context, runID string, metrics []Metric, params, tags map[string]string) error {
	for _, m := range metrics {
		if err := m.check(); err != nil {
			return fmt.Errorf("mlflow log-batch: %w", err)
		}
	}
	ps, ts := keyValues(params), keyValues(tags)
	for len(metrics) > 0 || len(ps) > 0 || len(ts) > 0 {
		np := min(len(ps), batchMaxParams)
		nt := min(len(ts), batchMaxTags)
		nm := min(len(metrics), batchMaxMetrics, batchMaxTotal-np-nt)
		in := map[string]any{"run_id": runID, "metrics": metricJSONs(metrics[:nm]), "params": ps[:np], "tags": ts[:nt]}
		if err := c.call(ctx, http.MethodPost, "runs/log-batch", nil, in, nil); err != nil {
			return err
		}
		metrics, ps, ts = metrics[nm:], ps[np:], ts[nt:]
	}
	return nil
}

// LogParam logs one parameter. MLflow params are immutable: logging a key
// again with another value is INVALID_PARAMETER_VALUE.
func (c *Client) LogParam(ctx context.Context, runID, key, value string) error {
	return c.call(ctx, http.MethodPost, "runs/log-parameter", nil, map[string]any{"run_id": runID, "key": key, "value": value}, nil)
}

// SetTag sets one run tag.
func (c *Client) SetTag(ctx context.Context, runID, key, value string) error {
	return c.call(ctx, http.MethodPost, "runs/set-tag", nil, map[string]any{"run_id": runID, "key": key, "value": value}, nil)
}

// CreateRegisteredModel creates a registered model; ErrAlreadyExists if it is there.
func (c *Client) CreateRegisteredModel(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodPost, "registered-models/create", nil, map[string]any{"name": name}, nil)
}

type modelVersionJSON struct {
	Name    string   `json:"name"`
	Version string   `json:"version"`
	Source  string   `json:"source"`
	RunID   string   `json:"run_id"`
	Status  string   `json:"status"`
	Aliases []string `json:"aliases"`
}

func (m modelVersionJSON) mv() ModelVersion {
	return ModelVersion{Name: m.Name, Version: m.Version, Source: m.Source, RunID: m.RunID, Status: m.Status, Aliases: m.Aliases}
}

// CreateModelVersion registers source (the bundle's store URI) as the next
// version of a registered model.
func (c *Client) CreateModelVersion(ctx context.Context, name, source, runID string, tags map[string]string) (ModelVersion, error) {
	in := map[string]any{"name": name, "source": source, "tags": keyValues(tags)}
	if runID != "" {
		in["run_id"] = runID
	}
	var out struct {
		MV modelVersionJSON `json:"model_version"`
	}
	if err := c.call(ctx, http.MethodPost, "model-versions/create", nil, in, &out); err != nil {
		return ModelVersion{}, err
	}
	return out.MV.mv(), nil
}

// SetRegisteredModelAlias points alias (champion, challenger) at a version.
func (c *Client) SetRegisteredModelAlias(ctx context.Context, name, alias, version string) error {
	return c.call(ctx, http.MethodPost, "registered-models/alias", nil, map[string]any{"name": name, "alias": alias, "version": version}, nil)
}

// GetModelVersionByAlias resolves an alias; ErrNotFound when it is not set.
func (c *Client) GetModelVersionByAlias(ctx context.Context, name, alias string) (ModelVersion, error) {
	var out struct {
		MV modelVersionJSON `json:"model_version"`
	}
	err := c.call(ctx, http.MethodGet, "registered-models/alias", url.Values{"name": {name}, "alias": {alias}}, nil, &out)
	return out.MV.mv(), err
}

// SearchModelVersions lists every version of a registered model, following
// next_page_token. A model that does not exist has no versions (MLflow's
// search answers an empty list, not an error).
func (c *Client) SearchModelVersions(ctx context.Context, name string) ([]ModelVersion, error) {
	if name == "" || strings.ContainsAny(name, `'\`) {
		return nil, fmt.Errorf("search model versions: %w: model name %q cannot be quoted in a filter", ErrInvalidParameter, name)
	}
	var all []ModelVersion
	token := ""
	for page := 0; ; page++ {
		if page == 1000 {
			return nil, errors.New("search model versions: more than 1000 pages; the server's next_page_token does not advance")
		}
		q := url.Values{"filter": {"name='" + name + "'"}, "max_results": {"1000"}}
		if token != "" {
			q.Set("page_token", token)
		}
		var out struct {
			MVs  []modelVersionJSON `json:"model_versions"`
			Next string             `json:"next_page_token"`
		}
		if err := c.call(ctx, http.MethodGet, "model-versions/search", q, nil, &out); err != nil {
			return nil, err
		}
		for _, m := range out.MVs {
			all = append(all, m.mv())
		}
		if out.Next == "" || out.Next == token {
			return all, nil
		}
		token = out.Next
	}
}

type keyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// keyValues turns a map into MLflow's [{key, value}] list, sorted by key so
// requests are reproducible.
func keyValues(m map[string]string) []keyValue {
	out := make([]keyValue, 0, len(m))
	for k, v := range m {
		out = append(out, keyValue{k, v})
	}
	slices.SortFunc(out, func(a, b keyValue) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// flexInt64 decodes an int64 sent as a JSON number (MLflow's server) or as
// a string (the proto3 JSON mapping, which some proxies and servers use).
type flexInt64 int64

func (f *flexInt64) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("int64 field: %w", err)
	}
	*f = flexInt64(n)
	return nil
}

type metricJSON struct {
	Key       string  `json:"key"`
	Value     float64 `json:"value"`
	Timestamp int64   `json:"timestamp"`
	Step      int64   `json:"step"`
}

func metricJSONs(ms []Metric) []metricJSON {
	out := make([]metricJSON, len(ms))
	for i, m := range ms {
		ts := m.Time
		if ts.IsZero() {
			ts = time.Now()
		}
		out[i] = metricJSON{Key: m.Key, Value: m.Value, Timestamp: ts.UnixMilli(), Step: m.Step}
	}
	return out
}
