package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/switchyard-ai/switchyard/internal/artifact"
	"github.com/switchyard-ai/switchyard/internal/audit"
	"github.com/switchyard-ai/switchyard/internal/modelmgr"
)

func init() { rootCmd.AddCommand(newModelsCmd()) }

// modelsFlags are shared by the models subcommands.
type modelsFlags struct {
	store, name, cacheDir, redisURL, channel, actor, reason string
	asJSON                                                  bool
}

func newModelsCmd() *cobra.Command {
	f := &modelsFlags{}
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Publish, deploy, roll back and inspect router models in the artifact store",
		Long: `The models commands work on the artifact store directly, as the admin API does:
deploy and rollback validate the target (present, checksums, canaries, latency),
move CURRENT with a conditional write, send the Redis deploy notice when --redis
is given (replicas otherwise follow at their next poll) and write the audit trail.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.store, "store", "", "artifact store: file:///dir or s3://bucket/prefix (required)")
	pf.StringVar(&f.name, "name", "", "model name")
	pf.StringVar(&f.cacheDir, "cache-dir", "", "where versions are fetched to for validation (default: a temporary directory)")
	pf.StringVar(&f.redisURL, "redis", "", "Redis URL for the deploy notice and the download lock (redis://host:port/db)")
	pf.StringVar(&f.channel, "channel", modelmgr.DefaultNotifyChannel, "Redis channel of deploy notices")
	pf.StringVar(&f.actor, "actor", "", `who acts, for the audit trail (default "cli:$USER")`)
	pf.StringVar(&f.reason, "reason", "", "why, for the audit trail")
	pf.BoolVar(&f.asJSON, "json", false, "print JSON")
	cmd.AddCommand(f.publishCmd(), f.moveCmd("deploy"), f.moveCmd("rollback"), f.listCmd(), f.historyCmd(), f.keygenCmd(), f.signCmd())
	return cmd
}

func (f *modelsFlags) publishCmd() *cobra.Command {
	var version, dir string
	cmd := &cobra.Command{
		Use:   "publish --store URI --name N --version V --dir BUNDLE",
		Short: "Upload a bundle directory as a new version (does not deploy it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.name == "" || version == "" || dir == "" {
				return errors.New("models publish: --name, --version and --dir are required")
			}
			repo, err := f.repo(cmd.Context())
			if err != nil {
				return err
			}
			info, err := repo.Publish(cmd.Context(), f.name, version, dir)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), info, func(w io.Writer) {
				fmt.Fprintf(w, "published %s@%s at %s (%d files)\n", info.Name, info.Version, info.URI, len(info.Files))
			})
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "version to publish")
	cmd.Flags().StringVar(&dir, "dir", "", "bundle directory (manifest.json, model.bin)")
	return cmd
}

func (f *modelsFlags) moveCmd(action string) *cobra.Command {
	var version string
	use, short := "deploy --store URI --name N --version V", "Validate a version and point CURRENT at it"
	if action == "rollback" {
		use, short = "rollback --store URI --name N --version V|previous", "Point CURRENT back at an earlier version, after validating it"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.name == "" || version == "" {
				return fmt.Errorf("models %s: --name and --version are required", action)
			}
			reg, cleanup, err := f.registry(cmd.Context())
			if err != nil {
				return err
			}
			defer cleanup()
			ctx := audit.WithActor(cmd.Context(), f.actorName())
			do := reg.Deploy
			if action == "rollback" {
				do = reg.Rollback
			}
			mv, err := do(ctx, f.name, version, f.reason)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), mv, func(w io.Writer) {
				switch {
				case !mv.Changed:
					fmt.Fprintf(w, "%s: %s is already current; nothing changed\n", mv.Model, mv.To)
				default:
					fmt.Fprintf(w, "%s: CURRENT moved %s -> %s (payload sha256 %s)\n", mv.Model, orNone(mv.From), mv.To, mv.SHA256)
				}
				if mv.NoticeError != "" {
					fmt.Fprintf(w, "warning: deploy notice not sent (%s); replicas follow at their next poll\n", mv.NoticeError)
				} else if f.redisURL == "" {
					fmt.Fprintln(w, "no --redis: replicas follow at their next poll")
				}
			})
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "target version (rollback also takes \"previous\")")
	return cmd
}

func (f *modelsFlags) listCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list --store URI [--name N]",
		Short: "List models (or one model's versions) with what CURRENT names",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			repo, err := f.repo(ctx)
			if err != nil {
				return err
			}
			names := []string{f.name}
			if f.name == "" {
				if names, err = repo.ListModels(ctx); err != nil {
					return err
				}
			}
			type row struct {
				Model    string                `json:"model"`
				Current  *artifact.Current     `json:"current"`
				Versions []artifact.VersionRef `json:"versions"`
			}
			var rows []row
			for _, n := range names {
				r := row{Model: n}
				cur, _, err := repo.ReadCurrent(ctx, n)
				switch {
				case err == nil:
					r.Current = &cur
				case !errors.Is(err, artifact.ErrNotFound):
					return err
				}
				if r.Versions, err = repo.ListVersions(ctx, n); err != nil {
					return err
				}
				rows = append(rows, r)
			}
			return f.print(cmd.OutOrStdout(), rows, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "MODEL\tVERSION\tPUBLISHED\tCURRENT")
				for _, r := range rows {
					for _, v := range r.Versions {
						mark := ""
						if r.Current != nil && r.Current.Version == v.Version {
							mark = fmt.Sprintf("* (by %s at %s)", r.Current.Who, r.Current.When.Format(time.RFC3339))
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Model, v.Version, v.Published.Format(time.RFC3339), mark)
					}
				}
				tw.Flush()
			})
		},
	}
}

func (f *modelsFlags) historyCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "history --store URI --name N [--limit N]",
		Short: "Show a model's audit trail: deploys, rollbacks, activations and rejections",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.name == "" {
				return errors.New("models history: --name is required")
			}
			repo, err := f.repo(cmd.Context())
			if err != nil {
				return err
			}
			evs, err := audit.New(repo, nil).List(cmd.Context(), audit.Filter{Target: f.name, Limit: limit})
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), evs, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TIME\tACTION\tFROM\tTO\tRESULT\tACTOR\tREASON")
				for _, e := range evs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format(time.RFC3339), e.Action, orNone(e.From), orNone(e.To), e.Result, e.Actor, e.Reason)
				}
				tw.Flush()
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 50, "newest events to show (0: all)")
	return cmd
}

func (f *modelsFlags) repo(ctx context.Context) (*artifact.Repo, error) {
	if f.store == "" {
		return nil, errors.New("models: --store is required (file:///dir or s3://bucket/prefix)")
	}
	st, err := artifact.OpenStore(ctx, f.store, artifact.Options{})
	if err != nil {
		return nil, err
	}
	return artifact.NewRepo(st, artifact.RepoOptions{}), nil
}

// registry builds a model registry that is never run: the CLI validates
// and moves CURRENT, the gateways' managers do the activating.
func (f *modelsFlags) registry(ctx context.Context) (*modelmgr.Registry, func(), error) {
	repo, err := f.repo(ctx)
	if err != nil {
		return nil, nil, err
	}
	var cleanups []func()
	cleanup := func() {
		for _, c := range cleanups {
			c()
		}
	}
	cfg := modelmgr.Config{Repo: repo, CacheDir: f.cacheDir, NotifyChannel: f.channel, Replica: "cli",
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if cfg.CacheDir == "" {
		dir, err := os.MkdirTemp("", "switchyard-models-")
		if err != nil {
			return nil, nil, err
		}
		cfg.CacheDir = dir
		cleanups = append(cleanups, func() { os.RemoveAll(dir) })
	}
	if f.redisURL != "" {
		opts, err := redis.ParseURL(f.redisURL)
		if err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("models: --redis: %w", err)
		}
		c := redis.NewClient(opts)
		cfg.Redis = c
		cleanups = append(cleanups, func() { c.Close() })
	}
	reg, err := modelmgr.New(cfg)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return reg, cleanup, nil
}

func (f *modelsFlags) actorName() string {
	if f.actor != "" {
		return f.actor
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}

func (f *modelsFlags) print(w io.Writer, v any, text func(io.Writer)) error {
	if f.asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(w)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
