"""The harness's vocabulary for the Python side: verdicts with their class and whether they
fail a run, exit statuses, phases, channels, interfaces, fault layers and output formats.

It is defined once, in harness/vocabulary.h, and exported by `harness --vocabulary`;
reports/vocabulary.json is that export, committed so that the report generator, the gate
and the VM orchestrator work without a build. scripts/regenerate rewrites it, and
reports/tests/test_vocabulary.py fails when it differs from what the built binary exports.
Nothing here spells a verdict out: every list is read from the file.
"""

from __future__ import annotations

import json
from pathlib import Path

PATH = Path(__file__).with_name("vocabulary.json")
SCHEMA = "aioharness-vocabulary/1"


def _load() -> dict:
    doc = json.loads(PATH.read_text(encoding="utf-8"))
    if doc.get("schema") != SCHEMA:
        raise RuntimeError(f"{PATH}: schema is {doc.get('schema')!r}, expected {SCHEMA!r}; "
                           "regenerate it with scripts/regenerate --vocabulary")
    return doc


DOC = _load()

VERDICTS: tuple[str, ...] = tuple(v["name"] for v in DOC["verdicts"])
CLASS: dict[str, str] = {v["name"]: v["class"] for v in DOC["verdicts"]}
MEANING: dict[str, str] = {v["name"]: v["meaning"] for v in DOC["verdicts"]}
# Verdicts that make the harness exit 1 (and the VM matrix fail).
FAILS_RUN = frozenset(v["name"] for v in DOC["verdicts"] if v["fails_run"])
# class "bad": something is wrong; "good": the row held; "neutral": skip, xpass.
BAD = frozenset(n for n, c in CLASS.items() if c == "bad")
GOOD = frozenset(n for n, c in CLASS.items() if c == "good")
NEUTRAL = frozenset(n for n, c in CLASS.items() if c == "neutral")
# Produced only by the VM orchestrator; the harness itself writes the others.
VM_ONLY: tuple[str, ...] = tuple(v["name"] for v in DOC["verdicts"] if v["vm_only"])
HARNESS_VERDICTS: tuple[str, ...] = tuple(v["name"] for v in DOC["verdicts"] if not v["vm_only"])

EXIT_STATUSES: dict[int, str] = {e["status"]: e["name"] for e in DOC["exit_statuses"]}
PHASES: tuple[str, ...] = tuple(DOC["phases"])
CHANNELS: tuple[str, ...] = tuple(DOC["channels"])
INTERFACES: tuple[str, ...] = tuple(DOC["interfaces"])
FAULT_LAYERS: tuple[str, ...] = tuple(DOC["fault_layers"])
FORMATS: tuple[str, ...] = tuple(DOC["formats"])


def check_verdict(name: str) -> bool:
    return name in CLASS
