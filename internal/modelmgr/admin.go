package modelmgr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/switchyard-ai/switchyard/internal/audit"
)

// DeployWait bounds how long a deploy or rollback through the admin API
// waits for this replica to activate the new version before answering.
const DeployWait = 30 * time.Second

// RegisterAdmin adds the model and audit endpoints to the gateway's admin
// mux (which has already checked the admin key and put its id in the
// context with audit.WithActor):
//
//	GET  /admin/models                    every managed model's status
//	GET  /admin/models/{name}             one model: status, versions, activations
//	POST /admin/models/{name}/deploy      {"version": V, "reason": R, "wait": true}
//	GET  /admin/models/{name}/history     the model's audit events
//	POST /admin/model/rollback            {"model": N, "version": V | "previous", "reason": R}
//	GET  /admin/audit                     ?model=&action=&actor=&since=&until=&limit=
func (r *Registry) RegisterAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/models", r.handleList)
	mux.HandleFunc("GET /admin/models/{name}", r.handleModel)
	mux.HandleFunc("POST /admin/models/{name}/deploy", r.handleDeploy)
	mux.HandleFunc("GET /admin/models/{name}/history", r.handleHistory)
	mux.HandleFunc("POST /admin/model/rollback", r.handleRollback)
	mux.HandleFunc("GET /admin/audit", r.handleAudit)
}

func (r *Registry) handleList(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"models": r.Statuses()})
}

func (r *Registry) handleModel(w http.ResponseWriter, req *http.Request) {
	name := req.PathValue("name")
	m, ok := r.Lookup(name)
	if !ok {
		writeErr(w, http.StatusNotFound, "model_not_found", fmt.Errorf("model %q is not served by this gateway (no route uses it)", name))
		return
	}
	versions, err := r.repo.ListVersions(req.Context(), name)
	if err != nil {
		writeErr(w, http.StatusBadGateway, "store_error", err)
		return
	}
	type version struct {
		Version   string    `json:"version"`
		Published time.Time `json:"published"`
	}
	vs := make([]version, len(versions))
	for i, v := range versions {
		vs[i] = version{v.Version, v.Published}
	}
	writeJSON(w, http.StatusOK, map[string]any{"model": m.Status(), "versions": vs, "activations": m.Activations()})
}

type moveRequest struct {
	Model   string `json:"model"`
	Version string `json:"version"`
	Reason  string `json:"reason"`
	// Wait (default true) answers only once this replica activated the
	// version, or after DeployWait.
	Wait *bool `json:"wait"`
}

type moveResponse struct {
	Move
	// Activated says whether this replica serves the new version yet.
	Activated       bool   `json:"activated"`
	ActivationError string `json:"activation_error,omitempty"`
}

func (r *Registry) handleDeploy(w http.ResponseWriter, req *http.Request) {
	body, ok := decodeMove(w, req)
	if !ok {
		return
	}
	name := req.PathValue("name")
	if body.Model != "" && body.Model != name {
		writeErr(w, http.StatusBadRequest, "invalid_request", fmt.Errorf("body names model %q but the path names %q", body.Model, name))
		return
	}
	if body.Version == "" {
		writeErr(w, http.StatusBadRequest, "invalid_request", errors.New(`missing required field "version"`))
		return
	}
	r.serveMove(w, req, r.Deploy, name, body)
}

func (r *Registry) handleRollback(w http.ResponseWriter, req *http.Request) {
	body, ok := decodeMove(w, req)
	if !ok {
		return
	}
	if body.Model == "" || body.Version == "" {
		writeErr(w, http.StatusBadRequest, "invalid_request", errors.New(`"model" and "version" are required ("version" may be "previous")`))
		return
	}
	r.serveMove(w, req, r.Rollback, body.Model, body)
}

func (r *Registry) serveMove(w http.ResponseWriter, req *http.Request, do func(context.Context, string, string, string) (Move, error), name string, body moveRequest) {
	ctx := req.Context()
	mv, err := do(ctx, name, body.Version, body.Reason)
	if err != nil {
		code, typ := statusOf(err)
		writeErr(w, code, typ, err)
		return
	}
	resp := moveResponse{Move: mv}
	m, managed := r.Lookup(name)
	if managed && (body.Wait == nil || *body.Wait) {
		wctx, cancel := context.WithTimeout(ctx, DeployWait)
		defer cancel()
		if err := m.WaitVersion(wctx, mv.To); err != nil {
			resp.ActivationError = err.Error()
		}
	}
	if managed {
		if s := m.Snapshot(); s != nil && s.Version == mv.To {
			resp.Activated = true
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// statusOf maps an error of Deploy or Rollback to an HTTP status: a missing
// target, a lost race or no previous version is a conflict with the store's
// state (409); a target that fails validation is unprocessable (422).
func statusOf(err error) (int, string) {
	switch {
	case errors.Is(err, ErrInvalid):
		return http.StatusUnprocessableEntity, "validation_failed"
	case errors.Is(err, ErrMissing):
		return http.StatusConflict, "version_not_found"
	case errors.Is(err, ErrNoPrevious):
		return http.StatusConflict, "no_previous_version"
	case errors.Is(err, ErrConflict):
		return http.StatusConflict, "current_changed"
	}
	return http.StatusBadGateway, "store_error"
}

func (r *Registry) handleHistory(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	q.Set("model", req.PathValue("name"))
	r.serveAudit(w, req, q)
}

func (r *Registry) handleAudit(w http.ResponseWriter, req *http.Request) {
	r.serveAudit(w, req, req.URL.Query())
}

func (r *Registry) serveAudit(w http.ResponseWriter, req *http.Request, q map[string][]string) {
	f, err := audit.ParseQuery(q, r.cfg.Now())
	if err != nil {
		writeErr(w, http.StatusBadRequest, "invalid_request", err)
		return
	}
	evs, err := r.audit.List(req.Context(), f)
	if err != nil {
		writeErr(w, http.StatusBadGateway, "store_error", err)
		return
	}
	if evs == nil {
		evs = []audit.Event{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": evs})
}

// maxMoveBody bounds a deploy or rollback request body.
const maxMoveBody = 64 << 10

func decodeMove(w http.ResponseWriter, req *http.Request) (moveRequest, bool) {
	var body moveRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, maxMoveBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("empty body; expected a JSON object")
		}
		writeErr(w, http.StatusBadRequest, "invalid_request", fmt.Errorf("request body: %w", err))
		return body, false
	}
	return body, true
}

// writeErr answers in the gateway's (OpenAI's) error shape.
func writeErr(w http.ResponseWriter, code int, typ string, err error) {
	writeJSON(w, code, map[string]any{"error": map[string]any{"message": err.Error(), "type": typ, "code": typ}})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"error":{"message":"encode response","type":"server_error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
