#!/usr/bin/env bash
# `make images`: the local base image, then the server, CUDA server and operator images with
# podman. Tags: localhost/servingstack/server:dev, localhost/servingstack/server:dev-cuda13 and
# localhost/servingstack/operator:dev. `scripts/images.sh server` (or `server-cuda`, `operator`)
# builds just those named. CUDA_IMAGE=0 leaves the CUDA image out of a build of all three: it
# carries 2.3 GB of CUDA libraries (downloaded once from PyPI, ~1.6 GB, then cached).
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

build() { # tag dockerfile [podman build args...]
  local tag="$1" file="$2"
  shift 2
  echo "==> podman build $tag ($file $*)" >&2
  local ignore=()
  [[ -f "$file.dockerignore" ]] && ignore=(--ignorefile "$file.dockerignore")
  podman build "${PODMAN_FLAGS[@]}" "${SECRET[@]}" "${ignore[@]}" --build-arg "BASE_IMAGE=$BASE" "$@" \
    -f "$file" -t "$tag" .
  echo "==> $tag: $(podman image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')" >&2
}

targets=("$@")
wanted() { [[ ${#targets[@]} -eq 0 || " ${targets[*]} " == *" $1 "* ]]; }
if wanted server; then
  build localhost/servingstack/server:dev server-image/Dockerfile
fi
if [[ ${#targets[@]} -eq 0 && "${CUDA_IMAGE:-1}" == 0 ]]; then
  echo "==> CUDA_IMAGE=0: skipping the CUDA server image" >&2
elif wanted server-cuda; then
  libs="$(scripts/cuda-libs.sh)"
  # The CUDA libraries on the base first, as an image of their own; then the server onto it, so
  # a change to the server never copies the 2.3 GB of libraries again.
  build localhost/servingstack/cuda-base:dev-cuda13 server-image/Dockerfile --target cuda-wheels \
    --build-context "cuda-libs=$libs"
  build localhost/servingstack/server:dev-cuda13 server-image/Dockerfile \
    --build-arg RUNTIME_IMAGE=localhost/servingstack/cuda-base:dev-cuda13
fi
if wanted operator; then
  if [[ -f operator/Dockerfile ]]; then
    build localhost/servingstack/operator:dev operator/Dockerfile
  else
    echo "==> operator/Dockerfile not present yet; skipping the operator image" >&2
  fi
fi
