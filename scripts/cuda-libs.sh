#!/usr/bin/env bash
# The CUDA image's libraries, from PyPI: the wheels pinned with their sha256 in
# server-image/cuda-wheels.txt, downloaded once into the cache (keyed by onnxruntime's version and
# the pins), and laid out as the build context `cuda-libs` of server-image/Dockerfile (CUDA=wheels):
#   onnxruntime/  the CUDA execution provider, which goes beside onnxruntime-node's own library
#   cuda/         the CUDA libraries it links and loads, which go on the image's library path
# Prints that folder's path. pip reaches the package index this machine is configured with.
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$self")/.."
PINS=server-image/cuda-wheels.txt
CACHE="${SERVINGSTACK_CACHE:-$HOME/.cache/servingstack}/cuda"
# The provider's two libraries: what onnxruntime-node's own cuda12 install puts beside
# libonnxruntime.so.1 (its script/install-metadata.js), less the TensorRT provider.
PROVIDERS=(libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so)
# The CUDA libraries the image carries, one glob each (each must match): what the provider links
# (cudart, cuBLAS, cuBLASLt, cuRAND; the driver's libcuda.so.1 is the node's), what it loads when
# an operator needs it (cuFFT, cuDNN with its engine libraries), and what those load to compile
# kernels at run time (NVRTC with its builtins, nvJitLink). Not cuBLAS's BLAS shim, cuFFTW, or
# NVRTC's alternative builds.
CUDA_LIBS=(libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcufft.so.12
  'libcudnn*.so.9' libnvrtc.so.13 'libnvrtc-builtins.so.13.*' libnvJitLink.so.13)

die() { echo "error: $*" >&2; exit 1; }

ort_version="$(python3 -c 'import json; print(json.load(open("package-lock.json"))["packages"]["node_modules/onnxruntime-node"]["version"])')"
pinned="$(sed -nE 's/^onnxruntime-gpu==([^ ]+).*/\1/p' "$PINS")"
[[ "$pinned" == "$ort_version" ]] ||
  die "$PINS pins onnxruntime-gpu ${pinned:-(none)}, but the lockfile has onnxruntime-node $ort_version: the CUDA provider must be the same version as the runtime that loads it"

# The wheels are kept by file name (pip downloads only those missing, and checks the hash of
# every one); the layout is kept by onnxruntime's version and the hash of the pins and this script.
wheels="$CACHE/wheels"
context="$CACHE/ort-$ort_version-$(cat "$PINS" "$self" | sha256sum | cut -c1-12)"
mkdir -p "$wheels"
exec 9>"$CACHE/.lock"
flock 9
# A run killed while laying out (no EXIT trap then) leaves its temporary folder, up to 2.3 GB; none
# is in progress while this holds the lock.
find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name 'layout.*' -exec rm -rf {} +
if [[ -f "$context/.complete" ]]; then
  echo "==> CUDA libraries: $context (cached)" >&2
  echo "$context"
  exit 0
fi

echo "==> the CUDA wheels of $PINS into $wheels (about 1.6 GB when none is there yet)" >&2
started=$SECONDS
# Every file must have its pinned sha256 (--require-hashes); the wheels are for Linux x86_64,
# whatever this machine's Python is (the onnxruntime-gpu pin is its cp312 wheel).
# pip3 is the command scripts/system/packages.txt declares and checks for: `python3 -m pip` fails
# where the first python3 has no pip of its own (an active venv made without pip).
pip3 download --quiet --no-cache-dir --no-deps --only-binary=:all: --require-hashes \
  --implementation cp --python-version 3.12 \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64 \
  -r "$PINS" -d "$wheels"
echo "==> downloaded in $((SECONDS - started)) s; laying out the libraries" >&2

tmp="$(mktemp -d "$CACHE/layout.XXXXXX")"
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
python3 - "$wheels" "$tmp" "$PINS" "${#PROVIDERS[@]}" "${PROVIDERS[@]}" "${CUDA_LIBS[@]}" <<'PY'
import fnmatch, os, shutil, sys, zipfile

wheels, out, pins, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
providers, patterns = sys.argv[5:5 + n], sys.argv[5 + n:]
# Only the pinned wheels (name, version): the folder may hold those of earlier pins too.
pinned = set()
for line in open(pins):
    if '==' in line and not line.startswith('#'):
        name, version = line.split()[0].split('==')
        pinned.add((name.lower().replace('-', '_'), version))
found = {name: 0 for name in providers + patterns}

def extract(z, info, folder):
    os.makedirs(os.path.join(out, folder), exist_ok=True)
    with z.open(info) as src, open(os.path.join(out, folder, os.path.basename(info.filename)), 'wb') as dst:
        shutil.copyfileobj(src, dst, 16 << 20)

for whl in sorted(os.listdir(wheels)):
    if tuple(whl.split('-')[:2]) not in pinned:
        continue
    with zipfile.ZipFile(os.path.join(wheels, whl)) as z:
        for info in z.infolist():
            path, name = info.filename, os.path.basename(info.filename)
            if path.startswith('onnxruntime/capi/') and name in providers:
                found[name] += 1
                extract(z, info, 'onnxruntime')
            elif path.startswith('nvidia/') and '/lib/' in path:
                hits = [p for p in patterns if fnmatch.fnmatch(name, p)]
                for p in hits:
                    found[p] += 1
                if hits:
                    extract(z, info, 'cuda')

missing = [name for name, count in found.items() if count == 0]
if missing:
    sys.exit(f"error: no wheel of the pins has {', '.join(missing)}")
PY
touch "$tmp/.complete"
rm -rf "$context"
mv "$tmp" "$context"
trap - EXIT
# Layouts of other pins are derived data, made again from the wheels in half a minute.
find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name 'ort-*' ! -path "$context" -exec rm -rf {} +
echo "==> CUDA libraries: $context ($(du -sh "$context" | cut -f1), $((SECONDS - started)) s in all)" >&2
echo "$context"
