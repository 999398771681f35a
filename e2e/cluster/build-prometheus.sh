#!/usr/bin/env bash
# Builds Prometheus from its Go module at PROMETHEUS_VERSION, cached by version.
#
# Prometheus publishes its Go module as v0.3MM.P for release v3.MM.P. Its go.mod has no replace
# lines, so a consumer module that requires it selects exactly the release's own dependency
# versions. Tags: netgo as upstream; remove_all_sd + enable_kubernetes_sd keep only the service
# discovery the local cluster uses (the cloud SDKs would double the build). Without builtinassets
# the web UI's files are absent (they come from an npm build); the HTTP API, which is all the
# adapter and the tests use, works without them.
set -euo pipefail
source "$(dirname "$0")/common.sh"

out="$(tool_dir prometheus "$PROMETHEUS_VERSION")"
if all_present "$out" prometheus; then exit 0; fi

# v0.316.0 -> 3.16.0
release="3.$((10#${PROMETHEUS_VERSION:3:3} - 300)).${PROMETHEUS_VERSION##*.}"
cd "$(build_dir prometheus "$PROMETHEUS_VERSION")"
step "prometheus $release ($PROMETHEUS_VERSION): resolving modules (first run only)"
cat > go.mod <<MOD
module servingstack.dev/local-cluster/prometheus

go 1.26.0

require github.com/prometheus/prometheus $PROMETHEUS_VERSION
MOD
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/prometheus/prometheus/cmd/prometheus"
GO
export GOWORK=off
quietly go get "github.com/prometheus/prometheus@$PROMETHEUS_VERSION"
quietly go mod tidy

pkg=github.com/prometheus/common/version
ldflags="-s -w -X $pkg.Version=$release -X $pkg.Branch=HEAD -X $pkg.BuildUser=servingstack"
step "prometheus $release: building (several minutes on 2 cores)"
mkdir -p "$out.partial"
go build -trimpath -tags netgo,remove_all_sd,enable_kubernetes_sd -ldflags "$ldflags" \
  -o "$out.partial/prometheus" github.com/prometheus/prometheus/cmd/prometheus
publish "$out"
