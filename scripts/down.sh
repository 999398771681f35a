#!/usr/bin/env bash
# `make down`: stops everything `make demo` started, then the local cluster. Processes are
# found only through their pid files under .cluster/run/ and are signalled only after their
# command line proves they are this checkout's; the cluster's own components go last.
set -euo pipefail
cd "$(dirname "$0")/.."
source e2e/cluster/common.sh
source e2e/cluster/process.sh
source e2e/cluster/pki.sh
source e2e/cluster/components.sh

# ours PID: true when PID runs something from this checkout or from the tool cache. Used for pid
# files written without proc_start (and so without a recorded command line).
ours() {
  local cmd
  cmd="$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline")" || return 1
  [[ "$cmd" == *"$REPO_ROOT/"* || "$cmd" == *"$SERVINGSTACK_CACHE/"* ]]
}

is_component() {
  local c; for c in "${COMPONENTS[@]}"; do [[ "$1" == "$c" ]] && return 0; done
  return 1
}

stop_recorded() {
  local name="$1" pid
  if [[ -f "$RUN_DIR/$name.cmdline" ]]; then
    if pid="$(proc_pid "$name")"; then step "stopping $name (pid $pid)"; fi
    proc_stop "$name" 30
    return
  fi
  pid="$(cat "$RUN_DIR/$name.pid" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && ours "$pid"; then
    step "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    proc_wait_gone "$pid" 30 || { kill -KILL "$pid" 2>/dev/null || true; proc_wait_gone "$pid" 5 || true; }
  fi
  rm -f "$RUN_DIR/$name.pid"
}

# Parts with their own teardown go first: it also undoes what they added to the cluster (an
# APIService, the node agent's containers). Dependants before what they depend on; the node agent
# last, so the pods it runs are stopped with their grace period while the API still answers.
# Each runs only when this cluster recorded one of its processes ("script|pid names"), so tearing
# down one checkout's cluster never reaches into another's.
TEARDOWN=(
  "e2e/cluster/traefik/traefik.sh|traefik"
  "e2e/cluster/metrics/metrics.sh|prometheus prometheus-adapter"
  "e2e/cluster/agent.sh|agent"
)
for entry in "${TEARDOWN[@]}"; do
  script="${entry%%|*}"
  [[ -x "$script" ]] || continue
  for name in ${entry#*|}; do
    if [[ -f "$RUN_DIR/$name.pid" ]]; then
      "$script" stop || step "$script stop failed; its processes are stopped directly below"
      break
    fi
  done
done

for name in $(proc_names); do
  is_component "$name" || stop_recorded "$name"
done
e2e/cluster/down.sh "$@"
