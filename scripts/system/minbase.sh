#!/usr/bin/env bash
# Prints the path of a tarball of a bare Debian root, `debootstrap --variant=minbase SUITE` from
# the mirror apt already uses, made once per machine and cached in $SERVINGSTACK_CACHE/minbase/.
# The local base image (scripts/base-image.sh) and the fresh-root check (fresh-root.sh) start
# from it. minbase is Debian's Essential packages and apt: the base system the project counts on.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
suite="${1:-bookworm}"
cache="${SERVINGSTACK_CACHE:-$HOME/.cache/servingstack}/minbase"
tarball="$cache/$suite-$(dpkg --print-architecture).tar"

if [[ ! -s "$tarball" ]]; then
  "$here/ensure.sh" # debootstrap
  mkdir -p "$cache"
  # Two runs at once debootstrap once: the second waits, then finds the tarball made.
  exec 9>"$cache/.lock"
  flock 9
fi
if [[ ! -s "$tarball" ]]; then
  mirror="$("$here/debian-mirror.sh" "$suite")"
  root="$(mktemp -d /var/tmp/minbase.XXXXXX)"
  log="$root.log"
  trap 'rm -rf "$root" "$log" "$tarball.partial"' EXIT
  echo "==> debootstrap --variant=minbase $suite (once per machine, about a minute)" >&2
  if ! debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$log" 2>&1; then
    tail -n 30 "$log" | sed 's/^/    /' >&2
    echo "error: debootstrap --variant=minbase $suite from $mirror failed (output above)" >&2
    exit 1
  fi
  tar -C "$root" -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
fi
echo "$tarball"
