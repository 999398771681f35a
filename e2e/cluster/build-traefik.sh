#!/usr/bin/env bash
# Builds Traefik (the routing controller the e2e tests and the demo route through) from its Go
# module at TRAEFIK_VERSION, cached by version, and keeps the Gateway API CRDs of the
# sigs.k8s.io/gateway-api version it was built against next to the binary.
#
# `go install github.com/traefik/traefik/v3/cmd/traefik@v` fails: Traefik's go.mod has replace
# lines, one pointing at a nested module (./pkg/config/dynamic/ext) that the module zip leaves
# out. A throw-away consumer module repeats the replaces and supplies that nested module as a
# stub with the same empty extension types the open-source build uses.
#
# Usage: build-traefik.sh [--download-only]   (--download-only fetches modules, builds nothing)
set -euo pipefail
source "$(dirname "$0")/common.sh"
# See the go-http-auth note below.
TRAEFIK_HTTP_AUTH_FALLBACK=v0.4.1-0.20200324110947-a37a7636d23e

out="$(tool_dir traefik "$TRAEFIK_VERSION")"
if all_present "$out" traefik && [[ -d "$out/gateway-api-crds" ]]; then exit 0; fi

work="$(build_dir traefik "$TRAEFIK_VERSION")"
cd "$work"
# One run at a time per version (a second one waits, then finds the binary built).
exec 8>"$work/.lock"
flock 8
if all_present "$out" traefik && [[ -d "$out/gateway-api-crds" ]]; then exit 0; fi

step "traefik $TRAEFIK_VERSION: resolving modules (first run only; network-bound)"
go mod download -json "github.com/traefik/traefik/v3@$TRAEFIK_VERSION" >/dev/null
modcache="$(go env GOMODCACHE)"
upstream_mod="$modcache/cache/download/github.com/traefik/traefik/v3/@v/$TRAEFIK_VERSION.mod"

mkdir -p ext
cat > ext/go.mod <<'GOMOD'
module github.com/traefik/traefik/dynamic/ext

go 1.24.0
GOMOD
# The open-source build's extension points are empty structs; the stub keeps them empty.
cat > ext/ext.go <<'GO'
// Package ext stubs Traefik's nested dynamic-configuration extension module.
package ext

// HTTP extends dynamic.HTTP; empty in the open-source build.
type HTTP struct{}

// Router extends dynamic.Router; empty in the open-source build.
type Router struct{}

// RouterIng extends the ingress provider's router annotations; empty in the open-source build.
type RouterIng struct{}

// ToRouter converts RouterIng to a Router.
func (r RouterIng) ToRouter() Router { return Router{} }
GO

# Traefik's ACME support imports every lego DNS-01 provider, and the module proxy does not serve
# several of their SDKs (403). A copy of lego whose provider factory is a stub drops them; the
# local router never requests certificates, so nothing here needs ACME.
lego_version="$(awk '$1 == "github.com/go-acme/lego/v5" { print $2 }' "$upstream_mod")"
go mod download "github.com/go-acme/lego/v5@$lego_version"
rm -rf lego
cp -r "$modcache/github.com/go-acme/lego/v5@$lego_version" lego
chmod -R u+w lego
rm -f lego/providers/dns/*.go
cat > lego/providers/dns/dns_providers.go <<'GO'
// Package dns is stubbed in the ServingStack local Traefik build: no DNS-01 providers.
package dns

import (
	"fmt"

	"github.com/go-acme/lego/v5/challenge"
)

// NewDNSChallengeProviderByName reports that this build has no DNS-01 providers.
func NewDNSChallengeProviderByName(name string) (challenge.Provider, error) {
	return nil, fmt.Errorf("ACME DNS provider %q is not built into this local Traefik", name)
}
GO

# The consumer's go.mod keeps upstream's replace and exclude lines (the nested module pointed at
# the stub) but not its require list: requiring the release pulls the same versions through
# minimal version selection, without loading go.mod files of modules nothing here imports.
{
  echo "module servingstack.dev/local-cluster/traefik"
  echo
  grep -E '^go ' "$upstream_mod"
  echo
  echo "require github.com/traefik/traefik/v3 $TRAEFIK_VERSION"
  echo
  awk '/^require *\(/ { skip = 1; next } skip && /^\)/ { skip = 0; next } skip || /^require / { next } { print }' "$upstream_mod" |
    grep -vE '^module ' | grep -vE '^go ' | sed -e 's#=> ./pkg/config/dynamic/ext#=> ./ext#'
  echo
  echo "replace github.com/go-acme/lego/v5 => ./lego"
} > go.mod

# The fork of go-http-auth that Traefik's replace names is not served by the module proxy (403);
# the fork Traefik v3.6 pinned has the same API. Only the basicAuth/digestAuth middlewares use
# it, and nothing here configures them.
auth_fork="$(awk '$1 == "github.com/abbot/go-http-auth" && $2 == "=>" { print $3 "@" $4 }' go.mod)"
if [[ -n "$auth_fork" ]] && ! go mod download "$auth_fork" 2>/dev/null; then
  step "traefik $TRAEFIK_VERSION: $auth_fork is not served; using go-http-auth $TRAEFIK_HTTP_AUTH_FALLBACK"
  sed -i -E "s#(=> github.com/containous/go-http-auth) v[^ ]+#\\1 $TRAEFIK_HTTP_AUTH_FALLBACK#" go.mod
fi
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/traefik/traefik/v3/cmd/traefik"
GO
go mod tidy -e
go list -deps github.com/traefik/traefik/v3/cmd/traefik >/dev/null

gateway_version="$(go list -m -f '{{.Version}}' sigs.k8s.io/gateway-api)"
crd_src="$(go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)/config/crd/standard"
[[ -d "$crd_src" ]] || die "sigs.k8s.io/gateway-api $gateway_version ships no config/crd/standard"

if [[ "${1:-}" == "--download-only" ]]; then exit 0; fi

# One big Go build at a time on this machine: wait for others, then hold the shared lock.
exec 9>/tmp/servingstack-build.lock
step "traefik $TRAEFIK_VERSION: waiting for the build lock"
flock 9
# Only a go command building: a process that merely names "go build" in its arguments (a shell loop,
# an editor) must not hold this build back forever.
while pgrep -f '(^|/)go build ' >/dev/null; do sleep 20; done

mkdir -p "$out.partial/gateway-api-crds"
cp "$crd_src"/*.yaml "$out.partial/gateway-api-crds/"
chmod u+w "$out.partial/gateway-api-crds/"*.yaml
echo "$gateway_version" > "$out.partial/gateway-api-crds/VERSION"

step "traefik $TRAEFIK_VERSION: building (several minutes on 2 cores)"
go build -trimpath \
  -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION -X github.com/traefik/traefik/v3/pkg/version.BuildDate=1970-01-01T00:00:00Z" \
  -o "$out.partial/traefik" github.com/traefik/traefik/v3/cmd/traefik
publish "$out"
step "traefik $TRAEFIK_VERSION: $out/traefik"
