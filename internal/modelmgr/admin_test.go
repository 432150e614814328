package modelmgr_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/bundle"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
)

// TestAdminAPI checks the status codes and reasons of the model endpoints,
// mounted in a real gateway behind its admin key.
func TestAdminAPI(t *testing.T) {
	e := newEnv(t)
	r := trainedRouter(t, router.KindKNN, 1)
	e.publish(t, r, "m", "v1", nil)
	e.publish(t, r, "m", "bad-canary", func(m *bundle.Manifest) { m.Canaries[0].Pick = other(m.Candidates, m.Canaries[0].Pick) })
	reg := e.registry(t, regOpts{})
	srv := learnedGateway(t, reg, router.KindKNN, nil)
	run(t, reg)

	steps := []struct {
		method, path, body string
		wantCode           int
		wantIn             string
	}{
		{"POST", "/admin/model/rollback", `{"model":"m","version":"previous"}`, http.StatusConflict, "never deployed"},
		{"POST", "/admin/models/m/deploy", `{"version":"v1"}`, http.StatusOK, `"activated":true`},
		{"POST", "/admin/model/rollback", `{"model":"m","version":"previous"}`, http.StatusConflict, "no version of m before v1"},
		{"POST", "/admin/models/m/deploy", `{"version":"v9"}`, http.StatusConflict, "not found"},
		{"POST", "/admin/models/m/deploy", `{"version":"bad-canary"}`, http.StatusUnprocessableEntity, "canary"},
		{"POST", "/admin/model/rollback", `{"model":"m","version":"bad-canary"}`, http.StatusUnprocessableEntity, "canary"},
		{"POST", "/admin/models/m/deploy", `{"version":"v1","extra":1}`, http.StatusBadRequest, "unknown field"},
		{"POST", "/admin/models/m/deploy", `{}`, http.StatusBadRequest, "missing required field"},
		{"POST", "/admin/models/m/deploy", ``, http.StatusBadRequest, "empty body"},
		{"POST", "/admin/models/m/deploy", `{"model":"n","version":"v1"}`, http.StatusBadRequest, "path names"},
		{"POST", "/admin/model/rollback", `{"version":"v1"}`, http.StatusBadRequest, "are required"},
		{"GET", "/admin/models", "", http.StatusOK, `"active_version":"v1"`},
		{"GET", "/admin/models/m", "", http.StatusOK, `"versions":[`},
		{"GET", "/admin/models/nope", "", http.StatusNotFound, "not served"},
		{"GET", "/admin/models/m/history?action=deploy&limit=10", "", http.StatusOK, `"result":"rejected"`},
		{"GET", "/admin/audit?actor=ops&action=rollback", "", http.StatusOK, `"actor":"ops"`},
		{"GET", "/admin/audit?since=tomorrow", "", http.StatusBadRequest, "since"},
	}
	for _, s := range steps {
		t.Run(s.method+" "+s.path+" "+s.body, func(t *testing.T) {
			req, _ := http.NewRequest(s.method, srv.URL+s.path, strings.NewReader(s.body))
			req.Header.Set("Authorization", "Bearer "+adminKey)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			body := string(raw)
			if resp.StatusCode != s.wantCode || !strings.Contains(body, s.wantIn) {
				t.Fatalf("%d %s, want %d with %q", resp.StatusCode, body, s.wantCode, s.wantIn)
			}
		})
	}
	// Without the admin key nothing is reachable.
	resp, err := srv.Client().Post(srv.URL+"/admin/models/m/deploy", "application/json", strings.NewReader(`{"version":"v1"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("deploy without admin key: %d", resp.StatusCode)
	}
}
