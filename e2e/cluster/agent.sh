#!/usr/bin/env bash
# Starts or stops the test node agent (e2e/agent, test tooling that plays the kubelet): it
# registers Node $AGENT_NODE_NAME with FAKE nvidia.com/gpu capacity and runs the pods bound to it
# as podman containers on the `servingstack` bridge network.
#   agent.sh start    idempotent; returns once the Node is Ready
#   agent.sh stop     stops the agent, then removes any pod it labelled that is still there
#   agent.sh status
#   agent.sh disconnect | reconnect
#                     the agent stops (resumes) reporting to the API server (Lease, node and pod
#                     status) while its pods keep running: e2e tests of a node NotReady episode
# The agent runs with the cluster's admin kubeconfig (a real kubelet would use a
# system:node:<name> client certificate and the Node authorizer). Pid and command line in
# .cluster/run/agent.*, log in .cluster/logs/agent.log, pod volumes and container logs in
# .cluster/agent/.
set -euo pipefail
here="$(dirname "$0")"
source "$here/common.sh"
source "$here/process.sh"

NODE_NAME="${AGENT_NODE_NAME:-servingstack-node-1}"
node_bin="$SERVINGSTACK_CACHE/node-v${NODE_VERSION:-24.22.3}/bin/node"
kubeconfig="$CLUSTER_DIR/kubeconfig"
kubectl=("$CLUSTER_DIR/bin/kubectl" --kubeconfig "$kubeconfig" --request-timeout=5s)

node_ready() {
  [[ "$("${kubectl[@]}" get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

start() {
  local pid
  if pid="$(proc_pid agent)"; then
    step "node agent already running (pid $pid)"
  else
    [[ -f "$kubeconfig" ]] || die "no cluster at $kubeconfig: start it first (make cluster-up)"
    [[ -x "$node_bin" ]] || die "Node.js is missing at $node_bin (make node)"
    "$REPO_ROOT/scripts/system/ensure.sh" # podman, and runc: crun cannot run on this machine's cgroups
    step "node agent: registering $NODE_NAME (nvidia.com/gpu capacity is FAKE: there is no GPU)"
    proc_start agent "$node_bin" "$REPO_ROOT/e2e/agent/src/main.ts" \
      --kubeconfig "$kubeconfig" --state-dir "$CLUSTER_DIR/agent" --node-name "$NODE_NAME"
  fi
  local deadline=$((SECONDS + 60))
  until node_ready; do
    if ! proc_pid agent >/dev/null || ((SECONDS >= deadline)); then
      die "node $NODE_NAME did not become Ready; last lines of $LOG_DIR/agent.log:
$(tail -n 20 "$LOG_DIR/agent.log" 2>/dev/null)"
    fi
    sleep 0.5
  done
  step "node agent: $NODE_NAME Ready (log $LOG_DIR/agent.log)"
}

stop() {
  local pid
  if pid="$(proc_pid agent)"; then step "stopping node agent (pid $pid)"; fi
  # The agent stops its pods itself on SIGTERM (5 s grace each, in parallel).
  proc_stop agent 60
  # The ClusterIPs its service proxy gave the host (it removes them itself unless it crashed).
  ip addr flush dev lo label lo:ssk 2>/dev/null || true
  if command -v podman >/dev/null; then
    local pods
    pods="$(podman pod ps -q --filter "label=servingstack.dev/agent-node=$NODE_NAME" 2>/dev/null || true)"
    if [[ -n "$pods" ]]; then
      step "removing pods the node agent left behind"
      # shellcheck disable=SC2086
      podman --runtime runc pod rm -f -t 5 $pods >/dev/null
    fi
  fi
}

# signal SIGNAL WHAT: tells the running agent to disconnect or reconnect (see e2e/agent/src/main.ts).
signal() {
  local pid
  pid="$(proc_pid agent)" || die "the node agent is not running"
  kill -"$1" "$pid"
  step "node agent (pid $pid): $2"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  disconnect) signal USR1 "disconnected from the API server; its pods keep running" ;;
  reconnect) signal USR2 "reconnected" ;;
  status)
    if pid="$(proc_pid agent)"; then
      echo "node agent running (pid $pid); node $NODE_NAME $(node_ready && echo Ready || echo 'not Ready')"
    else
      echo "node agent stopped"
      exit 3
    fi
    ;;
  *) die "usage: $0 start|stop|status|disconnect|reconnect" ;;
esac
