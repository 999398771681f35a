#!/usr/bin/env bash
# Builds Prometheus from its Go module at PROMETHEUS_VERSION, cached by version.
#
# Prometheus publishes its Go module as v0.3MM.P for release v3.MM.P. Its go.mod has no replace
# lines, so `go install pkg@version` builds exactly the release's pinned dependency graph.
# Tags: netgo as upstream; remove_all_sd + enable_kubernetes_sd keep only the service discovery the
# local cluster uses (the cloud SDKs would double the build). Without builtinassets the web UI's
# files are absent (they come from an npm build); the HTTP API, which is all the adapter and the
# tests use, works without them.
set -euo pipefail
source "$(dirname "$0")/common.sh"

out="$(tool_dir prometheus "$PROMETHEUS_VERSION")"
if all_present "$out" prometheus; then exit 0; fi

# v0.316.0 -> 3.16.0
release="3.$((10#${PROMETHEUS_VERSION:3:3} - 300)).${PROMETHEUS_VERSION##*.}"
cd "$(build_dir prometheus "$PROMETHEUS_VERSION")"
pkg=github.com/prometheus/common/version
ldflags="-s -w -X $pkg.Version=$release -X $pkg.Branch=HEAD -X $pkg.BuildUser=servingstack"

step "prometheus $release ($PROMETHEUS_VERSION): building (several minutes on 2 cores)"
mkdir -p "$out.partial"
GOBIN="$out.partial" GOWORK=off go install -trimpath -tags netgo,remove_all_sd,enable_kubernetes_sd \
  -ldflags "$ldflags" "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_VERSION"
publish "$out"
