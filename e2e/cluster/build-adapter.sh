#!/usr/bin/env bash
# Builds prometheus-adapter (cmd/adapter) from its Go module at ADAPTER_VERSION, cached by version.
#
# The module proxy refuses to list sigs.k8s.io/prometheus-adapter's versions (403), but it serves
# the tagged release when asked for it by name, and v0.12.0 has no replace lines, so
# `go install pkg@version` builds the release's own pinned dependency graph (k8s libraries v0.30).
set -euo pipefail
source "$(dirname "$0")/common.sh"

out="$(tool_dir prometheus-adapter "$ADAPTER_VERSION")"
if all_present "$out" prometheus-adapter; then exit 0; fi

cd "$(build_dir prometheus-adapter "$ADAPTER_VERSION")"
step "prometheus-adapter $ADAPTER_VERSION: building (several minutes on 2 cores)"
mkdir -p "$out.partial"
CGO_ENABLED=0 GOBIN="$out.partial" go install -trimpath -ldflags "-s -w" \
  "sigs.k8s.io/prometheus-adapter/cmd/adapter@$ADAPTER_VERSION"
mv "$out.partial/adapter" "$out.partial/prometheus-adapter"
publish "$out"
