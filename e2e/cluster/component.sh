#!/usr/bin/env bash
# Stops or starts one control-plane component, e.g. so an e2e test can take the apiserver away
# and prove that the operator recovers when it comes back.
#   component.sh stop|start|status <etcd|kube-apiserver|kube-controller-manager|kube-scheduler>
set -euo pipefail
here="$(dirname "$0")"
source "$here/common.sh"
source "$here/process.sh"
source "$here/pki.sh"
source "$here/components.sh"

usage="usage: $0 stop|start|status <${COMPONENTS[*]// /|}>"
[[ $# -eq 2 ]] || die "$usage"
action="$1" name="$2"
component_bin "$name" >/dev/null
case "$action" in
  stop) proc_stop "$name" "$(component_grace "$name")" && step "$name stopped" ;;
  start) component_start "$name" ;;
  status)
    if pid="$(proc_pid "$name")"; then
      if component_healthy "$name"; then echo "$name running (pid $pid), healthy"; else echo "$name running (pid $pid), not healthy"; fi
    else
      echo "$name stopped"
      exit 3
    fi
    ;;
  *) die "$usage" ;;
esac
