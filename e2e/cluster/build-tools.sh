#!/usr/bin/env bash
# Builds every binary the local cluster needs, one Go build at a time (they are CPU- and
# memory-hungry, and the machines have 2 cores). Each build is skipped when its versioned cache
# entry exists, so after the first run this returns at once.
set -euo pipefail
source "$(dirname "$0")/common.sh"

command -v go >/dev/null || die "the Go toolchain (1.25+) is needed to build the local cluster's binaries"
tools=(etcd kube helm prometheus adapter traefik)
i=0
for t in "${tools[@]}"; do
  i=$((i + 1))
  start=$SECONDS
  "$CLUSTER_SCRIPTS/build-$t.sh" || die "building $t failed (see the output above)"
  if ((SECONDS - start > 2)); then step "tools [$i/${#tools[@]}] $t built in $((SECONDS - start))s"; fi
done
step "tools: etcd $ETCD_VERSION, Kubernetes $KUBE_VERSION, helm $HELM_VERSION ready in $SERVINGSTACK_CACHE/bin"
