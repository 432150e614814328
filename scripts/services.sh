#!/usr/bin/env bash
# Installs the real services the tests start (Redis, VersityGW for S3, Jaeger v2)
# when they are missing, so `make test` works on a fresh machine with Go.
# Binaries built from Go go to .tools/bin; redis-server comes from Debian.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
mkdir -p "$TOOLS/bin"

log() { printf '[services] %s\n' "$*" >&2; }

if ! command -v redis-server >/dev/null 2>&1; then
  log "installing redis-server (apt)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi

if [ ! -x "$TOOLS/bin/versitygw" ] && ! command -v versitygw >/dev/null 2>&1; then
  log "building versitygw v1.8.0 (go install; minutes on a cold module cache)"
  GOBIN="$TOOLS/bin" go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi

if [ ! -x "$TOOLS/bin/jaeger" ] && [ -d tools/jaeger ]; then
  log "building jaeger v1.76.0 from the tools module"
  (cd tools/jaeger && go build -o "$TOOLS/bin/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger)
fi
log "ready: redis-server=$(command -v redis-server) versitygw=$(command -v versitygw || echo "$TOOLS/bin/versitygw")"
