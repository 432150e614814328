// Package provider holds the upstream clients: one Provider per deployment.
//
// A provider speaks its upstream's protocol and hands the gateway OpenAI-shaped
// results. Retries, fallbacks and cooldowns are not here: the gateway applies
// them the same way to every provider, using the errors this package returns.
package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/openai"
)

// Request is one attempt at one deployment.
type Request struct {
	// Body is the client's raw JSON body. OpenAI-compatible providers forward
	// it with only the model field replaced, so fields the gateway does not
	// model still reach the upstream unchanged.
	Body []byte
	// Chat is the parsed view of Body for chat requests.
	Chat *openai.ChatRequest
	// Embedding is the parsed view of Body for embeddings requests.
	Embedding *openai.EmbeddingRequest
	// Header carries client headers a provider may forward (none by default).
	Header http.Header
}

// Response is a complete, non-streaming upstream answer in OpenAI's shape.
type Response struct {
	// Body is the OpenAI-shaped JSON to send to the client. OpenAI-compatible
	// providers return the upstream bytes unchanged.
	Body []byte
	// Usage as reported by the upstream, or nil when it reported none.
	Usage *openai.Usage
	// Model is the upstream's model id as it answered.
	Model string
	// Status is the upstream HTTP status (200 for offline providers).
	Status int
}

// Stream is a streaming chat completion. Next returns one chunk's JSON (the
// payload of an SSE "data:" line, without the prefix) in the order received,
// and io.EOF after the last one; the "[DONE]" sentinel is not returned.
type Stream interface {
	Next() ([]byte, error)
	// Usage is the usage seen in the stream so far, or nil.
	Usage() *openai.Usage
	// Close releases the upstream connection. It is safe to call twice.
	Close() error
}

// WaitNotifier is a Stream that can say when it is about to wait on the
// upstream: BeforeWait(f) makes Next call f before every read of the
// upstream body, and never while it is returning events already received.
// The gateway flushes there, so events that arrived together go out in one
// write while none waits for the next upstream read.
type WaitNotifier interface {
	BeforeWait(f func())
}

// Provider is one upstream deployment.
type Provider interface {
	Chat(ctx context.Context, req *Request) (*Response, error)
	// ChatStream starts a stream. An error returned here means nothing has
	// been received, so the gateway may retry or fall back.
	ChatStream(ctx context.Context, req *Request) (Stream, error)
}

// Embedder is implemented by providers that serve /v1/embeddings.
type Embedder interface {
	Embeddings(ctx context.Context, req *Request) (*Response, error)
}

// Error is an upstream failure with what the gateway needs to decide on a
// retry: the status, a short reason, and Retry-After when the upstream sent it.
type Error struct {
	Deployment string
	Status     int // upstream HTTP status; 0 for connection errors
	Reason     string
	RetryAfter time.Duration
	// Body is the upstream's error body, when it sent one.
	Body []byte
	Err  error
	// BadResponse marks an answer with a success status that was not what the
	// protocol promised (wrong content type, invalid JSON, no events). Status
	// keeps the upstream's status so the gateway can report it in a 502, and
	// the failure counts as retryable: it is the deployment's fault, not the
	// request's.
	BadResponse bool
}

func (e *Error) Error() string {
	switch {
	case e.Status == 0 && e.Err != nil:
		return fmt.Sprintf("upstream %s: %s: %v", e.Deployment, e.Reason, e.Err)
	case e.Status == 0:
		return fmt.Sprintf("upstream %s: %s", e.Deployment, e.Reason)
	default:
		return fmt.Sprintf("upstream %s: status %d: %s", e.Deployment, e.Status, e.Reason)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the same deployment may be tried again: rate
// limits, server errors, timeouts and connection failures.
func (e *Error) Retryable() bool {
	return e.Status == 0 || e.BadResponse || e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout || e.Status >= 500
}

// Fallbackable reports whether another deployment may answer instead. A 4xx
// other than 408/429 means the request itself is wrong, except for errors that
// are about this deployment (auth, not found, context too long at this model).
func (e *Error) Fallbackable() bool {
	if e.Retryable() {
		return true
	}
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusRequestEntityTooLarge:
		return true
	}
	return false
}

// AsError returns err as an *Error when it is one.
func AsError(err error) (*Error, bool) {
	var pe *Error
	ok := errors.As(err, &pe)
	return pe, ok
}

// Factory builds a provider for one deployment. It must validate the
// deployment (base URL, simulated profile, ...) and say what is wrong.
type Factory func(d config.Deployment, opts Options) (Provider, error)

// Options are shared dependencies for providers.
type Options struct {
	// HTTPClient is the shared upstream client; nil uses a default transport
	// tuned for many concurrent upstream connections. Only its Transport is
	// used: calls go straight to it (no redirects, cookie jar or client
	// Timeout; each deployment's timeout bounds its calls).
	HTTPClient *http.Client
}

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register adds a provider kind. It panics on a duplicate, as that is a
// programming error caught at start.
func Register(kind string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := factories[kind]; dup {
		panic("provider: duplicate kind " + kind)
	}
	factories[kind] = f
}

// Kinds lists the registered provider kinds, sorted.
func Kinds() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(factories))
	for k := range factories {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// New builds the provider for a deployment.
func New(d config.Deployment, opts Options) (Provider, error) {
	mu.RLock()
	f, ok := factories[d.Provider]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("deployment %q: unknown provider kind %q (known: %v)", d.Name, d.Provider, Kinds())
	}
	p, err := f(d, opts)
	if err != nil {
		return nil, fmt.Errorf("deployment %q: %w", d.Name, err)
	}
	return p, nil
}
