# Shared by the entry points: install what is missing (Debian/Ubuntu), then
# configure and build into build/ when needed. Sourced, not run.
set -euo pipefail

AIOH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AIOH_BUILD="${AIOH_BUILD:-$AIOH_ROOT/build}"

AIOH_BUILD_DEPS=(build-essential cmake pkg-config liburing-dev libaio-dev libfiu-dev fiu-utils
  libseccomp-dev libfuse3-dev fuse3 nlohmann-json3-dev libcli11-dev libfmt-dev libtomlplusplus-dev
  googletest libgtest-dev libgmock-dev
  clang libbpf-dev  # the BPF LSM fault layer (harness/faults/lsm.bpf.c); optional, its rows skip without
  e2fsprogs xfsprogs btrfs-progs util-linux  # mkfs.* and losetup for the O_DIRECT sweep targets
  help2man)  # the man page, made from --help
AIOH_PY_DEPS=(python3 python3-pytest python3-yaml)
# The consumers the output tests check the harness's outputs with: the JSON Schema
# validator, a JUnit parser and xmllint (Jenkins schema), prove (perl), headless Chromium.
AIOH_TEST_DEPS=(python3-jsonschema python3-junitparser libxml2-utils perl chromium)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the named Debian packages that are not installed yet.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  as_root apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# Configures (once) and builds into $AIOH_BUILD: the named targets (e.g.
# `build_harness harness` for the binary alone), or everything, tests included.
build_harness() {
  ensure_packages "${AIOH_BUILD_DEPS[@]}"
  if [ ! -f "$AIOH_BUILD/CMakeCache.txt" ]; then
    local launcher=()
    # ccache, where the machine has it, makes rebuilds in other checkouts cheap.
    command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    cmake -S "$AIOH_ROOT" -B "$AIOH_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >&2
  fi
  local targets=()
  [ $# -gt 0 ] && targets=(--target "$@")
  cmake --build "$AIOH_BUILD" -j "$(nproc)" "${targets[@]}" >&2
}
