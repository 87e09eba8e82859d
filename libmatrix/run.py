"""One library build in one mode: run the harness, verify the loaded file, label the result.

A job's result is the harness's own JSON document (schema aioharness-result/1) with two fields
added to its environment: `library_build` (the column label the report generator reads) and
`library_matrix` (build id, mode, requested directory, whether the loaded file matched). The
harness's `environment.libraries` is left as the probe wrote it: that is the evidence.
"""
from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import detect

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Job:
    build: str                    # catalog id, "system", or a prefix build's id
    mode: str                     # system | swap | rebuild
    harness: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    expect: dict[str, Path] = field(default_factory=dict)   # library -> directory it must load from
    status: str = "pending"       # ok | skip | error | wrong-library
    reason: str = ""
    result: Path | None = None
    loaded: dict[str, str] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    seconds: float = 0.0
    gate_rc: int | None = None
    applicable: int = 0           # cases the harness lists for this run's interface and selection
    not_executed: dict[str, int] = field(default_factory=dict)   # why a case did not run -> count
    gate_changes: dict[str, int] = field(default_factory=dict)   # regressions / allowed / other
    lib_facts: dict = field(default_factory=dict)  # the probe's liburing.* / libaio.* facts

    @property
    def name(self) -> str:
        return self.build if self.mode == "system" else f"{self.build}.{self.mode}"

    @property
    def executed(self) -> int:
        """Cases that ran to a verdict that asserted something (not skip, not broken)."""
        s = self.summary
        return int(s.get("total", 0)) - int(s.get("skip", 0)) - int(s.get("broken", 0))

    @property
    def coverage(self) -> float | None:
        return self.executed / self.applicable if self.applicable else None

    def as_dict(self) -> dict:
        return {"build": self.build, "mode": self.mode, "status": self.status, "reason": self.reason,
                "result": str(self.result) if self.result else None, "loaded": self.loaded,
                "expect": {k: str(v) for k, v in self.expect.items()},
                "ld_library_path": self.env.get("LD_LIBRARY_PATH"), "summary": self.summary,
                "executed": self.executed, "applicable": self.applicable,
                "coverage": None if self.coverage is None else round(self.coverage, 4),
                "not_executed": self.not_executed, "seconds": round(self.seconds, 1),
                "gate_rc": self.gate_rc, "gate_changes": self.gate_changes, "lib_facts": self.lib_facts}


def not_executed(results: list[dict], applicable: list[str]) -> dict[str, int]:
    """Why each applicable case did not execute, counted per reason: a skip or broken verdict
    with the harness's reason, or a listed case the result does not hold at all (the run
    stopped early)."""
    out: dict[str, int] = {}
    seen = set()
    for r in results:
        seen.add(r.get("id"))
        if r.get("verdict") in ("skip", "broken"):
            why = f"{r['verdict']}: {r.get('reason') or '(no reason given)'}"
            out[why] = out.get(why, 0) + 1
    missing = sum(1 for i in applicable if i not in seen)
    if missing:
        out["absent from the result (the run stopped early)"] = missing
    return out


def coverage_problem(job: "Job", floor: float) -> str:
    """"" when the job executed at least `floor` of its applicable cases, else why not."""
    if not job.applicable:
        return "no applicable cases (the harness listed none)"
    if job.coverage is None or job.coverage < floor:
        return (f"executed {job.executed}/{job.applicable} applicable cases"
                f" ({100 * (job.coverage or 0):.0f} % < {100 * floor:.0f} %)")
    return ""


def harness_argv(harness: Path, out: Path, interface: str, filters: list[str], timeout: float | None,
                 cases: Path | None = None, ids: Path | None = None) -> list[str]:
    argv = [str(harness), "--interface", interface, "--format", "json", "--output", str(out), "--color", "never"]
    if cases:
        argv += ["--cases", str(cases)]
    if ids:
        argv += ["--ids", str(ids)]
    for f in filters:
        argv += ["--filter", f]
    if timeout:
        argv += ["--timeout", str(timeout)]
    return argv


def run(job: Job, out_dir: Path, interface: str = "all", filters: list[str] | None = None,
        case_timeout: float | None = None, run_timeout: float = 1800, cases: Path | None = None,
        exclude: list[str] | None = None) -> Job:
    """Runs the job's harness and fills status/result/loaded/summary."""
    out = out_dir / f"{job.name}.json"
    log = out_dir / f"{job.name}.log"
    # Only this tool's own earlier result of the same job is replaced (the harness never overwrites).
    out.unlink(missing_ok=True)
    env = dict(os.environ, **job.env)
    ids = None
    # The applicable cases: what this harness lists for the interface and selection (the
    # denominator of coverage; a run that stops early does not shrink it).
    argv = [str(job.harness), "--list", "--interface", interface] + [a for f in filters or [] for a in ("--filter", f)]
    if cases:
        argv += ["--cases", str(cases)]
    lr = subprocess.run(argv, env=env, capture_output=True, text=True)
    if lr.returncode != 0:
        job.status, job.reason = "error", f"harness --list failed: {(lr.stderr or lr.stdout).strip()[:300]}"
        return job
    listed = [i for i in lr.stdout.split() if not any(fnmatch.fnmatchcase(i, g) for g in exclude or [])]
    job.applicable = len(listed)
    if exclude:
        # --exclude: the harness selects by inclusion only, so the run gets an explicit id list.
        ids = out_dir / f"{job.name}.ids"
        ids.write_text("".join(i + "\n" for i in listed))
        filters = []
    t0 = time.monotonic()
    try:
        with open(log, "w") as f:
            rc = subprocess.run(harness_argv(job.harness, out, interface, filters or [], case_timeout, cases, ids),
                                env=env, stdout=f, stderr=subprocess.STDOUT, timeout=run_timeout).returncode
    except subprocess.TimeoutExpired:
        rc = None
    job.seconds = time.monotonic() - t0
    if rc not in (0, 1):
        job.status, job.reason = "error", (f"harness exit {rc} (see {log})" if rc is not None
                                          else f"harness ran past {run_timeout:.0f} s (see {log})")
        if not out.exists():
            return job
    try:
        doc = json.loads(out.read_text())
    except (OSError, ValueError) as e:
        job.status, job.reason = "error", f"no complete result document: {e} (see {log})"
        return job
    job.result = out
    job.summary = doc.get("summary") or {}
    job.not_executed = not_executed(doc.get("results") or [], listed)
    facts = (doc.get("environment") or {}).get("facts") or {}
    job.lib_facts = {k: v for k, v in sorted(facts.items()) if k.startswith(("liburing.", "libaio."))}
    job.loaded = {lib: detect.loaded(doc, lib) for lib in ("liburing", "libaio")}
    problems = [p for lib, d in job.expect.items() if (p := detect.check(doc, lib, d))]
    problems += [p for lib in ("liburing", "libaio") if lib not in job.expect
                 and (p := detect.check(doc, lib, None))]
    if job.status != "error":
        job.status, job.reason = ("wrong-library", "; ".join(problems)) if problems else ("ok", "")
    env_doc = doc.setdefault("environment", {})
    env_doc["library_build"] = job.name
    env_doc["library_matrix"] = {"build": job.build, "mode": job.mode, "loaded_ok": not problems,
                                 "requested": {k: str(v) for k, v in job.expect.items()},
                                 "ld_library_path": job.env.get("LD_LIBRARY_PATH")}
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(out)
    return job


ALLOW = Path(__file__).with_name("allow.toml")


def gate(base: Job, new: Job, out_dir: Path, allow: Path | None = ALLOW) -> int:
    """scripts/gate between the baseline's result and this job's; output kept as <name>.gate.txt
    (the changed cases) and <name>.gate.json. `allow` lists the changes a library build may make
    (rows keyed on a probed library fact), each with its reason: listed, not a regression."""
    js = out_dir / f"{new.name}.gate.json"
    js.unlink(missing_ok=True)  # the gate never overwrites; this tool's own earlier output goes
    argv = [str(REPO / "scripts" / "gate"), str(base.result), str(new.result), "--json", str(js)]
    if allow:
        argv += ["--allow", str(allow)]
    r = subprocess.run(argv, capture_output=True, text=True)
    (out_dir / f"{new.name}.gate.txt").write_text(r.stdout + r.stderr)
    new.gate_rc = r.returncode
    try:
        changes = json.loads(js.read_text()).get("changes") or []
    except (OSError, ValueError):
        changes = []
    new.gate_changes = {
        "regressions": sum(1 for c in changes if c.get("regression") and not c.get("allowed")),
        "allowed": sum(1 for c in changes if c.get("allowed")),
        "other": sum(1 for c in changes if not c.get("regression")),
    }
    return r.returncode
