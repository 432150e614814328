// Package pipeline is Switchyard's automated training loop: export training
// rows (from Jaeger, a trace file or given data sets), train one or several
// router kinds, evaluate them on held-out rows, gate the best against the
// model in production on the same rows, upload the bundle to the artifact
// store, register it (MLflow or the store-backed tracker) and optionally
// deploy it. Every run has a time-sortable id and a status record in the
// store, rewritten after each step, and a failed step leaves nothing
// half-registered.
//
// The same Runner serves three triggers: `switchyard pipeline run`, the
// admin API (POST /admin/pipeline/runs) and a cron schedule in the gateway,
// where a lock keyed by the scheduled time lets one replica take each tick.
package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/ml/eval"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
	"github.com/switchyard-ai/switchyard/internal/traces"
)

// Config is pipeline.yaml. Decoding is strict (an unknown key is an error),
// ${ENV} references are expanded first, and Validate checks everything that
// can be checked before any work starts. Relative paths resolve against the
// file's directory.
type Config struct {
	// Model is the router model's name in the store and the registry.
	Model string `yaml:"model"`
	// Store is the artifact store (file:///dir or s3://bucket/prefix); the
	// bundles, CURRENT, the audit trail and the run records live there.
	Store    string         `yaml:"store"`
	Tracking TrackingConfig `yaml:"tracking"`
	// RedisURL, when set, carries the deploy notice to the gateways at once
	// (otherwise they see the new CURRENT at their next poll).
	RedisURL string `yaml:"redis_url"`
	// WorkDir keeps each run's exported rows and bundles under
	// WorkDir/<run id>; empty: a temporary directory removed after the run.
	WorkDir string          `yaml:"work_dir"`
	Export  ExportConfig    `yaml:"export"`
	Split   SplitConfig     `yaml:"split"`
	Train   []TrainEntry    `yaml:"train"`
	Gate    GateConfig      `yaml:"gate"`
	Deploy  DeployConfig    `yaml:"deploy"`
	Timeout config.Duration `yaml:"timeout"`

	dir  string // the file's directory, for relative paths
	path string
}

// TrackingConfig says where runs are recorded. An empty URI records them in
// the artifact store (tracking.StoreTracker). Credentials come from
// MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD, never the file.
type TrackingConfig struct {
	URI        string `yaml:"uri"`
	Experiment string `yaml:"experiment"`
}

// ExportConfig names the sources of training rows; their rows are pooled.
type ExportConfig struct {
	// Datasets are JSON-lines data sets (switchyard dataset import output).
	Datasets []string `yaml:"datasets"`
	// TraceFile is the gateway's local trace file (telemetry.trace_file).
	TraceFile string `yaml:"trace_file"`
	// Jaeger is a Jaeger query service to walk.
	Jaeger *JaegerSource `yaml:"jaeger"`
	// Window is how far back traces are read (default 168h).
	Window config.Duration `yaml:"window"`
	// The join options of `switchyard traces export`.
	FeedbackMetric string   `yaml:"feedback_metric"`
	FeedbackMin    *float64 `yaml:"feedback_min"`
	FeedbackMax    *float64 `yaml:"feedback_max"`
	AutoLabels     bool     `yaml:"auto_labels"`
	// MinRows fails the export when fewer rows come out (default 50): a
	// router trained on a handful of rows should not reach the gate.
	MinRows int `yaml:"min_rows"`
}

// JaegerSource is a Jaeger query endpoint. An empty URL turns it off.
type JaegerSource struct {
	URL     string `yaml:"url"`
	Service string `yaml:"service"`
	API     string `yaml:"api"` // v3 (default) or legacy
	Limit   int    `yaml:"limit"`
}

// SplitConfig holds rows out for evaluation and the gate.
type SplitConfig struct {
	TestFrac float64 `yaml:"test_frac"` // default 0.2
	Seed     int64   `yaml:"seed"`
	// Holdout, when set, is a fixed held-out data set used instead of a
	// split: the gate then compares every run on the same rows.
	Holdout string `yaml:"holdout"`
}

// TrainEntry is one kind to train: the `switchyard train` config format
// (router.FileConfig) without name, version, data and output, which the
// pipeline supplies.
type TrainEntry struct {
	router.FileConfig `yaml:",inline"`
}

// GateConfig compares the candidate with production on the held-out rows.
type GateConfig struct {
	// Metric is "aiq", "quality@POINT" (higher is better) or "cost@POINT"
	// (lower is better), POINT naming an operating point.
	Metric string `yaml:"metric"`
	// Margin is how much worse than production the candidate may be, in the
	// metric's units (or as a fraction of production's value with Relative).
	Margin   float64 `yaml:"margin"`
	Relative bool    `yaml:"relative"`
	// AllowKindChange lets a candidate of another kind than production's
	// through. Off by default: gateways serve a model through a strategy of
	// one kind (a knn route refuses an mlp version), so a kind change needs
	// the routes changed too.
	AllowKindChange bool `yaml:"allow_kind_change"`
}

// DeployConfig says whether a candidate that passed the gate goes live.
type DeployConfig struct {
	Enabled bool `yaml:"enabled"`
}

// Defaults.
const (
	DefaultWindow   = 168 * time.Hour
	DefaultTestFrac = 0.2
	DefaultMinRows  = 50
	DefaultTimeout  = time.Hour
	DefaultMetric   = "aiq"
)

// Load reads and validates a pipeline config file.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pipeline config: %w", err)
	}
	return Parse(raw, path)
}

// Parse decodes raw as the config file at path (used for relative paths and
// in messages) and validates it.
func Parse(raw []byte, path string) (*Config, error) {
	expanded, err := config.ExpandEnv(raw)
	if err != nil {
		return nil, fmt.Errorf("pipeline config %s: %w", path, err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("pipeline config %s: %w", path, err)
	}
	c.path = path
	c.dir = filepath.Dir(path)
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline config %s: %w", path, err)
	}
	return &c, nil
}

// WithOverride returns the config with override's top-level keys replacing
// base's (a shallow merge: `{"deploy": {"enabled": false}}` replaces the
// whole deploy section), decoded and validated as strictly as the file.
// override is YAML or JSON. The store may not be overridden: the run record
// must land where the service reads records from.
func WithOverride(baseRaw []byte, path string, override []byte) (*Config, error) {
	if len(bytes.TrimSpace(override)) == 0 {
		return Parse(baseRaw, path)
	}
	var base, over map[string]any
	if err := yaml.Unmarshal(baseRaw, &base); err != nil {
		return nil, fmt.Errorf("pipeline config %s: %w", path, err)
	}
	if err := yaml.Unmarshal(override, &over); err != nil {
		return nil, fmt.Errorf("config override: %w", err)
	}
	if _, ok := over["store"]; ok {
		return nil, errors.New("config override: store cannot be overridden (run records are read from the configured store)")
	}
	if base == nil {
		base = map[string]any{}
	}
	for k, v := range over {
		base[k] = v
	}
	merged, err := yaml.Marshal(base)
	if err != nil {
		return nil, fmt.Errorf("config override: %w", err)
	}
	c, err := Parse(merged, path)
	if err != nil {
		return nil, fmt.Errorf("with override: %w", err)
	}
	return c, nil
}

func (c *Config) setDefaults() {
	if c.Export.Window == 0 {
		c.Export.Window = config.Duration(DefaultWindow)
	}
	if c.Export.MinRows == 0 {
		c.Export.MinRows = DefaultMinRows
	}
	if c.Split.TestFrac == 0 && c.Split.Holdout == "" {
		c.Split.TestFrac = DefaultTestFrac
	}
	if c.Gate.Metric == "" {
		c.Gate.Metric = DefaultMetric
	}
	if c.Timeout == 0 {
		c.Timeout = config.Duration(DefaultTimeout)
	}
	if c.Tracking.Experiment == "" && c.Model != "" {
		c.Tracking.Experiment = "switchyard-" + c.Model
	}
	if c.Export.Jaeger != nil && c.Export.Jaeger.URL == "" {
		// An empty url turns the source off, so one file serves with and
		// without Jaeger (url: ${JAEGER_QUERY_URL:-}).
		c.Export.Jaeger = nil
	}
	if c.Export.Jaeger != nil && c.Export.Jaeger.API == "" {
		c.Export.Jaeger.API = string(traces.APIv3)
	}
}

var modelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// Validate checks the config; each error names its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if !modelName.MatchString(c.Model) {
		bad("model", "%q must be 1-100 of [A-Za-z0-9._-], starting with a letter or digit", c.Model)
	}
	switch {
	case c.Store == "":
		bad("store", "is required (file:///dir or s3://bucket/prefix)")
	case !strings.HasPrefix(c.Store, "file://") && !strings.HasPrefix(c.Store, "s3://"):
		bad("store", "%q: want file:///dir or s3://bucket/prefix", c.Store)
	}
	if u := c.Tracking.URI; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		bad("tracking.uri", "%q: want http(s)://host:port, or empty for the store-backed tracker", u)
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		bad("redis_url", "%q: want redis://host:port/db", c.RedisURL)
	}
	errs = append(errs, c.validateExport()...)
	errs = append(errs, c.validateSplit()...)
	errs = append(errs, c.validateTrain()...)
	if _, err := parseMetric(c.Gate.Metric); err != nil {
		bad("gate.metric", "%v", err)
	}
	m := c.Gate.Margin
	switch {
	case math.IsNaN(m) || math.IsInf(m, 0) || m < 0:
		bad("gate.margin", "%v must be a finite number >= 0", m)
	case c.Gate.Relative && m >= 1:
		bad("gate.margin", "%v is a fraction of production's value with relative: true and must be below 1", m)
	}
	if c.Timeout < 0 {
		bad("timeout", "%s must not be negative", c.Timeout.D())
	}
	return errors.Join(errs...)
}

func (c *Config) validateExport() []error {
	var errs []error
	e := c.Export
	if len(e.Datasets) == 0 && e.TraceFile == "" && e.Jaeger == nil {
		errs = append(errs, errors.New("export: give at least one of datasets, trace_file or jaeger"))
	}
	for i, p := range e.Datasets {
		if err := checkFile(c.Path(p)); err != nil {
			errs = append(errs, fmt.Errorf("export.datasets[%d]: %w", i, err))
		}
	}
	if e.TraceFile != "" {
		if err := checkFile(c.Path(e.TraceFile)); err != nil {
			errs = append(errs, fmt.Errorf("export.trace_file: %w", err))
		}
	}
	if j := e.Jaeger; j != nil {
		if !strings.HasPrefix(j.URL, "http://") && !strings.HasPrefix(j.URL, "https://") {
			errs = append(errs, fmt.Errorf("export.jaeger.url: %q: want http(s)://host:port of the query service", j.URL))
		}
		if j.Service == "" {
			errs = append(errs, errors.New("export.jaeger.service: is required (the gateway's service name)"))
		}
		if j.API != string(traces.APIv3) && j.API != string(traces.APILegacy) {
			errs = append(errs, fmt.Errorf("export.jaeger.api: %q: want %q or %q", j.API, traces.APIv3, traces.APILegacy))
		}
		if j.Limit < 0 {
			errs = append(errs, fmt.Errorf("export.jaeger.limit: %d must not be negative", j.Limit))
		}
	}
	if e.Window < 0 {
		errs = append(errs, fmt.Errorf("export.window: %s must not be negative", e.Window.D()))
	}
	if e.MinRows < 1 {
		errs = append(errs, fmt.Errorf("export.min_rows: %d must be at least 1", e.MinRows))
	}
	if (e.FeedbackMin == nil) != (e.FeedbackMax == nil) {
		errs = append(errs, errors.New("export.feedback_min, export.feedback_max: give both or neither"))
	} else if e.FeedbackMin != nil && !(*e.FeedbackMin < *e.FeedbackMax) {
		errs = append(errs, fmt.Errorf("export.feedback_min: %v must be below feedback_max %v", *e.FeedbackMin, *e.FeedbackMax))
	}
	return errs
}

func (c *Config) validateSplit() []error {
	s := c.Split
	switch {
	case s.Holdout != "" && s.TestFrac != 0:
		return []error{errors.New("split: give test_frac or holdout, not both")}
	case s.Holdout != "":
		if err := checkFile(c.Path(s.Holdout)); err != nil {
			return []error{fmt.Errorf("split.holdout: %w", err)}
		}
	case !(s.TestFrac > 0 && s.TestFrac < 1):
		return []error{fmt.Errorf("split.test_frac: %v must be in (0, 1)", s.TestFrac)}
	}
	return nil
}

// validateTrain checks each entry with router.FileConfig.Validate, the same
// checks `switchyard train` makes. The keys the pipeline supplies must be
// absent; Validate is then run on a copy that has them filled with
// placeholders (the data file placeholder is this config file, which exists),
// so only the entry's own mistakes are reported.
func (c *Config) validateTrain() []error {
	if len(c.Train) == 0 {
		return []error{errors.New("train: list at least one kind to train")}
	}
	var errs []error
	seen := map[string]bool{}
	for i, t := range c.Train {
		key := fmt.Sprintf("train[%d]", i)
		fc := t.FileConfig
		var set []string
		if fc.Name != "" {
			set = append(set, "name")
		}
		if fc.Version != "" {
			set = append(set, "version")
		}
		if fc.Data.File != "" || fc.Data.Train != "" || fc.Data.Test != "" || fc.Data.TestFrac != 0 || fc.Data.SplitSeed != 0 {
			set = append(set, "data")
		}
		if fc.Output != "" {
			set = append(set, "output")
		}
		if len(set) > 0 {
			errs = append(errs, fmt.Errorf("%s: %s set by the pipeline (model, run id, export, split); remove them", key, strings.Join(set, ", ")))
			continue
		}
		if seen[fc.Kind] {
			errs = append(errs, fmt.Errorf("%s.kind: %q is listed twice", key, fc.Kind))
		}
		seen[fc.Kind] = true
		probe := fc
		probe.Name, probe.Version, probe.Output = "probe", "probe", "probe"
		probe.Data.Train = c.path
		if c.path == "" {
			probe.Data.Train = os.Args[0]
		}
		if err := probe.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
		if m, err := parseMetric(c.Gate.Metric); err == nil && m.point != "" {
			points := fc.OperatingPoints
			if len(points) == 0 {
				points = eval.DefaultOperatingPoints()
			}
			if _, ok := points[m.point]; !ok {
				errs = append(errs, fmt.Errorf("%s.operating_points: gate.metric %s needs the operating point %q, which this kind does not calibrate", key, m.name, m.point))
			}
		}
	}
	return errs
}

func checkFile(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory", p)
	}
	return nil
}

// Path resolves p against the config file's directory.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// StoreURI is Store with a relative file:// directory resolved against the
// config file's directory.
func (c *Config) StoreURI() string {
	dir, ok := strings.CutPrefix(c.Store, "file://")
	if !ok || filepath.IsAbs(dir) {
		return c.Store
	}
	return "file://" + c.Path(dir)
}

// FilePath is the file the config was read from.
func (c *Config) FilePath() string { return c.path }

// metric is a parsed gate metric.
type metric struct {
	name   string // as configured
	kind   string // aiq, quality, cost
	point  string // operating point for quality and cost
	higher bool   // higher is better
}

func parseMetric(s string) (metric, error) {
	if s == "aiq" {
		return metric{name: s, kind: "aiq", higher: true}, nil
	}
	kind, point, ok := strings.Cut(s, "@")
	if !ok || point == "" || (kind != "quality" && kind != "cost") {
		return metric{}, fmt.Errorf("%q: want aiq, quality@POINT or cost@POINT (POINT an operating point such as balanced)", s)
	}
	return metric{name: s, kind: kind, point: point, higher: kind == "quality"}, nil
}
