#!/usr/bin/env bash
# The local cluster's metrics chain: Prometheus scraping the operator's pods, and
# prometheus-adapter serving custom.metrics.k8s.io through the apiserver's aggregation layer,
# with the chart's own adapter rules, so the HPA controller reads the same metrics it would in a
# real cluster.
#
#   metrics.sh start    start both (built by `make tools`), register the APIService; idempotent
#   metrics.sh stop     unregister the APIService, then stop exactly the processes start made
#   metrics.sh status   what runs, and whether the aggregated API answers
#
# Both run as host processes, started and stopped through the cluster's process.sh (pids and
# command lines in .cluster/run/, logs in .cluster/logs/); state (PKI, tokens, TSDB) lives in
# .cluster/metrics/. Both listen on loopback; the apiserver reaches the adapter through an
# ExternalName Service (see apiservice.yaml).
set -euo pipefail
source "$(dirname "$0")/../common.sh"
source "$CLUSTER_SCRIPTS/process.sh"

PROMETHEUS_ADDR="${PROMETHEUS_ADDR:-127.0.0.1:19090}"
ADAPTER_PORT="${ADAPTER_PORT:-16449}"
ADAPTER_RULES="${ADAPTER_RULES:-$REPO_ROOT/charts/servingstack-operator/files/adapter-rules.yaml}"
# How often the adapter re-lists series: a new stack's metrics become known within this time.
ADAPTER_RELIST="${ADAPTER_RELIST:-10s}"
NAMESPACE=servingstack-metrics
SERVICE=prometheus-adapter
APISERVICE=v1beta1.custom.metrics.k8s.io

METRICS_DIR="$CLUSTER_DIR/metrics"
KUBECONFIG_ADMIN="$CLUSTER_DIR/kubeconfig"
KUBECTL="$CLUSTER_DIR/bin/kubectl"
PROMETHEUS="$(tool_dir prometheus "$PROMETHEUS_VERSION")/prometheus"
ADAPTER="$(tool_dir prometheus-adapter "$ADAPTER_VERSION")/prometheus-adapter"

k() { "$KUBECTL" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

# wait_until WHAT SECONDS CMD...: poll CMD once a second; on timeout name WHAT and where to look.
wait_until() {
  local what="$1" seconds="$2"; shift 2
  local i; for ((i = 0; i < seconds; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  die "timed out after ${seconds}s waiting for $what (logs in $LOG_DIR)"
}

# Serving certificate for the adapter, issued by a CA of its own: the aggregator verifies it
# against the APIService's caBundle under the name <service>.<namespace>.svc.
ensure_pki() {
  local pki="$METRICS_DIR/pki"
  [[ -s $pki/adapter.crt ]] && return 0
  mkdir -p "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=servingstack-metrics-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$SERVICE.$NAMESPACE.svc" \
    -keyout "$pki/adapter.key" -out "$pki/adapter.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s.%s.svc,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' \
    "$SERVICE" "$NAMESPACE" >"$pki/adapter.ext"
  openssl x509 -req -in "$pki/adapter.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 365 -extfile "$pki/adapter.ext" -out "$pki/adapter.crt" 2>/dev/null
  chmod 600 "$pki"/*.key
}

# write_kubeconfig ACCOUNT: a kubeconfig for a ServiceAccount of rbac.yaml, with a fresh token,
# so each process has only its own rights, as it would in a real cluster.
write_kubeconfig() {
  local account="$1" file="$METRICS_DIR/$1.kubeconfig" server ca token
  server="$(k config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')"
  ca="$(k config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')"
  if [[ -z $ca ]]; then
    ca="$(base64 -w0 <"$(k config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}')")"
  fi
  token="$(k -n "$NAMESPACE" create token "$account" --duration=24h)"
  (
    umask 077
    cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: local
    cluster: {server: "$server", certificate-authority-data: "$ca"}
users:
  - name: $account
    user: {token: "$token"}
contexts:
  - name: $account
    context: {cluster: local, user: $account}
current-context: $account
EOF
  )
}

start_prometheus() {
  if proc_pid prometheus >/dev/null; then return 0; fi
  step "metrics: starting Prometheus on $PROMETHEUS_ADDR"
  write_kubeconfig prometheus
  cp "$CLUSTER_SCRIPTS/metrics/prometheus.yml" "$METRICS_DIR/prometheus.yml"
  proc_start prometheus "$PROMETHEUS" \
    --config.file="$METRICS_DIR/prometheus.yml" \
    --storage.tsdb.path="$METRICS_DIR/prometheus-data" \
    --storage.tsdb.retention.time=6h \
    --web.listen-address="$PROMETHEUS_ADDR"
  wait_until "Prometheus to be ready" 60 curl -fsS "http://$PROMETHEUS_ADDR/-/ready"
}

start_adapter() {
  if proc_pid prometheus-adapter >/dev/null; then return 0; fi
  step "metrics: starting prometheus-adapter on 127.0.0.1:$ADAPTER_PORT (rules: ${ADAPTER_RULES#"$REPO_ROOT"/})"
  write_kubeconfig prometheus-adapter
  local kc="$METRICS_DIR/prometheus-adapter.kubeconfig" pki="$METRICS_DIR/pki"
  proc_start prometheus-adapter "$ADAPTER" \
    --prometheus-url="http://$PROMETHEUS_ADDR" \
    --config="$ADAPTER_RULES" \
    --metrics-relist-interval="$ADAPTER_RELIST" \
    --bind-address=127.0.0.1 --secure-port="$ADAPTER_PORT" \
    --tls-cert-file="$pki/adapter.crt" --tls-private-key-file="$pki/adapter.key" \
    --lister-kubeconfig="$kc" --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
    --v=1
  wait_until "prometheus-adapter to be ready" 60 \
    curl -fsS --cacert "$pki/ca.crt" "https://127.0.0.1:$ADAPTER_PORT/readyz"
}

register_apiservice() {
  local bundle
  bundle="$(base64 -w0 <"$METRICS_DIR/pki/ca.crt")"
  sed -e "s/ADAPTER_PORT/$ADAPTER_PORT/g" -e "s|CA_BUNDLE|$bundle|" \
    "$CLUSTER_SCRIPTS/metrics/apiservice.yaml" | k apply -f - >/dev/null
  wait_until "APIService $APISERVICE to become Available" 60 \
    k wait --for=condition=Available --timeout=1s "apiservice/$APISERVICE"
}

start() {
  [[ -s $KUBECONFIG_ADMIN ]] || die "no cluster at $KUBECONFIG_ADMIN: run \`make cluster-up\` first"
  [[ -s $ADAPTER_RULES ]] || die "adapter rules not found at $ADAPTER_RULES (set ADAPTER_RULES)"
  local bin
  for bin in "$PROMETHEUS" "$ADAPTER"; do
    [[ -x $bin ]] || die "$bin is not built: run \`make tools\` (it builds Prometheus and prometheus-adapter once)"
  done
  mkdir -p "$METRICS_DIR"
  ensure_pki
  k apply -f "$CLUSTER_SCRIPTS/metrics/rbac.yaml" >/dev/null
  start_prometheus
  start_adapter
  register_apiservice
  step "metrics: custom.metrics.k8s.io served by prometheus-adapter; Prometheus at http://$PROMETHEUS_ADDR"
}

stop() {
  # An APIService whose server is gone breaks discovery for every client and blocks namespace
  # deletion, so it goes first.
  if [[ -s $KUBECONFIG_ADMIN ]]; then
    k delete apiservice "$APISERVICE" --ignore-not-found --timeout=20s >/dev/null 2>&1 || true
  fi
  proc_stop prometheus-adapter
  proc_stop prometheus
}

status() {
  local rc=0
  local name pid
  for name in prometheus prometheus-adapter; do
    if pid="$(proc_pid "$name")"; then echo "$name: running (pid $pid)"; else echo "$name: stopped"; rc=1; fi
  done
  if k get --raw /apis/custom.metrics.k8s.io/v1beta1 >/dev/null 2>&1; then echo "custom.metrics.k8s.io/v1beta1: served"
  else echo "custom.metrics.k8s.io/v1beta1: not served"; rc=1; fi
  return "$rc"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: $0 start|stop|status" ;;
esac
