// Package config reads Switchyard's YAML configuration.
//
// Decoding is strict: an unknown key or a value of the wrong type is an error that
// names the file, the line and the key, because a typo in a gateway config should
// stop a deploy, not silently fall back to a default. ${ENV_VAR} references are
// expanded before decoding so secrets never have to live in the file.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole gateway configuration.
type Config struct {
	Listen      string       `yaml:"listen"`
	Auth        Auth         `yaml:"auth"`
	Limits      Limits       `yaml:"limits"`
	Telemetry   Telemetry    `yaml:"telemetry"`
	Deployments []Deployment `yaml:"deployments"`
	Routes      []Route      `yaml:"routes"`
	// Strategies are named strategy instances that routes and experiments refer to.
	Strategies []StrategyInstance `yaml:"strategies"`
	// Experiments split a route's traffic between strategy instances.
	Experiments []Experiment `yaml:"experiments"`
	Feedback    Feedback     `yaml:"feedback"`
	// Models configures the model manager that serves learned routers.
	Models Models `yaml:"models"`
	// Pipeline runs the training pipeline inside the gateway (admin API and schedule).
	Pipeline Pipeline `yaml:"pipeline"`

	// Path is the file the config was read from; set by Load.
	Path string `yaml:"-"`
}

// Models configures the model manager (internal/modelmgr): where versioned
// router models live and how replicas learn of a deploy. Empty Store means
// no model manager, and learned strategy kinds are refused.
type Models struct {
	// Store is the artifact store: file:///dir or s3://bucket/prefix.
	Store string `yaml:"store"`
	// CacheDir holds verified downloads; default <user cache dir>/switchyard/models.
	CacheDir string `yaml:"cache_dir"`
	// PollInterval is how often CURRENT is checked (default 10s).
	PollInterval Duration `yaml:"poll_interval"`
	// RedisURL (redis://host:port/db) enables deploy notices and the
	// cluster-wide download lock.
	RedisURL string `yaml:"redis_url"`
	// NotifyChannel is the pub/sub channel of deploy notices (default switchyard:models).
	NotifyChannel string `yaml:"notify_channel"`
	// MaxDecisionLatency rejects a version whose median canary decision is slower (default 50ms).
	MaxDecisionLatency Duration `yaml:"max_decision_latency"`
	// SigningPublicKeys (base64 Ed25519) make every version prove it was
	// signed (switchyard models sign) by one of them before it is loaded.
	SigningPublicKeys []string `yaml:"signing_public_keys"`
	// TrackingURI is the MLflow server the pipeline registers versions in
	// (http://mlflow:5000; credentials from MLFLOW_TRACKING_TOKEN or
	// MLFLOW_TRACKING_USERNAME/PASSWORD). Deploys and rollbacks move its
	// "champion" alias to the version CURRENT names. Empty: the registry
	// records kept in the store itself, as the pipeline's default.
	TrackingURI string `yaml:"tracking_uri"`
}

// Pipeline runs the training pipeline (internal/pipeline) in the gateway:
// POST /admin/pipeline/runs starts a run, and Schedule starts one on a cron
// schedule, taken by one replica per tick. Empty Config: no pipeline.
type Pipeline struct {
	// Config is the pipeline YAML, as for `switchyard pipeline run`.
	Config string `yaml:"config"`
	// Schedule is a cron spec: five fields, six with seconds first, or a
	// descriptor (@daily, "@every 6h"); UTC unless it starts with CRON_TZ=.
	Schedule string `yaml:"schedule"`
	// RedisURL is where replicas take each tick's lock (default
	// models.redis_url); with neither, the lock is in-process (one replica).
	RedisURL string `yaml:"redis_url"`
	// LockTTL is how long a tick's lease outlives its run (default 10m).
	LockTTL Duration `yaml:"lock_ttl"`
	// History is how many runs GET /admin/pipeline/runs lists (default 20).
	History int `yaml:"history"`
}

// Auth holds client and admin keys. Keys may be given inline (usually as
// ${ENV} references) or by naming an environment variable.
type Auth struct {
	// APIKeys are accepted on /v1/*. Empty means the API is open, which Load
	// only allows when AllowAnonymous is set, so an unset env var cannot
	// silently open a gateway.
	APIKeys        []Key `yaml:"api_keys"`
	AdminKeys      []Key `yaml:"admin_keys"`
	AllowAnonymous bool  `yaml:"allow_anonymous"`
}

// Key is one API key with an id that appears in logs, metrics and audit events
// instead of the secret.
type Key struct {
	ID     string `yaml:"id"`
	Key    string `yaml:"key"`
	KeyEnv string `yaml:"key_env"`
}

// Secret returns the key's value, reading KeyEnv when Key is empty.
func (k Key) Secret() string {
	if k.Key != "" {
		return k.Key
	}
	if k.KeyEnv != "" {
		return os.Getenv(k.KeyEnv)
	}
	return ""
}

// Limits bound what a client may send.
type Limits struct {
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ShutdownTimeout bounds how long in-flight requests may run after SIGTERM.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// MaxUpstreamConnsPerHost caps the connections open to one upstream host
	// (scheme, host and port) at once; a request past it waits for one to
	// free up, within its deployment's timeout. It bounds what a backlog can
	// open (each HTTP/1.1 connection holds two goroutines and 36 KiB of
	// buffers); HTTP/2 upstreams carry many requests per connection.
	MaxUpstreamConnsPerHost int `yaml:"max_upstream_conns_per_host"`
}

// Telemetry configures traces and logs.
type Telemetry struct {
	ServiceName string `yaml:"service_name"`
	// OTLPEndpoint is a collector or Jaeger OTLP endpoint: http(s)://host:port
	// for OTLP/HTTP, or grpc://host:port for OTLP/gRPC. Empty: no collector.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// TraceFile is where spans go as JSON lines when no collector is configured.
	TraceFile string `yaml:"trace_file"`
	// SampleRatio is the fraction of requests traced (default 1).
	SampleRatio *float64 `yaml:"sample_ratio"`
	LogLevel    string   `yaml:"log_level"`
	LogFormat   string   `yaml:"log_format"` // text or json
	// PromptCapture is off, features or text.
	PromptCapture string `yaml:"prompt_capture"`
}

// Feedback declares the metrics clients may post to /v1/feedback.
type Feedback struct {
	Metrics []FeedbackMetric `yaml:"metrics"`
}

// FeedbackMetric is one named feedback signal and its allowed range.
type FeedbackMetric struct {
	Name string  `yaml:"name"`
	Min  float64 `yaml:"min"`
	Max  float64 `yaml:"max"`
}

// Deployment is one upstream model at one provider.
type Deployment struct {
	Name     string `yaml:"name"`
	Provider string `yaml:"provider"` // openai, anthropic, simulated
	BaseURL  string `yaml:"base_url"`
	Model    string `yaml:"model"` // upstream model id
	APIKey   string `yaml:"api_key"`
	// APIKeyEnv names the environment variable holding the key.
	APIKeyEnv string `yaml:"api_key_env"`
	// Headers are sent with every upstream request (for example an org id).
	Headers       map[string]string `yaml:"headers"`
	Price         Price             `yaml:"price"`
	ContextWindow int               `yaml:"context_window"`
	Timeout       Duration          `yaml:"timeout"`
	MaxRetries    *int              `yaml:"max_retries"`
	Cooldown      Cooldown          `yaml:"cooldown"`
	// Simulated describes the offline model for provider: simulated.
	Simulated *SimProfile `yaml:"simulated"`
	// Embeddings marks a deployment as serving /v1/embeddings.
	Embeddings bool `yaml:"embeddings"`
}

// Key returns the deployment's API key, reading APIKeyEnv when APIKey is empty.
func (d Deployment) Key() string {
	if d.APIKey != "" {
		return d.APIKey
	}
	if d.APIKeyEnv != "" {
		return os.Getenv(d.APIKeyEnv)
	}
	return ""
}

// Price is USD per million tokens.
type Price struct {
	InputPerMTok  float64 `yaml:"input_per_mtok"`
	OutputPerMTok float64 `yaml:"output_per_mtok"`
}

// Cost returns the USD cost of the given token counts.
func (p Price) Cost(in, out int) float64 {
	return (float64(in)*p.InputPerMTok + float64(out)*p.OutputPerMTok) / 1e6
}

// Cooldown takes a deployment out of rotation after AllowedFails failures
// within a minute, for CooldownTime, as LiteLLM does.
type Cooldown struct {
	AllowedFails int      `yaml:"allowed_fails"`
	CooldownTime Duration `yaml:"cooldown_time"`
}

// SimProfile is a simulated model: how good it is per topic, how fast, how
// verbose and how often it fails. It lets the whole system run offline.
type SimProfile struct {
	// Quality per topic in [0,1]; "default" applies to unknown topics.
	Quality map[string]float64 `yaml:"quality"`
	// Latency of the first token and per output token.
	LatencyMS      float64 `yaml:"latency_ms"`
	LatencyJitter  float64 `yaml:"latency_jitter"` // lognormal sigma
	PerTokenMS     float64 `yaml:"per_token_ms"`
	OutputTokens   int     `yaml:"output_tokens"`
	OutputJitter   float64 `yaml:"output_jitter"` // relative sd
	ErrorRate      float64 `yaml:"error_rate"`
	Seed           int64   `yaml:"seed"`
	EmbeddingsDims int     `yaml:"embedding_dims"`
}

// Route is what a client names in "model".
type Route struct {
	Name       string   `yaml:"name"`
	Candidates []string `yaml:"candidates"`
	// Strategy is an inline strategy for this route, or the name of an
	// instance under strategies (Use), or an experiment (Experiment).
	Strategy   *StrategySpec `yaml:"strategy"`
	Use        string        `yaml:"use"`
	Experiment string        `yaml:"experiment"`
	// ExplorationRate is the share of requests routed at random among healthy
	// candidates, with the propensity logged, so traces can train routers.
	ExplorationRate float64 `yaml:"exploration_rate"`
	// OperatingPoint is the default cost/quality trade-off for learned strategies.
	OperatingPoint string `yaml:"operating_point"`
}

// StrategySpec is a strategy kind and its parameters.
type StrategySpec struct {
	Kind   string         `yaml:"kind"`
	Params map[string]any `yaml:"params"`
}

// StrategyInstance is a named strategy.
type StrategyInstance struct {
	Name         string `yaml:"name"`
	StrategySpec `yaml:",inline"`
}

// Experiment is a traffic split between strategy instances.
type Experiment struct {
	ID        string               `yaml:"id"`
	StickyKey string               `yaml:"sticky_key"` // user, api_key, header:NAME
	Arms      []ExperimentArm      `yaml:"arms"`
	Adaptive  *ExperimentAdaptive  `yaml:"adaptive"`
	Guardrail *ExperimentGuardrail `yaml:"guardrail"`
}

// ExperimentAdaptive turns on Thompson sampling over a feedback metric.
type ExperimentAdaptive struct {
	Metric   string  `yaml:"metric"`
	MinShare float64 `yaml:"min_share"`
	Every    int     `yaml:"every"`
}

// ExperimentGuardrail drains an arm that errs too often or scores too low.
type ExperimentGuardrail struct {
	Window       int     `yaml:"window"`
	MinSamples   int     `yaml:"min_samples"`
	MaxErrorRate float64 `yaml:"max_error_rate"`
	Metric       string  `yaml:"metric"`
	MinFeedback  float64 `yaml:"min_feedback"`
}

// ExperimentArm is one strategy instance and its weight.
type ExperimentArm struct {
	Name     string  `yaml:"name"`
	Strategy string  `yaml:"strategy"`
	Weight   float64 `yaml:"weight"`
}

// Duration is a time.Duration written as "30s" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: duration must be a string like \"30s\"", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: invalid duration %q: %w", n.Line, s, err)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Load reads, expands, strictly decodes, defaults and validates a config file.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	cfg.Path = path
	return cfg, nil
}

// Parse decodes and validates a config from bytes.
func Parse(raw []byte) (*Config, error) {
	expanded, err := ExpandEnv(raw)
	if err != nil {
		return nil, err
	}
	var cfg Config
	if err := DecodeStrict(expanded, &cfg); err != nil {
		return nil, err
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// DecodeStrict decodes YAML rejecting unknown keys and wrong types.
func DecodeStrict(raw []byte, out any) error {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		if errors.Is(err, errEOF) || err.Error() == "EOF" {
			return errors.New("empty config")
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%s", strings.Join(te.Errors, "; "))
		}
		return err
	}
	return nil
}

var errEOF = errors.New("EOF")

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// ExpandEnv replaces ${VAR} and ${VAR:-default} with the environment's values.
// A reference to an unset variable without a default is an error naming it and
// its line, so a missing secret is caught at start, not at the first request.
func ExpandEnv(raw []byte) ([]byte, error) {
	var missing []string
	lines := bytes.Split(raw, []byte("\n"))
	for i, line := range lines {
		trimmed := bytes.TrimSpace(line)
		if bytes.HasPrefix(trimmed, []byte("#")) {
			continue
		}
		lines[i] = envRef.ReplaceAllFunc(line, func(m []byte) []byte {
			sub := envRef.FindSubmatch(m)
			name := string(sub[1])
			if v, ok := os.LookupEnv(name); ok {
				return []byte(v)
			}
			if len(sub[2]) > 0 {
				return sub[3]
			}
			missing = append(missing, fmt.Sprintf("line %d: ${%s}", i+1, name))
			return m
		})
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("unset environment variables: %s", strings.Join(missing, ", "))
	}
	return bytes.Join(lines, []byte("\n")), nil
}
