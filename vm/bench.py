"""`scripts/bench-matrix`: how long the VM matrix takes, per guest and as a whole.

Default: runs `scripts/matrix` with the given kernels and devices (live progress as usual, the
device-fault parts included) and reports, for every guest (one per kernel x device), the time
to its init (boot), the harness's run of the ordinary rows (catalog), the rows that run alone
after it (alone: the guest has given its slot up), the device-fault parts after those (faults,
with the waits for the kernel's log ratelimit), the rest (setup: modules, mkfs; collect and
power-off), how many ids it ran and how many of those executed, then the whole matrix's wall
time, guest-seconds, and the host CPU its QEMU processes used (the share of the host's cores they
kept busy: near 100 % means the matrix is CPU-bound under TCG, less means guests waited).  `--boot-paths` instead boots each kernel once
per boot path with one case and records the fastest working path per kernel in
<cache>/boot-paths.json, which `scripts/matrix --boot auto` uses.  Writes bench.json into --out.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

from . import catalog, deps, kernel, matrix, qemu
from .matrix import BOOT_PATHS_FILE, EXECUTED, REPO, cache_dir, default_cases, find_harness, list_cases
from .run import ALONE_PART, Options, run_target


def recorded_paths(cache: Path) -> dict:
    f = cache / BOOT_PATHS_FILE
    return json.loads(f.read_text()) if f.exists() else {}


def children_cpu() -> float:
    """User + system CPU seconds of the waited-for children: the guests' QEMU processes."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def span(parts: list[dict], which) -> float:
    """Seconds (guest uptime) from the first selected part's start, or the end of the part before
    it (a fault part's wait for the log ratelimit counts), to the last selected part's end."""
    picked = [i for i, p in enumerate(parts) if which(p["part"]) and p.get("end") is not None]
    if not picked:
        return 0.0
    first = parts[picked[0]]
    start = parts[picked[0] - 1].get("end") if picked[0] > 0 else first.get("start")
    return max(0.0, float(parts[picked[-1]]["end"]) - float(start if start is not None else first["start"]))


def guest_rows(doc: dict) -> list[dict]:
    """One row per guest of a target's document (one guest per target since the device-fault
    parts run in it): its boots' time to the init, the catalog part, the fault parts, the rest."""
    vm = doc["environment"].get("vm", {})
    boots = vm.get("boots", [])
    by_id = {r["id"]: r for r in doc.get("results", [])}
    fault_ids = {i for g in vm.get("device_fault_parts", []) for i in g.get("ids", [])}
    boot = sum(b.get("boot_seconds") or 0 for b in boots)
    total = sum(b.get("seconds") or 0 for b in boots)
    catalog = sum(span(b.get("parts") or [], lambda p: p == "catalog") for b in boots)
    alone = sum(span(b.get("parts") or [], lambda p: p == ALONE_PART) for b in boots)
    faults = sum(span(b.get("parts") or [], lambda p: p.startswith("fault.")) for b in boots)
    return [{"guest": "ordinary+faults" if fault_ids else "ordinary", "boots": len(boots),
             "boot_seconds": round(boot, 1), "catalog_seconds": round(catalog, 1),
             "alone_seconds": round(alone, 1), "fault_seconds": round(faults, 1),
             "other_seconds": round(max(0.0, total - boot - catalog - alone - faults), 1),
             "ids": len(by_id), "fault_ids": len(fault_ids),
             "executed": sum(1 for r in by_id.values() if r.get("verdict") in EXECUTED)}]


def table(report: dict) -> str:
    head = (f"{'target':<34} {'boots':>5} {'boot s':>7} {'catalog s':>9} {'alone s':>7} {'faults s':>8} "
            f"{'other s':>7} {'ids':>6} {'executed':>8}")
    lines = [head, "-" * len(head)]
    for target, rows in report["targets"].items():
        for r in rows:
            lines.append(f"{target:<34} {r['boots']:>5} {r['boot_seconds']:>7.1f} {r['catalog_seconds']:>9.1f} "
                         f"{r.get('alone_seconds', 0):>7.1f} {r.get('fault_seconds', 0):>8.1f} "
                         f"{r.get('other_seconds', 0):>7.1f} "
                         f"{r['ids']:>6} {r['executed']:>8}")
    lines.append(f"whole matrix: {report['matrix_seconds']:.0f} s wall for {report['guests']} guests "
                 f"({report['guest_seconds']:.0f} guest-seconds; exit {report['matrix_exit']})")
    if report.get("host_cpu_seconds") is not None:
        lines.append(f"host CPU of the guests: {report['host_cpu_seconds']:.0f} s, "
                     f"{report['host_cpu_busy_percent']:.0f} % of {report['host_cpus']} cores over the wall")
    return "\n".join(lines)


def bench_matrix(a: argparse.Namespace, out: Path) -> int:
    argv = ["--kernels", a.kernels or ",".join(s.series for s in catalog.select(catalog.load_catalog(), None)),
            "--devices", a.devices, "--out", str(out / "matrix"), *(["--accel", a.accel] if a.accel else [])]
    for f in a.filter:
        argv += ["--filter", f]
    argv += a.matrix_args
    t0, cpu0 = time.time(), children_cpu()
    rc = matrix.main(argv)
    wall, cpu = time.time() - t0, children_cpu() - cpu0
    docs = {p.stem: json.loads(p.read_text()) for p in sorted((out / "matrix").glob("*.json"))
            if not p.name.startswith("matrix-")}
    report = {"argv": argv, "qemu": qemu.qemu_version(), "matrix_exit": rc, "matrix_seconds": round(wall, 1),
              "targets": {name: guest_rows(d) for name, d in docs.items()}}
    report["guests"] = sum(len(r) for r in report["targets"].values())
    ncpu = os.cpu_count() or 1
    report.update(host_cpu_seconds=round(cpu, 1), host_cpus=ncpu,
                  host_cpu_busy_percent=round(100.0 * cpu / (wall * ncpu), 1) if wall > 0 else 0.0)
    report["guest_seconds"] = round(sum(g["boot_seconds"] + g["catalog_seconds"] + g["alone_seconds"] + g["fault_seconds"]
                                        + g["other_seconds"] for r in report["targets"].values() for g in r), 1)
    (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"bench-matrix: {out / 'bench.json'}")
    return 0 if rc in (0, 1) else rc


def bench_boot_paths(a: argparse.Namespace, out: Path) -> int:
    harness = find_harness(None)
    cache = cache_dir()
    cases_dir = default_cases()
    try:
        cases = list_cases(harness, cases_dir, "all", a.filter)
    except RuntimeError as e:
        print(f"bench-matrix: {e}", file=sys.stderr)
        return 2
    device = a.devices.split(",")[0]
    best_paths = recorded_paths(cache)
    report: dict = {"device": device, "qemu": qemu.qemu_version(), "kernels": {}}
    for spec in catalog.select(catalog.load_catalog(), a.kernels):
        k = kernel.fetch(spec, cache)
        row: dict = {}
        for bp in qemu.BOOT_PATHS:
            times = []
            for r in range(a.rounds):
                o = Options(harness=harness, cases_dir=cases_dir, cache=cache,
                            out=out / f"{k.abi}-{bp.name}-{r}", accel="tcg", boot=bp, max_boots=1)
                doc = run_target(k, device, cases[:1], o)
                b = doc["environment"]["vm"]["boots"][0]
                times.append(b["boot_seconds"] if b["boot_seconds"] and o.boot == bp else None)
            ok = [t for t in times if t is not None]
            row[bp.name] = min(ok) if ok else None
            print(f"{k.abi:<24} {bp.name:<16} boot {'failed' if not ok else f'{min(ok):6.1f} s'}", flush=True)
        working = {n: t for n, t in row.items() if t is not None}
        if working:
            best_paths[k.abi] = min(working, key=working.get)
        report["kernels"][k.abi] = {"boot": row, "fastest": best_paths.get(k.abi)}
    (cache / BOOT_PATHS_FILE).write_text(json.dumps(best_paths, indent=2) + "\n")
    (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"bench-matrix: {out / 'bench.json'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/bench-matrix", description=__doc__.split("\n\n")[0])
    p.add_argument("--kernels", default=None, help="series (default: the catalog's default rows)")
    p.add_argument("--devices", default="nvme-512,nvme-4k")
    p.add_argument("--filter", action="append", default=[])
    p.add_argument("--accel", default=None, choices=["auto", "kvm", "tcg"])
    p.add_argument("--boot-paths", action="store_true", help="measure boot paths instead of the matrix")
    p.add_argument("--rounds", type=int, default=1, help="with --boot-paths: boots per path (minimum kept)")
    p.add_argument("--out", default=None)
    p.add_argument("matrix_args", nargs=argparse.REMAINDER, help="after --: more scripts/matrix options")
    a = p.parse_args(sys.argv[1:] if argv is None else argv)
    if a.matrix_args[:1] == ["--"]:
        a.matrix_args = a.matrix_args[1:]
    if find_harness(None) is None:
        print("bench-matrix: no harness binary (./scripts/build, or AIOH_HARNESS)", file=sys.stderr)
        return 2
    deps.ensure()
    out = Path(a.out or REPO / "results" / time.strftime("bench-matrix-%Y%m%dT%H%M%SZ", time.gmtime()))
    out.mkdir(parents=True, exist_ok=True)
    return bench_boot_paths(a, out) if a.boot_paths else bench_matrix(a, out)


if __name__ == "__main__":
    sys.exit(main())
