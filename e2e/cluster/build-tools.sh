#!/usr/bin/env bash
# Builds every binary the local cluster needs, one Go build at a time (they are CPU- and
# memory-hungry, and the machines have 2 cores). Each build is skipped when its versioned cache
# entry exists, so after the first run this returns at once.
#   build-tools.sh           all of them
#   build-tools.sh TOOL...   only those (e.g. helm, which the chart-render unit tests need)
set -euo pipefail
source "$(dirname "$0")/common.sh"

all=(etcd kube helm prometheus adapter traefik)
tools=("${@:-${all[@]}}")
for t in "${tools[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || die "unknown tool '$t' (one of: ${all[*]})"
done
command -v go >/dev/null || die "the Go toolchain (1.25+) is needed to build the local cluster's binaries"

# Two `make` runs at once (a test and the demo, say) must not compile the same tool twice.
mkdir -p "$SERVINGSTACK_CACHE"
exec 9>"${SERVINGSTACK_BUILD_LOCK:-$SERVINGSTACK_CACHE/build.lock}"
if ! flock -n 9; then
  step "tools: another build of these tools is running; waiting for it to finish"
  flock 9
fi
i=0
for t in "${tools[@]}"; do
  i=$((i + 1))
  start=$SECONDS
  "$CLUSTER_SCRIPTS/build-$t.sh" || die "building $t failed (see the output above)"
  if ((SECONDS - start > 2)); then step "tools [$i/${#tools[@]}] $t built in $((SECONDS - start))s"; fi
done
((${#tools[@]} == ${#all[@]})) || exit 0
step "tools ready in $SERVINGSTACK_CACHE/bin: etcd $ETCD_VERSION, Kubernetes $KUBE_VERSION, helm $HELM_VERSION, prometheus $PROMETHEUS_VERSION, prometheus-adapter $ADAPTER_VERSION, traefik $TRAEFIK_VERSION"
