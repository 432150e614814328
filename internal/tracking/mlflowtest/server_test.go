package mlflowtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// do sends a raw request, so these tests check the wire format itself and
// not the client's reading of it.
func do(t *testing.T, s *Server, method, path, contentType, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func TestWireFormat(t *testing.T) {
	s := New(t)
	const js = "application/json"
	_, out := do(t, s, "POST", "/api/2.0/mlflow/experiments/create", js, `{"name":"e"}`)
	exp, _ := out["experiment_id"].(string)
	// int64 fields may arrive as strings (proto3 JSON) or numbers.
	code, out := do(t, s, "POST", "/api/2.0/mlflow/runs/create", js, `{"experiment_id":"`+exp+`","start_time":"1700000000000"}`)
	if code != 200 {
		t.Fatalf("create run: %d %v", code, out)
	}
	info := out["run"].(map[string]any)["info"].(map[string]any)
	runID := info["run_id"].(string)
	if info["start_time"].(float64) != 1700000000000 || info["status"] != "RUNNING" || info["run_uuid"] != runID {
		t.Fatalf("run info = %v", info)
	}
	tooMany := make([]string, 1001)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf(`{"key":"m","value":1,"timestamp":1,"step":%d}`, i)
	}
	cases := []struct {
		name, method, path, ctype, body string
		status                          int
		code                            string
	}{
		{"unknown endpoint", "GET", "/api/2.0/mlflow/nope", "", "", 404, "ENDPOINT_NOT_FOUND"},
		{"not json content type", "POST", "/api/2.0/mlflow/experiments/create", "text/plain", `{"name":"x"}`, 400, "INVALID_PARAMETER_VALUE"},
		{"malformed body", "POST", "/api/2.0/mlflow/experiments/create", js, `{"name":`, 400, "INVALID_PARAMETER_VALUE"},
		{"missing run_id", "POST", "/api/2.0/mlflow/runs/log-batch", js, `{}`, 400, "INVALID_PARAMETER_VALUE"},
		{"batch over the metric limit", "POST", "/api/2.0/mlflow/runs/log-batch", js, `{"run_id":"` + runID + `","metrics":[` + strings.Join(tooMany, ",") + `]}`, 400, "INVALID_PARAMETER_VALUE"},
		{"metric without timestamp", "POST", "/api/2.0/mlflow/runs/log-batch", js, `{"run_id":"` + runID + `","metrics":[{"key":"m","value":1}]}`, 400, "INVALID_PARAMETER_VALUE"},
		{"metric without value", "POST", "/api/2.0/mlflow/runs/log-batch", js, `{"run_id":"` + runID + `","metrics":[{"key":"m","timestamp":1}]}`, 400, "INVALID_PARAMETER_VALUE"},
		{"unknown run", "GET", "/api/2.0/mlflow/runs/get?run_id=abc", "", "", 404, "RESOURCE_DOES_NOT_EXIST"},
		{"duplicate experiment", "POST", "/api/2.0/mlflow/experiments/create", js, `{"name":"e"}`, 400, "RESOURCE_ALREADY_EXISTS"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out := do(t, s, c.method, c.path, c.ctype, c.body)
			if code != c.status || out["error_code"] != c.code || out["message"] == "" {
				t.Fatalf("got %d %v, want %d %s", code, out, c.status, c.code)
			}
		})
	}
	if r, _ := s.RunByID(runID); len(r.Metrics) != 0 {
		t.Fatalf("rejected batches logged %d metrics", len(r.Metrics))
	}
	if code, _ := do(t, s, "GET", "/api/2.0/mlflow/experiments/create", "", ""); code != 405 {
		t.Fatalf("GET on a POST endpoint = %d, want 405", code)
	}
}
