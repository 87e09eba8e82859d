"""Shared fixtures: result documents built in code (schema aioharness-result/1), the repo
root, the harness binary when it has been built, and one real host run made with it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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
            o["errno"] = token
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


@pytest.fixture(scope="session")
def host_run_dir(harness_bin, tmp_path_factory) -> Path:
    """One real host run of the whole suite (or $AIOH_REPORT_FILTER; $AIOH_CASES for another
    case directory), written as JSON, JSONL, JUnit and KTAP by one harness invocation each
    (the formats must describe the same cases)."""
    out = tmp_path_factory.mktemp("host-run")
    flt = os.environ.get("AIOH_REPORT_FILTER", "*")
    cases = ["--cases", os.environ["AIOH_CASES"]] if os.environ.get("AIOH_CASES") else []
    for fmt in ("json", "jsonl", "junit", "ktap"):
        scratch = out / f"scratch-{fmt}"
        scratch.mkdir()
        p = subprocess.run([harness_bin, "--interface", "all", "--filter", flt, "--format", fmt,
                            "--output", str(out / f"run.{fmt}"), "--scratch", str(scratch),
                            "--timeout", "10", *cases], capture_output=True, text=True, timeout=1500)
        # Exit 1 means some case failed: still a valid run to report on. 2 is bad usage.
        assert p.returncode in (0, 1), f"harness --format {fmt} exited {p.returncode}: {p.stderr[-2000:]}"
        shutil.rmtree(scratch, ignore_errors=True)
    return out
