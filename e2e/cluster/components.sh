# The control plane's components: how each is started, probed and told apart from other processes.
# Sourced by up.sh, down.sh and component.sh after common.sh, process.sh and pki.sh.
# shellcheck shell=bash

COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler)
CONFIG_DIR="$CLUSTER_DIR/config"

component_bin() {
  case "$1" in
    etcd) echo "$(tool_dir etcd "$ETCD_VERSION")/etcd" ;;
    kube-apiserver | kube-controller-manager | kube-scheduler) echo "$(tool_dir kube "$KUBE_VERSION")/$1" ;;
    *) die "unknown component '$1' (one of: ${COMPONENTS[*]})" ;;
  esac
}

component_port() {
  case "$1" in
    etcd) echo "$ETCD_PORT $ETCD_PEER_PORT" ;;
    kube-apiserver) echo "$APISERVER_PORT" ;;
    kube-controller-manager) echo "$CONTROLLER_MANAGER_PORT" ;;
    kube-scheduler) echo "$SCHEDULER_PORT" ;;
  esac
}

# Seconds a component may take to become healthy; the apiserver's first start bootstraps RBAC
# and the built-in objects, which takes a while on a loaded 2-core machine.
component_timeout() {
  case "$1" in
    kube-apiserver) echo 180 ;;
    *) echo 60 ;;
  esac
}

# Seconds between SIGTERM and SIGKILL: the apiserver drains in-flight requests and watches first.
component_grace() {
  case "$1" in
    kube-apiserver) echo 40 ;;
    *) echo 15 ;;
  esac
}

# component_args NAME: prints the component's arguments, one per line.
component_args() {
  local p="$PKI_DIR"
  case "$1" in
    etcd)
      # --unsafe-no-fsync: a throw-away test store trades durability for speed, as test harnesses do.
      printf '%s\n' --name=servingstack --data-dir="$CLUSTER_DIR/etcd" \
        --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster="servingstack=http://127.0.0.1:$ETCD_PEER_PORT" \
        --unsafe-no-fsync --log-level=warn
      ;;
    kube-apiserver)
      # No default route and no kubelet here: advertise loopback, and with no kube-proxy the
      # `kubernetes` Service endpoints are useless, so they are not reconciled. Aggregated APIs are
      # reached through their Service as in any cluster; the local metrics adapter's is an
      # ExternalName Service naming this host (see metrics/apiservice.yaml).
      printf '%s\n' --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
        --advertise-address=127.0.0.1 --bind-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
        --endpoint-reconciler-type=none --service-cluster-ip-range=10.0.0.0/24 \
        --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" \
        --client-ca-file="$p/ca.crt" --authorization-mode=Node,RBAC --allow-privileged=true \
        --service-account-issuer=https://kubernetes.default.svc.cluster.local \
        --service-account-key-file="$p/sa.pub" --service-account-signing-key-file="$p/sa.key" \
        --requestheader-client-ca-file="$p/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
        --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
        --requestheader-extra-headers-prefix=X-Remote-Extra- \
        --proxy-client-cert-file="$p/front-proxy-client.crt" --proxy-client-key-file="$p/front-proxy-client.key" \
        --profiling=false
      # Writes to an audit log the e2e tests count; and owner references that block an owner's
      # deletion need update on its finalizers, as on OpenShift (docs/local-cluster.md).
      printf '%s\n' --audit-policy-file="$CLUSTER_SCRIPTS/audit-policy.yaml" --audit-log-path="$LOG_DIR/audit.log" \
        --audit-log-maxsize=200 --audit-log-maxbackup=1 \
        --enable-admission-plugins=OwnerReferencesPermissionEnforcement
      ;;
    kube-controller-manager)
      # One instance only, so no leader election: a restarted component works at once instead of
      # waiting out its predecessor's lease.
      printf '%s\n' --kubeconfig="$CONFIG_DIR/controller-manager.kubeconfig" \
        --authentication-kubeconfig="$CONFIG_DIR/controller-manager.kubeconfig" \
        --authorization-kubeconfig="$CONFIG_DIR/controller-manager.kubeconfig" \
        --bind-address=127.0.0.1 --secure-port="$CONTROLLER_MANAGER_PORT" \
        --tls-cert-file="$p/controller-manager-serving.crt" --tls-private-key-file="$p/controller-manager-serving.key" \
        --client-ca-file="$p/ca.crt" --requestheader-client-ca-file="$p/front-proxy-ca.crt" \
        --use-service-account-credentials=true --root-ca-file="$p/ca.crt" \
        --service-account-private-key-file="$p/sa.key" --service-cluster-ip-range=10.0.0.0/24 \
        --cluster-signing-cert-file="$p/ca.crt" --cluster-signing-key-file="$p/ca.key" \
        --horizontal-pod-autoscaler-sync-period=5s --leader-elect=false --profiling=false
      ;;
    kube-scheduler)
      printf '%s\n' --kubeconfig="$CONFIG_DIR/scheduler.kubeconfig" \
        --authentication-kubeconfig="$CONFIG_DIR/scheduler.kubeconfig" \
        --authorization-kubeconfig="$CONFIG_DIR/scheduler.kubeconfig" \
        --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" \
        --tls-cert-file="$p/scheduler-serving.crt" --tls-private-key-file="$p/scheduler-serving.key" \
        --client-ca-file="$p/ca.crt" --requestheader-client-ca-file="$p/front-proxy-ca.crt" \
        --leader-elect=false --profiling=false
      ;;
    *) die "unknown component '$1' (one of: ${COMPONENTS[*]})" ;;
  esac
}

# component_healthy NAME: one probe of the component's health endpoint.
component_healthy() {
  local curl=(curl -fsS --max-time 3 --cacert "$PKI_DIR/ca.crt")
  case "$1" in
    etcd) output_matches '"health":"true"' curl -fsS --max-time 3 "http://127.0.0.1:$ETCD_PORT/health" ;;
    kube-apiserver)
      "${curl[@]}" --cert "$PKI_DIR/admin.crt" --key "$PKI_DIR/admin.key" \
        "https://127.0.0.1:$APISERVER_PORT/readyz" >/dev/null 2>&1
      ;;
    kube-controller-manager) "${curl[@]}" "https://127.0.0.1:$CONTROLLER_MANAGER_PORT/healthz" >/dev/null 2>&1 ;;
    kube-scheduler) "${curl[@]}" "https://127.0.0.1:$SCHEDULER_PORT/healthz" >/dev/null 2>&1 ;;
  esac
}

# component_wait_healthy NAME SECONDS: polls until healthy; fails with the log's tail if the
# process dies or the time runs out.
component_wait_healthy() {
  local name="$1" deadline=$((SECONDS + $2))
  until component_healthy "$name"; do
    proc_pid "$name" >/dev/null || component_fail "$name" "exited during start-up"
    ((SECONDS < deadline)) || component_fail "$name" "was not healthy after $2s"
    sleep 0.25
  done
}

component_fail() {
  die "$1 $2; last lines of $LOG_DIR/$1.log:
$(tail -n 30 "$LOG_DIR/$1.log" 2>/dev/null | sed 's/^/    /')"
}

# component_orphans NAME: pids running NAME's binary against this cluster's directory that no pid
# file records (left by a crash, or by a deleted .cluster). Matching both the binary's name and
# this cluster's own paths in the arguments keeps every other process out.
component_orphans() {
  local name="$1" recorded pidpath pid arg0 cmd
  recorded="$(proc_pid "$name" || true)"
  for pidpath in /proc/[0-9]*; do
    pid="${pidpath#/proc/}"
    [[ "$pid" == "$recorded" ]] && continue
    IFS= read -r -d '' arg0 2>/dev/null <"$pidpath/cmdline" || continue
    [[ "${arg0##*/}" == "$name" ]] || continue
    cmd="$(tr '\0' ' ' 2>/dev/null <"$pidpath/cmdline")" || continue
    [[ "$cmd" == *"=$CLUSTER_DIR/"* ]] && echo "$pid"
  done
  return 0
}

# component_clear_stale NAME: ends orphans, then makes sure nobody else holds the ports.
component_clear_stale() {
  local name="$1" pid port holder
  for pid in $(component_orphans "$name"); do
    step "$name: ending a leftover process of this cluster (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    proc_wait_gone "$pid" 10 || { kill -KILL "$pid" 2>/dev/null || true; proc_wait_gone "$pid" 5 || true; }
  done
  for port in $(component_port "$name"); do
    # Only listeners that would clash with 127.0.0.1:PORT (the node agent serves the same port on
    # the bridge address to reach the apiserver from pods). awk keeps the first and reads on: a
    # reader that stops early fails the pipeline under pipefail (see output_matches).
    holder="$(ss -Hltnp "sport = :$port" 2>/dev/null |
      awk -v p=":$port" '!found && ($4 == "127.0.0.1" p || $4 == "0.0.0.0" p || $4 == "*" p || $4 == "[::]" p) { print; found = 1 }')"
    [[ -z "$holder" ]] || die "$name needs 127.0.0.1:$port, but another process listens there: $holder"
  done
}

# component_start NAME: starts NAME unless it already runs, and waits until it is healthy.
component_start() {
  local name="$1" bin pid args=()
  bin="$(component_bin "$name")"
  [[ -x "$bin" ]] || die "$bin is missing: build it with \`make tools\`"
  mapfile -t args < <(component_args "$name")
  if pid="$(proc_pid "$name")"; then
    # A process started with other flags or another version's binary is replaced, so editing
    # this file or versions.env takes effect on the next cluster-up.
    if ! printf '%s\0' "$bin" "${args[@]}" | cmp -s - "$RUN_DIR/$name.cmdline"; then
      step "$name (pid $pid) runs with an older configuration; restarting it"
      proc_stop "$name" "$(component_grace "$name")"
    elif component_healthy "$name"; then
      step "$name already running (pid $pid)"
      return 0
    else
      # Alive but not healthy: usually it waits on a component restarted just before it.
      step "$name (pid $pid) running; waiting for it to become healthy"
      component_wait_healthy "$name" "$(component_timeout "$name")"
      return 0
    fi
  fi
  component_clear_stale "$name"
  local start=$SECONDS
  step "$name: starting (log $LOG_DIR/$name.log)"
  proc_start "$name" "$bin" "${args[@]}"
  component_wait_healthy "$name" "$(component_timeout "$name")"
  step "$name healthy (pid $(proc_pid "$name"), $((SECONDS - start))s)"
}
