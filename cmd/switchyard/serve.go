package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/gateway"
	"github.com/switchyard-ai/switchyard/internal/telemetry"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func init() {
	var (
		cfgPath       string
		listen        string
		shutdownDelay time.Duration
		pprofAddr     string
	)
	cmd := &cobra.Command{
		Use:   "serve --config FILE [--listen ADDR]",
		Short: "Run the gateway",
		Long: `Run the OpenAI-compatible gateway described by the config file. SIGTERM or
SIGINT starts a graceful shutdown: readiness turns false, in-flight requests and
streams finish, then the process exits.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return errors.New("--config is required")
			}
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			if listen != "" {
				cfg.Listen = listen
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			memLimit := tuneGC()
			tuneProcs()
			if pprofAddr != "" {
				// Profiling on its own listener, never on the public port.
				go func() { _ = http.ListenAndServe(pprofAddr, pprofMux()) }()
			}
			return serve(ctx, cfg, shutdownDelay, memLimit, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "config file (YAML)")
	cmd.Flags().StringVar(&listen, "listen", "", "listen address, overriding the config's listen")
	cmd.Flags().DurationVar(&shutdownDelay, "shutdown-delay", 0, "keep serving this long after readiness turns false on SIGTERM")
	cmd.Flags().StringVar(&pprofAddr, "pprof", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060) for profiling")
	rootCmd.AddCommand(cmd)
}

func newLogger(t config.Telemetry, w *os.File) *slog.Logger {
	level := slog.LevelInfo
	_ = level.UnmarshalText([]byte(t.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(t.LogFormat, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(ctx context.Context, cfg *config.Config, shutdownDelay time.Duration, memLimit int64, out interface{ Write([]byte) (int, error) }) error {
	log := newLogger(cfg.Telemetry, os.Stderr)
	tr, err := telemetry.NewTracing(ctx, telemetry.TracingConfig{
		ServiceName:  cfg.Telemetry.ServiceName,
		OTLPEndpoint: cfg.Telemetry.OTLPEndpoint,
		TraceFile:    cfg.Telemetry.TraceFile,
		SampleRatio:  cfg.Telemetry.SampleRatio,
		Version:      version,
	})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tr.Shutdown(sctx); err != nil {
			log.Warn("flush traces", "err", err)
		}
	}()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gw, err := gateway.New(gateway.Options{
		Config: cfg, Logger: log, Registerer: reg, Gatherer: reg,
		Tracer: tr.Tracer, Version: version, ShutdownDelay: shutdownDelay,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("switchyard listening", "addr", ln.Addr().String(), "config", cfg.Path, "routes", len(cfg.Routes), "deployments", len(cfg.Deployments),
		"memory_limit_mb", memLimit>>20, "gomaxprocs", runtime.GOMAXPROCS(0))
	printTryIt(out, ln.Addr().String(), cfg)
	return gw.Serve(ctx, ln)
}

func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	return mux
}

// printTryIt shows a request to paste, so a first run gives something to do.
func printTryIt(out interface{ Write([]byte) (int, error) }, addr string, cfg *config.Config) {
	if len(cfg.Routes) == 0 {
		return
	}
	auth := ""
	if len(cfg.Auth.APIKeys) > 0 {
		k := cfg.Auth.APIKeys[0]
		if k.KeyEnv != "" {
			auth = fmt.Sprintf(` -H "Authorization: Bearer $%s"`, k.KeyEnv)
		} else {
			auth = ` -H "Authorization: Bearer <your client key>"`
		}
	}
	fmt.Fprintf(out, "\nTry it:\n  curl -s http://%s/v1/chat/completions%s -H 'Content-Type: application/json' \\\n    -d '{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a Go function that reverses a string\"}]}'\n\n",
		addr, auth, cfg.Routes[0].Name)
}
