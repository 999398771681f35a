#!/usr/bin/env bash
# Installs the Debian packages of scripts/system/packages.txt that are missing, with apt. Every
# make target runs it first, and so do the scripts that need a package, so no step ever stops at
# "apt-get install X". Silent when everything is there; one progress line when it installs.
#   ensure.sh            install what is missing
#   ensure.sh --check    install nothing; list what is missing and exit 1 if anything is
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
list="$here/packages.txt"

# Commands are looked up in the sbin directories too, where apt puts some of them, whatever PATH
# the caller has.
lookup_path="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# missing_packages: the packages of the list that are not there, one per line.
missing_packages() {
  local line pkg cmds cmd
  while IFS= read -r line; do
    line="${line%%#*}"
    read -r pkg cmds <<<"$line" || true
    [[ -n "$pkg" ]] || continue
    if [[ -z "$cmds" ]]; then
      # Installed is the second letter: "ii ", or "hi " for a package on hold.
      [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null)" == ?"i " ]] || echo "$pkg"
      continue
    fi
    for cmd in $cmds; do
      PATH="$lookup_path" command -v "$cmd" >/dev/null || { echo "$pkg"; break; }
    done
  done <"$list"
}

mapfile -t missing < <(missing_packages)
((${#missing[@]} == 0)) && exit 0
if [[ "${1:-}" == --check ]]; then
  echo "missing Debian packages: ${missing[*]}" >&2
  exit 1
fi

if ((EUID != 0)); then
  echo "error: the project needs these Debian packages: ${missing[*]}; as root: apt-get install ${missing[*]}" >&2
  exit 1
fi

# Two make runs at once install once: the second waits, then finds everything there.
exec 9>"/tmp/servingstack-packages.lock"
flock 9
mapfile -t missing < <(missing_packages)
((${#missing[@]} == 0)) && exit 0

echo "==> installing Debian packages: ${missing[*]} (apt-get, once)" >&2
log="$(mktemp)"
attempt="$(mktemp)"
trap 'rm -f "$log" "$attempt"' EXIT

# apt_get ARG...: apt-get, waiting up to 5 minutes while another apt holds one of its locks. A
# fresh machine often runs apt's daily update just after boot, and `apt-get update` gives up at
# once on the lists lock (DPkg::Lock::Timeout only makes it wait for dpkg's).
apt_get() {
  local deadline=$((SECONDS + 300)) rc
  while true; do
    rc=0
    apt-get -o DPkg::Lock::Timeout=300 "$@" >"$attempt" 2>&1 || rc=$?
    cat "$attempt" >>"$log"
    ((rc != 0)) || return 0
    grep -q 'Could not get lock' "$attempt" && ((SECONDS < deadline)) || return 1
    if [[ -z "${waiting:-}" ]]; then echo "==> waiting for another apt to finish (up to 5 minutes)" >&2; fi
    waiting=1
    sleep 2
  done
}

# Recommends are asked for explicitly, whatever this machine's apt says: podman's own (buildah,
# fuse-overlayfs, slirp4netns, uidmap) are part of what the project ran and tested with.
export DEBIAN_FRONTEND=noninteractive
if ! apt_get update -q || ! apt_get install -y -q --install-recommends "${missing[@]}"; then
  tail -n 40 "$log" | sed 's/^/    /' >&2
  echo "error: installing ${missing[*]} with apt-get failed (output above)" >&2
  exit 1
fi
mapfile -t still < <(missing_packages)
if ((${#still[@]})); then
  echo "error: apt-get installed ${missing[*]}, but these still do not provide the commands listed in $list: ${still[*]}" >&2
  exit 1
fi
