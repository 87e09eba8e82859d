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

    @property
    def name(self) -> str:
        return self.build if self.mode == "system" else f"{self.build}.{self.mode}"

    @property
    def executed(self) -> int:
        s = self.summary
        return int(s.get("total", 0)) - int(s.get("skip", 0))

    def as_dict(self) -> dict:
        return {"build": self.build, "mode": self.mode, "status": self.status, "reason": self.reason,
                "result": str(self.result) if self.result else None, "loaded": self.loaded,
                "expect": {k: str(v) for k, v in self.expect.items()},
                "ld_library_path": self.env.get("LD_LIBRARY_PATH"), "summary": self.summary,
                "executed": self.executed, "seconds": round(self.seconds, 1), "gate_rc": self.gate_rc}


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
    if exclude:
        # --exclude: the harness selects by inclusion only, so the run gets an explicit id list.
        argv = [str(job.harness), "--list", "--interface", interface] + [a for f in filters or [] for a in ("--filter", f)]
        if cases:
            argv += ["--cases", str(cases)]
        listed = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout.split()
        ids = out_dir / f"{job.name}.ids"
        ids.write_text("".join(i + "\n" for i in listed if not any(fnmatch.fnmatchcase(i, g) for g in exclude)))
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


def gate(base: Job, new: Job, out_dir: Path) -> int:
    """scripts/gate between the baseline's result and this job's; output kept as <name>.gate.txt."""
    r = subprocess.run([str(REPO / "scripts" / "gate"), str(base.result), str(new.result)],
                       capture_output=True, text=True)
    (out_dir / f"{new.name}.gate.txt").write_text(r.stdout + r.stderr)
    new.gate_rc = r.returncode
    return r.returncode
