"""Shared fixtures: result documents built in code (schema aioharness-result/1), the repo
root, the harness binary when it has been built, and one real host run made with it."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def result(rid: str, verdict: str = "pass", observed: str = "EBADF@submit", **kw) -> dict:
    """One result row; observations are derived from `observed` ("TOKEN@PHASE, ...")."""
    case, _, iface = rid.partition("@")
    obs = []
    for part in filter(None, (p.strip() for p in observed.split(","))):
        token, _, phase = part.partition("@")
        o = {"phase": phase, "channel": "return"}
        if token.lstrip("-").isdigit():
            o["value"] = int(token)
        elif token.startswith("E"):
            o["errno"], o["errno_num"] = token, getattr(errno, token, 0)
        else:
            o["sym"] = token
        obs.append(o)
    r = {"id": rid, "case": case, "area": case.split(".")[0], "interface": iface,
         "scenario": "rw_" + case.split(".")[-1].replace("-", "_"), "verdict": verdict,
         "expected": kw.pop("expected", observed), "observed": observed if verdict != "skip" else "",
         "observations": obs if verdict != "skip" else [], "reason": "", "duration_ms": 1.0,
         "source": "io_submit(2) ERRORS", "doc": None, "xfail": None, "target": None,
         "fault": None, "notes": []}
    r.update(kw)
    return r


def document(results: list[dict], kernel: str = "6.1.0-28-amd64", device: str | None = None,
             liburing: str = "2.3", summary: bool = True) -> dict:
    # The VM orchestrator's shape (vm/results.py): kernel as package, version, release.
    vm = {"kernel": {"package": f"linux-image-{kernel}", "version": kernel.split("-")[0] + "-1",
                     "release": kernel},
          "device": device, "qemu": "7.2.22", "accel": "tcg", "boot_path": "pvh+qboot"} if device else None
    doc = {
        "schema": "aioharness-result/1",
        "tool": {"name": "aioharness", "version": "0.1.0"},
        "run": {"started": "2026-11-26T23:50:00Z", "finished": "2026-11-26T23:51:00Z",
                "argv": ["harness"], "host": "fixture"},
        "environment": {
            "kernel_release": kernel, "machine": "x86_64", "distro": "Debian GNU/Linux 12 (bookworm)",
            "libraries": {"glibc": {"version": "2.36"},
                          "liburing": {"version": liburing, "path": f"/usr/lib/liburing.so.{liburing}"},
                          "libaio": {"version": "0.3.113", "path": "/usr/lib/libaio.so.1"}},
            "facts": {"root": True, "io_uring": True, "kernel_aio": True, "aio_max_nr": 65536},
            "interfaces": {i: {"available": True, "reason": ""}
                           for i in ("io_uring", "kernel-aio", "libaio", "posix-aio")},
            "scratch": {"path": "/tmp/aioh-x", "fs": "ext4"},
            "info": {"kernel_release": kernel},
            "vm": vm,
        },
        "results": results,
    }
    if summary:
        doc["summary"] = {"total": len(results)}
    return doc


def write(path: Path, doc: dict) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))
    return str(path)


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    """Runs scripts/<name> exactly as a user or CI would."""
    return subprocess.run([str(ROOT / "scripts" / name), *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="session")
def harness_bin() -> str:
    path = os.environ.get("AIOH_HARNESS") or str(ROOT / "build" / "harness")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.skip(f"no harness binary at {path} (build it with ./scripts/build or set AIOH_HARNESS)")
    return path


def run_harness(harness: str, out: Path, *args: str, formats=("json", "jsonl", "junit", "ktap"),
                timeout: int = 1500, env: dict | None = None) -> subprocess.CompletedProcess:
    """One harness run writing every format in `formats` to out/run.<format> (one
    --output FORMAT:PATH each), with a scratch dir of its own."""
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="scratch-", dir=out))
    outputs = [f"--output={f}:{out / f'run.{f}'}" for f in formats]
    try:
        return subprocess.run([harness, *args, *outputs, "--scratch", str(scratch), "--color", "never"],
                              capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, **(env or {})))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="session")
def host_run_dir(harness_bin, tmp_path_factory) -> Path:
    """One real host run of the whole suite (or $AIOH_REPORT_FILTER; $AIOH_CASES for another
    case directory), every format from the same run: run.json, run.jsonl, run.junit and
    run.ktap. $AIOH_HOST_RUN names a directory where scripts/test already made that run
    (ci/host-run.sh), so the catalog runs once per test suite."""
    given = os.environ.get("AIOH_HOST_RUN")
    if given:
        d = Path(given)
        missing = [f for f in ("run.json", "run.jsonl", "run.junit", "run.ktap") if not (d / f).is_file()]
        assert not missing, f"$AIOH_HOST_RUN={given} lacks {missing}"
        return d
    out = tmp_path_factory.mktemp("host-run")
    flt = os.environ.get("AIOH_REPORT_FILTER", "*")
    cases = ["--cases", os.environ["AIOH_CASES"]] if os.environ.get("AIOH_CASES") else []
    p = run_harness(harness_bin, out, "--interface", "all", "--filter", flt, "--timeout", "10", *cases)
    # Exit 1 means some case failed: still a valid run to report on. 2 is bad usage.
    assert p.returncode in (0, 1), f"harness exited {p.returncode}: {p.stderr[-2000:]}"
    return out


FIXTURE_CASES = ROOT / "tests" / "fixtures" / "cases-outputs"


@pytest.fixture(scope="session")
def fixture_runs(harness_bin, tmp_path_factory) -> dict[str, Path]:
    """Real runs of tests/fixtures/cases-outputs: "ok" holds a pass, a skip, an xfail and an
    xpass (exit 0), "failing" adds the row that fails (exit 1); every format of each."""
    runs = {}
    for name, flt, want in (("ok", ["outputs.plain-pass*", "outputs.needs-a-vm*", "outputs.known-defect*",
                                    "outputs.defect-gone*"], 0),
                            ("failing", ["outputs.*"], 1)):
        out = tmp_path_factory.mktemp(f"fixture-{name}")
        args = ["--cases", str(FIXTURE_CASES), "--interface", "all"]
        for f in flt:
            args += ["--filter", f]
        p = run_harness(harness_bin, out, *args, timeout=300)
        assert p.returncode == want, f"fixture run {name}: exit {p.returncode}: {p.stdout[-2000:]} {p.stderr[-2000:]}"
        runs[name] = out
    return runs


def results_once_each(run_dir, names: list[str], what: str) -> dict:
    """run.json's results by id, after checking that `names` (the ids a writer's output
    carries, one `what` each) name every result exactly once."""
    results = {r["id"]: r for r in json.loads((run_dir / "run.json").read_text())["results"]}
    assert len(names) == len(set(names)), "a case appears twice"
    assert sorted(names) == sorted(results), f"not one {what} per case x interface"
    return results
