#!/usr/bin/env bash
# `make bench`: runs every bench/*.bench.ts in turn (figures, not tests). Results land in
# bench/results/ and each benchmark rewrites its own section of docs/benchmarks.md.
# BENCH=server runs only bench/server.bench.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
export ORT_DISABLE_TELEMETRY=1
status=0
for f in bench/*.bench.ts; do
  name="$(basename "$f" .bench.ts)"
  [[ -n "${BENCH:-}" && "$BENCH" != "$name" ]] && continue
  echo "==> $f" >&2
  if ! node "$f"; then
    echo "!! $f failed" >&2
    status=1
  fi
done
exit "$status"
