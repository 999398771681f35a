#!/usr/bin/env bash
# Builds helm from the helm.sh/helm/v3 Go module at HELM_VERSION, cached by version.
# Helm's go.mod has no replace lines, so it builds straight from the module; the ldflags are the
# ones helm's own Makefile sets, or `helm version` prints "v3.21" and the chart linter assumes an
# older Kubernetes than the one its client libraries speak.
set -euo pipefail
source "$(dirname "$0")/common.sh"

out="$(tool_dir helm "$HELM_VERSION")"
if all_present "$out" helm; then exit 0; fi

work="$(build_dir helm "$HELM_VERSION")"
cd "$work"
step "helm $HELM_VERSION: resolving modules (first run only)"
cat > go.mod <<MOD
module servingstack.dev/local-cluster/helm

go 1.26.0

require helm.sh/helm/v3 $HELM_VERSION
MOD
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "helm.sh/helm/v3/cmd/helm"
GO
quietly go get "helm.sh/helm/v3@$HELM_VERSION"
quietly go mod tidy

# Kubernetes version helm's client libraries speak, as its Makefile derives it from client-go.
client_go="$(go list -m -f '{{.Version}}' k8s.io/client-go)" # v0.Y.Z
k8s_minor="$(cut -d. -f2 <<<"$client_go")"
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done

step "helm $HELM_VERSION: building helm (a few minutes on 2 cores)"
mkdir -p "$out.partial"
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out.partial/helm" helm.sh/helm/v3/cmd/helm
output_matches "^$HELM_VERSION" "$out.partial/helm" version --short ||
  die "the helm just built does not report version $HELM_VERSION"
publish "$out"
