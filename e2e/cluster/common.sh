# Shared helpers for the local-cluster scripts: versions, cache paths, progress output.
# shellcheck shell=bash
set -euo pipefail
CLUSTER_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$CLUSTER_SCRIPTS/../.." && pwd)"
# shellcheck source=versions.env
source "$CLUSTER_SCRIPTS/versions.env"
SERVINGSTACK_CACHE="${SERVINGSTACK_CACHE:-$HOME/.cache/servingstack}"
CLUSTER_DIR="${CLUSTER_DIR:-$REPO_ROOT/.cluster}"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

step() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# tool_dir NAME VERSION: where a built tool's binaries live, keyed by version.
tool_dir() { echo "$SERVINGSTACK_CACHE/bin/$1-$2"; }

# build_dir NAME VERSION: a scratch Go module for building NAME, outside the work tree.
build_dir() { local d="$SERVINGSTACK_CACHE/build/$1-$2"; mkdir -p "$d"; echo "$d"; }

all_present() {
  local dir="$1"; shift
  local b; for b in "$@"; do [[ -x "$dir/$b" ]] || return 1; done
}

# publish DIR: binaries are built into DIR.partial and renamed at the end, so an interrupted
# build never leaves a half-filled cache entry that later runs would trust.
publish() { rm -rf "$1"; mv "$1.partial" "$1"; }

# output_matches REGEX CMD...: runs CMD to the end, then matches its whole output (stdout and
# stderr) against the extended REGEX. Never `CMD | grep -q` under pipefail: grep exits at its
# first match, CMD gets SIGPIPE while still writing, and the pipeline fails although it matched.
output_matches() {
  local regex="$1" out; shift
  out="$("$@" 2>&1)" || return 1
  grep -qE -- "$regex" <<<"$out"
}

# quietly CMD...: runs CMD with its chatter captured, shown only if it fails.
quietly() {
  local log; log="$(mktemp)"
  if "$@" >"$log" 2>&1; then rm -f "$log"; return 0; fi
  cat "$log" >&2; rm -f "$log"; die "failed: $*"
}

# Loopback ports of the local cluster, away from the usual ones (2379, 6443, 10257, 10259) so a
# real cluster or another tool on the same machine does not collide.
ETCD_PORT="${ETCD_PORT:-12379}"
ETCD_PEER_PORT="${ETCD_PEER_PORT:-12380}"
APISERVER_PORT="${APISERVER_PORT:-16443}"
CONTROLLER_MANAGER_PORT="${CONTROLLER_MANAGER_PORT:-16257}"
SCHEDULER_PORT="${SCHEDULER_PORT:-16259}"

# pools_with_requests PROMETHEUS STACK WANT TRIES: how many of STACK's pools Prometheus has a
# request counter of, asking once a second until WANT or TRIES asks. Each ask is bounded (curl
# --max-time 5); a Prometheus that never answers dies naming itself and its last error, rather
# than looking like one with no requests yet.
pools_with_requests() {
  local prometheus="$1" stack="$2" want="$3" tries="$4" pools=0 answered=0 answer="" i
  local query="count(count by (pool) (servingstack_requests_total{servingstack=\"$stack\"}))"
  for ((i = 1; i <= tries; i++)); do
    if answer="$(curl -fsS --max-time 5 --get "$prometheus/api/v1/query" --data-urlencode "query=$query" 2>&1)"; then
      answered=1
      pools="$(node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8")).data.result; console.log(r[0] ? r[0].value[1] : 0)' <<<"$answer")"
    fi
    ((pools >= want)) && break
    if ((i < tries)); then sleep 1; fi
  done
  ((answered)) || die "Prometheus at $prometheus did not answer in $tries tries (last: $answer)"
  echo "$pools"
}
