#!/usr/bin/env bash
# `make serve`: the inference server alone on 127.0.0.1:8080 with the bundled MLP.
# MODEL_DIR, MODEL_NAME, POOL, PRECISION, PORT (and every other server setting) override.
set -euo pipefail
cd "$(dirname "$0")/.."
export ORT_DISABLE_TELEMETRY="${ORT_DISABLE_TELEMETRY:-1}"
export MODEL_DIR="${MODEL_DIR:-$PWD/server-image/models/mlp}"
export MODEL_NAME="${MODEL_NAME:-mlp}"
export POOL="${POOL:-latency}"
export PRECISION="${PRECISION:-fp32}"
export PORT="${PORT:-8080}"
export HOST="${HOST:-127.0.0.1}"
echo "==> serving '$MODEL_NAME' ($PRECISION, $POOL pool) from $MODEL_DIR on http://$HOST:$PORT" >&2
echo "    try: curl -s http://$HOST:$PORT/v2/models/$MODEL_NAME" >&2
exec node server-image/src/main.ts "$@"
