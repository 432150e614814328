// Package gateway is Switchyard's HTTP server: the OpenAI-compatible API,
// authentication, limits, retries and fallbacks across deployments, health,
// metrics and the per-request trace.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/switchyard-ai/switchyard/internal/audit"
	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/lock"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/modelmgr"
	"github.com/switchyard-ai/switchyard/internal/pipeline"
	"github.com/switchyard-ai/switchyard/internal/provider"
	"github.com/switchyard-ai/switchyard/internal/routing"
	"github.com/switchyard-ai/switchyard/internal/telemetry"
)

// Options are the gateway's configuration and dependencies.
type Options struct {
	Config *config.Config
	Logger *slog.Logger
	// Registerer and Gatherer back /metrics; nil uses a fresh registry.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Tracer creates the request spans; nil disables tracing (request ids
	// are still trace ids).
	Tracer trace.Tracer
	// HTTPClient is the upstream client shared by providers.
	HTTPClient *http.Client
	// Version is reported by /health/live.
	Version string
	// Env is passed to strategy factories (the model registry for learned
	// kinds).
	Env *routing.Env
	// Audit records admin changes; nil logs them only.
	Audit AuditFunc
	// ShutdownDelay keeps serving after readiness turns false, so load
	// balancers stop sending traffic before the listener closes.
	ShutdownDelay time.Duration
}

// Server is a running gateway.
type Server struct {
	opts     Options
	log      *slog.Logger
	metrics  *telemetry.Metrics
	gatherer prometheus.Gatherer
	tracer   trace.Tracer
	state    atomic.Pointer[snapshot]
	apiKeys  *keyring
	admin    *keyring
	ready    atomic.Bool
	started  time.Time
	handler  http.Handler
	maxBody  int64
	anon     bool

	feedbackMetrics map[string]config.FeedbackMetric
	// capture is the prompt capture policy: off, features or text.
	capture string
	hashed  *feature.TFIDF
	// mu serializes changes to the routing state.
	mu sync.Mutex
	// failLog rate-limits strategy failure logs per route.
	failLog sync.Map
	// arms remembers recent requests' experiment arms for feedback.
	arms *armMemory
	// models is the model manager (nil when none is configured); the
	// gateway runs it in Serve when it built it from the config itself.
	models    *modelmgr.Registry
	ownModels bool
	// pipeline runs training from the admin API and the schedule (nil
	// when the config has no pipeline section); Serve runs its schedule.
	pipeline      *pipeline.Service
	closePipeline func()
}

// New builds a gateway from a validated config. It fails, naming the
// deployment or route, when a provider kind or strategy is unknown or invalid.
func New(opts Options) (*Server, error) {
	if opts.Config == nil {
		return nil, errors.New("gateway: no config")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registerer == nil {
		reg := prometheus.NewRegistry()
		opts.Registerer, opts.Gatherer = reg, reg
	}
	if opts.Gatherer == nil {
		opts.Gatherer = prometheus.DefaultGatherer
	}
	if opts.Tracer == nil {
		opts.Tracer = noop.NewTracerProvider().Tracer("switchyard")
	}
	cfg := opts.Config
	if n := cfg.Limits.MaxUpstreamConnsPerHost; opts.HTTPClient == nil && n > 0 && n != config.DefaultMaxUpstreamConnsPerHost {
		// The shared client is capped at the default; another cap needs its
		// own connection pool.
		opts.HTTPClient = &http.Client{Transport: provider.NewTransport(n)}
	}
	deps, err := buildDeployments(cfg, provider.Options{HTTPClient: opts.HTTPClient})
	if err != nil {
		return nil, err
	}
	models, ownModels, err := withModels(&opts)
	if err != nil {
		return nil, err
	}
	snap, err := buildSnapshot(cfg, deps, opts.Env)
	if err != nil {
		if ownModels {
			_ = models.Close()
		}
		return nil, err
	}
	pl, closePl, err := withPipeline(opts)
	if err != nil {
		if ownModels {
			_ = models.Close()
		}
		return nil, err
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		metrics:  telemetry.NewMetrics(opts.Registerer),
		gatherer: opts.Gatherer,
		tracer:   opts.Tracer,
		apiKeys:  newKeyring(cfg.Auth.APIKeys),
		admin:    newKeyring(cfg.Auth.AdminKeys),
		started:  time.Now(),
		maxBody:  cfg.Limits.MaxBodyBytes,
		anon:     cfg.Auth.AllowAnonymous && len(cfg.Auth.APIKeys) == 0,
		models:   models, ownModels: ownModels,
		pipeline: pl, closePipeline: closePl,
	}
	s.feedbackMetrics = map[string]config.FeedbackMetric{}
	for _, m := range cfg.Feedback.Metrics {
		s.feedbackMetrics[m.Name] = m
	}
	for _, e := range snap.experiments {
		s.hookExperiment(e)
	}
	s.arms = newArmMemory(100000)
	s.capture = cfg.Telemetry.PromptCapture
	if s.capture == "features" {
		if s.hashed, err = feature.NewHashedTF(feature.Config{Kind: "tfidf"}); err != nil {
			return nil, fmt.Errorf("prompt capture: %w", err)
		}
	}
	s.state.Store(snap)
	s.handler = s.routes()
	s.ready.Store(true)
	return s, nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/chat/completions", s.api(s.handleChat))
	mux.Handle("POST /v1/embeddings", s.api(s.handleEmbeddings))
	mux.Handle("GET /v1/models", s.api(s.handleModels))
	mux.Handle("POST /v1/feedback", s.api(s.handleFeedback))
	mux.Handle("/v1/", s.api(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errf(http.StatusNotFound, "invalid_request_error", "unknown_url", "", "unknown endpoint %s %s", r.Method, r.URL.Path))
	}))
	mux.HandleFunc("GET /health/live", s.handleLive)
	mux.HandleFunc("GET /health/ready", s.handleReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{}))
	mux.Handle("/admin/", s.adminOnly(s.adminRoutes()))
	return mux
}

// Handler returns the gateway's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Ready reports whether the gateway accepts traffic.
func (s *Server) Ready() bool { return s.ready.Load() }

// Serve serves on ln until ctx is cancelled, then shuts down gracefully:
// readiness turns false, new connections are refused after ShutdownDelay, and
// in-flight requests and streams finish within the configured timeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.ownModels {
		// The model manager outlives the drain, so requests finishing after
		// SIGTERM still have their models' reloads and notices.
		mctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = s.models.Run(mctx)
		}()
		defer func() {
			stop()
			<-done
			_ = s.models.Close()
		}()
	}
	if s.pipeline != nil {
		// Serve's ctx ends the schedule and cancels a run in progress, which
		// then records that it failed.
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = s.pipeline.Run(ctx)
		}()
		defer func() {
			<-done
			s.closePipeline()
		}()
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.ready.Store(false)
	s.log.Info("shutting down: readiness false, draining in-flight requests",
		"delay", s.opts.ShutdownDelay, "timeout", s.opts.Config.Limits.ShutdownTimeout.D())
	if d := s.opts.ShutdownDelay; d > 0 {
		time.Sleep(d)
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.Config.Limits.ShutdownTimeout.D())
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	s.log.Info("shut down cleanly")
	return nil
}

// withModels finds the model manager in opts.Env, or builds it from the
// config's models section (then Serve runs it), and sends the admin API's
// audit events to its trail unless opts.Audit is set.
func withModels(opts *Options) (*modelmgr.Registry, bool, error) {
	var reg *modelmgr.Registry
	if opts.Env != nil {
		reg, _ = opts.Env.Models.(*modelmgr.Registry)
	}
	own := false
	if reg == nil {
		r, err := modelmgr.FromConfig(context.Background(), opts.Config.Models, opts.Logger, opts.Registerer)
		if err != nil {
			return nil, false, fmt.Errorf("gateway: %w", err)
		}
		if r == nil {
			return nil, false, nil
		}
		env := routing.Env{Logger: opts.Logger}
		if opts.Env != nil {
			env = *opts.Env
		}
		env.Models = r
		opts.Env, reg, own = &env, r, true
	}
	if opts.Audit == nil {
		trail := reg.Audit()
		opts.Audit = func(ctx context.Context, e AuditEvent) {
			_, _ = trail.Record(ctx, audit.Event{Actor: e.Actor, Action: e.Action, Target: e.Target, From: e.From, To: e.To, Result: e.Result, Reason: e.Reason})
		}
	}
	return reg, own, nil
}

// withPipeline builds the training pipeline's service from the config's
// pipeline section: nil when there is none. Ticks are locked in Redis
// (pipeline.redis_url, else models.redis_url) so one replica takes each.
func withPipeline(opts Options) (*pipeline.Service, func(), error) {
	pc := opts.Config.Pipeline
	if pc.Config == "" {
		if pc.Schedule != "" {
			return nil, nil, errors.New("gateway: pipeline.schedule is set but pipeline.config is empty")
		}
		return nil, func() {}, nil
	}
	sc := pipeline.ServiceConfig{
		ConfigPath: pc.Config, Schedule: pc.Schedule, LockTTL: pc.LockTTL.D(), History: pc.History,
		Logger: opts.Logger, Registerer: opts.Registerer,
	}
	closer := func() {}
	url := pc.RedisURL
	if url == "" {
		url = opts.Config.Models.RedisURL
	}
	if url != "" {
		ro, err := redis.ParseURL(url)
		if err != nil {
			return nil, nil, fmt.Errorf("gateway: pipeline redis url: %w", err)
		}
		client := redis.NewClient(ro)
		l, err := lock.NewRedis(lock.RedisConfig{Client: client, Name: "pipeline", Logger: opts.Logger})
		if err != nil {
			_ = client.Close()
			return nil, nil, fmt.Errorf("gateway: %w", err)
		}
		sc.Locker, closer = l, func() { _ = client.Close() }
	}
	svc, err := pipeline.NewService(context.Background(), sc)
	if err != nil {
		closer()
		return nil, nil, fmt.Errorf("gateway: %w", err)
	}
	return svc, closer, nil
}
