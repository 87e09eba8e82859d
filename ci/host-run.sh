#!/bin/sh
# Runs the host suite once as JSON (the data the report and gate read) and once as JUnit
# (for the CI system's test-report view) into DIR (default results/host). The harness
# exits 1 when a case fails; that is data for the gate, not a broken job, so only exit 2
# (bad usage or input) or a missing output fails this step.
set -u
out=${1:-results/host}
harness=${AIOH_HARNESS:-./build/harness}
mkdir -p "$out"
for fmt in json junit; do
  ext=$fmt; [ "$fmt" = junit ] && ext=junit.xml
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/aioh-ci-XXXXXX")
  "$harness" --interface all --format "$fmt" --output "$out/host.$ext" --scratch "$scratch" --timeout 30
  rc=$?
  rm -rf "$scratch"
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
    echo "host-run: harness --format $fmt exited $rc" >&2
    exit "$rc"
  fi
  [ -s "$out/host.$ext" ] || { echo "host-run: $out/host.$ext was not written" >&2; exit 2; }
done
