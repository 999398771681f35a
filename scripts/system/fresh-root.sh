#!/usr/bin/env bash
# The fresh-root check: the project's installer (ensure.sh) run on a bare Debian root as on a
# fresh machine, then every command the project needs looked up there.
#   fresh-root.sh check COMMAND...   in a fresh minbase root (minbase.sh): every command of
#                                    base-commands.txt must resolve before anything is installed;
#                                    then ensure.sh must install with one progress line, a second
#                                    ensure.sh must be silent, and every COMMAND must resolve
#   fresh-root.sh base-commands      prints the commands on PATH in a bare minbase root
#                                    (base-commands.txt is this list)
# The root gets this machine's apt sources and settings, so it is this machine with nothing
# installed beyond minbase. Downloaded packages are kept in $SERVINGSTACK_CACHE/fresh-root-debs,
# so only the first run downloads them. Needs root (chroot, mount).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${SERVINGSTACK_CACHE:-$HOME/.cache/servingstack}"
PATH_IN_ROOT=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

root=""
cleanup() {
  [[ -n "$root" ]] || return 0
  local m
  for m in "$root/var/cache/servingstack-debs" "$root/proc" "$root"; do
    if mountpoint -q "$m"; then umount "$m" || umount -l "$m"; fi
  done
  rm -rf "$root"
}
trap cleanup EXIT
# Killed (a test's timeout), it still unmounts and deletes the root, once the running step ends.
trap 'exit 143' TERM
trap 'exit 130' INT

# in_root CMD...: runs CMD in the root with a clean environment, as a fresh login would have.
in_root() { chroot "$root" /usr/bin/env -i "PATH=$PATH_IN_ROOT" HOME=/root LANG=C.UTF-8 "$@"; }

make_root() {
  local tarball
  tarball="$("$here/minbase.sh" bookworm)"
  root="$(mktemp -d /var/tmp/fresh-root.XXXXXX)"
  # In memory: unpacking and then deleting some 700 packages (npm's dependencies are most of
  # them) takes minutes on a busy disk, seconds in a tmpfs.
  mount -t tmpfs -o size=4g,mode=0755 servingstack-fresh-root "$root"
  tar -C "$root" -xf "$tarball"
}

# commands_on_path: every executable on the root's PATH, by name.
commands_on_path() {
  # shellcheck disable=SC2016
  in_root bash -c 'for d in ${PATH//:/ }; do for f in "$d"/*; do [[ -x $f && ! -d $f ]] && echo "${f##*/}"; done; done; true' |
    sort -u
}

# resolve_in_root COMMAND...: prints those that do not resolve in the root.
unresolved_in_root() {
  # shellcheck disable=SC2016
  in_root bash -c 'for c in "$@"; do command -v "$c" >/dev/null || echo "$c"; done' _ "$@"
}

check() {
  (($# > 0)) || { echo "usage: $0 check COMMAND..." >&2; exit 2; }
  local started=$SECONDS base missing first second
  make_root
  mapfile -t base < <(awk '!/^#/ && NF {print $1}' "$here/base-commands.txt")
  mapfile -t missing < <(unresolved_in_root "${base[@]}")
  if ((${#missing[@]})); then
    echo "error: base-commands.txt lists commands a bare minbase root does not have: ${missing[*]}" >&2
    exit 1
  fi

  # This machine's apt sources and settings (mirror, proxy, date checks); the packages it
  # downloads go to a cache that outlives the root.
  rm -f "$root/etc/apt/sources.list"
  cp /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list "$root/etc/apt/sources.list.d/" 2>/dev/null || true
  [[ -f /etc/apt/sources.list ]] && cp /etc/apt/sources.list "$root/etc/apt/"
  cp /etc/apt/apt.conf.d/* "$root/etc/apt/apt.conf.d/" 2>/dev/null || true
  echo 'Dir::Cache::Archives "/var/cache/servingstack-debs/";' >"$root/etc/apt/apt.conf.d/99servingstack-debs"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  # A root thrown away after the check needs no fsync from dpkg (minutes saved on a busy disk).
  echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/servingstack-unsafe-io"
  mkdir -p "$cache/fresh-root-debs/partial" "$root/var/cache/servingstack-debs"
  mount --bind "$cache/fresh-root-debs" "$root/var/cache/servingstack-debs"
  mount -t proc proc "$root/proc"

  mkdir -p "$root/opt/servingstack"
  cp "$here/ensure.sh" "$here/packages.txt" "$root/opt/servingstack/"
  first="$(in_root bash /opt/servingstack/ensure.sh 2>&1)" ||
    { printf '%s\n' "$first" >&2; echo "error: ensure.sh failed in the fresh root" >&2; exit 1; }
  echo "fresh root: ensure.sh said: $first"
  [[ "$first" == "==> installing Debian packages: "* && "$first" != *$'\n'* ]] ||
    { echo "error: ensure.sh on a fresh root should print exactly one progress line" >&2; exit 1; }
  second="$(in_root bash /opt/servingstack/ensure.sh 2>&1)" ||
    { printf '%s\n' "$second" >&2; echo "error: a second ensure.sh failed in the fresh root" >&2; exit 1; }
  [[ -z "$second" ]] || { printf '%s\n' "$second" >&2; echo "error: a second ensure.sh should be silent" >&2; exit 1; }

  mapfile -t missing < <(unresolved_in_root "$@")
  if ((${#missing[@]})); then
    echo "error: after ensure.sh, these commands do not resolve in the fresh root: ${missing[*]}" >&2
    exit 1
  fi
  echo "fresh root: all $# commands resolve (${#base[@]} base commands checked first), in $((SECONDS - started))s"
}

case "${1:-}" in
  check) shift; check "$@" ;;
  base-commands)
    make_root
    cat <<'HEADER'
# The base system: every command on PATH in a bare `debootstrap --variant=minbase bookworm` root
# (Debian's Essential packages and apt; amd64), which any Debian machine has. Made by
# `scripts/system/fresh-root.sh base-commands > scripts/system/base-commands.txt`; the fresh-root
# check (e2e/test/fresh-root.e2e.ts) fails when one of them is missing from a bare root.
HEADER
    commands_on_path
    ;;
  *) echo "usage: $0 check COMMAND... | base-commands" >&2; exit 2 ;;
esac
