"""The result channel's stream, and the JSON document of one kernel x device.

The guest streams the harness's JSON lines (`--format jsonl`) plus its own `aioh-*` records on
the virtio port; it runs the harness once per part (the catalog, then each device-fault part),
each opened by an `aioh-part` record and closed by `aioh-part-end` (with guest uptimes), so each
part's environment record stays its own.  A boot may be cut at any byte, so only complete lines count, and the last copy
of a result wins (the guest resends the whole file at the end).  Results of all boots of one
target are merged into one document of schema aioharness-result/1, with environment.vm filled.
"""
from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field

from reports import vocabulary as V

# The verdicts a guest's harness writes (the vocabulary's, reports/vocabulary.json).
TEST_VERDICTS = V.HARNESS_VERDICTS


CATALOG = "catalog"       # the part that runs the ordinary rows (the document's environment)


@dataclass
class Stream:
    environments: dict[str, dict] = field(default_factory=dict)    # part -> its harness's environment
    guest_runs: list[dict] = field(default_factory=list)           # each part's run record
    parts: dict[str, dict] = field(default_factory=dict)           # part -> ids, start, end, rc (uptime s)
    part: str = CATALOG
    results: dict[str, dict] = field(default_factory=dict)
    summary: dict | None = None
    phase: str = "boot"
    exit_rc: int | None = None
    setup_failed: str | None = None
    junk: int = 0
    _buf: bytes = b""

    def feed(self, data: bytes) -> list[dict]:
        """Parse every complete line in data (plus what was buffered); return new records."""
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        out = []
        for raw in lines:
            raw = raw.strip()
            if not raw:
                continue
            try:
                rec = json.loads(raw)
            except ValueError:
                self.junk += 1
                continue
            if isinstance(rec, dict):
                self._take(rec)
                out.append(rec)
        return out

    @property
    def environment(self) -> dict | None:
        """The catalog part's environment, else the first part's."""
        return self.environments.get(CATALOG) or next(iter(self.environments.values()), None)

    def _take(self, rec: dict) -> None:
        kind = rec.get("type")
        if kind == "environment":
            # {"type":"environment","schema":...,"run":{...},"environment":{...}}; a part's file
            # is resent at its end, so the first copy per part is kept.
            if self.part not in self.environments:
                self.environments[self.part] = rec.get("environment", {})
                if rec.get("run") is not None:
                    self.guest_runs.append(dict(rec["run"], part=self.part))
        elif kind == "aioh-part":
            self.part = str(rec.get("part", CATALOG))
            self.parts[self.part] = {"ids": rec.get("ids"), "start": rec.get("t")}
        elif kind == "aioh-part-end":
            self.parts.setdefault(str(rec.get("part", self.part)), {}).update(end=rec.get("t"), rc=rec.get("rc"))
        elif kind == "result" and "id" in rec:
            self.results[rec["id"]] = {k: v for k, v in rec.items() if k != "type"}
        elif kind == "summary":
            self.summary = rec.get("summary", rec)
        elif kind == "aioh-phase":
            self.phase = rec.get("phase", self.phase)
        elif kind == "aioh-exit":
            self.exit_rc = int(rec.get("rc", -1))
        elif kind == "aioh-setup-failed":
            self.setup_failed = rec.get("reason", "")


def vm_result(case: dict, verdict: str, reason: str, phase: str, boot: int, excerpt: str) -> dict:
    """A result row for a case the guest could not finish, in the harness's result shape."""
    return {
        "id": case["id"], "case": case.get("case"), "area": case.get("area"),
        "interface": case.get("interface"), "scenario": case.get("scenario"),
        "verdict": verdict, "expected": None, "observed": None, "observations": [],
        "reason": reason, "duration_ms": None, "source": case.get("source"), "doc": None,
        "xfail": None, "target": None, "fault": None, "notes": [],
        "vm": {"phase": phase, "boot": boot, "console_excerpt": excerpt},
    }


def summarize(results: list[dict]) -> dict:
    keys = V.VERDICTS
    summary: dict = {"total": len(results), **{k: 0 for k in keys}, "by_interface": {}}
    for r in results:
        v = r.get("verdict", "broken")
        summary[v] = summary.get(v, 0) + 1
        per = summary["by_interface"].setdefault(r.get("interface") or "?", {k: 0 for k in keys})
        per[v] = per.get(v, 0) + 1
    return summary


def document(cases: list[dict], results: dict[str, dict], environment: dict | None,
             vm: dict, started: float, argv: list[str], guest_runs: list[dict] | None = None) -> dict:
    env = dict(environment or {})
    env["vm"] = vm
    ordered = [results[c["id"]] for c in cases if c["id"] in results]
    return {
        "schema": "aioharness-result/1",
        "tool": {"name": "aioharness", "version": "0.1.0", "orchestrator": "vm"},
        "run": {"started": iso(started), "finished": iso(time.time()), "argv": argv,
                "host": socket.gethostname(), "guest_runs": guest_runs or []},
        "environment": env,
        "results": ordered,
        "summary": summarize(ordered),
    }


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
