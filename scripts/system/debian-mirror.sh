#!/usr/bin/env bash
# Prints the Debian mirror apt on this machine already uses for SUITE (default bookworm), from a
# deb822 .sources file or a classic sources.list line, so nothing in the project names a host.
set -euo pipefail
suite="${1:-bookworm}"

candidates() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    awk -v s="$suite" '/^URIs:/{u=$2} /^Suites:/{for(i=2;i<=NF;i++) if($i==s){print u; exit}}' "$f"
  done
  if [[ -f /etc/apt/sources.list ]]; then
    awk -v s="$suite" '$1=="deb" && $3==s{print $2; exit}' /etc/apt/sources.list
  fi
}

# Captured whole, then the first line taken: `candidates | head -n1` would fail under pipefail
# whenever head exits while a later awk is still writing.
all="$(candidates)"
mirror="${all%%$'\n'*}"
[[ -n "$mirror" ]] || { echo "error: no $suite mirror found in apt's sources" >&2; exit 1; }
echo "$mirror"
