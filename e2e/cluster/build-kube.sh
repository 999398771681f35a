#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler and kubectl from the
# k8s.io/kubernetes Go module at KUBE_VERSION, cached by version.
#
# k8s.io/kubernetes replaces its ~31 staging modules with ./staging paths a consumer cannot
# see, so `go install pkg@version` fails. A throw-away consumer module requires the release and
# repeats each replace pointing at the published k8s.io/<m> v0.Y.Z instead; the list is read
# from the release's own go.mod so it never drifts.
set -euo pipefail
source "$(dirname "$0")/common.sh"

out="$(tool_dir kube "$KUBE_VERSION")"
bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
if all_present "$out" "${bins[@]}"; then exit 0; fi

minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
staging_version="v0.${KUBE_VERSION#v1.}"
work="$(build_dir kube "$KUBE_VERSION")"
cd "$work"

step "kube $KUBE_VERSION: resolving modules (first run only)"
go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" >/dev/null
upstream_mod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$KUBE_VERSION.mod"
{
  echo "module servingstack.dev/local-cluster/kube"
  echo
  grep -E '^go ' "$upstream_mod"
  echo
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  echo
  echo "replace ("
  grep -E '^\s*k8s.io/[^ ]+ => ./staging/' "$upstream_mod" |
    awk -v v="$staging_version" '{ printf "\t%s => %s %s\n", $1, $1, v }'
  echo ")"
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
go mod tidy -e >/dev/null 2>&1 || true
go get "k8s.io/kubernetes@$KUBE_VERSION" >/dev/null
go mod tidy

# Stamp the version, or /version says v0.0.0 and Helm's kubeVersion checks fail.
ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

mkdir -p "$out.partial"
for b in "${bins[@]}"; do
  step "kube $KUBE_VERSION: building $b (the first build takes tens of minutes on 2 cores)"
  go build -trimpath -ldflags "-s -w $ldflags" -o "$out.partial/$b" "k8s.io/kubernetes/cmd/$b"
done
publish "$out"
