#!/usr/bin/env bash
# Stops exactly the processes up.sh started (their pid files' pids, each checked against the
# command line it was started with), newest first, and waits until they are gone. Built binaries
# stay cached. --purge also deletes the cluster's state (etcd data, PKI, kubeconfig, logs).
set -euo pipefail
here="$(dirname "$0")"
source "$here/common.sh"
source "$here/process.sh"
source "$here/pki.sh"
source "$here/components.sh"

purge=false
case "${1:-}" in
  "") ;;
  --purge) purge=true ;;
  *) die "usage: $0 [--purge]" ;;
esac

for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
  c="${COMPONENTS[i]}"
  if pid="$(proc_pid "$c")"; then
    step "stopping $c (pid $pid)"
    proc_stop "$c" "$(component_grace "$c")"
  else
    proc_stop "$c" # forgets a stale record, if any
  fi
  # Orphans of this cluster (a pid file lost in a crash) are this script's to end as well.
  for pid in $(component_orphans "$c"); do
    step "stopping leftover $c (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    proc_wait_gone "$pid" 15 || { kill -KILL "$pid" 2>/dev/null || true; proc_wait_gone "$pid" 5 || true; }
  done
done

if $purge; then
  step "purging $CLUSTER_DIR (cluster state; the built binaries stay in $SERVINGSTACK_CACHE)"
  left=""
  for n in $(proc_names); do proc_pid "$n" >/dev/null && left+=" $n"; done
  [[ -z "$left" ]] || die "processes recorded in $RUN_DIR still run:$left;: stop them first (make down)"
  rm -rf "$CLUSTER_DIR"
fi
step "cluster stopped"
