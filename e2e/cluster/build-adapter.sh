#!/usr/bin/env bash
# Builds prometheus-adapter (cmd/adapter) from its Go module at ADAPTER_VERSION, cached by version.
#
# The module proxy refuses to list sigs.k8s.io/prometheus-adapter's versions (403 on @v/list), but
# it serves a tagged release asked for by name. v0.12.0 (the latest tag) has no replace lines, so a
# consumer module that requires it selects the release's own dependency versions (k8s libraries v0.30).
set -euo pipefail
source "$(dirname "$0")/common.sh"

out="$(tool_dir prometheus-adapter "$ADAPTER_VERSION")"
if all_present "$out" prometheus-adapter; then exit 0; fi

cd "$(build_dir prometheus-adapter "$ADAPTER_VERSION")"
step "prometheus-adapter $ADAPTER_VERSION: resolving modules (first run only)"
cat > go.mod <<MOD
module servingstack.dev/local-cluster/prometheus-adapter

go 1.26.0

require sigs.k8s.io/prometheus-adapter $ADAPTER_VERSION
MOD
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "sigs.k8s.io/prometheus-adapter/cmd/adapter"
GO
quietly go get "sigs.k8s.io/prometheus-adapter@$ADAPTER_VERSION"
quietly go mod tidy

step "prometheus-adapter $ADAPTER_VERSION: building (several minutes on 2 cores)"
mkdir -p "$out.partial"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out.partial/prometheus-adapter" \
  sigs.k8s.io/prometheus-adapter/cmd/adapter
publish "$out"
