// Package jaeger is a tools-only module: it pins the Jaeger v2 binary that the
// tests start (`go tool jaeger`, or `go build -o .tools/bin/jaeger
// github.com/jaegertracing/jaeger/cmd/jaeger` from this directory). It lives in
// its own go.mod because Jaeger's dependency graph (and the replace directives
// that stop a plain `go install`) must not leak into the project's module.
package jaeger
