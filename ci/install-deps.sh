#!/bin/sh
# Installs, from Debian's archive only, what the CI jobs need on a fresh debian:bookworm
# image: the build dependencies scripts/lib.sh lists (so scripts/build finds them), the
# Python test and report dependencies, the output consumers (jsonschema, junitparser,
# xmllint, prove), Chromium for the HTML test and QEMU and guest tools
# for the VM matrix. Idempotent; run as root.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
  ca-certificates git build-essential cmake pkg-config \
  liburing-dev libaio-dev libseccomp-dev libfiu-dev fiu-utils nlohmann-json3-dev libcli11-dev \
  libfmt-dev libtomlplusplus-dev googletest libgtest-dev libgmock-dev \
  python3 python3-pytest python3-yaml python3-jsonschema python3-junitparser libxml2-utils perl \
  chromium \
  qemu-system-x86 busybox-static e2fsprogs xfsprogs btrfs-progs kmod cpio zstd xz-utils
