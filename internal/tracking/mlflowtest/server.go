// Package mlflowtest is an in-memory MLflow tracking server for tests. It
// serves the REST endpoints Switchyard uses (/api/2.0/mlflow/...) the way
// MLflow's documentation and server describe them: the same JSON shapes, the
// same validation, and the same error responses ({error_code, message} with
// RESOURCE_ALREADY_EXISTS -> 400, RESOURCE_DOES_NOT_EXIST -> 404,
// INVALID_PARAMETER_VALUE -> 400, as in mlflow/exceptions.py). Accessors let a
// test assert what was logged, and FailNext injects server errors.
//
// No MLflow server can be installed on the build machines, so this is what
// the client is tested against; docs/tracking.md says which versions it
// follows.
package mlflowtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a running fake MLflow server.
type Server struct {
	*httptest.Server

	mu          sync.Mutex
	experiments map[string]*Experiment // by id
	runs        map[string]*Run
	models      map[string]*RegisteredModel
	nextExp     int
	nextRun     int
	failNext    []int // statuses to answer with, in order
	requests    []string
	authHeaders []string
	auth        string // required Authorization header value, if set
}

// Experiment is the server's record of an experiment.
type Experiment struct {
	ID, Name, ArtifactLocation string
	Tags                       map[string]string
	Created                    time.Time
}

// Metric is one logged metric value.
type Metric struct {
	Key       string
	Value     float64
	Timestamp int64
	Step      int64
}

// Run is the server's record of a run.
type Run struct {
	ID, ExperimentID, Name, UserID, Status string
	StartTime, EndTime                     int64
	Params, Tags                           map[string]string
	Metrics                                []Metric
}

// ModelVersion is one registered version.
type ModelVersion struct {
	Name, Version, Source, RunID string
	Tags                         map[string]string
	Created                      int64
}

// RegisteredModel is the server's record of a registered model.
type RegisteredModel struct {
	Name     string
	Versions []*ModelVersion
	Aliases  map[string]string // alias -> version
	Created  int64
}

// New starts a server and closes it when the test ends.
func New(t testing.TB) *Server {
	s := &Server{
		experiments: map[string]*Experiment{},
		runs:        map[string]*Run{},
		models:      map[string]*RegisteredModel{},
	}
	// MLflow always has the "Default" experiment with id 0.
	s.experiments["0"] = &Experiment{ID: "0", Name: "Default", ArtifactLocation: "mlflow-artifacts:/0", Tags: map[string]string{}, Created: time.Now()}
	s.nextExp = 1
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// RequireAuth makes every request need exactly this Authorization header
// ("Bearer tok" or "Basic ..."); others get 401.
func (s *Server) RequireAuth(header string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth = header
}

// FailNext makes the next len(statuses) requests fail with these HTTP
// statuses (and MLflow's error body for them) before touching any state.
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = append(s.failNext, statuses...)
}

// Requests returns "METHOD endpoint" for every request received, in order.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// AuthHeaders returns the Authorization header of every request, in order.
func (s *Server) AuthHeaders() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.authHeaders)
}

// RunByID returns a copy of a run's record.
func (s *Server) RunByID(id string) (Run, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[id]
	if !ok {
		return Run{}, false
	}
	c := *r
	c.Params, c.Tags, c.Metrics = cloneMap(r.Params), cloneMap(r.Tags), slices.Clone(r.Metrics)
	return c, true
}

// ExperimentByName returns a copy of an experiment's record.
func (s *Server) ExperimentByName(name string) (Experiment, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.expByName(name); e != nil {
		c := *e
		c.Tags = cloneMap(e.Tags)
		return c, true
	}
	return Experiment{}, false
}

// Model returns a copy of a registered model's versions and aliases.
func (s *Server) Model(name string) (versions []ModelVersion, aliases map[string]string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.models[name]
	if !ok {
		return nil, nil, false
	}
	for _, v := range m.Versions {
		c := *v
		c.Tags = cloneMap(v.Tags)
		versions = append(versions, c)
	}
	return versions, cloneMap(m.Aliases), true
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// apiError is an MLflow error response.
type apiError struct {
	status int
	code   string
	msg    string
}

func invalid(format string, a ...any) *apiError {
	return &apiError{400, "INVALID_PARAMETER_VALUE", fmt.Sprintf(format, a...)}
}
func notFound(format string, a ...any) *apiError {
	return &apiError{404, "RESOURCE_DOES_NOT_EXIST", fmt.Sprintf(format, a...)}
}
func exists(format string, a ...any) *apiError {
	return &apiError{400, "RESOURCE_ALREADY_EXISTS", fmt.Sprintf(format, a...)}
}
func missing(field string) *apiError {
	return invalid("Missing value for required parameter '%s'. See the API docs for more information about request parameters.", field)
}

var statusCodes = map[int]string{
	500: "INTERNAL_ERROR", 503: "TEMPORARILY_UNAVAILABLE", 429: "REQUEST_LIMIT_EXCEEDED", 504: "DEADLINE_EXCEEDED",
}

type route struct {
	method  string
	handler func(s *Server, r *http.Request) (any, *apiError)
}

var routes = map[string]route{
	"experiments/get-by-name":  {http.MethodGet, (*Server).getExperimentByName},
	"experiments/create":       {http.MethodPost, (*Server).createExperiment},
	"runs/create":              {http.MethodPost, (*Server).createRun},
	"runs/get":                 {http.MethodGet, (*Server).getRun},
	"runs/update":              {http.MethodPost, (*Server).updateRun},
	"runs/log-parameter":       {http.MethodPost, (*Server).logParam},
	"runs/set-tag":             {http.MethodPost, (*Server).setTag},
	"runs/log-batch":           {http.MethodPost, (*Server).logBatch},
	"registered-models/create": {http.MethodPost, (*Server).createRegisteredModel},
	"model-versions/create":    {http.MethodPost, (*Server).createModelVersion},
	"model-versions/search":    {http.MethodGet, (*Server).searchModelVersions},
	"registered-models/alias":  {"", (*Server).alias}, // POST sets, GET reads, DELETE removes
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	endpoint, ok := strings.CutPrefix(r.URL.Path, "/api/2.0/mlflow/")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r.Method+" "+endpoint)
	s.authHeaders = append(s.authHeaders, r.Header.Get("Authorization"))
	if len(s.failNext) > 0 {
		status := s.failNext[0]
		s.failNext = s.failNext[1:]
		code := statusCodes[status]
		if code == "" {
			code = "INTERNAL_ERROR"
		}
		writeErr(w, &apiError{status, code, "injected failure"})
		return
	}
	if s.auth != "" && r.Header.Get("Authorization") != s.auth {
		writeErr(w, &apiError{401, "UNAUTHENTICATED", "You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate."})
		return
	}
	rt, found := routes[endpoint]
	if !ok || !found {
		writeErr(w, &apiError{404, "ENDPOINT_NOT_FOUND", "No API route for " + r.URL.Path})
		return
	}
	if rt.method != "" && r.Method != rt.method {
		w.Header().Set("Allow", rt.method)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.Method == http.MethodPost && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		writeErr(w, invalid("Bad Request. Content-Type must be application/json"))
		return
	}
	out, aerr := rt.handler(s, r)
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func writeErr(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error_code": e.code, "message": e.msg})
}

// decode reads a JSON request body. Like MLflow it ignores unknown fields,
// and a body that is not JSON of the right shape is INVALID_PARAMETER_VALUE.
func decode(r *http.Request, v any) *apiError {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return invalid("Invalid request body: %v", err)
	}
	return nil
}

// int64Field accepts a JSON number or a numeric string, as MLflow's proto
// parser does for int64 fields.
type int64Field struct {
	Set bool
	V   int64
}

func (f *int64Field) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" {
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("expected an int64, got %s", b)
	}
	f.Set, f.V = true, n
	return nil
}

type kv struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

var aliasVersionLike = regexp.MustCompile(`^[vV]\d+$`)

func nowMillis() int64 { return time.Now().UnixMilli() }
