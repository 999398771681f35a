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
  "step_images|build the server image with podman (scripts/images.sh server)"
  "step_node_agent|start the test node agent: pods run as podman containers, GPUs are FAKE"
  "step_router|start Traefik, the routing controller, on http://127.0.0.1:8088"
  "step_metrics|start Prometheus and prometheus-adapter, which feed the pools' HPAs"
  "step_operator|install the ServingStack CRD and start the operator"
  "step_sample_stack|apply examples/sentiment.yaml (executionProvider: auto, for the fake GPUs) and show what the operator made"
  "step_traffic|send a short burst of each kind of request through the router"
  "step_show_autoscaling|show the HPAs reading each pool's p95 and requests per second"
  "step_picture|draw both pools over the burst, from Prometheus, as the chart's dashboard does"
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

# The operator runs from source (Node 24 runs TypeScript), detached, pid in $CLUSTER_DIR/run/operator.pid,
# log in $CLUSTER_DIR/logs/operator.log; `make down` stops it. Loopback ports avoid `make serve` (8080).
# The local node's nvidia.com/gpu are the node agent's fakes, so the sample's GPU pools run the CPU
# image here instead of the CUDA one (which would find no CUDA there, after a 1.6 GB download).
# It watches only the namespace the sample goes to (default): `make test` after `make demo` runs the
# e2e suites' own operators in their own namespaces, and a second, cluster-wide one (with this
# image flag) would apply over theirs.
step_operator() {
  kubectl apply --server-side --force-conflicts -f crds/
  kubectl wait --for=condition=Established --timeout=60s crd/servingstacks.servingstack.dev
  local pid
  if pid="$(proc_pid operator)"; then
    echo "operator already running (pid $pid)"
  else
    proc_start operator node "$REPO_ROOT/operator/src/main.ts" --leader-elect=false \
      --watch-namespaces=default --default-gpu-image=localhost/servingstack/server:dev \
      --metrics-bind-address=127.0.0.1:18080 --health-probe-bind-address=127.0.0.1:18081
  fi
  node -e 'const t = Date.now() + 60000; (async () => { for (;;) { try { if ((await fetch("http://127.0.0.1:18081/readyz")).ok) return; } catch {} if (Date.now() > t) { console.error("operator not ready after 60s; see .cluster/logs/operator.log"); process.exit(1); } await new Promise((r) => setTimeout(r, 500)); } })()'
  echo "operator ready (pid $(proc_pid operator)); metrics on http://127.0.0.1:18080/metrics"
}

# The sample's pools hold GPUs, so their pods run EXECUTION_PROVIDER=cuda and exit when CUDA cannot
# load, as they should on a real node. The local node's GPUs are the agent's fakes: the demo applies
# the sample with the spec's explicit opt-out (executionProvider: auto), so the CPU image serves.
step_sample_stack() {
  kubectl patch --local -f examples/sentiment.yaml --type merge -o yaml \
    -p '{"spec":{"throughput":{"executionProvider":"auto"},"latency":{"executionProvider":"auto"}}}' |
    kubectl apply -f -
  local i gen seen
  for ((i = 0; i < 120; i++)); do
    gen="$(kubectl get servingstack sentiment -o jsonpath='{.metadata.generation}')"
    seen="$(kubectl get servingstack sentiment -o jsonpath='{.status.observedGeneration}')"
    [[ -n "$seen" && "$seen" == "$gen" ]] && break
    sleep 0.5
  done
  [[ "$seen" == "$gen" ]] || die "the operator did not report on ServingStack sentiment within 60s; see .cluster/logs/operator.log"
  kubectl get servingstacks
  echo
  kubectl get deployments,services,ingresses,horizontalpodautoscalers -l app.kubernetes.io/instance=sentiment
  echo
  kubectl get servingstack sentiment -o jsonpath='{range .status.conditions[*]}{.type}={.status} ({.reason}): {.message}{"\n"}{end}'
}

# Traffic steps (node agent, router, requests): e2e/cluster/agent.sh, e2e/cluster/traefik/traefik.sh
# and scripts/demo-traffic.ts; docs/routing.md says what they are.
# The demo runs the operator from source, so only the server image is needed here.
step_images() {
  scripts/images.sh server
}

step_node_agent() {
  e2e/cluster/agent.sh start
}

step_router() {
  e2e/cluster/traefik/traefik.sh start
}

step_metrics() {
  e2e/cluster/metrics/metrics.sh start
}

step_traffic() {
  local stack=sentiment i ready=""
  echo "waiting for ServingStack $stack to be Ready (pods start on the node agent; the model warms up)"
  for ((i = 1; i <= 150; i++)); do
    ready="$(kubectl get servingstack "$stack" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')"
    [[ "$ready" == True ]] && break
    ((i % 10 == 0)) && echo "  still waiting ($((i * 2))s): $(kubectl get servingstack "$stack" -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}')"
    sleep 2
  done
  [[ "$ready" == True ]] || die "ServingStack $stack is not Ready after 300s; see kubectl describe servingstack $stack and $CLUSTER_DIR/logs/agent.log"
  # A counter's series starts at the first request it counts, and rate() sees no increase in a
  # series' first sample: a burst shorter than a scrape would vanish from the HPAs and the picture.
  # So a few requests of each kind go first, and the burst waits until Prometheus has both pools'.
  local args=(--host "$(kubectl get servingstack "$stack" -o jsonpath='{.spec.routing.host}')"
    --model "$(kubectl get servingstack "$stack" -o jsonpath='{.spec.model.name}')"
    --provider "$(kubectl get servingstack "$stack" -o jsonpath='{.spec.routing.provider}')")
  node scripts/demo-traffic.ts "${args[@]}" --requests 3 --concurrency 1 >/dev/null
  local pools
  pools="$(pools_with_requests "http://${PROMETHEUS_ADDR:-127.0.0.1:19090}" "$stack" 2 30)"
  ((pools >= 2)) || echo "(Prometheus has requests of $pools of the 2 pools yet; the picture may miss part of the burst)"
  burst_from="$(date +%s)"
  node scripts/demo-traffic.ts "${args[@]}" --requests 100 --concurrency 4
  burst_to="$(date +%s)"
}

# The burst just sent reaches the HPAs after a scrape, the adapter's relist and an HPA sync; the
# rates stay visible for a minute (the rules' rate window).
step_show_autoscaling() {
  local i values=""
  for ((i = 1; i <= 45; i++)); do
    values="$(kubectl get hpa -l app.kubernetes.io/instance=sentiment \
      -o jsonpath='{range .items[*]}{.status.currentMetrics[0].pods.current.averageValue}{" "}{end}')"
    # Both pools show a non-zero request rate once the burst has gone through the whole chain.
    [[ "$values" =~ ^[1-9][^\ ]*\ [1-9] ]] && break
    sleep 2
  done
  kubectl get hpa -l app.kubernetes.io/instance=sentiment
  [[ "$values" =~ ^[1-9][^\ ]*\ [1-9] ]] ||
    echo "(the burst has not reached both HPAs yet: scrape, adapter relist and HPA sync take up to ~30s; run kubectl get hpa again)"
}

# The dashboard's panels for requests per second, p50/p95, batch size and queue depth, evaluated
# over the burst (with some quiet either side) and drawn into one SVG beside the logs. The rates
# need a few scrapes after the burst, which the HPA step has usually waited for already.
step_picture() {
  local stack=sentiment namespace to
  namespace="$(kubectl get servingstack "$stack" -o jsonpath='{.metadata.namespace}')"
  to=$((burst_to + 20))
  while (($(date +%s) < to)); do sleep 1; done
  node scripts/demo-picture.ts --namespace "$namespace" --stack "$stack" \
    --from "$((burst_from - 10))" --to "$(date +%s)" --out "$LOG_DIR/demo-pools.svg"
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
