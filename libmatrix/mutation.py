"""`scripts/mutants`: a mutation campaign against the catalog's library checks.

Each mutant (libmatrix/mutants/*.c, listed in libmatrix/mutants.toml) is a small shim that
defines one exported liburing or libaio function the harness calls, forwards to the real one with
dlsym(RTLD_NEXT), and adds one subtle, realistic defect. The shim is LD_PRELOADed under the
ordinary harness build and the catalog of its library's interface is run; the mutant is *killed*
when at least one case that does not fail on the unbroken library (the baseline, the same
selection without the shim) turns to a verdict that fails a run (fail, timeout, crash, broken, as
`harness --vocabulary` classes them), or the harness itself cannot run. A mutant that survives is
a documented behaviour the catalog does not check.

    scripts/mutants [--only ID,...] [--quick] [--full] [--json FILE] [--out DIR]
                    [--harness PATH] [--cases DIR] [--timeout S]

Selection: by default the whole interface except the O_DIRECT sweep (`dio.*`, the same two
scenarios on every target: `--full` adds it); `--quick` runs only each mutant's `quick` globs
(its family's killing cases, the CI selection). Exit 0: every mutant killed; 1: a mutant
survived; 2: bad usage, a shim that does not compile, or a baseline that could not run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from libmatrix import run as R
from reports import results as RR
from reports import vocabulary as V

HERE = Path(__file__).resolve().parent
SHIMS = HERE / "mutants"
MANIFEST = HERE / "mutants.toml"
REPO = HERE.parent
INTERFACE = {"liburing": "io_uring", "libaio": "libaio"}


class Usage(Exception):
    pass


@dataclass
class Mutant:
    id: str
    library: str
    source: Path
    quick: list[str]
    defect: str = ""               # the shim's opening comment
    killed_by: list[dict] = field(default_factory=list)
    status: str = "pending"        # killed | survived | error
    reason: str = ""
    seconds: float = 0.0
    noise: list[str] = field(default_factory=list)  # failing cases confirm() found not to be kills

    @property
    def interface(self) -> str:
        return INTERFACE[self.library]

    def as_dict(self, selection: list[str]) -> dict:
        return {"id": self.id, "library": self.library, "interface": self.interface,
                "source": str(self.source.relative_to(REPO)), "defect": self.defect,
                "selection": selection, "status": self.status, "reason": self.reason,
                "killed_by": self.killed_by, "seconds": round(self.seconds, 1)}


def opening_comment(src: Path) -> str:
    text = src.read_text()
    if not text.startswith("/*"):
        return ""
    body = text[2:text.index("*/")]
    return " ".join(line.strip().lstrip("*").strip() for line in body.splitlines()).strip()


def load(path: Path = MANIFEST) -> list[Mutant]:
    """The manifest's mutants, each with its shim; a row naming a missing file, an unknown
    library or no quick selection is a usage error."""
    doc = tomllib.loads(path.read_text())
    out = []
    for mid, row in (doc.get("mutant") or {}).items():
        lib = row.get("library")
        if lib not in INTERFACE:
            raise Usage(f"{path}: mutant {mid}: library must be liburing or libaio, not {lib!r}")
        src = SHIMS / row.get("source", "")
        if not src.is_file():
            raise Usage(f"{path}: mutant {mid}: no shim {src}")
        quick = row.get("quick") or []
        if not quick:
            raise Usage(f"{path}: mutant {mid}: no quick selection")
        out.append(Mutant(mid, lib, src, list(quick), opening_comment(src)))
    listed = {m.source.name for m in out}
    unlisted = sorted(p.name for p in SHIMS.glob("*.c") if p.name not in listed)
    if unlisted:
        raise Usage(f"{path}: shims not in the manifest: {', '.join(unlisted)}")
    return out


def compile_shim(m: Mutant, dest: Path) -> Path:
    so = dest / f"{m.id}.so"
    r = subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{SHIMS}",
                        "-o", str(so), str(m.source), "-ldl"], capture_output=True, text=True)
    if r.returncode != 0:
        raise Usage(f"{m.source}: does not compile:\n{r.stderr.strip()}")
    return so


@dataclass
class Run:
    rc: int | None
    verdicts: dict[str, str]       # case id -> verdict
    reasons: dict[str, str]
    log: Path


def run_harness(harness: Path, interface: str, selection: list[str], exclude: list[str], out: Path,
                name: str, env_extra: dict[str, str], cases: Path | None, timeout: float | None,
                ids: Path | None = None) -> Run:
    result, log = out / f"{name}.json", out / f"{name}.log"
    result.unlink(missing_ok=True)  # this tool's own earlier output only
    argv = R.harness_argv(harness, result, interface, selection, timeout, cases, ids) + ["-q"]
    for g in exclude:
        argv += ["--exclude", g]
    with open(log, "w") as f:
        try:
            rc = subprocess.run(argv, env=dict(os.environ, **env_extra), stdout=f, stderr=subprocess.STDOUT,
                                timeout=1800).returncode
        except subprocess.TimeoutExpired:
            rc = None
    try:  # a run cut short (crash, watchdog) keeps its complete results
        results = RR.load_file(str(result), partial=True).results if result.exists() else {}
    except RR.InputError:
        results = {}
    return Run(rc, {i: r["verdict"] for i, r in results.items()},
               {i: r["reason"] for i, r in results.items()}, log)


def judge(m: Mutant, base: Run, mut: Run, failing: set[str]) -> None:
    """Killed by the cases that fail under the mutant and ran without failing on the unbroken
    library (a case the baseline lacks proves nothing); a harness
    that could not run at all under the shim (no results, killed or crashed) also kills it. A
    usage exit (2: e.g. a quick glob that matches no case) is an error, never a kill."""
    m.killed_by = [{"id": cid, "verdict": v, "base": base.verdicts.get(cid), "reason": mut.reasons.get(cid, "")[:300]}
                   for cid, v in mut.verdicts.items()
                   if v in failing and cid in base.verdicts and base.verdicts[cid] not in failing]
    if not mut.verdicts and mut.rc == 2:
        m.status, m.reason = "error", f"the harness rejected the run (exit 2, see {mut.log})"
        return
    if not mut.verdicts and mut.rc not in (0, 1, 4):
        m.killed_by = [{"id": "(harness)", "verdict": f"exit {mut.rc}", "base": "ran",
                        "reason": f"the harness did not run under the shim (see {mut.log})"}]
    m.status = "killed" if m.killed_by else "survived"


def table(mutants: list[Mutant], shown: int = 3) -> str:
    rows = [("mutant", "library", "status", "kills", "first killing cases")]
    for m in mutants:
        first = ", ".join(k["id"] + ("" if k["verdict"] == "fail" else f" ({k['verdict']})")
                          for k in m.killed_by[:shown])
        rows.append((m.id, m.library, m.status, str(len(m.killed_by)), first or m.reason))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    body = "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows)
    killed = sum(m.status == "killed" for m in mutants)
    return f"{body}\n\n{killed}/{len(mutants)} mutants killed"


def default_harness() -> Path | None:
    for cand in (os.environ.get("AIOH_HARNESS"), REPO / "build" / "harness"):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return Path(cand)
    return None


def confirm(m: Mutant, harness: Path, out: Path, so: Path, cases: Path | None, timeout: float | None,
            failing: set[str], most: int = 12) -> None:
    """Reruns the first killing cases alone, without the shim and with it: a case that fails
    without it too (another run's sysctl change, a global count such as fs.aio-nr) or passes with
    it on a second try is noise, not a kill."""
    ids = [k["id"] for k in m.killed_by if not k["id"].startswith("(")][:most]
    if not ids:
        return
    lst = out / f"{m.id}.confirm.ids"
    lst.write_text("".join(i + "\n" for i in ids))
    again_base = run_harness(harness, m.interface, [], [], out, f"{m.id}.confirm-base", {}, cases, timeout, lst)
    again_mut = run_harness(harness, m.interface, [], [], out, f"{m.id}.confirm", {"LD_PRELOAD": str(so)},
                            cases, timeout, lst)
    noise = {i for i in ids if again_base.verdicts.get(i) in failing or again_mut.verdicts.get(i) not in failing}
    m.noise = sorted(noise)
    m.killed_by = [k for k in m.killed_by if k["id"] not in noise]
    m.status = "killed" if m.killed_by else "survived"


def campaign(mutants: list[Mutant], harness: Path, out: Path, quick: bool, full: bool,
             cases: Path | None = None, timeout: float | None = None, log=print) -> dict:
    """One baseline per interface (in --quick: of the union of the mutants' quick globs), then
    each mutant on its selection, its kills confirmed by confirm() (a one-off failure is noise)."""
    failing = set(V.FAILS_RUN)
    shims = out / "shims"
    shims.mkdir(parents=True, exist_ok=True)
    built = {m.id: compile_shim(m, shims) for m in mutants}
    exclude = [] if full or quick else ["dio.*"]
    bases: dict[str, Run] = {}
    for iface in sorted({m.interface for m in mutants}):
        sel = sorted({g for m in mutants if m.interface == iface for g in m.quick}) if quick else []
        bases[iface] = b = run_harness(harness, iface, sel, exclude, out, f"baseline-{iface}", {}, cases, timeout)
        if not b.verdicts:
            raise Usage(f"the unbroken library's run ({iface}) gave no results: exit {b.rc}, see {b.log}")
    for m in mutants:
        sel = m.quick if quick else []
        t0 = time.monotonic()
        r = run_harness(harness, m.interface, sel, exclude, out, m.id, {"LD_PRELOAD": str(built[m.id])}, cases,
                        timeout)
        judge(m, bases[m.interface], r, failing)
        confirm(m, harness, out, built[m.id], cases, timeout, failing)
        m.seconds = time.monotonic() - t0
        log(f"mutants: {m.id}: {m.status} ({len(m.killed_by)} cases, {m.seconds:.0f} s)")
    return {"schema": "aioharness-mutants/1", "harness": str(harness), "quick": quick, "full": full,
            "exclude": exclude,
            "baseline_failures": {i: sorted(c for c, v in b.verdicts.items() if v in failing) for i, b in bases.items()},
            "mutants": [dict(m.as_dict(m.quick if quick else []), noise=m.noise) for m in mutants]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mutants", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma list of mutant ids (default: all)")
    ap.add_argument("--quick", action="store_true", help="each mutant's quick selection only (CI)")
    ap.add_argument("--full", action="store_true", help="include the O_DIRECT sweep (dio.*)")
    ap.add_argument("--json", help="write the campaign as JSON to FILE")
    ap.add_argument("--out", help="directory for shims, logs and results (default: a temp dir, kept)")
    ap.add_argument("--harness", help="the harness binary (default: $AIOH_HARNESS, else build/harness)")
    ap.add_argument("--cases", help="case tables (default: the harness's own)")
    ap.add_argument("--timeout", type=float, help="per-case watchdog passed to the harness")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    try:
        args = ap.parse_args(argv)
        mutants = load()
        if args.only:
            want = [w for w in args.only.split(",") if w]
            unknown = sorted(set(want) - {m.id for m in mutants})
            if unknown:
                raise Usage(f"--only: unknown mutant {', '.join(unknown)}")
            mutants = [m for m in mutants if m.id in want]
        if args.list:
            for m in mutants:
                print(f"{m.id:36} {m.library:9} {m.defect}")
            return 0
        harness = Path(args.harness) if args.harness else default_harness()
        if not harness or not harness.is_file():
            raise Usage("no harness binary: --harness, $AIOH_HARNESS or ./scripts/build")
        out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="aioh-mutants."))
        doc = campaign(mutants, harness, out, args.quick, args.full, Path(args.cases) if args.cases else None,
                       args.timeout, log=lambda s: print(s, file=sys.stderr))
    except Usage as e:
        print(f"mutants: {e}", file=sys.stderr)
        return 2
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    print(table(mutants))
    print(f"(logs and results in {out})")
    return 0 if all(m.status == "killed" for m in mutants) else 1


if __name__ == "__main__":
    sys.exit(main())
