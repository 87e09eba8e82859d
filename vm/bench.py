"""`scripts/bench-matrix`: wall time per kernel for each boot path and for the catalog.

For every kernel and boot path, boots the guest with one case (time to the init's first marker
is the boot time); then runs the whole selection once with the fastest path.  The fastest path
that worked is recorded per kernel in <cache>/boot-paths.json, which `scripts/matrix --boot auto`
uses.  Writes bench.json and prints a table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import catalog, deps, kernel, qemu
from .matrix import BOOT_PATHS_FILE, REPO, cache_dir, default_cases, find_harness, list_cases
from .run import Options, run_target


def recorded_paths(cache: Path) -> dict:
    f = cache / BOOT_PATHS_FILE
    return json.loads(f.read_text()) if f.exists() else {}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/bench-matrix", description=__doc__.split("\n\n")[0])
    p.add_argument("--kernels", default=None)
    p.add_argument("--device", default="nvme-4k", choices=list(qemu.DEVICES))
    p.add_argument("--filter", action="append", default=[])
    p.add_argument("--rounds", type=int, default=1, help="boots per path (the minimum is kept)")
    p.add_argument("--accel", default="auto", choices=["auto", "kvm", "tcg"])
    p.add_argument("--no-catalog", action="store_true", help="measure boot paths only")
    p.add_argument("--out", default=None)
    a = p.parse_args(sys.argv[1:] if argv is None else argv)
    harness = find_harness(None)
    if harness is None:
        print("bench-matrix: no harness binary (./scripts/build, or AIOH_HARNESS)", file=sys.stderr)
        return 2
    deps.ensure()
    cache = cache_dir()
    out = Path(a.out or REPO / "results" / time.strftime("bench-matrix-%Y%m%dT%H%M%SZ", time.gmtime()))
    out.mkdir(parents=True, exist_ok=True)
    cases_dir = default_cases()
    try:
        cases = list_cases(harness, cases_dir, "all", a.filter)
    except RuntimeError as e:
        print(f"bench-matrix: {e}", file=sys.stderr)
        return 2
    accels = ["tcg"] + (["kvm"] if a.accel in ("auto", "kvm") and qemu.probe_accel("kvm")[0] else [])
    report: dict = {"device": a.device, "qemu": qemu.qemu_version(), "kernels": {}}
    best_paths = recorded_paths(cache)
    for spec in catalog.select(catalog.load_catalog(), a.kernels):
        k = kernel.fetch(spec, cache)
        for accel in accels:
            row: dict = {"boot": {}}
            for bp in qemu.BOOT_PATHS:
                times = []
                for r in range(a.rounds):
                    o = Options(harness=harness, cases_dir=cases_dir, cache=cache,
                                out=out / f"{k.abi}-{accel}-{bp.name}-{r}", accel=accel, boot=bp,
                                max_boots=1)
                    doc = run_target(k, a.device, cases[:1], o)
                    b = doc["environment"]["vm"]["boots"][0]
                    times.append(b["boot_seconds"] if b["boot_seconds"] and o.boot == bp else None)
                ok = [t for t in times if t is not None]
                row["boot"][bp.name] = min(ok) if ok else None
                print(f"{k.abi:<24} {accel} {bp.name:<16} boot "
                      f"{'failed' if not ok else f'{min(ok):6.1f} s'}", flush=True)
            working = {n: t for n, t in row["boot"].items() if t is not None}
            fastest = min(working, key=working.get) if working else None
            row["fastest"] = fastest
            if fastest and accel == "tcg":
                best_paths[k.abi] = fastest
            if fastest and not a.no_catalog:
                t0 = time.time()
                o = Options(harness=harness, cases_dir=cases_dir, cache=cache,
                            out=out / f"{k.abi}-{accel}-catalog", accel=accel,
                            boot=qemu.BootPath(*fastest.split("+")))
                doc = run_target(k, a.device, cases, o)
                row["catalog_seconds"] = round(time.time() - t0, 1)
                row["catalog_cases"] = len(cases)
                row["catalog_summary"] = doc["summary"]
                print(f"{k.abi:<24} {accel} catalog {len(cases)} cases {row['catalog_seconds']} s", flush=True)
            report["kernels"].setdefault(k.abi, {})[accel] = row
    (cache / BOOT_PATHS_FILE).write_text(json.dumps(best_paths, indent=2) + "\n")
    total = sum(r.get("catalog_seconds", 0) for k in report["kernels"].values() for r in k.values())
    report["matrix_seconds_per_device"] = round(total, 1)
    (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"bench-matrix: {out / 'bench.json'}; catalog over all kernels: {total:.0f} s per device")
    return 0


if __name__ == "__main__":
    sys.exit(main())
