#!/bin/sh
# Runs the host suite once, writing every format from that one run into DIR (default
# results/host): run.json (what the report and the gate read), run.jsonl (the stream),
# run.junit (the CI system's test-report view) and run.ktap (TAP consumers). scripts/test
# calls it for the test suite's host run, so CI runs the catalog once. Exit status: the
# harness's (0, 1 when a case failed: data for the gate, 4 when every case skipped); 2 on
# bad usage or a missing output.
set -u
out=${1:-results/host}
harness=${AIOH_HARNESS:-./build/harness}
mkdir -p "$out"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/aioh-ci-XXXXXX")
"$harness" --interface all --timeout "${AIOH_TIMEOUT:-30}" --scratch "$scratch" --color never \
  --output "json:$out/run.json" --output "jsonl:$out/run.jsonl" \
  --output "junit:$out/run.junit" --output "ktap:$out/run.ktap" > "$out/run.txt"
rc=$?
rm -rf "$scratch"
tail -3 "$out/run.txt"
case $rc in 0|1|4) ;; *) echo "host-run: harness exited $rc (see $out/run.txt)" >&2; exit "$rc" ;; esac
for f in run.json run.jsonl run.junit run.ktap; do
  [ -s "$out/$f" ] || { echo "host-run: $out/$f was not written" >&2; exit 2; }
done
exit $rc
