#!/usr/bin/env bash
# Makes the local base image localhost/servingstack/node-base:24 (Debian bookworm minbase, made
# once by scripts/system/minbase.sh, + the project's Node.js 24), because no container registry
# can be reached here. The Dockerfiles keep `node:24-bookworm-slim` as their default base for
# real users; local builds pass this image as BASE_IMAGE. Cached: does nothing when the image
# already exists.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE="${NODE_BASE_IMAGE:-localhost/servingstack/node-base:24}"

if podman image exists "$IMAGE" 2>/dev/null; then
  echo "==> $IMAGE exists (cached)" >&2
  exit 0
fi

scripts/system/ensure.sh # podman
MINBASE="$(scripts/system/minbase.sh bookworm)"

NODE_BIN="$(scripts/ensure-node.sh)"
NODE_HOME="$(dirname "$NODE_BIN")"

rootfs="$(mktemp -d /var/tmp/node-base.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
tar -C "$rootfs" -xf "$MINBASE"

echo "==> adding Node.js $("$NODE_BIN/node" --version)" >&2
mkdir -p "$rootfs/usr/local/node"
cp -a "$NODE_HOME/." "$rootfs/usr/local/node/"
ln -s /usr/local/node/bin/node "$rootfs/usr/local/bin/node"
# Trim what a runtime base does not need.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/info/*

tar -C "$rootfs" -c . | podman import \
  --change 'ENV PATH=/usr/local/node/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["node"]' - "$IMAGE" >/dev/null
echo "==> built $IMAGE" >&2
