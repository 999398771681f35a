#!/usr/bin/env bash
# Triton's own clients, from PyPI, in a venv of their own in the cache: tritonclient[http] (the
# Python client) and perf-analyzer (Triton's load generator), which the protocol-compatibility
# test (server-image/test/unit/triton-clients.test.ts) drives against the server unmodified.
#
# perf_analyzer's binary is built for glibc >= 2.38 and Debian bookworm has 2.36, so pip will not
# install its wheel here and the binary cannot start with the system's loader. Nothing system-wide changes: apt, pointed at a private state
# folder and at the `trixie` suite of the mirror this machine already uses, downloads libc6,
# libstdc++6 and libgcc-s1; `dpkg -x` unpacks them into the cache, and a wrapper starts
# perf_analyzer through that folder's loader (see notes: perf-analyzer.md).
#
# Pinned by version; the folder is keyed by the pins and this script. Prints the folder, which
# holds bin/python (with tritonclient) and bin/perf_analyzer (the wrapper).
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
here="$(dirname "$self")"
TRITONCLIENT_VERSION=2.73.0
PERF_ANALYZER_VERSION=2.60.0
CACHE="${SERVINGSTACK_CACHE:-$HOME/.cache/servingstack}/python"
dir="$CACHE/triton-$TRITONCLIENT_VERSION-$PERF_ANALYZER_VERSION-$(sha256sum <"$self" | cut -c1-12)"
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [[ ! -x "$dir/bin/perf_analyzer" ]]; then
  rm -rf "$dir.partial"
  python3 -m venv "$dir.partial" >&2
  "$dir.partial/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir \
    "tritonclient[http]==$TRITONCLIENT_VERSION" >&2
  # perf-analyzer's wheel is tagged manylinux_2_38, which pip refuses to install for bookworm's
  # glibc; it is one self-contained binary, so it is fetched for that platform into a folder of
  # its own and started through the newer loader below.
  "$dir.partial/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir --no-deps \
    --only-binary=:all: --platform manylinux_2_38_x86_64 --target "$dir.partial/perf-analyzer" \
    "perf-analyzer==$PERF_ANALYZER_VERSION" >&2

  # A newer C runtime for perf_analyzer alone, from the same mirror's trixie suite.
  mirror="$("$here/system/debian-mirror.sh" bookworm)"
  apt_dir="$dir.partial/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/debs"
  echo "deb $mirror trixie main" >"$apt_dir/sources.list"
  apt_opts=(
    -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
    -o "Dir::State::status=/dev/null" -o "Debug::NoLocking=1"
  )
  apt-get "${apt_opts[@]}" update -qq >&2
  (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" download libc6 libstdc++6 libgcc-s1 >&2)
  for deb in "$apt_dir/debs"/*.deb; do dpkg -x "$deb" "$dir.partial/glibc"; done
  rm -rf "$apt_dir"

  # The wrapper finds its folder at run time: the venv is renamed into place below.
  cat >"$dir.partial/bin/perf_analyzer" <<'EOF'
#!/usr/bin/env bash
root="$(cd "$(dirname "$0")/.." && pwd)"
lib="$root/glibc/usr/lib/x86_64-linux-gnu"
binary="$root/perf-analyzer/perf_analyzer/bin/perf_analyzer"
exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu" \
  "$binary" "$@"
EOF
  chmod +x "$dir.partial/bin/perf_analyzer"
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
fi
echo "$dir"
