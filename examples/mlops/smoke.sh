#!/usr/bin/env bash
# Switchyard's MLOps loop against real services, end to end, in a few minutes:
#
#   Redis + an S3 server (VersityGW) + Jaeger v2 (+ MLflow when given)
#   -> build switchyard -> two gateway replicas sharing Redis and S3, OTLP to Jaeger
#   -> traffic with feedback (switchyard traces synth) on both replicas, on a
#      baseline strategy (always the dearest model) with 25% exploration
#   -> export from Jaeger (switchyard traces export)
#   -> pipeline run: export, train, evaluate, gate, upload, register, deploy   (v1)
#   -> both replicas serve v1 (/health/ready and GET /admin/models)
#   -> route switched to the learned strategy on both replicas (admin API)
#   -> traffic on the learned router -> pipeline run again                    (v2)
#   -> both replicas serve v2 -> rollback to "previous" -> both serve v1 again
#   -> summary; exit status 0 only when every check passed.
#
# Run it from anywhere:
#
#   examples/mlops/smoke.sh
#
# Every service is either pointed to by the environment or, when its variable
# is unset, started here on a free 127.0.0.1 port from the binaries that
# scripts/services.sh installs (redis-server, .tools/bin/versitygw,
# .tools/bin/jaeger), and stopped on exit. The traffic goes only to the two
# gateways this script starts on 127.0.0.1.
#
#   REDIS_URL              redis://host:port/db              (deploy notices, download lock)
#   S3_ENDPOINT            http://host:port of an S3 server  (path-style; bucket versioning on)
#   S3_BUCKET              bucket (default switchyard-smoke; created with versioning when missing)
#   S3_PREFIX              key prefix (default smoke/<run id>, so runs never share a CURRENT)
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION (default us-east-1)
#   JAEGER_QUERY_URL       http://host:16686 (query API)  and, with it,
#   OTLP_ENDPOINT          http://host:4318 (OTLP/HTTP) or grpc://host:4317
#   MLFLOW_TRACKING_URI    http://host:5000. Unset: the pipeline records runs and
#                          model versions in the bucket (store-backed tracker) instead.
#                          No MLflow server could be installed where this was written:
#                          CI runs the script against the in-memory MLflow server of
#                          internal/tracking/mlflowtest (internal/smoke), never a real one.
#
#   SWITCHYARD_BIN         a built switchyard (default: go build into the work directory)
#   SWITCHYARD_REDIS_SERVER, SWITCHYARD_VERSITYGW, SWITCHYARD_JAEGER: service binaries
#   SMOKE_DIR              work directory (default: a new temporary one, removed after a
#                          pass; kept with its logs/ after a failure); SMOKE_KEEP=1 keeps it
#   SMOKE_REQUESTS         requests per traffic round, split over the two replicas (default 1500;
#                          with fewer, the routers trained on 25% exploration vary from run to run)
#   SMOKE_TIMEOUT          seconds for the whole run before it gives up (default 600)
#
# With docker-compose.mlops.yml: the compose file publishes S3 (7070), the
# Jaeger query API (16686) and MLflow (5000) on the host, but not Redis (6379)
# or Jaeger's OTLP receiver (4318); add `ports: ["6379:6379"]` to redis and
# `"4318:4318"` to jaeger (an override file works), then:
#
#   docker compose -f examples/mlops/docker-compose.mlops.yml up -d
#   REDIS_URL=redis://127.0.0.1:6379/0 \
#   S3_ENDPOINT=http://127.0.0.1:7070 S3_BUCKET=switchyard-models \
#   AWS_ACCESS_KEY_ID=switchyard AWS_SECRET_ACCESS_KEY=switchyard-demo-secret \
#   JAEGER_QUERY_URL=http://127.0.0.1:16686 OTLP_ENDPOINT=http://127.0.0.1:4318 \
#   MLFLOW_TRACKING_URI=http://127.0.0.1:5000 \
#     examples/mlops/smoke.sh
#
# The smoke run uses its own model name, service name and S3 prefix, so it
# does not disturb the compose gateways' model or traces.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
START=$(date +%s)
RUN_ID="$(date -u +%Y%m%dT%H%M%SZ)-$$"
MODEL=smoke-router
SERVICE="switchyard-smoke-$RUN_ID"
CLIENT_KEY="sk-smoke-client-$RANDOM$RANDOM"
ADMIN_KEY="sk-smoke-admin-$RANDOM$RANDOM"
REQUESTS="${SMOKE_REQUESTS:-1500}"
TIMEOUT="${SMOKE_TIMEOUT:-600}"
S3_BUCKET="${S3_BUCKET:-switchyard-smoke}"
S3_PREFIX="${S3_PREFIX:-smoke/$RUN_ID}"
export AWS_REGION="${AWS_REGION:-us-east-1}"

usage() { echo "smoke.sh: $*" >&2; exit 2; }
case "$REQUESTS" in
  '' | *[!0-9]*) usage "SMOKE_REQUESTS=$REQUESTS: want a whole number of requests (at least 400)" ;;
esac
[ "$REQUESTS" -ge 400 ] || usage "SMOKE_REQUESTS=$REQUESTS: the pipeline needs at least 200 rows (min_rows); give at least 400"
REQUESTS=$((REQUESTS / 2 * 2)) # split evenly over the two replicas
case "$TIMEOUT" in
  '' | *[!0-9]*) usage "SMOKE_TIMEOUT=$TIMEOUT: want whole seconds" ;;
esac

if [ -n "${SMOKE_DIR:-}" ]; then
  WORK="$SMOKE_DIR"
  mkdir -p "$WORK"
else
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/switchyard-smoke.XXXXXX")"
fi
WORK="$(cd "$WORK" && pwd)"
LOGS="$WORK/logs"
mkdir -p "$LOGS"
rm -f "$WORK/timed-out" # a reused SMOKE_DIR may hold the last run's

PIDS=()           # processes this script started, stopped on exit
NAMES=()
CHECKS=()         # "ok|FAIL<TAB>what" lines for the summary
FAILED=0
USED_PORTS=" "

# ---------------------------------------------------------------- helpers

elapsed() { echo $(($(date +%s) - START)); }
say() { printf '[smoke %4ss] %s\n' "$(elapsed)" "$*"; }
info() { printf '             %s\n' "$*"; }

# check records a passed check.
check() { CHECKS+=("ok	$*"); info "ok: $*"; }

# die records a failed check and stops the run (the EXIT trap cleans up).
die() {
  CHECKS+=("FAIL	$*")
  FAILED=1
  printf '[smoke %4ss] FAIL: %s\n' "$(elapsed)" "$*" >&2
  exit 1
}

cleanup() {
  local rc=$?
  local i
  [ -z "${WATCHDOG:-}" ] || kill "$WATCHDOG" 2>/dev/null || true
  if [ -e "$WORK/timed-out" ]; then
    CHECKS+=("FAIL	gave up after SMOKE_TIMEOUT=${TIMEOUT}s")
    printf '[smoke %4ss] FAIL: gave up after SMOKE_TIMEOUT=%ss\n' "$(elapsed)" "$TIMEOUT" >&2
    FAILED=1
  fi
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    stop_pid "${PIDS[$i]}" "${NAMES[$i]}"
  done
  if [ "$rc" -ne 0 ] || [ "$FAILED" -ne 0 ]; then
    printf '\nSMOKE FAILED after %ss. Logs are in %s:\n' "$(elapsed)" "$LOGS" >&2
    for f in "$LOGS"/*.log; do
      [ -s "$f" ] || continue
      printf -- '--- %s (last 15 lines)\n' "$f" >&2
      tail -n 15 "$f" >&2
    done
    exit 1
  fi
  if [ "${SMOKE_KEEP:-0}" = 1 ] || [ -n "${SMOKE_DIR:-}" ]; then
    echo "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The watchdog bounds the whole run: past SMOKE_TIMEOUT it marks the run
# timed out and sends SIGTERM, whose trap stops everything started here.
(
  end=$((SECONDS + TIMEOUT))
  while [ "$SECONDS" -lt "$end" ]; do sleep 1; done
  : >"$WORK/timed-out"
  kill -TERM $$
) 2>/dev/null &
WATCHDOG=$!

# stop_pid ends a process this script started: SIGTERM, then SIGKILL after 10 s.
stop_pid() {
  local pid=$1 name=$2 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  echo "$name ($pid) did not stop on SIGTERM; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# start NAME LOGFILE CMD...: runs CMD in the background and remembers it.
start() {
  local name=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 &
  PIDS+=("$!")
  NAMES+=("$name")
}

alive() { kill -0 "${PIDS[$1]}" 2>/dev/null; }

# free_port sets PORT to a 127.0.0.1 port nobody listened on a moment ago
# and that this script has not handed out yet. It draws below the kernel's
# ephemeral range, where outgoing connections and other tests' ":0" binds
# take their ports.
EPHEMERAL_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
  local p i lo=20000 span=12000
  if [ "$EPHEMERAL_LOW" -gt 21000 ]; then span=$((EPHEMERAL_LOW - lo)); else lo=61000; span=4000; fi
  for i in $(seq 1 500); do
    p=$((lo + (RANDOM * 32768 + RANDOM) % span))
    case "$USED_PORTS" in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      USED_PORTS="$USED_PORTS$p "
      PORT=$p
      return 0
    fi
  done
  die "no free port on 127.0.0.1"
}

# find_bin NAME ENV_OVERRIDE: the binary from the override, PATH, GOPATH/bin or .tools/bin.
find_bin() {
  local name=$1 override=${!2:-} d
  if [ -n "$override" ]; then echo "$override"; return 0; fi
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  for d in "$ROOT/.tools/bin" "$(go env GOPATH 2>/dev/null)/bin"; do
    if [ -x "$d/$name" ]; then echo "$d/$name"; return 0; fi
  done
  die "$name not found: run scripts/services.sh, or set $2, or point the smoke test at a running service (see the top of $0)"
}

# wait_for WHAT SECONDS CMD...: retries CMD every 0.2 s.
wait_for() {
  local what=$1 secs=$2 deadline
  shift 2
  deadline=$(($(date +%s) + secs))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      die "$what did not come up within ${secs}s"
    fi
    sleep 0.2
  done
}

# up SECONDS CMD...: waits until CMD succeeds while the last started
# process lives; fails when it exited or the time ran out.
up() {
  local secs=$1 idx=$((${#PIDS[@]} - 1)) deadline
  shift
  deadline=$(($(date +%s) + secs))
  until "$@" >/dev/null 2>&1; do
    alive "$idx" || return 1
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
  sleep 0.3 # something else may hold the port: make sure ours did not exit
  alive "$idx"
}

# launch NAME FN: FN picks ports, starts the service and waits for it (up).
# A port found free can be taken before the service binds it, so a start
# that fails is stopped and tried again on new ports, three times in all.
launch() {
  local name=$1 fn=$2 try
  for try in 1 2 3; do
    "$fn" && return 0
    stop_pid "${PIDS[-1]}" "$name"
    unset 'PIDS[-1]' 'NAMES[-1]'
    info "$name did not come up (try $try): $(tail -n 2 "$LOGS/$name.log" | tr '\n' ' ')"
  done
  die "$name did not come up in 3 tries; see $LOGS/$name.log"
}

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }

# json_str KEY: the first "KEY": "value" in the JSON on stdin (compact or indented).
json_str() { grep -o "\"$1\": *\"[^\"]*\"" | head -n 1 | sed 's/.*: *"\(.*\)"/\1/' || true; }

# json_num KEY: the first "KEY": number (or true/false) in the JSON on stdin.
json_num() { grep -o "\"$1\": *[-0-9.eE+a-z]*" | head -n 1 | sed 's/.*: *//' || true; }

admin() { # METHOD URL [BODY]
  curl -sS --max-time 60 -X "$1" -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
    ${3:+-d "$3"} "$2"
}

# s3curl METHOD PATH [curl args...]: a SigV4-signed request to the S3
# endpoint. A query must be written "?name=" (curl signs "?name" differently
# from S3 servers).
s3curl() {
  local method=$1 path=$2
  shift 2
  case "$method" in HEAD) set -- -I "$@" ;; *) set -- -X "$method" "$@" ;; esac
  curl -sS --max-time 30 --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@" "$S3_ENDPOINT/$path"
}

# prom_sum METRIC LABEL: the sum over both replicas of a metric's samples
# that carry LABEL (e.g. route="auto").
prom_sum() {
  local u
  for u in "$GW1" "$GW2"; do curl -fsS --max-time 5 "$u/metrics"; done |
    awk -v m="$1" -v l="$2" 'index($0, m "{") == 1 && index($0, l) { s += $NF } END { printf "%.9f\n", s + 0 }'
}

# --------------------------------------------------------------- services

say "work directory $WORK (run $RUN_ID)"
command -v curl >/dev/null || die "curl is required"
command -v go >/dev/null || [ -n "${SWITCHYARD_BIN:-}" ] || die "go is required to build switchyard (or set SWITCHYARD_BIN)"

start_redis() {
  free_port
  start redis "$LOGS/redis.log" "$REDIS_BIN" --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$WORK/redis" --protected-mode yes
  REDIS_URL="redis://127.0.0.1:$PORT/0"
  up 15 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT"
}

start_s3() {
  free_port
  start versitygw "$LOGS/versitygw.log" env ROOT_ACCESS_KEY="$AWS_ACCESS_KEY_ID" ROOT_SECRET_KEY="$AWS_SECRET_ACCESS_KEY" \
    "$S3_BIN" --port "127.0.0.1:$PORT" posix --versioning-dir "$WORK/s3/versions" "$WORK/s3/data"
  S3_ENDPOINT="http://127.0.0.1:$PORT"
  up 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT"
}

if [ -z "${REDIS_URL:-}" ]; then
  REDIS_BIN=$(find_bin redis-server SWITCHYARD_REDIS_SERVER)
  mkdir -p "$WORK/redis"
  launch redis start_redis
  export REDIS_URL
  say "started redis-server at $REDIS_URL"
else
  say "using Redis at $REDIS_URL"
fi

if [ -z "${S3_ENDPOINT:-}" ]; then
  S3_BIN=$(find_bin versitygw SWITCHYARD_VERSITYGW)
  export AWS_ACCESS_KEY_ID="smoke$RANDOM" AWS_SECRET_ACCESS_KEY="smoke-secret-$RANDOM$RANDOM"
  unset AWS_SESSION_TOKEN AWS_PROFILE
  mkdir -p "$WORK/s3/data" "$WORK/s3/versions"
  launch versitygw start_s3
  export S3_ENDPOINT
  say "started VersityGW (S3, posix backend with a versioning directory) at $S3_ENDPOINT"
else
  [ -n "${AWS_ACCESS_KEY_ID:-}" ] && [ -n "${AWS_SECRET_ACCESS_KEY:-}" ] ||
    die "S3_ENDPOINT is set: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY too"
  say "using S3 at $S3_ENDPOINT"
fi

# The bucket: created with versioning when missing (the store never creates
# buckets; in production that is the operator's job).
code=$(s3curl HEAD "$S3_BUCKET" -o /dev/null -w '%{http_code}' || true)
case "$code" in
  200) ;;
  404)
    s3curl PUT "$S3_BUCKET" -f -o /dev/null || die "create bucket $S3_BUCKET at $S3_ENDPOINT"
    ;;
  000) die "S3 at $S3_ENDPOINT does not answer" ;;
  *) die "bucket $S3_BUCKET at $S3_ENDPOINT: HEAD answered $code (403: wrong keys)" ;;
esac
s3curl PUT "$S3_BUCKET?versioning=" -f -o /dev/null -H 'Content-Type: application/xml' \
  --data '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>' ||
  die "enable versioning on bucket $S3_BUCKET (VersityGW needs --versioning-dir)"
s3curl GET "$S3_BUCKET?versioning=" | grep -q '<Status>Enabled</Status>' ||
  die "bucket $S3_BUCKET does not report versioning Enabled"
STORE="s3://$S3_BUCKET/$S3_PREFIX?endpoint=$S3_ENDPOINT"
check "bucket $S3_BUCKET has versioning enabled; store $STORE"

start_jaeger() {
  local jh jq_http jq_grpc og oh
  free_port; jh=$PORT; free_port; jq_http=$PORT; free_port; jq_grpc=$PORT; free_port; og=$PORT; free_port; oh=$PORT
  cat >"$WORK/jaeger.yaml" <<EOF
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [jaeger_storage_exporter]}
  telemetry: {metrics: {level: none}, logs: {level: warn}}
extensions:
  healthcheckv2: {use_v2: true, http: {endpoint: 127.0.0.1:$jh}}
  jaeger_query:
    # Off, or the query service traces itself to localhost:4317 (whoever
    # listens there) and waits on that at shutdown.
    enable_tracing: false
    storage: {traces: mem}
    http: {endpoint: 127.0.0.1:$jq_http}
    grpc: {endpoint: 127.0.0.1:$jq_grpc}
  jaeger_storage:
    backends: {mem: {memory: {max_traces: 100000}}}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:$og}
      http: {endpoint: 127.0.0.1:$oh}
processors:
  batch: {}
exporters:
  jaeger_storage_exporter: {trace_storage: mem}
EOF
  start jaeger "$LOGS/jaeger.log" "$JAEGER_BIN" --config "$WORK/jaeger.yaml"
  JAEGER_QUERY_URL="http://127.0.0.1:$jq_http"
  OTLP_ENDPOINT="http://127.0.0.1:$oh"
  up 60 http_ok "http://127.0.0.1:$jh/status" && up 30 http_ok "$JAEGER_QUERY_URL/api/v3/services"
}

if [ -z "${JAEGER_QUERY_URL:-}" ]; then
  [ -z "${OTLP_ENDPOINT:-}" ] || die "OTLP_ENDPOINT is set without JAEGER_QUERY_URL: set both or neither"
  JAEGER_BIN=$(find_bin jaeger SWITCHYARD_JAEGER)
  launch jaeger start_jaeger
  export JAEGER_QUERY_URL OTLP_ENDPOINT
  say "started Jaeger v2 (in-memory): OTLP/HTTP $OTLP_ENDPOINT, query $JAEGER_QUERY_URL"
else
  [ -n "${OTLP_ENDPOINT:-}" ] || die "JAEGER_QUERY_URL is set: set OTLP_ENDPOINT (Jaeger's OTLP receiver) too"
  http_ok "$JAEGER_QUERY_URL/api/v3/services" || die "Jaeger query API at $JAEGER_QUERY_URL does not answer"
  say "using Jaeger: OTLP $OTLP_ENDPOINT, query $JAEGER_QUERY_URL"
fi

if [ -n "${MLFLOW_TRACKING_URI:-}" ]; then
  # The REST API the pipeline uses: 200, or 404 RESOURCE_DOES_NOT_EXIST
  # before the first run, both mean it is there.
  code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 \
    "$MLFLOW_TRACKING_URI/api/2.0/mlflow/experiments/get-by-name?experiment_name=switchyard-smoke" || true)
  case "$code" in
    200 | 404) ;;
    000) die "MLflow at $MLFLOW_TRACKING_URI does not answer" ;;
    *) die "MLflow at $MLFLOW_TRACKING_URI answered $code to experiments/get-by-name (401: set MLFLOW_TRACKING_TOKEN)" ;;
  esac
  TRACKING="MLflow at $MLFLOW_TRACKING_URI"
else
  TRACKING="store-backed tracker (MLFLOW_TRACKING_URI unset: runs and model versions as JSON in the bucket)"
fi
say "tracking: $TRACKING"

# ---------------------------------------------------------------- build

if [ -n "${SWITCHYARD_BIN:-}" ]; then
  [ -x "$SWITCHYARD_BIN" ] || die "SWITCHYARD_BIN=$SWITCHYARD_BIN is not an executable file"
  SY="$SWITCHYARD_BIN"
else
  say "building switchyard"
  (cd "$ROOT" && go build -o "$WORK/switchyard" ./cmd/switchyard) || die "go build ./cmd/switchyard"
  SY="$WORK/switchyard"
fi

# --------------------------------------------------------------- gateways

# Both replicas share this config: the same Redis, bucket prefix and model
# cache directory (one download per version under the Redis lock), OTLP to
# Jaeger, prompt text in the decision events (the tf-idf routers train on
# it). The poll interval is long on purpose: a replica that follows a deploy
# within seconds heard the Redis notice.
cat >"$WORK/gateway.yaml" <<EOF
listen: 127.0.0.1:0
auth:
  api_keys: [{id: smoke, key: "\${SMOKE_CLIENT_KEY}"}]
  admin_keys: [{id: smoke-admin, key: "\${SMOKE_ADMIN_KEY}"}]
limits: {shutdown_timeout: 10s}
telemetry:
  service_name: $SERVICE
  otlp_endpoint: "\${OTLP_ENDPOINT}"
  prompt_capture: text
  log_level: info
feedback:
  metrics: [{name: quality, min: 0, max: 1}]
models:
  store: "\${SWITCHYARD_STORE}"
  cache_dir: $WORK/model-cache
  poll_interval: 60s
  redis_url: "\${REDIS_URL}"
$(cat "$ROOT/internal/demo/deployments.yaml")
strategies:
  # What a team runs before it has a router: always the best (dearest) model.
  - name: baseline
    kind: fallback
    params: {order: [frontier, scholar, coder, small]}
  # The learned router. Declared at start so its model manager follows
  # CURRENT from the first deploy; the route switches to it once a version
  # is live (PUT /admin/routes/auto/strategy on each replica).
  - name: learned
    kind: knn
    params: {model: $MODEL, operating_point: balanced, fallback_order: [frontier, scholar, coder, small]}
routes:
  # Exploration logs propensities, so the traces can train a router.
  - name: auto
    candidates: [frontier, coder, scholar, small]
    use: baseline
    exploration_rate: 0.25
EOF
export SMOKE_CLIENT_KEY="$CLIENT_KEY" SMOKE_ADMIN_KEY="$ADMIN_KEY" SWITCHYARD_STORE="$STORE"

# start_gateway N: replica N on a free port, ready when /health/ready answers 200.
start_gateway() {
  free_port
  start "gateway-$1" "$LOGS/gateway-$1.log" "$SY" serve --config "$WORK/gateway.yaml" --listen "127.0.0.1:$PORT" --shutdown-delay 1s
  printf -v "GW$1" 'http://127.0.0.1:%s' "$PORT"
  up 30 http_ok "http://127.0.0.1:$PORT/health/ready"
}
start_gateway_1() { start_gateway 1; }
start_gateway_2() { start_gateway 2; }
launch gateway-1 start_gateway_1
launch gateway-2 start_gateway_2
say "two gateway replicas ready at $GW1 and $GW2 (service $SERVICE)"

# ------------------------------------------------------------ the loop

SENT_TOTAL=0
FEEDBACK_TOTAL=0

# traffic ROUND SEED: REQUESTS requests split over the two replicas, with
# ground-truth feedback, both replicas at once.
traffic() {
  local round=$1 seed=$2 half=$((REQUESTS / 2)) i u out sent ok posted
  local c0 n0 q0 f0 c1 n1 q1 f1
  c0=$(prom_sum switchyard_cost_usd_total 'route="auto"')
  n0=$(prom_sum switchyard_requests_total 'route="auto"')
  q0=$(prom_sum switchyard_feedback_value_sum 'metric="quality"')
  f0=$(prom_sum switchyard_feedback_value_count 'metric="quality"')
  local synth=()
  i=0
  for u in "$GW1" "$GW2"; do
    i=$((i + 1))
    "$SY" traces synth --gateway "$u" --key "$CLIENT_KEY" --requests "$half" --concurrency 4 \
      --seed $((seed * 10 + i)) --config "$WORK/gateway.yaml" --max-duration 3m \
      >"$LOGS/synth-$round-$i.out" 2>&1 &
    synth+=("$!")
  done
  for i in 1 2; do
    wait "${synth[$((i - 1))]}" || die "traffic round $round on gateway-$i: $(tail -n 3 "$LOGS/synth-$round-$i.out")"
  done
  for i in 1 2; do
    out="$LOGS/synth-$round-$i.out"
    sent=$(sed -n 's/^sent \([0-9]*\) requests.*: \([0-9]*\) ok.*/\1/p' "$out")
    ok=$(sed -n 's/^sent \([0-9]*\) requests.*: \([0-9]*\) ok.*/\2/p' "$out")
    posted=$(sed -n 's/^feedback posted: \([0-9]*\).*/\1/p' "$out")
    [ -n "$sent" ] && [ "$sent" = "$half" ] || die "traffic round $round on gateway-$i: sent ${sent:-?} of $half"
    [ "$ok" = "$sent" ] || die "traffic round $round on gateway-$i: $ok of $sent requests succeeded"
    [ "${posted:-0}" = "$ok" ] || die "traffic round $round on gateway-$i: feedback posted for ${posted:-0} of $ok answers"
    SENT_TOTAL=$((SENT_TOTAL + sent))
    FEEDBACK_TOTAL=$((FEEDBACK_TOTAL + posted))
  done
  sleep 0.2 # the gateway accounts a request just after writing its response
  c1=$(prom_sum switchyard_cost_usd_total 'route="auto"')
  n1=$(prom_sum switchyard_requests_total 'route="auto"')
  q1=$(prom_sum switchyard_feedback_value_sum 'metric="quality"')
  f1=$(prom_sum switchyard_feedback_value_count 'metric="quality"')
  PICKS=$(picks "$LOGS/synth-$round-1.out" "$LOGS/synth-$round-2.out")
  COST_PER_REQ=$(awk -v c0="$c0" -v c1="$c1" -v n0="$n0" -v n1="$n1" 'BEGIN { if (n1 > n0) printf "%.6f", (c1 - c0) / (n1 - n0); else print "n/a" }')
  # Feedback is the answering model's simulated quality plus noise, so its
  # mean is the round's quality as the clients saw it.
  QUALITY=$(awk -v q0="$q0" -v q1="$q1" -v f0="$f0" -v f1="$f1" 'BEGIN { if (f1 > f0) printf "%.3f", (q1 - q0) / (f1 - f0); else print "n/a" }')
  check "traffic round $round: $((half * 2)) requests over both replicas, all answered, feedback on each; mean feedback $QUALITY, \$$COST_PER_REQ per request; most picked per topic: $PICKS"
}

# picks SYNTH_OUTPUT...: each topic's most picked deployment and its share,
# from the per-topic lines of `switchyard traces synth`.
picks() {
  awk '/^  [a-z]+ +[a-z0-9_-]+=/ {
      for (i = 2; i <= NF; i++) { split($i, kv, "="); n[$1 SUBSEP kv[1]] += kv[2]; tot[$1] += kv[2] }
    }
    END {
      for (k in n) { split(k, tk, SUBSEP); if (n[k] > best[tk[1]]) { best[tk[1]] = n[k]; who[tk[1]] = tk[2] } }
      for (t in tot) printf "%s->%s %d%%\n", t, who[t], 100 * best[t] / tot[t]
    }' "$@" | sort | paste -sd ' ' -
}

# jaeger_export: waits until Jaeger holds every decision and feedback span
# sent so far, then exports them to rows.jsonl.
jaeger_export() {
  local deadline=$(($(date +%s) + 90)) decisions feedback rows
  while :; do
    if "$SY" traces export --jaeger "$JAEGER_QUERY_URL" --service "$SERVICE" --since 1h --auto-labels \
      --out "$WORK/rows.jsonl" >"$LOGS/export.out" 2>&1; then
      decisions=$(sed -n 's/^decisions: *\([0-9]*\).*/\1/p' "$LOGS/export.out")
      feedback=$(sed -n 's/^feedback: *\([0-9]*\).*/\1/p' "$LOGS/export.out")
      rows=$(sed -n 's/^rows written: *\([0-9]*\).*/\1/p' "$LOGS/export.out")
      if [ "${decisions:-0}" -ge "$SENT_TOTAL" ] && [ "${feedback:-0}" -ge "$FEEDBACK_TOTAL" ]; then
        break
      fi
    fi
    [ "$(date +%s)" -lt "$deadline" ] ||
      die "Jaeger export: ${decisions:-?} of $SENT_TOTAL decisions and ${feedback:-?} of $FEEDBACK_TOTAL feedback spans after 90s: $(tail -n 5 "$LOGS/export.out")"
    sleep 2
  done
  [ "$decisions" -eq "$SENT_TOTAL" ] || die "Jaeger export: $decisions decisions, want $SENT_TOTAL"
  [ "$rows" -gt 0 ] || die "Jaeger export wrote no rows"
  EXPORT_ROWS=$rows
  check "exported from Jaeger: $decisions decisions, $feedback feedback spans -> $rows training rows"
}

cat >"$WORK/pipeline.yaml" <<EOF
# The smoke run's pipeline: Jaeger -> rows -> knn -> gate -> S3 -> tracker -> CURRENT.
model: $MODEL
store: "\${SWITCHYARD_STORE}"
tracking:
  uri: "\${MLFLOW_TRACKING_URI:-}"
  experiment: switchyard-smoke
redis_url: "\${REDIS_URL}"
export:
  jaeger: {url: "\${JAEGER_QUERY_URL}", service: $SERVICE, api: v3}
  window: 1h
  feedback_metric: quality
  auto_labels: true
  min_rows: 200
split: {test_frac: 0.25, seed: 7}
train:
  - kind: knn
    seed: 7
    featurizer: {kind: tfidf, word_ngrams: [1, 2]}
    knn: {k: 50, prior: 3}
    operating_points: {balanced: 0.98, economy: 0.95}
gate:
  metric: aiq
  margin: 0.05
deploy: {enabled: true}
timeout: 5m
EOF

# pipeline_run N: one pipeline run; sets VERSION.
pipeline_run() {
  local n=$1 rec="$LOGS/pipeline-$1.json" status deployed backend mv
  if ! timeout 300 "$SY" pipeline run --config "$WORK/pipeline.yaml" --json >"$rec" 2>"$LOGS/pipeline-$n.log"; then
    die "pipeline run $n: $(json_str error <"$rec") $(tail -n 3 "$LOGS/pipeline-$n.log")"
  fi
  status=$(json_str status <"$rec")
  VERSION=$(json_str version <"$rec")
  deployed=$(json_num deployed <"$rec")
  backend=$(json_str backend <"$rec")
  mv=$(json_str model_version <"$rec")
  [ "$status" = succeeded ] || die "pipeline run $n: status $status"
  [ "$deployed" = true ] || die "pipeline run $n: not deployed"
  [ -n "$VERSION" ] || die "pipeline run $n: no version in the record"
  [ -n "$mv" ] || die "pipeline run $n: no registered model version in the record"
  check "pipeline run $n: export, train, evaluate, gate, upload, register ($backend model version $mv), deploy -> $MODEL@$VERSION ($(json_num rows <"$rec") rows)"
}

# serving URL VERSION: the replica's model manager serves VERSION without
# error (/health/ready and GET /admin/models) and, once the route is on the
# learned strategy (ROUTE_LEARNED=1), the route names VERSION too.
ROUTE_LEARNED=0
serving() {
  local ready models
  ready=$(curl -fsS --max-time 5 "$1/health/ready") || return 1
  models=$(admin GET "$1/admin/models") || return 1
  if [ "$ROUTE_LEARNED" = 1 ]; then
    [ "$(printf '%s' "$ready" | json_str strategy)" = learned ] &&
      [ "$(printf '%s' "$ready" | json_str model_version)" = "$2" ] || return 1
  fi
  [ "$(printf '%s' "$ready" | json_str active_version)" = "$2" ] &&
    [ "$(printf '%s' "$ready" | json_str last_error)" = "" ] &&
    [ "$(printf '%s' "$models" | json_str active_version)" = "$2" ]
}

# both_serve VERSION WHAT [HOW]: waits (at most 15 s, a quarter of the poll
# interval) until both replicas serve VERSION.
both_serve() {
  local t0 u secs
  t0=$(date +%s%N)
  for u in "$GW1" "$GW2"; do
    wait_for "$u serving $MODEL@$1 after $2" 15 serving "$u" "$1"
  done
  secs=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
  check "both replicas serve $MODEL@$1 after $2 (/health/ready and GET /admin/models) within ${secs}s${3:+; $3}"
}

say "round 1: traffic on the baseline (always frontier) with 25% exploration"
traffic 1 1
COST_BEFORE=$COST_PER_REQ
QUALITY_BEFORE=$QUALITY
PICKS_BEFORE=$PICKS

say "export the traces from Jaeger"
jaeger_export

EXPORT1_ROWS=$EXPORT_ROWS

say "pipeline run 1"
pipeline_run 1
V1=$VERSION
both_serve "$V1" "pipeline run 1" "the poll interval is 60s, so they followed the Redis deploy notice"

say "switch route auto to the learned strategy on both replicas (admin API)"
for u in "$GW1" "$GW2"; do
  out=$(admin PUT "$u/admin/routes/auto/strategy" '{"strategy":"learned"}') || die "switch $u: $out"
done
ROUTE_LEARNED=1
both_serve "$V1" "the switch to the learned strategy"

say "round 2: traffic on the learned router"
traffic 2 2
COST_AFTER=$COST_PER_REQ
QUALITY_AFTER=$QUALITY
PICKS_AFTER=$PICKS
jaeger_export

say "pipeline run 2 (retrain on both rounds; gated against $V1)"
pipeline_run 2
V2=$VERSION
[ "$V2" != "$V1" ] || die "pipeline run 2 deployed the same version $V1"
both_serve "$V2" "pipeline run 2" "the poll interval is 60s, so they followed the Redis deploy notice"

say "roll back to the previous version through gateway-1's admin API"
out=$(admin POST "$GW1/admin/model/rollback" "{\"model\":\"$MODEL\",\"version\":\"previous\",\"reason\":\"smoke: rollback drill\",\"wait\":true}")
printf '%s\n' "$out" >"$LOGS/rollback.json"
[ "$(printf '%s' "$out" | json_str to)" = "$V1" ] || die "rollback answered: $out"
both_serve "$V1" "the rollback" "gateway-2 followed gateway-1's rollback through the Redis notice"

say "check the store, the audit trail and the run records"
"$SY" models list --store "$STORE" --name "$MODEL" >"$LOGS/models-list.out" 2>&1 || die "models list: $(cat "$LOGS/models-list.out")"
grep -q "$V1" "$LOGS/models-list.out" && grep -q "$V2" "$LOGS/models-list.out" ||
  die "models list does not show both $V1 and $V2: $(cat "$LOGS/models-list.out")"
s3curl GET "$S3_BUCKET/$S3_PREFIX/models/$MODEL/CURRENT" -f >"$LOGS/CURRENT" || die "read CURRENT from the bucket"
[ "$(json_str version <"$LOGS/CURRENT")" = "$V1" ] || die "CURRENT in the bucket: $(cat "$LOGS/CURRENT")"
for v in "$V1" "$V2"; do
  for f in manifest.json model.bin; do
    code=$(s3curl HEAD "$S3_BUCKET/$S3_PREFIX/models/$MODEL/versions/$v/$f" -o /dev/null -w '%{http_code}' || true)
    [ "$code" = 200 ] || die "s3://$S3_BUCKET/$S3_PREFIX/models/$MODEL/versions/$v/$f: HEAD answered $code"
  done
done
check "bucket layout: models/$MODEL/versions/{$V1,$V2}/{manifest.json,model.bin}, CURRENT names $V1"

audit=$(admin GET "$GW2/admin/audit?model=$MODEL&limit=100")
printf '%s\n' "$audit" >"$LOGS/audit.json"
n_deploy=$(printf '%s' "$audit" | grep -o '"action": *"model.deploy"' | wc -l)
n_rollback=$(printf '%s' "$audit" | grep -o '"action": *"model.rollback"' | wc -l)
n_activate=$(printf '%s' "$audit" | grep -o '"action": *"model.activate"' | wc -l)
[ "$n_deploy" -ge 2 ] && [ "$n_rollback" -ge 1 ] && [ "$n_activate" -ge 6 ] ||
  die "audit trail: $n_deploy deploys, $n_rollback rollbacks, $n_activate activations (want >= 2, 1, 6)"
printf '%s' "$audit" | grep -q "pipeline:" || die "audit trail: no deploy by the pipeline"
check "audit trail: $n_deploy deploys (actor pipeline:<run>), $n_rollback rollback, $n_activate activations (3 per replica)"

"$SY" pipeline status --config "$WORK/pipeline.yaml" >"$LOGS/pipeline-status.out" 2>&1 || die "pipeline status: $(cat "$LOGS/pipeline-status.out")"
[ "$(grep -c succeeded "$LOGS/pipeline-status.out")" -ge 2 ] || die "pipeline status: $(cat "$LOGS/pipeline-status.out")"
check "pipeline status lists both runs as succeeded"

# The replicas share one model cache directory, so the Redis download lock
# should let exactly one of them fetch each version.
downloads=$(prom_sum switchyard_modelsync_downloads_total 'result="ok"' | awk '{ printf "%d", $1 }')
[ "$downloads" = 2 ] || die "model downloads across both replicas: $downloads, want 2 (one per version, under the Redis lock)"
check "2 model downloads across both replicas for 2 versions: one per version under the Redis download lock"

for i in 1 2; do
  alive $(( ${#PIDS[@]} - 3 + i )) || die "gateway-$i exited during the run"
done

# ----------------------------------------------------------------- summary

cat <<EOF

## Switchyard smoke test: PASSED in $(elapsed)s

| part | where |
|---|---|
| Redis | $REDIS_URL |
| S3 | $S3_ENDPOINT, bucket $S3_BUCKET (versioned), prefix $S3_PREFIX |
| Jaeger | OTLP $OTLP_ENDPOINT, query $JAEGER_QUERY_URL, service $SERVICE |
| tracking | $TRACKING |
| gateways | $GW1, $GW2 (model $MODEL; route auto: baseline, then learned knn) |

| step | result |
|---|---|
| round 1 (baseline: frontier, 25% exploration) | $REQUESTS requests, mean feedback $QUALITY_BEFORE, \$$COST_BEFORE per request; $PICKS_BEFORE |
| Jaeger export after round 1 | $EXPORT1_ROWS rows |
| pipeline run 1 | deployed $V1; both replicas switched |
| round 2 (learned knn router $V1, 25% exploration) | $REQUESTS requests, mean feedback $QUALITY_AFTER, \$$COST_AFTER per request; $PICKS_AFTER |
| Jaeger export after round 2 | $EXPORT_ROWS rows |
| pipeline run 2 | deployed $V2; both replicas switched |
| rollback to previous | both replicas serve $V1 again |

Checks:
EOF
for c in "${CHECKS[@]}"; do
  printf '  %s\n' "${c/	/  }"
done
echo
echo "SMOKE PASSED"
