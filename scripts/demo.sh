#!/usr/bin/env bash
# `make demo`: the main job on a fresh machine. Each step is a small function listed in STEPS;
# they run in order with a progress line, and the first failure stops the demo with the step's
# name and where to look. What started stays running for exploring; `make down` stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
source e2e/cluster/common.sh
source e2e/cluster/process.sh

export KUBECONFIG="$CLUSTER_DIR/kubeconfig"
kubectl() { "$CLUSTER_DIR/bin/kubectl" --kubeconfig "$KUBECONFIG" "$@"; }

# "function|what it does", in order.
STEPS=(
  "step_cluster|start the local Kubernetes control plane"
  "step_show_cluster|show the cluster's version and the API groups it serves"
)

step_cluster() {
  e2e/cluster/build-tools.sh
  e2e/cluster/up.sh
}

step_show_cluster() {
  local version
  version="$(kubectl version -o json | node -e 'const v = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(v.serverVersion.gitVersion)')"
  echo "Kubernetes server $version at $(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
  echo "API groups served:"
  kubectl api-versions | sed 's/^/  /'
}

failed_step=""
on_exit() {
  local rc=$?
  ((rc == 0)) && return
  printf '\ndemo: step "%s" failed (exit %d).\n' "$failed_step" "$rc" >&2
  printf '      Logs of the cluster and everything the demo started: %s/logs/\n' "$CLUSTER_DIR" >&2
  printf '      Nothing was torn down; `make down` stops what the demo started.\n' >&2
}
trap on_exit EXIT

started=$SECONDS
i=0
for entry in "${STEPS[@]}"; do
  i=$((i + 1))
  fn="${entry%%|*}" title="${entry#*|}"
  failed_step="$title"
  printf '\n[%d/%d] %s\n' "$i" "${#STEPS[@]}" "$title"
  "$fn"
done
failed_step=""
printf '\ndemo: done in %ds. KUBECONFIG=%s; `make down` stops everything.\n' "$((SECONDS - started))" "$KUBECONFIG"
