#!/usr/bin/env bash
# The server benchmark on an NVIDIA GPU: bench/server.bench.ts on the CUDA execution provider,
# once per pool precision (fp16: the throughput pool's; int8: the latency pool's), with the same
# tables as `make bench`. Results: bench/results/server-cuda-{fp16,int8}.json and the
# "## CUDA server, fp16" and "## CUDA server, int8" sections of docs/benchmarks.md, printed at the end.
#
# Needs a machine with an NVIDIA GPU of compute capability 7.5, 8.0, 8.6, 8.9, 9.0 or 12.0, its
# driver 580 or newer (the CUDA libraries are CUDA 13.0), this checkout after `make install`, and
# python3 and pip3. It runs the server on the host with the CUDA image's own libraries
# (scripts/cuda-libs.sh, downloaded once): the provider beside onnxruntime-node's library for the
# run only, the CUDA libraries through LD_LIBRARY_PATH.
# BENCH_SECONDS sets the seconds per point as for `make bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "error: $*" >&2; exit 1; }

gpu="$(nvidia-smi --id=0 --query-gpu=name,driver_version,compute_cap --format=csv,noheader 2>/dev/null)" ||
  die "no NVIDIA GPU with a working driver here (nvidia-smi): this procedure needs one"
[[ -n "$gpu" ]] || die "nvidia-smi lists no GPU"
# The compute capabilities onnxruntime-gpu's provider has GPU code for (docs/server.md, "The GPUs
# it runs on"); on any other GPU its kernels cannot launch.
case "${gpu##*, }" in
  7.5 | 8.0 | 8.6 | 8.9 | 9.0 | 12.0) ;;
  *) die "$gpu: the CUDA provider has no GPU code for compute capability ${gpu##*, } (it has 7.5, 8.0, 8.6, 8.9, 9.0, 12.0)" ;;
esac
[[ -d node_modules/onnxruntime-node ]] || die "node_modules is missing: run make install first"
echo "==> GPU: $gpu" >&2

libs="$(scripts/cuda-libs.sh)"
bin=node_modules/onnxruntime-node/bin/napi-v6/linux/x64
# A cuda12 install's own provider files are set aside for the run and put back after it.
restore() {
  for f in "$libs"/onnxruntime/*.so; do
    rm -f "$bin/$(basename "$f")"
    [[ -f "$bin/$(basename "$f").aside" ]] && mv "$bin/$(basename "$f").aside" "$bin/$(basename "$f")"
  done
}
trap restore EXIT
for f in "$libs"/onnxruntime/*.so; do
  [[ -f "$bin/$(basename "$f")" ]] && mv "$bin/$(basename "$f")" "$bin/$(basename "$f").aside"
  cp "$f" "$bin/"
done

export PATH="$(scripts/ensure-node.sh):$PATH"
export LD_LIBRARY_PATH="$libs/cuda${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export ORT_DISABLE_TELEMETRY=1 BENCH_EXECUTION_PROVIDER=cuda BENCH_GPU="$gpu"
for precision in fp16 int8; do
  echo "==> server benchmark on CUDA, $precision model files" >&2
  BENCH_PRECISION=$precision node bench/server.bench.ts
done

for precision in fp16 int8; do
  echo
  awk -v heading="## CUDA server, $precision" '$0 == heading { on = 1; print; next } on && /^## / { exit } on' \
    docs/benchmarks.md
done
