package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/traces"
	"github.com/switchyard-ai/switchyard/internal/traffic"
)

func init() {
	cmd := &cobra.Command{
		Use:   "traces",
		Short: "Turn gateway traces into training rows; send synthetic traffic",
	}
	cmd.AddCommand(tracesExportCmd(), tracesSynthCmd())
	rootCmd.AddCommand(cmd)
}

func tracesExportCmd() *cobra.Command {
	var (
		jaegerURL, service, api, file, out string
		since                              time.Duration
		until                              string
		limit, parallel                    int
		join                               traces.JoinOptions
	)
	cmd := &cobra.Command{
		Use:   "export (--jaeger URL --service NAME --since 24h [--until T] | --file TRACEFILE) --out FILE",
		Short: "Export routing decisions, outcomes and feedback as training rows",
		Long: `Read the gateway's spans from Jaeger's query API (v3, OTLP JSON, or the legacy
/api/traces) or from the local trace file, join each routing decision with its
outcome and its feedback (by request id, across the whole range), and write
one training row per labelled decision. The row holds only the chosen
deployment's outcome and the propensity it was chosen with.

Quality comes from the feedback metric (--feedback-metric, rescaled from
[--feedback-min, --feedback-max] to [0,1]). With --auto-labels a decision
without feedback whose request failed, failed over to a fallback, or got an
empty answer is labelled 0. A report of what was read and why decisions were
dropped goes to stderr. Nothing is written unless the whole export succeeds.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out is required")
			}
			if (jaegerURL == "") == (file == "") {
				return errors.New("give exactly one of --jaeger URL or --file TRACEFILE")
			}
			end := time.Now()
			if until != "" {
				t, err := parseUntil(until, end)
				if err != nil {
					return err
				}
				end = t
			}
			start := end.Add(-since)
			join.Service = service
			stderr := cmd.ErrOrStderr()
			var (
				rows []dataset.Row
				rep  traces.Report
				err  error
			)
			if file != "" {
				if !cmd.Flags().Changed("since") {
					start = time.Time{}
				}
				if until == "" {
					end = time.Time{}
				}
				rows, rep, err = traces.ExportFile(file, start, end, join)
			} else {
				client := &traces.Client{BaseURL: jaegerURL, API: traces.API(api), Limit: limit, HTTP: &http.Client{Timeout: 2 * time.Minute}}
				progress, finish := exportProgress(stderr)
				rows, rep, err = traces.ExportJaeger(cmd.Context(), traces.WalkOptions{
					Client: client, Service: service, Since: start, Until: end, Parallel: parallel, Progress: progress,
				}, join)
				finish()
			}
			if err != nil {
				return err
			}
			if err := dataset.Write(out, rows); err != nil {
				return err
			}
			rep.Print(stderr)
			fmt.Fprintf(stderr, "wrote %d rows to %s\n", len(rows), out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&jaegerURL, "jaeger", "", "Jaeger query service URL, e.g. http://127.0.0.1:16686")
	f.StringVar(&service, "service", "switchyard", "the gateway's service name; spans of other services are skipped")
	f.DurationVar(&since, "since", 24*time.Hour, "how far back from --until to read")
	f.StringVar(&until, "until", "", "end of the range: RFC 3339 time or a duration ago like 1h (default now)")
	f.StringVar(&api, "api", "v3", "Jaeger query API: v3 (OTLP JSON) or legacy (/api/traces)")
	f.IntVar(&limit, "limit", traces.DefaultLimit, "traces per Jaeger query (at most Jaeger's max_traces); fuller windows are split")
	f.IntVar(&parallel, "parallel", traces.DefaultParallel, "parts of the range queried at once")
	f.StringVar(&file, "file", "", "read the gateway's local trace file instead of Jaeger")
	f.StringVar(&out, "out", "", "output data set (JSON lines)")
	f.StringVar(&join.FeedbackMetric, "feedback-metric", "quality", "feedback metric that becomes the quality label")
	f.Float64Var(&join.FeedbackMin, "feedback-min", 0, "the feedback metric's lowest value (maps to quality 0)")
	f.Float64Var(&join.FeedbackMax, "feedback-max", 1, "the feedback metric's highest value (maps to quality 1)")
	f.BoolVar(&join.AutoLabels, "auto-labels", false, "label failed, failed-over and empty answers without feedback as quality 0")
	f.BoolVar(&join.KeepUnlabelled, "keep-unlabelled", false, "also write rows without a quality label")
	return cmd
}

// parseUntil accepts an RFC 3339 time or a duration before now.
func parseUntil(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--until %q: want an RFC 3339 time or a duration like 1h", s)
}

// exportProgress shows a bar over the time range on a terminal and nothing
// elsewhere, so logs and pipes stay clean.
func exportProgress(w io.Writer) (func(done, total time.Duration), func()) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, func() {}
	}
	const steps = 1000
	bar := progressbar.NewOptions(steps,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("reading traces"),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish(),
	)
	return func(done, total time.Duration) {
			if total > 0 {
				_ = bar.Set(int(float64(done) / float64(total) * steps))
			}
		}, func() {
			_ = bar.Finish()
		}
}

func tracesSynthCmd() *cobra.Command {
	var (
		o       traffic.Options
		cfgPath string
		topics  string
	)
	cmd := &cobra.Command{
		Use:   "synth --gateway URL --key K --requests N [--concurrency C] [--config GATEWAY_CONFIG]",
		Short: "Send synthetic traffic with ground-truth feedback through a running gateway",
		Long: `Send chat requests over the simulated topics (code, math, science, writing,
chat; prompts from templates, repeatable with --seed) through a running
gateway, then post feedback for each answer: the simulated quality of the
deployment that answered (found from the response's model in --config) plus
Gaussian noise. Spans reach the gateway's collector by the real path.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath != "" {
				cfg, err := config.Load(cfgPath)
				if err != nil {
					return err
				}
				o.Config = cfg
			}
			if topics != "" {
				o.Topics = strings.Split(topics, ",")
			}
			s, err := traffic.Run(cmd.Context(), o)
			if s != nil {
				printSynth(cmd.OutOrStdout(), s, o.Config != nil)
			}
			if err != nil {
				return err
			}
			if s.OK == 0 {
				return fmt.Errorf("no request succeeded (statuses %v)", s.ByStatus)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Gateway, "gateway", "http://127.0.0.1:8080", "gateway base URL")
	f.StringVar(&o.Key, "key", os.Getenv("SWITCHYARD_API_KEY"), "client API key (default $SWITCHYARD_API_KEY)")
	f.StringVar(&o.Route, "route", "auto", "route (model name) to ask for")
	f.IntVar(&o.Requests, "requests", 100, "number of requests")
	f.IntVar(&o.Concurrency, "concurrency", 4, "requests in flight")
	f.DurationVar(&o.MaxDuration, "max-duration", 10*time.Minute, "stop after this long")
	f.Uint64Var(&o.Seed, "seed", 1, "seed for prompts, topics and feedback noise")
	f.StringVar(&topics, "topics", "", "comma-separated topics (default all simulated topics)")
	f.StringVar(&cfgPath, "config", "", "the gateway's config, for ground-truth feedback (none posted without it)")
	f.StringVar(&o.FeedbackMetric, "feedback-metric", "quality", "feedback metric to post")
	f.Float64Var(&o.FeedbackRate, "feedback-rate", 1, "share of answers that get feedback")
	f.Float64Var(&o.Noise, "noise", 0.05, "standard deviation of the noise added to the true quality")
	return cmd
}

func printSynth(w io.Writer, s *traffic.Summary, feedback bool) {
	fmt.Fprintf(w, "sent %d requests in %s: %d ok, %d failed", s.Sent, s.Duration.Round(time.Millisecond), s.OK, s.Failed)
	if s.TimedOut {
		fmt.Fprint(w, " (stopped by --max-duration)")
	}
	fmt.Fprintln(w)
	codes := make([]int, 0, len(s.ByStatus))
	for c := range s.ByStatus {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for _, c := range codes {
		fmt.Fprintf(w, "  status %d: %d\n", c, s.ByStatus[c])
	}
	if feedback {
		fmt.Fprintf(w, "feedback posted: %d (%d failed)\n", s.FeedbackPosted, s.FeedbackFailed)
	} else {
		fmt.Fprintln(w, "feedback: none (no --config for the ground truth)")
	}
	topics := make([]string, 0, len(s.Picks))
	for t := range s.Picks {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		deps := make([]string, 0, len(s.Picks[t]))
		for d, n := range s.Picks[t] {
			deps = append(deps, fmt.Sprintf("%s=%d", d, n))
		}
		sort.Strings(deps)
		fmt.Fprintf(w, "  %-8s %s\n", t, strings.Join(deps, " "))
	}
}
