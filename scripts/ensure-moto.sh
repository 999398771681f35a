#!/usr/bin/env bash
# moto's server mode, from PyPI, in a venv of its own in the cache: the S3-compatible server the
# model-fetch tests start (server-image/test/unit/fetch-model-s3.test.ts), with IAM on so that it
# checks every request's SigV4 signature. Pinned by version; the venv is keyed by the pin and
# this script, so a changed pin makes a new one. Prints the venv's python.
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
MOTO_VERSION=5.2.5
CACHE="${SERVINGSTACK_CACHE:-$HOME/.cache/servingstack}/python"
venv="$CACHE/moto-$MOTO_VERSION-$(sha256sum <"$self" | cut -c1-12)"
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import moto.server' 2>/dev/null; then
  rm -rf "$venv.partial"
  python3 -m venv "$venv.partial" >&2
  "$venv.partial/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir \
    "moto[server,s3,iam]==$MOTO_VERSION" >&2
  rm -rf "$venv"
  mv "$venv.partial" "$venv"
  # A venv's scripts name the folder they were made in; the python binary does not.
fi
echo "$venv/bin/python"
