#!/usr/bin/env bash
# Makes the local base image localhost/servingstack/node-base:24 (Debian bookworm minbase +
# the project's Node.js 24), because no container registry can be reached here. The
# Dockerfiles keep `node:24-bookworm-slim` as their default base for real users; local builds
# pass this image as BASE_IMAGE. Cached: does nothing when the image already exists.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE="${NODE_BASE_IMAGE:-localhost/servingstack/node-base:24}"

if podman image exists "$IMAGE" 2>/dev/null; then
  echo "==> $IMAGE exists (cached)" >&2
  exit 0
fi

scripts/system/ensure.sh # debootstrap, podman

# The Debian mirror is whatever apt on this machine already uses (deb822 .sources or a
# classic sources.list line), so nothing here names a host.
mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    awk '/^URIs:/{u=$2} /^Suites:/{for(i=2;i<=NF;i++) if($i=="bookworm"){print u; exit}}' "$f"
  done
  if [[ -f /etc/apt/sources.list ]]; then
    awk '$1=="deb" && $3=="bookworm"{print $2; exit}' /etc/apt/sources.list
  fi
}
MIRROR="$(mirror | head -n1)"
[[ -n "$MIRROR" ]] || { echo "error: no bookworm mirror found in apt's sources" >&2; exit 1; }

NODE_BIN="$(scripts/ensure-node.sh)"
NODE_HOME="$(dirname "$NODE_BIN")"

rootfs="$(mktemp -d /var/tmp/node-base.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
echo "==> debootstrap --variant=minbase bookworm (about a minute)" >&2
debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >/dev/null

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
