#!/usr/bin/env bash
# Builds etcd from the go.etcd.io/etcd/server/v3 Go module at ETCD_VERSION, cached by version.
#
# Debian's etcd (3.4.23) is too old for recent apiservers. The server module's root is the etcd
# main package, but its go.mod replaces its sibling modules (api, client, pkg) with ../ paths, so
# `go install ...@version` refuses it; a throw-away consumer module requiring the release builds it.
set -euo pipefail
source "$(dirname "$0")/common.sh"

out="$(tool_dir etcd "$ETCD_VERSION")"
if all_present "$out" etcd; then exit 0; fi

work="$(build_dir etcd "$ETCD_VERSION")"
cd "$work"
step "etcd $ETCD_VERSION: resolving modules (first run only)"
cat > go.mod <<MOD
module servingstack.dev/local-cluster/etcd

go 1.26.0

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
MOD
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
# The siblings it replaces upstream are published at the same version; pin them to it.
quietly go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "go.etcd.io/etcd/api/v3@$ETCD_VERSION" \
  "go.etcd.io/etcd/client/pkg/v3@$ETCD_VERSION" "go.etcd.io/etcd/client/v3@$ETCD_VERSION" \
  "go.etcd.io/etcd/pkg/v3@$ETCD_VERSION"
quietly go mod tidy

step "etcd $ETCD_VERSION: building etcd (a few minutes on 2 cores)"
mkdir -p "$out.partial"
# api/v3/version.Version is a constant of the release itself; only the commit can be stamped.
go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" \
  -o "$out.partial/etcd" go.etcd.io/etcd/server/v3
output_matches "etcd Version: ${ETCD_VERSION#v}" "$out.partial/etcd" --version ||
  die "the etcd just built does not report version ${ETCD_VERSION#v}"
publish "$out"
