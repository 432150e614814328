package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-ai/switchyard/internal/artifact"
	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/gateway"
	"github.com/switchyard-ai/switchyard/internal/ml/eval/evalplot"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
	"github.com/switchyard-ai/switchyard/internal/telemetry"
	"github.com/switchyard-ai/switchyard/internal/traces"
)

// Options configure a demo run.
type Options struct {
	// Dir is the working directory; it is emptied first.
	Dir string
	// Short is the CI mode: less traffic and evaluation data.
	Short bool
	// Seed makes the traffic and training repeatable.
	Seed uint64
	// Out receives the progress and the report.
	Out io.Writer
	// Logger receives the gateway's logs (default: discarded).
	Logger *slog.Logger
}

// sizes are the demo's volumes.
type sizes struct {
	before, during, after, evalRows, golden int
}

func (o Options) sizes() sizes {
	if o.Short {
		return sizes{before: 1500, during: 200, after: 400, evalRows: 600, golden: 1000}
	}
	return sizes{before: 6000, during: 1000, after: 3000, evalRows: 3000, golden: 1000}
}

// run holds the demo's moving parts.
type run struct {
	o       Options
	sz      sizes
	cfg     *config.Config
	gw      *gateway.Server
	reg     *prometheus.Registry
	tr      *telemetry.Tracing
	url     string
	client  *http.Client
	started time.Time
	step    int
	// golden is a small full-information set for calibrating operating points.
	golden []dataset.Row
}

const steps = 9

func (r *run) stepf(format string, args ...any) {
	r.step++
	fmt.Fprintf(r.o.Out, "\n[%d/%d %5.1fs] %s\n", r.step, steps, time.Since(r.started).Seconds(), fmt.Sprintf(format, args...))
}

func (r *run) logf(format string, args ...any) {
	fmt.Fprintf(r.o.Out, "        %s\n", fmt.Sprintf(format, args...))
}

// Run runs the whole loop and returns its report.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Dir == "" {
		return nil, errors.New("demo: no working directory")
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Seed == 0 {
		o.Seed = 42
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("demo: clear %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	o.Dir = dir
	r := &run{o: o, sz: o.sizes(), started: time.Now(), client: &http.Client{Timeout: 30 * time.Second}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop, err := r.startGateway(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	return r.loop(ctx)
}

func (r *run) startGateway(ctx context.Context) (func(), error) {
	r.stepf("start a gateway on embedded defaults: 4 simulated models, file store, trace file (%s)", r.o.Dir)
	raw := gatewayConfig(r.o.Dir, 0.25)
	path := filepath.Join(r.o.Dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(raw), 0o644); err != nil {
		return nil, err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	r.cfg = cfg
	r.tr, err = telemetry.NewTracing(ctx, telemetry.TracingConfig{ServiceName: cfg.Telemetry.ServiceName, TraceFile: cfg.Telemetry.TraceFile, Version: "demo"})
	if err != nil {
		return nil, err
	}
	r.reg = prometheus.NewRegistry()
	r.gw, err = gateway.New(gateway.Options{Config: cfg, Logger: r.o.Logger, Registerer: r.reg, Gatherer: r.reg, Tracer: r.tr.Tracer, Version: "demo"})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.url = "http://" + ln.Addr().String()
	sctx, scancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- r.gw.Serve(sctx, ln) }()
	r.logf("gateway at %s, route %q on strategy \"baseline\" (always the frontier model) with 25%% exploration", r.url, route)
	return func() {
		scancel()
		<-done
		_ = r.tr.Shutdown(context.Background())
	}, nil
}

func (r *run) loop(ctx context.Context) (*Report, error) {
	rep := &Report{Dir: r.o.Dir}
	// 2. Traffic on the baseline, with exploration and feedback.
	r.stepf("send %d requests across five topics, with feedback from the simulated ground truth", r.sz.before)
	before, err := r.traffic(ctx, r.sz.before, r.o.Seed)
	if err != nil {
		return nil, err
	}
	rep.Before = before
	r.logf("baseline: quality %.3f, cost $%.6f per request, %d failed", before.MeanQuality, before.MeanCostUSD, before.Failed)

	// 3. Export.
	r.stepf("export the traces to a training set (the local trace file; Jaeger when configured)")
	rows, err := r.export(time.Time{})
	if err != nil {
		return nil, err
	}
	rep.TrainingRows = len(rows)
	if err := dataset.Write(filepath.Join(r.o.Dir, "traces-dataset.jsonl"), rows); err != nil {
		return nil, err
	}
	r.logf("%d labelled rows (each: one model's outcome, its propensity, the feedback)", len(rows))

	// 4. Train and 5. evaluate.
	evalRows := evaluationSet(r.cfg, r.sz.evalRows, r.o.Seed+1)
	r.golden = evaluationSet(r.cfg, r.sz.golden, r.o.Seed+7)
	r.stepf("train KNN, MLP and SVM routers on the trace rows (inverse-propensity weighted); calibrate operating points on a %d-prompt golden set", len(r.golden))
	results, best, err := r.trainAll(ctx, rows, r.golden, evalRows)
	if err != nil {
		return nil, err
	}
	rep.Routers = results
	r.stepf("evaluate on %d held-out prompts where every model's outcome is known", len(evalRows))
	for _, res := range results {
		r.logf("%-3s AIQ %.3f  balanced: quality %.3f at $%.6f  (trained in %.1fs)", res.Kind, res.AIQ, res.Balanced.Quality, res.Balanced.Cost, res.TrainSeconds)
	}
	r.logf("best single model %s: quality %.3f at $%.6f; oracle quality %.3f", best.report.BestSingle, best.report.BestSingleQuality, best.report.BestSingleCost, best.report.OracleQuality)
	rep.Eval = best.report
	rep.Deployed = best.kind
	plot := filepath.Join(r.o.Dir, "cost-quality.png")
	if err := evalplot.Plot(best.report, plot); err != nil {
		return nil, err
	}
	rep.Plot = plot

	// 6. Deploy the best through hot reload while traffic flows.
	r.stepf("deploy the %s router as %s@v1 through hot reload while traffic continues", best.kind, modelName)
	during, err := r.whileTraffic(ctx, r.sz.during, r.o.Seed+2, func() error { return r.deployAndSelect(ctx, best, "v1") })
	if err != nil {
		return nil, err
	}
	rep.DuringFailed = during.Failed
	r.logf("%d requests in flight across the deploy and the switch: %d failed", during.Requests, during.Failed)

	// 7. Traffic on the learned router.
	r.stepf("send %d requests on the learned router", r.sz.after)
	after, err := r.traffic(ctx, r.sz.after, r.o.Seed+3)
	if err != nil {
		return nil, err
	}
	rep.After = after
	r.logf("learned router: quality %.3f, cost $%.6f per request (baseline: %.3f, $%.6f)", after.MeanQuality, after.MeanCostUSD, before.MeanQuality, before.MeanCostUSD)

	// 8. Retrain on all traces, deploy v2, roll back.
	r.stepf("retrain on every trace as v2, deploy it, then roll back to the previous version")
	if err := r.retrainAndRollback(ctx, best.kind, rep); err != nil {
		return nil, err
	}

	// 9. Report.
	r.stepf("report")
	rep.finish(time.Since(r.started))
	rep.Print(r.o.Out)
	if err := rep.Save(r.o.Dir); err != nil {
		return nil, err
	}
	return rep, nil
}

// export flushes the traces and exports the rows after since.
func (r *run) export(since time.Time) ([]dataset.Row, error) {
	if err := r.tr.Provider.ForceFlush(context.Background()); err != nil {
		return nil, fmt.Errorf("flush traces: %w", err)
	}
	rows, rp, err := traces.ExportFile(r.cfg.Telemetry.TraceFile, since, time.Now().Add(time.Minute), traces.JoinOptions{Service: service, FeedbackMetric: "quality"})
	if err != nil {
		return nil, fmt.Errorf("export traces: %w", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("export traces: no rows (%d dropped)", rp.DroppedTotal())
	}
	return rows, nil
}

// publish saves a router as a bundle and publishes it to the store.
func (r *run) publish(ctx context.Context, rt *router.Router, version string) error {
	m := rt.Manifest()
	m.Name, m.Version = modelName, version
	rt, err := rt.WithManifest(m)
	if err != nil {
		return err
	}
	dir := filepath.Join(r.o.Dir, "bundles", version)
	if err := rt.Save(dir); err != nil {
		return err
	}
	store, err := artifact.OpenStore(ctx, r.cfg.Models.Store, artifact.Options{})
	if err != nil {
		return err
	}
	_, err = artifact.NewRepo(store, artifact.RepoOptions{}).Publish(ctx, modelName, version, dir)
	return err
}

func topicsOf(picks map[string]map[string]int) string {
	var topics []string
	for t := range picks {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	var b strings.Builder
	for _, t := range topics {
		best, n := "", 0
		for d, c := range picks[t] {
			if c > n || (c == n && d < best) {
				best, n = d, c
			}
		}
		fmt.Fprintf(&b, "%s->%s ", t, best)
	}
	return strings.TrimSpace(b.String())
}
