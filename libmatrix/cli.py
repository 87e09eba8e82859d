"""`scripts/libmatrix`: the harness's catalog once per library build, one result per build.

    scripts/libmatrix [--libs liburing-2.9,libaio-0.3.112] [--mode rebuild|swap|both] --out DIR
                      [--filter GLOB] [--liburing-prefix DIR] [--libaio-prefix DIR]

Writes DIR/system-<interface>.json (the system build, the baseline), DIR/<build>.<mode>.json per
build, each build's gate output against the baseline (DIR/<build>.<mode>.gate.txt and .gate.json:
the cases whose observed outcome changed; libmatrix/allow.toml names the changes a row keyed on a
probed library fact may make) and DIR/libmatrix.json (what ran, which file was loaded, the
library facts, executed/applicable and why each case did not execute), rewritten after every
build. A build runs its whole applicable catalog: every case `harness --list` gives for its
interface (liburing: io_uring, libaio: libaio) and selection; skipped, broken and absent cases
are not executed, and a build under --min-coverage (90 %) fails. Exit 0: every build ran on its
requested library, covered enough and passed the gate; 1: a build could not be fetched, built or
run, loaded another file than requested, covered too little, or regressed; 2: bad usage.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from . import build as B
from . import catalog as C
from . import fetch as F
from .run import Job, coverage_problem, gate, run

MODES = ("swap", "rebuild")
LIB_INTERFACE = {"liburing": "io_uring", "libaio": "libaio"}


def system_harness(given: str | None, cache: Path, jobs: int, src: Path = B.REPO) -> Path:
    """--harness, else $AIOH_HARNESS, else a system build in the cache, built (or brought up to
    date) with the rebuilds' flags from the same source: the library must be the only
    difference between columns."""
    for cand in (given, os.environ.get("AIOH_HARNESS")):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return Path(cand).resolve()
    print("libmatrix: building the system harness", file=sys.stderr)
    return B.build(cache, jobs=jobs, repo=src)


def snapshot_source(cache: Path) -> Path:
    """The harness sources copied once per run to <cache>/libs/src (a fixed path, so build
    directories and ccache entries carry over between runs; copy2 keeps modification times, so
    an unchanged file is not recompiled): a source edited during a long run must not make the
    system build and the rebuilds differ in anything but the library."""
    src = cache / "libs" / "src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    for name in ("CMakeLists.txt", "CMakePresets.json"):
        if (B.REPO / name).exists():
            shutil.copy2(B.REPO / name, src / name)
    shutil.copytree(B.REPO / "harness", src / "harness")
    return src


def snapshot_cases(out: Path) -> Path:
    """A copy of the repo's case tables taken once: a table edited during a long matrix run must not
    make two builds run different cases."""
    snap = out / "cases"
    shutil.rmtree(snap, ignore_errors=True)
    shutil.copytree(B.REPO / "cases", snap)
    return snap


def plan(builds: list[C.LibBuild], modes: tuple[str, ...], cache: Path, refresh: bool) -> list[tuple[C.LibBuild, F.Prefix | None, str]]:
    """(build, prefix or None, reason it cannot run) per selected build: fetch failures are kept
    as reasons so one unreachable suite does not stop the others."""
    out = []
    for b in builds:
        try:
            p = F.fetch(b, cache, refresh)
            bad = p.problems()
            out.append((b, None if bad else p, "; ".join(bad)))
        except Exception as e:  # noqa: BLE001 - any fetch failure is reported per build
            out.append((b, None, f"fetch failed: {e}"))
    return out


def jobs_for(b: C.LibBuild, p: F.Prefix | None, why: str, modes, system: Path, cache: Path,
             njobs: int, src: Path = B.REPO, build_type: str = "RelWithDebInfo") -> list[Job]:
    out = []
    for mode in modes:
        j = Job(b.id, mode)
        out.append(j)
        if p is None:
            j.status, j.reason = "error", why
            continue
        j.expect = {b.library: p.lib}
        if mode == "swap":
            if b.swap_reason:
                j.status, j.reason = "skip", b.swap_reason
                continue
            soname = C.SYSTEM_SONAME[b.library]
            if not (p.lib / soname).exists():
                j.status, j.reason = "skip", f"{p.lib} has no {soname}: no in-place swap"
                continue
            j.harness, j.env = system, {"LD_LIBRARY_PATH": str(p.lib)}
        else:
            print(f"libmatrix: building the harness against {b.id} ({p.root})", file=sys.stderr)
            try:
                j.harness = B.build(cache, uring=p.root if b.library == "liburing" else None,
                                    aio=p.root if b.library == "libaio" else None, jobs=njobs, repo=src,
                                    build_type=build_type)
            except B.BuildError as e:
                j.status, j.reason = "error", str(e)
    return out


COVERAGE_FLOOR = 0.9  # issue 8: every build executes >= 90 % of its applicable cases


def gate_column(j: Job) -> str:
    if j.gate_rc is None:
        return "-"
    if j.gate_rc not in (0, 1):
        return f"error {j.gate_rc}"
    g = j.gate_changes
    if j.gate_rc == 1:
        return f"REGRESSED {g.get('regressions', '?')}"
    n = g.get("allowed", 0) + g.get("other", 0)
    return f"{n} changed ({g.get('allowed', 0)} allowed)" if n else "same"


def table(jobs: list[Job], bases: dict[str, Job]) -> str:
    """Per build: executed/applicable (skips and broken count as not executed), verdicts, the
    gate against the system build on the same interface, and the loaded file or the reason."""
    rows = [("build", "mode", "status", "executed/applicable", "pass", "fail", "skip", "gate", "loaded / reason")]
    for j in jobs:
        s = j.summary
        lib = next(iter(j.expect), None)
        frac = (f"{j.executed}/{j.applicable} ({100 * j.coverage:.0f} %)"
                if j.summary and j.coverage is not None else "-")
        shown = j.reason or (j.loaded.get(lib, "") if lib else ", ".join(v for v in j.loaded.values()))
        rows.append((j.build, j.mode, j.status, frac, str(s.get("pass", "-")), str(s.get("fail", "-")),
                     str(s.get("skip", "-")), gate_column(j), shown))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows)


def differences(jobs: list[Job], bases: dict[str, Job], out: Path) -> str:
    """Per build, what differs from the system build on its interface: the probed library facts
    whose value differs, the cases the gate listed as changed, and why cases did not execute."""
    lines = []
    for j in jobs:
        if not j.summary:
            continue
        lib = next(iter(j.expect), None)
        base = bases.get(LIB_INTERFACE.get(lib or "", ""))
        facts = [f"{k}={v} (system {base.lib_facts.get(k)})" for k, v in j.lib_facts.items()
                 if base is not None and base.lib_facts.get(k) != v]
        changed = []
        js = out / f"{j.name}.gate.json"
        if js.exists():
            try:
                changed = [f"{c['id']}: {c['base']} -> {c['new']}" + (" [allowed]" if c.get("allowed") else "")
                           for c in json.loads(js.read_text()).get("changes") or []]
            except ValueError:
                pass
        lines.append(f"{j.name}: facts {'; '.join(facts) or 'as the system build'}")
        lines += [f"  changed {c}" for c in changed]
        # Why cases did not execute, where that differs from the system build (shown once).
        same = base is not None and base.not_executed == j.not_executed
        lines += [f"  not executed {n}: {why[:200]}" for why, n in sorted(j.not_executed.items())
                  if base is None or base.not_executed.get(why) != n]
        if same and j.not_executed:
            lines.append(f"  not executed: as the system build ({sum(j.not_executed.values())} cases)")
    for iface, b in sorted(bases.items()):
        lines.append(f"{b.name}: not executed {sum(b.not_executed.values())}")
        lines += [f"  {n}: {why[:200]}" for why, n in sorted(b.not_executed.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="libmatrix", description=__doc__.split("\n\n")[0])
    ap.add_argument("--libs", help="comma list of catalog ids or library names (default: the default rows)")
    ap.add_argument("--mode", choices=("rebuild", "swap", "both"), default="both")
    ap.add_argument("--out", required=True, help="directory for the results")
    ap.add_argument("--filter", action="append", default=[], help="glob on case ids (repeatable)")
    ap.add_argument("--exclude", action="append", default=[], help="glob on case ids to leave out (repeatable)")
    # Only liburing and libaio are swapped: the other interfaces would repeat the baseline.
    ap.add_argument("--interface", help="harness --interface (default: the build's own: io_uring or libaio)")
    ap.add_argument("--cases", help="case tables (default: a snapshot of the repo's cases/ in OUT/cases,"
                                    " so every build runs the same table)")
    ap.add_argument("--liburing-prefix", help="a liburing build installed in DIR (include/, lib/)")
    ap.add_argument("--libaio-prefix", help="a libaio build installed in DIR (include/, lib/)")
    ap.add_argument("--harness", help="the system-built harness (default: $AIOH_HARNESS, else built in the cache)")
    ap.add_argument("--catalog", default=str(C.CATALOG))
    ap.add_argument("--timeout", type=float, help="per-case watchdog passed to the harness")
    ap.add_argument("--jobs", type=int, default=2, help="parallel compile jobs for rebuilds")
    ap.add_argument("--refresh", action="store_true", help="refresh the apt lists and re-fetch")
    ap.add_argument("--list", action="store_true", help="print the resolved catalog and exit")
    ap.add_argument("--min-coverage", type=float, default=COVERAGE_FLOOR,
                    help="fraction of a build's applicable cases that must execute (default 0.9)")
    try:
        args = ap.parse_args(argv)
        all_builds = C.load(Path(args.catalog))
        builds = [] if (args.liburing_prefix or args.libaio_prefix) and not args.libs else C.select(all_builds, args.libs)
    except (C.ResolutionError, ValueError) as e:
        print(f"libmatrix: {e}", file=sys.stderr)
        return 2
    for lib, d in (("liburing", args.liburing_prefix), ("libaio", args.libaio_prefix)):
        if d:
            if not Path(d).is_dir():
                print(f"libmatrix: --{lib}-prefix {d}: not a directory", file=sys.stderr)
                return 2
            builds.append(C.prefix_build(lib, d))
    cache = F.cache_dir()
    modes = MODES if args.mode == "both" else (args.mode,)
    planned = plan(builds, modes, cache, args.refresh)
    if args.list:
        for b, p, why in planned:
            print(f"{b.id:22} {b.library:9} {(p.version if p else ''):14} {p.root if p else why}")
        return 0

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # Sources and case tables are copied at the same moment, before the long builds: a table
    # naming a scenario added later would not load into a harness built from older sources.
    # A given system harness was built from the repo with its own flags: the rebuilds use the
    # same source and build type. Otherwise one snapshot serves the system build and rebuilds.
    given = args.harness or os.environ.get("AIOH_HARNESS")
    src = B.REPO if given else snapshot_source(cache)
    cases = Path(args.cases) if args.cases else snapshot_cases(out)
    system = system_harness(args.harness, cache, args.jobs, src)
    given_type = B.build_type_of(system) if given else None
    build_type = "RelWithDebInfo" if given_type is None else given_type
    common = dict(interface=args.interface, filters=args.filter, case_timeout=args.timeout, cases=cases,
                  exclude=args.exclude)
    # A build is run on its own library's interface (liburing: io_uring, libaio: libaio) unless
    # --interface says otherwise, against a baseline of the system build on the same interface.
    bases: dict[str, Job] = {}

    def baseline(iface: str) -> Job:
        if iface not in bases:
            name = "system" if iface == args.interface else f"system-{iface}"
            bases[iface] = run(Job(name, "system", harness=system), out, **dict(common, interface=iface))
            if bases[iface].status == "ok" and (why_low := coverage_problem(bases[iface], args.min_coverage)):
                bases[iface].status, bases[iface].reason = "low-coverage", why_low
            print(f"libmatrix: {name}: {bases[iface].status} {bases[iface].reason}", file=sys.stderr)
        return bases[iface]

    jobs: list[Job] = []

    def save() -> None:
        # After every job: a run stopped midway (a slow rebuild) still leaves what it finished.
        tmp = out / "libmatrix.json.tmp"
        tmp.write_text(json.dumps(
            {"schema": "aioharness-libmatrix/1", "baselines": {k: v.as_dict() for k, v in bases.items()},
             "builds": [j.as_dict() for j in jobs]}, indent=2) + "\n")
        tmp.replace(out / "libmatrix.json")

    # Every build's swap first (no compiling), then the rebuilds.
    for mode in modes:
        for b, p, why in planned:
            iface = args.interface or LIB_INTERFACE[b.library]
            for j in jobs_for(b, p, why, (mode,), system, cache, args.jobs, src, build_type):
                if j.status == "pending":
                    base = baseline(iface)
                    run(j, out, **dict(common, interface=iface))
                    if base.result and j.result:
                        gate(base, j, out)
                    if j.status == "ok" and (why_low := coverage_problem(j, args.min_coverage)):
                        j.status, j.reason = "low-coverage", why_low
                print(f"libmatrix: {j.name}: {j.status} {j.reason}", file=sys.stderr)
                jobs.append(j)
                save()

    save()
    print(table(list(bases.values()) + jobs, bases))
    diff = differences(jobs, bases, out)
    if diff:
        print("\nper-build differences from the system build:\n" + diff)
    bad = [j for j in list(bases.values()) + jobs
           if j.status in ("error", "wrong-library", "low-coverage") or (j.gate_rc not in (None, 0))]
    return 1 if bad else 0
