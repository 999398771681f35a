#!/usr/bin/env bash
# Starts or stops the local Traefik, the real routing controller requests go through
# (http://127.0.0.1:8088). It watches the cluster with a ServiceAccount token bound to
# least-privilege RBAC (cluster-objects.yaml), not the admin kubeconfig.
#   traefik.sh start    idempotent: Gateway API CRDs, RBAC, IngressClass nginx, GatewayClass
#                       traefik + Gateway servingstack-router/servingstack, then the process
#   traefik.sh stop | status
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../common.sh"
source "$here/../process.sh"

bin_dir="$(tool_dir traefik "$TRAEFIK_VERSION")"
admin="$CLUSTER_DIR/kubeconfig"
state="$CLUSTER_DIR/traefik"
kubectl=("$CLUSTER_DIR/bin/kubectl" --kubeconfig "$admin" --request-timeout=30s)
PING_URL=http://127.0.0.1:8089/ping

install_cluster_objects() {
  # The Gateway API CRDs of the version Traefik was built against (kept next to the binary).
  local crds=()
  local f
  for f in "$bin_dir"/gateway-api-crds/gateway.networking.k8s.io_*.yaml; do crds+=(-f "$f"); done
  "${kubectl[@]}" apply --server-side --force-conflicts --field-manager=servingstack-local-traefik "${crds[@]}" >/dev/null
  "${kubectl[@]}" wait --for condition=Established --timeout=60s crd/gatewayclasses.gateway.networking.k8s.io \
    crd/gateways.gateway.networking.k8s.io crd/httproutes.gateway.networking.k8s.io >/dev/null
  "${kubectl[@]}" apply --server-side --field-manager=servingstack-local-traefik -f "$here/cluster-objects.yaml" >/dev/null
}

write_kubeconfig() {
  local server ca token
  server="$("${kubectl[@]}" config view --raw --minify -o 'jsonpath={.clusters[0].cluster.server}')"
  ca="$("${kubectl[@]}" config view --raw --minify -o 'jsonpath={.clusters[0].cluster.certificate-authority-data}')"
  token="$("${kubectl[@]}" create token traefik -n servingstack-router --duration=720h)"
  mkdir -p "$state"
  umask 077
  cat >"$state/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
  - name: local
    cluster: {server: "$server", certificate-authority-data: "$ca"}
users:
  - name: traefik
    user: {token: "$token"}
contexts:
  - name: traefik
    context: {cluster: local, user: traefik}
current-context: traefik
KC
}

start() {
  local pid
  if pid="$(proc_pid traefik)"; then
    step "traefik already running (pid $pid)"
    return
  fi
  [[ -x "$bin_dir/traefik" ]] || die "no Traefik $TRAEFIK_VERSION at $bin_dir: build it with e2e/cluster/build-traefik.sh (make tools)"
  [[ -f "$admin" ]] || die "no cluster at $admin: start it first (make cluster-up)"
  step "traefik $TRAEFIK_VERSION: Gateway API CRDs $(cat "$bin_dir/gateway-api-crds/VERSION"), RBAC, IngressClass, Gateway"
  install_cluster_objects
  write_kubeconfig
  KUBECONFIG="$state/kubeconfig" proc_start traefik "$bin_dir/traefik" "--configFile=$here/traefik.yml"
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "$PING_URL" 2>/dev/null; do
    if ! proc_pid traefik >/dev/null || ((SECONDS >= deadline)); then
      die "traefik did not answer $PING_URL; last lines of $LOG_DIR/traefik.log:
$(tail -n 20 "$LOG_DIR/traefik.log" 2>/dev/null)"
    fi
    sleep 0.5
  done
  step "traefik: routing on http://127.0.0.1:8088 (log $LOG_DIR/traefik.log)"
}

case "${1:-}" in
  start) start ;;
  stop)
    if pid="$(proc_pid traefik)"; then step "stopping traefik (pid $pid)"; fi
    proc_stop traefik 15
    ;;
  status)
    if pid="$(proc_pid traefik)"; then echo "traefik running (pid $pid)"; else echo "traefik stopped"; exit 3; fi
    ;;
  *) die "usage: $0 start|stop|status" ;;
esac
