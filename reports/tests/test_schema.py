"""Every JSON and JSON-lines output validates against the schemas shipped in
reports/schema/ (python3-jsonschema, Draft 2020-12): the harness's --output json and jsonl
of a real run and of the output fixtures, its --probe, --list --format json and
--vocabulary, the gate's --json, the VM orchestrator's merged document, and every result
file committed under reports/. The schemas' verdict, interface, phase and channel lists
are the vocabulary's; a document that breaks them is rejected."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, document, result, run_script, write
from reports import vocabulary as V
from schemas import errors, validator

COMMITTED = sorted((ROOT / "reports" / "baseline" / "results").glob("*.json")) + \
    sorted((ROOT / "reports" / "published" / "results").glob("*.json"))


def test_schemas_speak_the_vocabulary():
    defs = json.loads((ROOT / "reports" / "schema" / "result.schema.json").read_text())["$defs"]
    assert defs["verdict"]["enum"] == list(V.VERDICTS)
    assert defs["interface"]["enum"] == list(V.INTERFACES)
    assert defs["phase"]["enum"] == list(V.PHASES)
    assert defs["channel"]["enum"] == list(V.CHANNELS)


@pytest.mark.parametrize("path", COMMITTED, ids=[p.name for p in COMMITTED])
def test_committed_result_files(path):
    assert errors("result", json.loads(path.read_text())) == []


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_real_run_json_and_jsonl(host_run_dir):
    assert errors("result", json.loads((host_run_dir / "run.json").read_text())) == []
    lines = _lines(host_run_dir / "run.jsonl")
    assert [lines[0]["type"], lines[-1]["type"]] == ["environment", "summary"]
    for n, line in enumerate(lines, 1):
        assert errors("result-line", line) == [], f"run.jsonl:{n}"


def test_fixture_runs(fixture_runs):
    for d in fixture_runs.values():
        assert errors("result", json.loads((d / "run.json").read_text())) == []
        for line in _lines(d / "run.jsonl"):
            assert errors("result-line", line) == []


def test_non_utf8_argument_is_replaced_not_fatal(harness_bin, tmp_path):
    """A byte that is not UTF-8 in an argument (here the scratch directory's name) neither
    aborts the run nor breaks the JSON: it reads U+FFFD."""
    out = tmp_path / "run.json"
    # The scratch directory's name (in argv and in the environment): every filter must match
    # a case, so a path is the argument a user can give any bytes without an error.
    scratch = tmp_path / os.fsdecode(b"scratch-\xff\xfe")
    scratch.mkdir()
    p = subprocess.run([harness_bin, "--cases", str(ROOT / "tests" / "fixtures" / "cases-outputs"),
                        "--filter", "outputs.plain-pass@kernel-aio",
                        "--output", f"json:{out}", "--output", f"jsonl:{tmp_path / 'run.jsonl'}",
                        "--scratch", str(scratch)], capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_bytes().decode("utf-8"))
    assert any(a.endswith("scratch-\ufffd\ufffd") for a in doc["run"]["argv"]), doc["run"]["argv"]
    assert errors("result", doc) == []
    for line in _lines(tmp_path / "run.jsonl"):
        assert errors("result-line", line) == []


def test_probe_list_and_vocabulary(harness_bin, tmp_path):
    probe = subprocess.run([harness_bin, "--probe", "--scratch", str(tmp_path)], capture_output=True,
                           text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr
    env = json.loads(probe.stdout)
    env_schema = {"$ref": "result.schema.json#/$defs/environment"}
    v = validator("result")
    assert [e.message for e in v.evolve(schema=env_schema).iter_errors(env)] == []
    lst = subprocess.run([harness_bin, "--list", "--format", "json"], capture_output=True, text=True, timeout=60)
    assert lst.returncode == 0 and errors("list", json.loads(lst.stdout)) == []
    voc = subprocess.run([harness_bin, "--vocabulary"], capture_output=True, text=True, timeout=60)
    assert voc.returncode == 0 and errors("vocabulary", json.loads(voc.stdout)) == []
    assert errors("vocabulary", V.DOC) == []


def test_gate_json(tmp_path):
    b = write(tmp_path / "b.json", document([result("errors.bad-fd@libaio")]))
    n = write(tmp_path / "n.json", document([result("errors.bad-fd@libaio", observed="EINVAL@submit")]))
    p = run_script("gate", b, n, "--json", str(tmp_path / "g.json"))
    assert p.returncode == 1
    assert errors("gate", json.loads((tmp_path / "g.json").read_text())) == []


def test_vm_document():
    """The VM orchestrator's merged document, including a row for a case the guest never
    finished (vm/results.py vm_result: nulls where nothing was observed)."""
    from vm import results as vr
    env = document([])["environment"]
    cases = [{"id": "errors.bad-fd@libaio", "case": "errors.bad-fd", "area": "errors", "interface": "libaio",
              "scenario": "rw_one", "source": "io_submit(2)"}]
    rows = {"errors.bad-fd@libaio": vr.vm_result(cases[0], "kernel-panic", "Kernel panic", "run", 1, "...")}
    doc = vr.document(cases, rows, env, {"device": "nvme-4k"}, 0.0, ["scripts/matrix"])
    assert errors("result", doc) == []


@pytest.mark.parametrize("breach", [
    ("unknown verdict", lambda d: d["results"][0].update(verdict="green")),
    ("unknown interface", lambda d: d["results"][0].update(interface="aio")),
    ("errno as a number", lambda d: d["results"][0]["observations"][0].update(errno=9)),
    ("unknown phase", lambda d: d["results"][0]["observations"][0].update(phase="later")),
    ("another schema version", lambda d: d.update(schema="aioharness-result/2")),
    ("a field nobody declared", lambda d: d["results"][0].update(colour="red")),
    ("no summary", lambda d: d.pop("summary")),
    ("a summary count of an unknown verdict", lambda d: d["summary"].update(green=1)),
], ids=lambda b: b[0])
def test_breaches_are_rejected(breach):
    doc = document([result("errors.bad-fd@libaio")])
    assert errors("result", doc) == []
    bad = copy.deepcopy(doc)
    breach[1](bad)
    assert errors("result", bad), f"the schema accepted: {breach[0]}"
