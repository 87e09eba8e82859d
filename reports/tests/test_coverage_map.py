"""cases/COVERAGE.md maps documented behaviours to the rows that exercise them; a row renamed or
dropped must not leave the map pointing at nothing. Every `area.id` the map names after an arrow,
in an area the catalog has, is a row of `harness --list`."""

from __future__ import annotations

import re
import subprocess

import pytest

from conftest import ROOT

MAP = ROOT / "cases" / "COVERAGE.md"
ROW = re.compile(r"(?<![\w./-])([a-z][a-z0-9-]*)\.([a-z0-9][a-z0-9-]*[a-z0-9])(?![\w/-])")


@pytest.fixture(scope="module")
def catalog_rows(harness_bin) -> set[str]:
    p = subprocess.run([harness_bin, "--list", "--cases", str(ROOT / "cases")], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    return {i.partition("@")[0] for i in p.stdout.split()}


def named_rows(areas: set[str]) -> list[tuple[int, str]]:
    out = []
    for n, line in enumerate(MAP.read_text().splitlines(), 1):
        _, arrow, tail = line.partition("→")
        if arrow:
            out += [(n, f"{a}.{i}") for a, i in ROW.findall(tail) if a in areas]
    return out


def test_every_row_the_map_names_exists(catalog_rows):
    areas = {r.partition(".")[0] for r in catalog_rows}
    named = named_rows(areas)
    assert len({r for _, r in named}) > 300, "the map names fewer rows than it did when written: parsing broke?"
    missing = [f"line {n}: {r}" for n, r in named if r not in catalog_rows]
    assert not missing, "cases/COVERAGE.md names rows the catalog lacks: " + "; ".join(missing[:10])
