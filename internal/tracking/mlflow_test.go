package tracking

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/testsvc"
	"github.com/switchyard-ai/switchyard/internal/tracking/mlflowtest"
)

func newTestClient(t *testing.T, srv *mlflowtest.Server, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{TrackingURI: srv.URL, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMLflowErrorResponses(t *testing.T) {
	ctx := context.Background()
	srv := mlflowtest.New(t)
	c := newTestClient(t, srv, nil)
	expID, err := c.CreateExperiment(ctx, "exists")
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.CreateRun(ctx, expID, "r", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.LogParam(ctx, run.ID, "k", "a"); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateRegisteredModel(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateModelVersion(ctx, "m", "file:///x", run.ID, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		call     func() error
		sentinel error
		status   int
		code     string
	}{
		{"experiment by unknown name", func() error { _, err := c.GetExperimentByName(ctx, "nope"); return err }, ErrNotFound, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"duplicate experiment", func() error { _, err := c.CreateExperiment(ctx, "exists"); return err }, ErrAlreadyExists, 400, "RESOURCE_ALREADY_EXISTS"},
		{"experiment without name", func() error { _, err := c.CreateExperiment(ctx, ""); return err }, ErrInvalidParameter, 400, "INVALID_PARAMETER_VALUE"},
		{"run in unknown experiment", func() error { _, err := c.CreateRun(ctx, "999", "", time.Now(), nil); return err }, ErrNotFound, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"update unknown run", func() error { return c.UpdateRun(ctx, "feed", StatusFinished, time.Now()) }, ErrNotFound, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"bad run status", func() error { return c.UpdateRun(ctx, run.ID, "DONE", time.Now()) }, ErrInvalidParameter, 400, "INVALID_PARAMETER_VALUE"},
		{"changed param", func() error { return c.LogParam(ctx, run.ID, "k", "b") }, ErrInvalidParameter, 400, "INVALID_PARAMETER_VALUE"},
		{"changed param in a batch", func() error { return c.LogBatch(ctx, run.ID, nil, map[string]string{"k": "c"}, nil) }, ErrInvalidParameter, 400, "INVALID_PARAMETER_VALUE"},
		{"duplicate registered model", func() error { return c.CreateRegisteredModel(ctx, "m") }, ErrAlreadyExists, 400, "RESOURCE_ALREADY_EXISTS"},
		{"version of unknown model", func() error { _, err := c.CreateModelVersion(ctx, "nope", "s3://b/k", "", nil); return err }, ErrNotFound, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"version without source", func() error { _, err := c.CreateModelVersion(ctx, "m", "", "", nil); return err }, ErrInvalidParameter, 400, "INVALID_PARAMETER_VALUE"},
		{"alias on unknown version", func() error { return c.SetRegisteredModelAlias(ctx, "m", "champion", "7") }, ErrNotFound, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"reserved alias", func() error { return c.SetRegisteredModelAlias(ctx, "m", "latest", "1") }, ErrInvalidParameter, 400, "INVALID_PARAMETER_VALUE"},
		{"unset alias", func() error { _, err := c.GetModelVersionByAlias(ctx, "m", "champion"); return err }, ErrNotFound, 404, "RESOURCE_DOES_NOT_EXIST"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.Requests())
			err := tc.call()
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("err = %v, want %v", err, tc.sentinel)
			}
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status || apiErr.Code != tc.code || apiErr.Message == "" {
				t.Fatalf("err = %#v, want %d %s with a message", err, tc.status, tc.code)
			}
			if n := len(srv.Requests()) - before; n != 1 {
				t.Fatalf("a %d answer was sent %d times; 4xx must not be retried", tc.status, n)
			}
		})
	}
	// The failed batch must not have half-applied.
	r, _ := srv.RunByID(run.ID)
	if r.Params["k"] != "a" {
		t.Fatalf("param k = %q after rejected changes", r.Params["k"])
	}
}

func TestMLflowRetries(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name     string
		fail     []int
		attempts int
		wantErr  string // "" means success
	}{
		{"503 then success", []int{503}, 2, ""},
		{"500 and 429 then success", []int{500, 429}, 3, ""},
		{"503 every time", []int{503, 503, 503, 503}, 4, "TEMPORARILY_UNAVAILABLE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := mlflowtest.New(t)
			c := newTestClient(t, srv, func(c *Config) { c.MaxAttempts = 4 })
			srv.FailNext(tc.fail...)
			_, err := c.CreateExperiment(ctx, "e")
			if got := len(srv.Requests()); got != tc.attempts {
				t.Fatalf("%d requests, want %d", got, tc.attempts)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := srv.ExperimentByName("e"); !ok {
					t.Fatal("experiment not created after the retry")
				}
				return
			}
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.Code != tc.wantErr || apiErr.StatusCode != 503 {
				t.Fatalf("err = %v, want %s", err, tc.wantErr)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		c, err := NewClient(Config{TrackingURI: "http://" + testsvc.Addr(testsvc.FreePort(t)), MaxAttempts: 3, InitialBackoff: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetOrCreateExperiment(ctx, "e")
		if err == nil || !strings.Contains(err.Error(), "after 3 attempts") || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("err = %v, want connection refused after 3 attempts", err)
		}
	})
	t.Run("context cancelled stops retrying", func(t *testing.T) {
		srv := mlflowtest.New(t)
		c := newTestClient(t, srv, func(c *Config) { c.MaxAttempts = 10; c.InitialBackoff = time.Second })
		srv.FailNext(503, 503, 503)
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if _, err := c.CreateExperiment(ctx, "e"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
	})
}

func TestMLflowAuth(t *testing.T) {
	ctx := context.Background()
	basic := "Basic " + "dXNlcjpwYXNz" // user:pass
	cases := []struct {
		name   string
		cfg    func(*Config)
		header string
	}{
		{"bearer token", func(c *Config) { c.Token = "tok" }, "Bearer tok"},
		{"basic auth", func(c *Config) { c.Username, c.Password = "user", "pass" }, basic},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := mlflowtest.New(t)
			srv.RequireAuth(tc.header)
			if _, err := newTestClient(t, srv, tc.cfg).CreateExperiment(ctx, "e"); err != nil {
				t.Fatal(err)
			}
			_, err := newTestClient(t, srv, nil).CreateExperiment(ctx, "e2")
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
				t.Fatalf("unauthenticated call = %v, want 401", err)
			}
		})
	}
	t.Run("from env", func(t *testing.T) {
		t.Setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
		t.Setenv("MLFLOW_TRACKING_TOKEN", "")
		t.Setenv("MLFLOW_TRACKING_USERNAME", "u")
		t.Setenv("MLFLOW_TRACKING_PASSWORD", "p")
		cfg := ConfigFromEnv()
		if cfg.TrackingURI != "http://mlflow.internal:5000" || cfg.Username != "u" || cfg.Password != "p" {
			t.Fatalf("cfg = %+v", cfg)
		}
	})
}

func TestMLflowConfigValidation(t *testing.T) {
	for _, cfg := range []Config{
		{TrackingURI: "mlflow:5000"},
		{TrackingURI: "ftp://x"},
		{TrackingURI: "http://x", Token: "t", Username: "u", Password: "p"},
		{TrackingURI: "http://x", Username: "u"},
	} {
		if _, err := NewClient(cfg); err == nil {
			t.Errorf("NewClient(%+v) accepted", cfg)
		}
	}
}

// TestMLflowLogBatchSplits logs more than one request may carry; the test
// server rejects oversize batches as MLflow does, so success proves the split.
func TestMLflowLogBatchSplits(t *testing.T) {
	ctx := context.Background()
	srv := mlflowtest.New(t)
	c := newTestClient(t, srv, nil)
	exp, _ := c.CreateExperiment(ctx, "e")
	run, err := c.CreateRun(ctx, exp, "", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var metrics []Metric
	for i := range 2500 {
		metrics = append(metrics, Metric{Key: "loss", Value: float64(i), Step: int64(i)})
	}
	params, tags := map[string]string{}, map[string]string{}
	for i := range 150 {
		params[fmt.Sprintf("p%03d", i)] = "v"
	}
	for i := range 120 {
		tags[fmt.Sprintf("t%03d", i)] = "v"
	}
	before := len(srv.Requests())
	if err := c.LogBatch(ctx, run.ID, metrics, params, tags); err != nil {
		t.Fatal(err)
	}
	r, _ := srv.RunByID(run.ID)
	if len(r.Metrics) != 2500 || len(r.Params) != 150 || len(r.Tags) != 121 { // + mlflow.runName
		t.Fatalf("stored %d metrics, %d params, %d tags", len(r.Metrics), len(r.Params), len(r.Tags))
	}
	if n := len(srv.Requests()) - before; n != 3 {
		t.Fatalf("%d requests, want 3 (1000 items per request)", n)
	}
}
