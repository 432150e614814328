package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/switchyard-ai/switchyard/internal/openai"
)

// apiError is an error a handler answers with, in OpenAI's error shape.
type apiError struct {
	Status  int
	Type    string // invalid_request_error, authentication_error, ...
	Code    string
	Param   string
	Message string
}

func (e *apiError) Error() string { return e.Message }

func errf(status int, typ, code, param, format string, args ...any) *apiError {
	return &apiError{Status: status, Type: typ, Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
}

func badRequest(param, format string, args ...any) *apiError {
	return errf(http.StatusBadRequest, "invalid_request_error", "invalid_request", param, format, args...)
}

// writeError writes e as {"error": {...}} with its status.
func writeError(w http.ResponseWriter, e *apiError) {
	body := openai.ErrorBody{Error: openai.ErrorDetail{Message: e.Message, Type: e.Type}}
	if e.Param != "" {
		p := e.Param
		body.Error.Param = &p
	}
	if e.Code != "" {
		c := e.Code
		body.Error.Code = &c
	}
	b, _ := json.Marshal(body)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	if e.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="switchyard"`)
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}
