#!/usr/bin/env bash
# `make images`: the local base image, then the server and operator images with podman.
# Tags: localhost/servingstack/server:dev and localhost/servingstack/operator:dev.
# `scripts/images.sh server` (or `operator`) builds just that one.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE="${NODE_BASE_IMAGE:-localhost/servingstack/node-base:24}"
# This machine lacks CAP_SYS_RESOURCE: podman needs explicit rlimits below the hard limits.
# crun cannot run on this machine's hybrid cgroups; runc (Debian) can.
PODMAN_FLAGS=(--ulimit nofile=1024:4096 --ulimit nproc=1024:4096 --runtime "${PODMAN_RUNTIME:-runc}")

scripts/base-image.sh

# npm inside the build reaches the registry the way the host does; where that path inspects
# TLS, the host's CA bundle goes in as a build secret (never into a layer).
SECRET=()
for ca in "${NODE_EXTRA_CA_CERTS:-}" /etc/ssl/certs/ca-certificates.crt; do
  if [[ -n "$ca" && -f "$ca" ]]; then SECRET=(--secret "id=ca,src=$ca"); break; fi
done

build() { # name dockerfile
  local tag="localhost/servingstack/$1:dev"
  echo "==> podman build $tag ($2)" >&2
  local ignore=()
  [[ -f "$2.dockerignore" ]] && ignore=(--ignorefile "$2.dockerignore")
  podman build "${PODMAN_FLAGS[@]}" "${SECRET[@]}" "${ignore[@]}" --build-arg "BASE_IMAGE=$BASE" -f "$2" -t "$tag" .
  echo "==> $tag: $(podman image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')" >&2
}

targets=("$@")
if [[ ${#targets[@]} -eq 0 || " ${targets[*]} " == *" server "* ]]; then
  build server server-image/Dockerfile
fi
if [[ ${#targets[@]} -eq 0 || " ${targets[*]} " == *" operator "* ]]; then
  if [[ -f operator/Dockerfile ]]; then
    build operator operator/Dockerfile
  else
    echo "==> operator/Dockerfile not present yet; skipping the operator image" >&2
  fi
fi
