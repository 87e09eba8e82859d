"""The committed data cannot go stale unnoticed: the case ids the harness lists (the
catalog in cases/) are exactly the ids of the host baseline, of every VM baseline column
and of every published result file. When this fails, the catalog changed: regenerate the
data with scripts/regenerate (reports/README.md).

A VM guest runs the O_DIRECT sweep on its own emulated disks, so its targets (the part
after "@interface/") are not the host's: a VM file's ids are compared with the catalog's without
the target: every row of the catalog there (a sweep row on at least one of the
guest's targets), no row the catalog lost."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import ROOT

FILES = sorted((ROOT / "reports" / "baseline" / "results").glob("*.json")) + \
    sorted((ROOT / "reports" / "published" / "results").glob("*.json"))


@pytest.fixture(scope="module")
def catalog_ids(harness_bin) -> set[str]:
    p = subprocess.run([harness_bin, "--list", "--cases", str(ROOT / "cases")], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    return set(p.stdout.split())


def _without_target(rid: str) -> str:
    return rid.partition("/")[0]


def _stale(path, missing, extra) -> str:
    return (f"{path.relative_to(ROOT)} is stale: {len(missing)} catalog id(s) missing (e.g. {missing[:5]}), "
            f"{len(extra)} id(s) no longer in the catalog (e.g. {extra[:5]}); run scripts/regenerate")


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.parent.name}/{p.name}" for p in FILES])
def test_ids_are_the_catalogs(catalog_ids, path):
    doc = json.loads(path.read_text())
    ids = {r["id"] for r in doc["results"]}
    if (doc.get("environment") or {}).get("vm"):
        want = {_without_target(i) for i in catalog_ids}
        have = {_without_target(i) for i in ids}
        missing, extra = sorted(want - have), sorted(have - want)
        assert not missing and not extra, _stale(path, missing, extra)
        return
    missing, extra = sorted(catalog_ids - ids), sorted(ids - catalog_ids)
    assert not missing and not extra, _stale(path, missing, extra)


def test_there_is_data():
    assert (ROOT / "reports" / "baseline" / "results" / "host.json").is_file()
    assert any(p.name.startswith("host") for p in FILES if p.parent.parent.name == "published")
