#!/usr/bin/env bash
# Starts the local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)
# on loopback ports, from the binaries build-tools.sh cached. Idempotent: what already runs and is
# healthy is kept, so a second run returns in seconds; what a crash left behind (dead pids, stale
# pid files, orphaned processes of this cluster) is cleaned up before anything starts.
#
# Result: $CLUSTER_DIR/kubeconfig (cluster-admin), $CLUSTER_DIR/bin/{kubectl,helm}, logs in
# $CLUSTER_DIR/logs/<component>.log, pid files in $CLUSTER_DIR/run/.
set -euo pipefail
here="$(dirname "$0")"
source "$here/common.sh"
source "$here/process.sh"
source "$here/pki.sh"
source "$here/components.sh"

started=$SECONDS
step "cluster: Kubernetes $KUBE_VERSION, etcd $ETCD_VERSION in $CLUSTER_DIR"
"$REPO_ROOT/scripts/system/ensure.sh" # curl, openssl, ss
mkdir -p "$CLUSTER_DIR/bin" "$CONFIG_DIR" "$RUN_DIR" "$LOG_DIR"

ensure_pki
write_kubeconfig "$CLUSTER_DIR/kubeconfig" admin
write_kubeconfig "$CONFIG_DIR/controller-manager.kubeconfig" controller-manager
write_kubeconfig "$CONFIG_DIR/scheduler.kubeconfig" scheduler
ln -sfn "$(tool_dir kube "$KUBE_VERSION")/kubectl" "$CLUSTER_DIR/bin/kubectl"
ln -sfn "$(tool_dir helm "$HELM_VERSION")/helm" "$CLUSTER_DIR/bin/helm"

for c in "${COMPONENTS[@]}"; do component_start "$c"; done

# The cluster is usable once the controller-manager has given `default` its ServiceAccount and
# CA bundle: before that, pods are refused and in-cluster clients cannot verify the apiserver.
kubectl=("$CLUSTER_DIR/bin/kubectl" --kubeconfig "$CLUSTER_DIR/kubeconfig" --request-timeout=5s)
deadline=$((SECONDS + 60))
until "${kubectl[@]}" -n default get serviceaccount/default configmap/kube-root-ca.crt >/dev/null 2>&1; do
  ((SECONDS < deadline)) || component_fail kube-controller-manager \
    "did not create the default ServiceAccount and kube-root-ca.crt in 60s"
  sleep 0.5
done

step "cluster ready in $((SECONDS - started))s: https://127.0.0.1:$APISERVER_PORT, KUBECONFIG=$CLUSTER_DIR/kubeconfig"
