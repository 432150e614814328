package mlflowtest

import (
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// MLflow's documented limits (2.x and 3.x).
const (
	maxBatchMetrics = 1000
	maxBatchParams  = 100
	maxBatchTags    = 100
	maxBatchTotal   = 1000
	maxKeyLength    = 250
	maxParamValue   = 6000
	maxTagValue     = 8000
)

func (s *Server) expByName(name string) *Experiment {
	for _, e := range s.experiments {
		if e.Name == name {
			return e
		}
	}
	return nil
}

func expJSON(e *Experiment) map[string]any {
	tags := []kv{}
	for k, v := range e.Tags {
		tags = append(tags, kv{k, v})
	}
	return map[string]any{
		"experiment_id": e.ID, "name": e.Name, "artifact_location": e.ArtifactLocation,
		"lifecycle_stage": "active", "creation_time": e.Created.UnixMilli(), "last_update_time": e.Created.UnixMilli(), "tags": tags,
	}
}

func (s *Server) getExperimentByName(r *http.Request) (any, *apiError) {
	name := r.URL.Query().Get("experiment_name")
	if name == "" {
		return nil, missing("experiment_name")
	}
	e := s.expByName(name)
	if e == nil {
		return nil, notFound("Could not find experiment with name %s", name)
	}
	return map[string]any{"experiment": expJSON(e)}, nil
}

func (s *Server) createExperiment(r *http.Request) (any, *apiError) {
	var in struct {
		Name             string `json:"name"`
		ArtifactLocation string `json:"artifact_location"`
		Tags             []kv   `json:"tags"`
	}
	if e := decode(r, &in); e != nil {
		return nil, e
	}
	if in.Name == "" {
		return nil, missing("name")
	}
	if s.expByName(in.Name) != nil {
		return nil, exists("Experiment(name=%s) already exists. Error: (raised by the store)", in.Name)
	}
	id := strconv.Itoa(s.nextExp)
	s.nextExp++
	loc := in.ArtifactLocation
	if loc == "" {
		loc = "mlflow-artifacts:/" + id
	}
	e := &Experiment{ID: id, Name: in.Name, ArtifactLocation: loc, Tags: map[string]string{}, Created: time.Now()}
	for _, t := range in.Tags {
		e.Tags[t.Key] = t.Value
	}
	s.experiments[id] = e
	return map[string]any{"experiment_id": id}, nil
}

func (s *Server) runInfo(run *Run) map[string]any {
	info := map[string]any{
		"run_id": run.ID, "run_uuid": run.ID, "experiment_id": run.ExperimentID, "run_name": run.Name,
		"user_id": run.UserID, "status": run.Status, "start_time": run.StartTime,
		"artifact_uri":    s.experiments[run.ExperimentID].ArtifactLocation + "/" + run.ID + "/artifacts",
		"lifecycle_stage": "active",
	}
	if run.EndTime != 0 {
		info["end_time"] = run.EndTime
	}
	return info
}

func (s *Server) runJSON(run *Run) map[string]any {
	params, tags := []kv{}, []kv{}
	for k, v := range run.Params {
		params = append(params, kv{k, v})
	}
	for k, v := range run.Tags {
		tags = append(tags, kv{k, v})
	}
	// MLflow's runs/get returns the latest value of each metric.
	latest := map[string]Metric{}
	for _, m := range run.Metrics {
		if cur, ok := latest[m.Key]; !ok || m.Step > cur.Step || (m.Step == cur.Step && m.Timestamp >= cur.Timestamp) {
			latest[m.Key] = m
		}
	}
	metrics := []map[string]any{}
	for _, m := range latest {
		metrics = append(metrics, map[string]any{"key": m.Key, "value": m.Value, "timestamp": m.Timestamp, "step": m.Step})
	}
	return map[string]any{"info": s.runInfo(run), "data": map[string]any{"params": params, "tags": tags, "metrics": metrics}, "inputs": map[string]any{}}
}

func (s *Server) createRun(r *http.Request) (any, *apiError) {
	var in struct {
		ExperimentID string     `json:"experiment_id"`
		UserID       string     `json:"user_id"`
		RunName      string     `json:"run_name"`
		StartTime    int64Field `json:"start_time"`
		Tags         []kv       `json:"tags"`
	}
	if e := decode(r, &in); e != nil {
		return nil, e
	}
	if in.ExperimentID == "" {
		return nil, missing("experiment_id")
	}
	if _, ok := s.experiments[in.ExperimentID]; !ok {
		return nil, notFound("No Experiment with id=%s exists", in.ExperimentID)
	}
	s.nextRun++
	run := &Run{
		ID: fmt.Sprintf("%032x", s.nextRun), ExperimentID: in.ExperimentID, Name: in.RunName, UserID: in.UserID,
		Status: "RUNNING", StartTime: in.StartTime.V, Params: map[string]string{}, Tags: map[string]string{},
	}
	if !in.StartTime.Set {
		run.StartTime = nowMillis()
	}
	for _, t := range in.Tags {
		if t.Key == "" {
			return nil, missing("key")
		}
		run.Tags[t.Key] = t.Value
	}
	if run.Name == "" {
		run.Name = run.Tags["mlflow.runName"]
	}
	if run.Name == "" {
		run.Name = "run-" + strconv.Itoa(s.nextRun) // MLflow picks a random name
	}
	run.Tags["mlflow.runName"] = run.Name
	s.runs[run.ID] = run
	return map[string]any{"run": s.runJSON(run)}, nil
}

func (s *Server) findRun(id string) (*Run, *apiError) {
	if id == "" {
		return nil, missing("run_id")
	}
	run, ok := s.runs[id]
	if !ok {
		return nil, notFound("Run with id=%s not found", id)
	}
	return run, nil
}

func (s *Server) getRun(r *http.Request) (any, *apiError) {
	run, e := s.findRun(r.URL.Query().Get("run_id"))
	if e != nil {
		return nil, e
	}
	return map[string]any{"run": s.runJSON(run)}, nil
}

var runStatuses = []string{"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"}

func (s *Server) updateRun(r *http.Request) (any, *apiError) {
	var in struct {
		RunID   string     `json:"run_id"`
		Status  string     `json:"status"`
		EndTime int64Field `json:"end_time"`
		RunName string     `json:"run_name"`
	}
	if e := decode(r, &in); e != nil {
		return nil, e
	}
	run, e := s.findRun(in.RunID)
	if e != nil {
		return nil, e
	}
	if in.Status != "" && !slices.Contains(runStatuses, in.Status) {
		return nil, invalid("Invalid value \"%s\" for parameter 'status' supplied.", in.Status)
	}
	if in.Status != "" {
		run.Status = in.Status
	}
	if in.EndTime.Set {
		run.EndTime = in.EndTime.V
	}
	if in.RunName != "" {
		run.Name = in.RunName
		run.Tags["mlflow.runName"] = in.RunName
	}
	return map[string]any{"run_info": s.runInfo(run)}, nil
}

func checkKey(what, key string) *apiError {
	if key == "" {
		return missing("key")
	}
	if len(key) > maxKeyLength {
		return invalid("%s key '%s' had length %d, which exceeded length limit of %d", what, key[:20], len(key), maxKeyLength)
	}
	return nil
}

// setParam applies MLflow's rule that a param, once logged, cannot change.
func setParam(run *Run, p kv) *apiError {
	if e := checkKey("Param", p.Key); e != nil {
		return e
	}
	if len(p.Value) > maxParamValue {
		return invalid("Param value '%s...' had length %d, which exceeded length limit of %d", p.Value[:20], len(p.Value), maxParamValue)
	}
	if old, ok := run.Params[p.Key]; ok && old != p.Value {
		return invalid("Changing param values is not allowed. Param with key='%s' was already logged with value='%s' for run ID='%s'. Attempted logging new value '%s'.", p.Key, old, run.ID, p.Value)
	}
	run.Params[p.Key] = p.Value
	return nil
}

func setTag(run *Run, t kv) *apiError {
	if e := checkKey("Tag", t.Key); e != nil {
		return e
	}
	if len(t.Value) > maxTagValue {
		return invalid("Tag value '%s...' had length %d, which exceeded length limit of %d", t.Value[:20], len(t.Value), maxTagValue)
	}
	run.Tags[t.Key] = t.Value
	return nil
}

func (s *Server) logParam(r *http.Request) (any, *apiError) {
	var in struct {
		RunID string `json:"run_id"`
		kv
	}
	if e := decode(r, &in); e != nil {
		return nil, e
	}
	run, e := s.findRun(in.RunID)
	if e != nil {
		return nil, e
	}
	return map[string]any{}, setParam(run, in.kv)
}

func (s *Server) setTag(r *http.Request) (any, *apiError) {
	var in struct {
		RunID string `json:"run_id"`
		kv
	}
	if e := decode(r, &in); e != nil {
		return nil, e
	}
	run, e := s.findRun(in.RunID)
	if e != nil {
		return nil, e
	}
	return map[string]any{}, setTag(run, in.kv)
}

func (s *Server) logBatch(r *http.Request) (any, *apiError) {
	var in struct {
		RunID   string `json:"run_id"`
		Metrics []struct {
			Key       string     `json:"key"`
			Value     *float64   `json:"value"`
			Timestamp int64Field `json:"timestamp"`
			Step      int64Field `json:"step"`
		} `json:"metrics"`
		Params []kv `json:"params"`
		Tags   []kv `json:"tags"`
	}
	if e := decode(r, &in); e != nil {
		return nil, e
	}
	run, e := s.findRun(in.RunID)
	if e != nil {
		return nil, e
	}
	switch {
	case len(in.Metrics) > maxBatchMetrics:
		return nil, invalid("A batch logging request can contain at most %d metrics. Got %d metrics. Please split up metrics across multiple requests and try again.", maxBatchMetrics, len(in.Metrics))
	case len(in.Params) > maxBatchParams:
		return nil, invalid("A batch logging request can contain at most %d params. Got %d params. Please split up params across multiple requests and try again.", maxBatchParams, len(in.Params))
	case len(in.Tags) > maxBatchTags:
		return nil, invalid("A batch logging request can contain at most %d tags. Got %d tags. Please split up tags across multiple requests and try again.", maxBatchTags, len(in.Tags))
	case len(in.Metrics)+len(in.Params)+len(in.Tags) > maxBatchTotal:
		return nil, invalid("A batch logging request can contain at most %d total entities. Got %d. Please split up entities across multiple requests and try again.", maxBatchTotal, len(in.Metrics)+len(in.Params)+len(in.Tags))
	}
	// Validate everything before changing anything, as MLflow's stores do.
	seen := map[string]string{}
	for _, p := range in.Params {
		if v, dup := seen[p.Key]; dup && v != p.Value {
			return nil, invalid("Duplicate parameter keys have been submitted: ['%s']. Please ensure the request contains only one param value per param key.", p.Key)
		}
		seen[p.Key] = p.Value
		if old, ok := run.Params[p.Key]; ok && old != p.Value {
			return nil, invalid("Changing param values is not allowed. Param with key='%s' was already logged with value='%s' for run ID='%s'. Attempted logging new value '%s'.", p.Key, old, run.ID, p.Value)
		}
	}
	var metrics []Metric
	for _, m := range in.Metrics {
		if e := checkKey("Metric", m.Key); e != nil {
			return nil, e
		}
		if m.Value == nil || math.IsInf(*m.Value, 0) {
			return nil, invalid("Got invalid value %v for metric '%s' (timestamp=%d). Please specify value as a valid double (64-bit floating point)", m.Value, m.Key, m.Timestamp.V)
		}
		if !m.Timestamp.Set {
			return nil, invalid("Got invalid timestamp None for metric '%s' (value=%v). Timestamp must be a nonnegative long (64-bit integer) ", m.Key, *m.Value)
		}
		metrics = append(metrics, Metric{Key: m.Key, Value: *m.Value, Timestamp: m.Timestamp.V, Step: m.Step.V})
	}
	for _, p := range in.Params {
		if e := setParam(run, p); e != nil {
			return nil, e
		}
	}
	for _, t := range in.Tags {
		if e := setTag(run, t); e != nil {
			return nil, e
		}
	}
	run.Metrics = append(run.Metrics, metrics...)
	return map[string]any{}, nil
}

func (s *Server) createRegisteredModel(r *http.Request) (any, *apiError) {
	var in struct {
		Name string `json:"name"`
	}
	if e := decode(r, &in); e != nil {
		return nil, e
	}
	if in.Name == "" {
		return nil, missing("name")
	}
	if _, ok := s.models[in.Name]; ok {
		return nil, exists("Registered Model (name=%s) already exists.", in.Name)
	}
	m := &RegisteredModel{Name: in.Name, Aliases: map[string]string{}, Created: nowMillis()}
	s.models[in.Name] = m
	return map[string]any{"registered_model": map[string]any{"name": m.Name, "creation_timestamp": m.Created, "last_updated_timestamp": m.Created}}, nil
}

func (s *Server) mvJSON(m *RegisteredModel, v *ModelVersion) map[string]any {
	aliases := []string{}
	for a, ver := range m.Aliases {
		if ver == v.Version {
			aliases = append(aliases, a)
		}
	}
	slices.Sort(aliases)
	tags := []kv{}
	for k, val := range v.Tags {
		tags = append(tags, kv{k, val})
	}
	return map[string]any{
		"name": v.Name, "version": v.Version, "creation_timestamp": v.Created, "last_updated_timestamp": v.Created,
		"current_stage": "None", "description": "", "source": v.Source, "run_id": v.RunID, "status": "READY",
		"tags": tags, "aliases": aliases,
	}
}

func (s *Server) findModel(name string) (*RegisteredModel, *apiError) {
	if name == "" {
		return nil, missing("name")
	}
	m, ok := s.models[name]
	if !ok {
		return nil, notFound("Registered Model with name=%s not found", name)
	}
	return m, nil
}

func (s *Server) createModelVersion(r *http.Request) (any, *apiError) {
	var in struct {
		Name   string `json:"name"`
		Source string `json:"source"`
		RunID  string `json:"run_id"`
		Tags   []kv   `json:"tags"`
	}
	if e := decode(r, &in); e != nil {
		return nil, e
	}
	if in.Name == "" {
		return nil, missing("name")
	}
	if in.Source == "" {
		return nil, missing("source")
	}
	m, e := s.findModel(in.Name)
	if e != nil {
		return nil, e
	}
	v := &ModelVersion{Name: m.Name, Version: strconv.Itoa(len(m.Versions) + 1), Source: in.Source, RunID: in.RunID, Tags: map[string]string{}, Created: nowMillis()}
	for _, t := range in.Tags {
		v.Tags[t.Key] = t.Value
	}
	m.Versions = append(m.Versions, v)
	return map[string]any{"model_version": s.mvJSON(m, v)}, nil
}

// nameFilter is the one filter form searchModelVersions understands,
// name='x' (MLflow's grammar also allows source_path, run_id and tags, and
// AND; a test asking for those gets INVALID_PARAMETER_VALUE, not a silent
// wrong answer).
var nameFilter = regexp.MustCompile(`^\s*name\s*=\s*'([^']*)'\s*$`)

// searchModelVersions serves model-versions/search: versions in creation
// order, max_results per page (default 200,000 as in MLflow, 1 to 200,000),
// and next_page_token as an offset, empty on the last page.
func (s *Server) searchModelVersions(r *http.Request) (any, *apiError) {
	q := r.URL.Query()
	f := q.Get("filter")
	var name string
	if f != "" {
		m := nameFilter.FindStringSubmatch(f)
		if m == nil {
			return nil, &apiError{400, "INVALID_PARAMETER_VALUE", fmt.Sprintf("unsupported filter %q (this test server knows name='...')", f)}
		}
		name = m[1]
	}
	max := 200_000
	if v := q.Get("max_results"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200_000 {
			return nil, &apiError{400, "INVALID_PARAMETER_VALUE", fmt.Sprintf("Invalid value %s for parameter 'max_results' supplied. It must be at most 200000", v)}
		}
		max = n
	}
	off := 0
	if v := q.Get("page_token"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, &apiError{400, "INVALID_PARAMETER_VALUE", "Invalid page token, could not base64-decode"}
		}
		off = n
	}
	var all []map[string]any
	names := make([]string, 0, len(s.models))
	for n := range s.models {
		if name == "" || n == name {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		m := s.models[n]
		for _, v := range m.Versions {
			all = append(all, s.mvJSON(m, v))
		}
	}
	out := map[string]any{"model_versions": []map[string]any{}}
	if off < len(all) {
		end := min(off+max, len(all))
		out["model_versions"] = all[off:end]
		if end < len(all) {
			out["next_page_token"] = strconv.Itoa(end)
		}
	}
	return out, nil
}

// alias serves registered-models/alias: POST sets, GET resolves, DELETE removes.
func (s *Server) alias(r *http.Request) (any, *apiError) {
	var in struct {
		Name    string `json:"name"`
		Alias   string `json:"alias"`
		Version string `json:"version"`
	}
	switch r.Method {
	case http.MethodGet:
		in.Name, in.Alias = r.URL.Query().Get("name"), r.URL.Query().Get("alias")
	case http.MethodPost, http.MethodDelete:
		if r.Method == http.MethodDelete && r.ContentLength == 0 {
			in.Name, in.Alias = r.URL.Query().Get("name"), r.URL.Query().Get("alias")
		} else if e := decode(r, &in); e != nil {
			return nil, e
		}
	default:
		return nil, &apiError{405, "BAD_REQUEST", "method not allowed"}
	}
	m, e := s.findModel(in.Name)
	if e != nil {
		return nil, e
	}
	if in.Alias == "" {
		return nil, missing("alias")
	}
	switch r.Method {
	case http.MethodGet:
		ver, ok := m.Aliases[in.Alias]
		if !ok {
			return nil, notFound("Registered model alias %s not found.", in.Alias)
		}
		for _, v := range m.Versions {
			if v.Version == ver {
				return map[string]any{"model_version": s.mvJSON(m, v)}, nil
			}
		}
		return nil, notFound("Model Version (name=%s, version=%s) not found", m.Name, ver)
	case http.MethodDelete:
		delete(m.Aliases, in.Alias)
		return map[string]any{}, nil
	}
	if in.Version == "" {
		return nil, missing("version")
	}
	if in.Alias == "latest" || aliasVersionLike.MatchString(in.Alias) {
		return nil, invalid("'%s' alias name (case insensitive) is reserved.", in.Alias)
	}
	if !slices.ContainsFunc(m.Versions, func(v *ModelVersion) bool { return v.Version == in.Version }) {
		return nil, notFound("Model Version (name=%s, version=%s) not found", m.Name, in.Version)
	}
	m.Aliases[in.Alias] = in.Version
	return map[string]any{}, nil
}
