package provider

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/internal/config"
)

// Upstream transport settings. A gateway holds many concurrent calls to few
// hosts, so the idle pool per host is far larger than net/http's default of 2,
// which would otherwise close and re-dial a connection for most requests under
// load. There is no overall client timeout: each call bounds itself through its
// context (see Deployment.Timeout), because a long stream must not be cut off.
const (
	dialTimeout         = 10 * time.Second
	dialKeepAlive       = 30 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	idleConnTimeout     = 90 * time.Second
	maxIdleConns        = 1024
	maxIdleConnsPerHost = 256
	// writeBufferSize holds most prompts' requests whole. With net/http's
	// default of 4 KiB, an HTTP/1.1 request body over ~4 KiB is handed to
	// the connection's ReadFrom, which allocates a copy buffer of up to
	// 32 KiB for every call and writes in pieces (BenchmarkUpstreamBody:
	// a 16 KiB prompt allocated 19 KB per call instead of 5.6 KB). Each open
	// HTTP/1.1 connection keeps one, so it is not larger: under a backlog a
	// gateway can open thousands of upstream connections (64 KiB buffers
	// came to 148 MB in one overloaded run). HTTP/2 does not use it.
	writeBufferSize = 32 << 10
)

// NewTransport returns an http.Transport tuned for a gateway's upstream
// calls, with at most maxConnsPerHost connections to one host (0: the
// config's default, config.DefaultMaxUpstreamConnsPerHost).
func NewTransport(maxConnsPerHost int) *http.Transport {
	if maxConnsPerHost <= 0 {
		maxConnsPerHost = config.DefaultMaxUpstreamConnsPerHost
	}
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: dialKeepAlive}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          maxIdleConns,
		MaxIdleConnsPerHost:   maxIdleConnsPerHost,
		MaxConnsPerHost:       maxConnsPerHost,
		IdleConnTimeout:       idleConnTimeout,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ExpectContinueTimeout: time.Second,
		WriteBufferSize:       writeBufferSize,
	}
}

// defaultClient is shared by every provider built without Options.HTTPClient,
// so all deployments at one host share one connection pool.
var defaultClient = sync.OnceValue(func() *http.Client {
	return &http.Client{Transport: NewTransport(0)}
})

// DefaultHTTPClient returns the shared upstream client used when
// Options.HTTPClient is nil.
func DefaultHTTPClient() *http.Client { return defaultClient() }

func (o Options) client() *http.Client {
	if o.HTTPClient != nil {
		return o.HTTPClient
	}
	return defaultClient()
}
