#!/usr/bin/env bash
# npm ci, skipped when node_modules already matches the lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.servingstack-lock
if [[ -f "$stamp" ]] && cmp -s package-lock.json "$stamp"; then exit 0; fi
echo "==> npm ci (Node $(node --version))" >&2
npm ci --no-audit --no-fund
cp package-lock.json "$stamp"
